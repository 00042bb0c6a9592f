-- mtfl.train.weighting.policy: what every task-weighting policy shares: the hooks
-- that do nothing, the current lambdas, options checked against a table of rules, and
-- the description a run's config records. A policy file makes its class with
--
--   local P = Policy.class("tcdcn", {tau = {"integer", 3, min = 1}, ...})
--   function P:after_epoch(epoch, train_losses, val_losses) ... end
--   return P
--
-- and weighting.new(name, options) builds it: P.new(options) checks the options
-- (unknown, wrong type, out of range: an error naming the policy and the option).
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local options = require "mtfl.options"

local Policy = {}
Policy.__index = Policy

-- A rule is {type, default, min =, max =, above =, values = {...}, unset =} (mtfl.options;
-- "unset" is what describe() says for an option without a default that was not given).

--- The options with their defaults, each checked against its rule; an unknown one is
--- an error naming the known ones.
function Policy.check_options(policy, given, rules)
  return options.check(given, rules, "weighting policy " .. policy)
end

--- A policy class named name with these option rules; Class.new(options) -> policy.
function Policy.class(name, rules)
  local cls = setmetatable({name = name, rules = rules or {}}, {__index = Policy})
  cls.__index = cls
  function cls.new(options)
    local self = setmetatable({options = Policy.check_options(name, options, cls.rules)}, cls)
    if self.init then self:init() end
    return self
  end
  return cls
end

--- start{tasks = {task = base lambda}, model =, criterion =, optimizer =}: the run the
--- policy weighs. tasks' values are numbers (a function of the epoch only for
--- "scheduled", which overrides this check).
function Policy:start(run)
  if type(run) ~= "table" or type(run.tasks) ~= "table" or next(run.tasks) == nil then
    errors.raisef("weighting policy %s: start{tasks = {task = lambda}, ...} is missing its tasks", self.name)
  end
  self.model, self.criterion, self.optimizer = run.model, run.criterion, run.optimizer
  self.task_names = shape.sorted_keys(run.tasks)
  self.base, self.lambda = {}, {}
  for _, task in ipairs(self.task_names) do
    local value = run.tasks[task]
    self:check_base(task, value)
    self.base[task], self.lambda[task] = value, value
  end
  if self.begin then self:begin(run) end
  return self
end

function Policy:check_base(task, value)
  if type(value) ~= "number" or value < 0 or value ~= value then
    errors.raisef("weighting policy %s: task %s needs a number >= 0 as its lambda, got %s%s", self.name, task,
                  type(value) == "function" and "a function" or tostring(value),
                  type(value) == "function" and " (a schedule needs the policy \"scheduled\")" or "")
  end
end

-- The hooks, in the order the trainer calls them; a policy defines those it needs.
function Policy:before_epoch(epoch) end                 -- epoch = 1, 2, ... about to train
function Policy:before_step(step) end                   -- {epoch =, index =, batches =}
function Policy:after_loss(step) end                    -- + {losses =, outputs =, targets =, input =}
function Policy:after_step(losses) end                  -- the step's {task = loss}
function Policy:after_epoch(epoch, train_losses, val_losses) return {} end

--- {task = lambda} now: what the criterion gets.
function Policy:weights()
  local w = {}
  for task, v in pairs(self.lambda) do w[task] = v end
  return w
end

--- {task = epoch it stopped at}: only early stopping stops tasks.
function Policy:stop_epochs() return {} end

function Policy:state() return {} end
function Policy:load_state(s) end

--- "tcdcn{rate = 0.05, tau = 3}": the name and every option (defaults included), for
--- the run's config, so that a finished run is reused only for the same policy.
function Policy:describe()
  local parts = {}
  for _, key in ipairs(shape.sorted_keys(self.rules)) do
    local v = self.options[key]
    if v == nil then v = self.rules[key].unset or "none" end
    parts[#parts + 1] = string.format("%s = %s", key, type(v) == "function" and "a function" or
                                      type(v) == "table" and "a table" or tostring(v))
  end
  return self.name .. "{" .. table.concat(parts, ", ") .. "}"
end

return Policy
