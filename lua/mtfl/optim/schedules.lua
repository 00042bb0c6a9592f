-- mtfl.optim.schedules: learning-rate schedules, each a function
--   schedule(t, base_lr [, epochs]) -> lr
-- of t, the epochs done so far (fractional: the trainer asks before every step, with
-- t = completed epochs + batches done / batches per epoch, so t is 0 at the first step),
-- the base rate, and the run's length in epochs (for schedules that span the run when
-- not told otherwise). They compose: warmup wraps another schedule.
--
--   optim.schedules.step{every = 10, gamma = 0.1}      -- base * gamma^floor(t / every)
--   optim.schedules.cosine{epochs = 30, min_lr = 0}    -- half a cosine from base to min_lr
--   optim.schedules.warmup{epochs = 2, inner = optim.schedules.cosine{}}
--     -- linear from start * inner's rate (start = 0.1) to inner's rate over 2 epochs
local errors = require "mtfl.errors"

local M = {}

local function number_option(schedule, o, key, default, check)
  local v = o[key]
  if v == nil then v = default end
  if v == nil then return nil end
  if type(v) ~= "number" or v ~= v or not check(v) then
    errors.raisef("schedules.%s: %s = %s is not allowed", schedule, key, tostring(v))
  end
  return v
end

local function positive(v) return v > 0 and v < math.huge end
local function non_negative(v) return v >= 0 and v < math.huge end

local function options_of(schedule, o)
  if o == nil then return {} end
  if type(o) ~= "table" then errors.raisef("schedules.%s: expects a table of options, got a %s", schedule, type(o)) end
  return o
end

--- The base rate at every t.
function M.constant()
  return function(_, base_lr) return base_lr end
end

--- step{every = epochs, gamma = 0.1}: the rate times gamma after every `every` epochs.
function M.step(o)
  o = options_of("step", o)
  local every = number_option("step", o, "every", nil, positive)
  if not every then errors.raise("schedules.step: every = epochs is missing") end
  local gamma = number_option("step", o, "gamma", 0.1, non_negative)
  return function(t, base_lr) return base_lr * gamma ^ math.floor(t / every) end
end

--- cosine{epochs = the run's, min_lr = 0}: from base_lr at t = 0 down to min_lr at t = epochs
--- (and min_lr after).
function M.cosine(o)
  o = options_of("cosine", o)
  local span = number_option("cosine", o, "epochs", nil, positive)
  local min_lr = number_option("cosine", o, "min_lr", 0, non_negative)
  return function(t, base_lr, epochs)
    local e = span or epochs
    if not e then errors.raise("schedules.cosine: epochs is not set and the caller gave no run length") end
    local progress = math.min(math.max(t, 0), e) / e
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2
  end
end

--- warmup{epochs = 1, inner = schedule (constant), start = 0.1}: inner's rate times a
--- factor rising linearly from start at t = 0 to 1 at t = epochs. inner sees the same t.
function M.warmup(o)
  o = options_of("warmup", o)
  local span = number_option("warmup", o, "epochs", 1, positive)
  local start = number_option("warmup", o, "start", 0.1, function(v) return v >= 0 and v <= 1 end)
  local inner = o.inner or M.constant()
  if type(inner) ~= "function" then
    errors.raisef("schedules.warmup: inner must be a schedule (a function), got a %s", type(inner))
  end
  return function(t, base_lr, epochs)
    local lr = inner(t, base_lr, epochs)
    if t >= span then return lr end
    return lr * (start + (1 - start) * math.max(t, 0) / span)
  end
end

return M
