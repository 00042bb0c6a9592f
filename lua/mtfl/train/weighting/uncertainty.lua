-- mtfl.train.weighting.uncertainty: homoscedastic uncertainty weighting (Kendall, Gal,
-- Cipolla, CVPR 2018). One learned log-variance s_t per task; the joint loss is
--
--   L = sum_t exp(-s_t) L_t + s_t          so lambda_t = exp(-s_t)
--
-- and s is trained with the network, every step, on the same batch's losses:
-- dL/ds_t = 1 - exp(-s_t) L_t.
--
--   policy = "uncertainty"   or   {"uncertainty", lr = 1e-2, optimizer = "sgd", init = 0}
--
-- One form for regression and classification alike. Kendall et al. derive
-- 1/(2 sigma^2) L + log sigma for a Gaussian (regression) and 1/sigma^2 L + log sigma
-- for a softmax (classification); with s = log sigma^2 those are
-- (exp(-s) L + s) / 2 and exp(-s) L + s / 2. The first is this form halved, which
-- changes neither its minimum (s* = log L) nor, under Adam, its steps; the second puts
-- the minimum at log(2 L), weighting classification half as much as regression at the
-- same loss. Using exp(-s) L + s for every task (as most implementations do) gives
-- each task the weight 1 / L_t at equilibrium, whatever its kind.
--
-- s is its own small optimizer's, in Lua numbers, not the run's optimizer's: the run's
-- optimizer works on the network's flat buffers, fixed when the model was built (and
-- saved as such in the checkpoint), and s is a handful of scalars read every step
-- anyway. Options: lr (default: the run's optimizer's rate at each step, so it follows
-- a schedule), optimizer "adam" (beta1 0.9, beta2 0.999, eps 1e-8, bias-corrected; the
-- default) or "sgd", init (every s_t's start; default -log lambda_t, so the first step
-- weighs the tasks as the experiment's lambdas do).
local Policy = require "mtfl.train.weighting.policy"
local errors = require "mtfl.errors"

local Uncertainty = Policy.class("uncertainty", {
  lr = {"number", nil, above = 0, unset = "the run's"}, optimizer = {"string", "adam", values = {"adam", "sgd"}},
  init = {"number", nil, unset = "-log lambda"},
})
Uncertainty.per_step = true
Uncertainty.BETA1, Uncertainty.BETA2, Uncertainty.EPS = 0.9, 0.999, 1e-8

function Uncertainty:check_base(task, value)
  Policy.check_base(self, task, value)
  if self.options.init == nil and not (value > 0) then
    errors.raisef("weighting policy uncertainty: task %s has lambda %s; its log-variance starts at -log lambda, so it must be > 0 (or give init)",
                  task, tostring(value))
  end
end

function Uncertainty:begin()
  self.s, self.m, self.v, self.steps = {}, {}, {}, 0
  for task, lambda in pairs(self.base) do
    self.s[task] = self.options.init or -math.log(lambda)
    self.m[task], self.v[task] = 0, 0
    self.lambda[task] = math.exp(-self.s[task])
  end
end

function Uncertainty:learning_rate()
  local lr = self.options.lr or (self.optimizer and self.optimizer.config.lr)
  if not lr then errors.raise("weighting policy uncertainty: no lr given and no optimizer to take it from") end
  return lr
end

--- One step on s from the losses of the step just taken ({task = loss}).
function Uncertainty:after_step(losses)
  local lr = self:learning_rate()
  self.steps = self.steps + 1
  local b1, b2 = Uncertainty.BETA1, Uncertainty.BETA2
  for task, s in pairs(self.s) do
    local loss = losses[task]
    if loss then
      local g = 1 - math.exp(-s) * loss
      if self.options.optimizer == "sgd" then
        s = s - lr * g
      else
        self.m[task] = b1 * self.m[task] + (1 - b1) * g
        self.v[task] = b2 * self.v[task] + (1 - b2) * g * g
        local m_hat = self.m[task] / (1 - b1 ^ self.steps)
        local v_hat = self.v[task] / (1 - b2 ^ self.steps)
        s = s - lr * m_hat / (math.sqrt(v_hat) + Uncertainty.EPS)
      end
      self.s[task] = s
      self.lambda[task] = math.exp(-s)
    end
  end
end

--- The log-variances now ({task = s}).
function Uncertainty:log_variances()
  local out = {}
  for task, s in pairs(self.s) do out[task] = s end
  return out
end

function Uncertainty:state() return {s = self.s, m = self.m, v = self.v, steps = self.steps} end

function Uncertainty:load_state(st)
  for task in pairs(self.s) do
    if type(st.s[task]) ~= "number" then
      errors.raisef("weighting policy uncertainty: the saved state has no log-variance for task %s", task)
    end
    self.s[task], self.m[task], self.v[task] = st.s[task], st.m[task], st.v[task]
    self.lambda[task] = math.exp(-self.s[task])
  end
  self.steps = st.steps
end

return Uncertainty
