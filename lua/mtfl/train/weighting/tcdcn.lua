-- mtfl.train.weighting.tcdcn ("dynamic"): TCDCN's dynamic task coefficients (Zhang, Luo,
-- Loy, Tang, TPAMI 2016, "Learning Deep Representation for Face Alignment with Auxiliary
-- Attributes"): an auxiliary task keeps its weight while its error still falls and
-- loses it as the error stalls, judged once per epoch on its validation loss.
--
--   policy = "tcdcn"   or   policy = {"tcdcn", tau = 3, rate = 0.05, floor = 0}
--
-- What is implemented (the rule of this project's task statement): after epoch t,
-- for every auxiliary task a (every task but the main one, "landmarks") with base
-- lambda_a0 and errors E_a (its validation loss per epoch; error = "training" takes
-- the training loss),
--
--   rho_a(t) = (E_a(t - tau) - E_a(t)) / E_a(t - tau)         the error's relative fall
--                                                             over the last tau epochs
--   lambda_a(t + 1) = lambda_a0 * min(1, max(floor, rho_a(t) / rate))
--
-- so a task whose error fell by at least `rate` over tau epochs trains at full weight,
-- one whose error fell less is weighted in proportion, one whose error rose gets
-- `floor` (0 by default: no gradient, but its head is not frozen and the weight comes
-- back once its error falls again). Until tau epochs are known, lambda_a0.
--
-- Not verified: the paper's exact formula. The searchable copies of the paper gave
-- only its abstract and introduction, which say the coefficients are dynamic and
-- follow each task's convergence but not the equation; the ratio form above, the
-- `rate` normalisation and the clamping to [floor, 1] are this file's choices.
local Policy = require "mtfl.train.weighting.policy"
local errors = require "mtfl.errors"

local Dynamic = Policy.class("tcdcn", {
  tau = {"integer", 3, min = 1}, rate = {"number", 0.05, above = 0}, floor = {"number", 0, min = 0, max = 1},
  error = {"string", "validation", values = {"validation", "training"}}, main = {"string", "landmarks"},
})

function Dynamic:begin()
  self.errors = {}
  for task in pairs(self.base) do
    if task ~= self.options.main then self.errors[task] = {} end
  end
end

--- The lambda factor of a task from its error history (a list, one per epoch) and the
--- error's relative fall: pure, for tests and plots; nil while fewer than tau + 1
--- epochs are known.
function Dynamic.factor(history, tau, rate, floor)
  local n = #history
  if n <= tau then return nil end
  local before, now = history[n - tau], history[n]
  if not (before > 0) then return 1 end      -- nothing left to fall: keep the base weight
  local fall = (before - now) / before
  return math.min(1, math.max(floor, fall / rate)), fall
end

function Dynamic:after_epoch(epoch, train_losses, val_losses)
  local o = self.options
  local source = o.error == "validation" and val_losses or train_losses
  for task, history in pairs(self.errors) do
    local e = source and source[task]
    if type(e) ~= "number" then
      errors.raisef("weighting policy tcdcn: no %s loss for task %s after epoch %d", o.error, task, epoch)
    end
    history[#history + 1] = e
    local factor = Dynamic.factor(history, o.tau, o.rate, o.floor)
    if factor then self.lambda[task] = self.base[task] * factor end
  end
  return {}
end

function Dynamic:state()
  local lambda = {}
  for task, v in pairs(self.lambda) do lambda[task] = v end
  return {errors = self.errors, lambda = lambda}
end

function Dynamic:load_state(s)
  for task in pairs(self.errors) do
    self.errors[task] = (s.errors and s.errors[task]) or {}
    if s.lambda and s.lambda[task] then self.lambda[task] = s.lambda[task] end
  end
end

return Dynamic
