-- mtfl.train.weighting.early_stopping: eq. (4) of the seed report as a policy. Once per
-- epoch mtfl.train.early_stopping decides which auxiliary tasks (every task but
-- landmarks) stop; a stopped task's lambda goes to 0 and its head freezes, also in the
-- optimizer (its weights stay exactly where they are). The experiment field
-- early_stopping = {k = 5} builds this policy.
--
--   policy = {"early_stopping", k = 5, epsilon_factor = 15, second_factor = "validation"}
--
-- Options: k (window of epochs, >= 2), epsilon_factor (epsilon = factor * lambda_a),
-- second_factor "validation" (the report) or "training" (the authors' code); an
-- experiment's --es-factor gives second_factor when the table does not.
local Policy = require "mtfl.train.weighting.policy"
local EarlyStopping = require "mtfl.train.early_stopping"
local run_state = require "mtfl.train.run_state"
local errors = require "mtfl.errors"

local Stopping = Policy.class("early_stopping", {
  k = {"integer", 5, min = 2}, epsilon_factor = {"number", 15},
  second_factor = {"string", "validation", values = {"validation", "training"}},
  main = {"string", "landmarks"},
})

function Stopping:begin()
  local auxiliary = {}
  for task, lambda in pairs(self.base) do
    if task ~= self.options.main then auxiliary[task] = lambda end
  end
  self.detector = self.detector or EarlyStopping.new{tasks = auxiliary, k = self.options.k,
    epsilon_factor = self.options.epsilon_factor, second_factor = self.options.second_factor}
end

--- The policy around an EarlyStopping made elsewhere (Trainer's early_stopping option).
function Stopping.around(detector)
  local self = Stopping.new{k = detector.k, epsilon_factor = detector.epsilon_factor, second_factor = detector.second_factor}
  self.detector = detector
  return self
end

function Stopping:check_base(task, value)
  Policy.check_base(self, task, value)
  if task ~= self.options.main and not (value > 0) then
    errors.raisef("weighting policy early_stopping: task %s needs a positive lambda (eq. 4 divides by it), got %s", task, tostring(value))
  end
end

function Stopping:stop(task)
  self.lambda[task] = 0
  local heads = self.model and self.model:get("heads")
  if not heads then errors.raise("weighting policy early_stopping: the model has no module named \"heads\" (nn.Heads) to freeze") end
  local params = heads:freeze(task)
  if self.optimizer then self.optimizer:freeze(params) end
end

function Stopping:after_epoch(epoch, train_losses, val_losses)
  local stopped = self.detector:update(train_losses, val_losses)
  for _, task in ipairs(stopped) do self:stop(task) end
  return {stopped = stopped}
end

function Stopping:stop_epochs() return self.detector.stopped end

function Stopping:state() return run_state.encode_early_stopping(self.detector:state()) end

-- The optimizer's state (restored before this) already holds the frozen views: only
-- the lambdas and the heads need telling.
function Stopping:load_state(s)
  self.detector:load_state(run_state.decode_early_stopping(s))
  for task in pairs(self.detector.stopped) do
    self.lambda[task] = 0
    self.model:get("heads"):freeze(task)
  end
end

return Stopping
