-- mtfl.train.weighting: the task weights (lambda of eq. (3)) as policies a run asks
-- while it trains.
--
--   local weighting = require "mtfl.train.weighting"
--   local policy = weighting.new("tcdcn", {tau = 3})      -- or weighting.get("tcdcn"),
--   -- weighting.get{"uncertainty", lr = 1e-2}, weighting.get(policy_object)
--   policy:start{tasks = {landmarks = 1, pose = 6}, model = model, criterion = criterion,
--                optimizer = optimizer}
--
-- An experiment names its policy like its optimizer: policy = "tcdcn", or
-- policy = {"uncertainty", lr = 1e-2} (the name, then options), or a policy object;
-- without one its lambdas are fixed ("fixed"), early_stopping = {k = 5} means
-- "early_stopping" and a function among the tasks' values means "scheduled".
--
-- Policies: fixed, scheduled, early_stopping, tcdcn (also "dynamic"), uncertainty,
-- gradnorm (one file each beside this one; their headers give their rules and options).
--
-- The interface the trainer (mtfl.train.trainer) calls, every method optional but start:
--   policy:start{tasks = {task = base lambda}, model =, criterion =, optimizer =}
--   policy:before_epoch(epoch)                 before epoch 1, 2, ... trains
--   policy:before_step{epoch =, index =, batches =}
--   policy:after_loss{epoch =, index =, losses =, outputs =, targets =, input =}
--                                              the forward pass done, backward not yet
--   policy:after_step(losses)                  the update done; losses = {task = loss}
--   policy:after_epoch(epoch, train_losses, val_losses) -> {stopped = {task, ...}}
--   policy:weights() -> {task = lambda}        given to the criterion (MultiTask:set_weight)
--                                              before every epoch, and before every step
--                                              when policy.per_step is true
--   policy:stop_epochs() -> {task = epoch}     tasks early stopping stopped
--   policy:state() / policy:load_state(s)      JSON-able; kept in the run's checkpoint so
--                                              that an interrupted run resumes exactly
--   policy:describe() -> "tcdcn{rate = 0.05, tau = 3}", for the run's config
-- The trainer records the lambdas every epoch trained with (their value at the epoch's
-- end) in history.weights[task].
local errors = require "mtfl.errors"

local M = {}

--- The policies by name; each file returns a class with new(options).
M.NAMES = {fixed = "fixed", scheduled = "scheduled", early_stopping = "early_stopping", tcdcn = "tcdcn",
           dynamic = "tcdcn", uncertainty = "uncertainty", gradnorm = "gradnorm"}

--- The class of a policy name.
function M.class(name)
  local file = M.NAMES[name]
  if not file then
    local names = {}
    for n in pairs(M.NAMES) do names[#names + 1] = n end
    table.sort(names)
    errors.raisef("weighting: no policy named %s (policies: %s)", tostring(name), table.concat(names, ", "))
  end
  return require("mtfl.train.weighting." .. file)
end

--- new(name, options) -> a policy, its options checked.
function M.new(name, options)
  return M.class(name).new(options)
end

--- Whether x is a policy object (anything with start and weights methods).
function M.is_policy(x)
  return type(x) == "table" and type(x.start) == "function" and type(x.weights) == "function"
end

--- get(value): value is a name, {name, option = value, ...} or a policy object.
function M.get(value)
  if M.is_policy(value) then return value end
  if type(value) == "string" then return M.new(value) end
  if type(value) == "table" then
    local name = value[1] or value.type
    local options = {}
    for k, v in pairs(value) do
      if k ~= 1 and k ~= "type" then options[k] = v end
    end
    if type(name) ~= "string" then
      errors.raise("weighting: a policy table starts with the policy's name: {\"uncertainty\", lr = 1e-2}")
    end
    return M.new(name, options)
  end
  errors.raisef("weighting: a policy is a name, {name, options...} or a policy object, got a %s", type(value))
end

local function check_helper(who, o, keys)
  if type(o) ~= "table" then errors.raisef("weighting.%s: expects a table {%s}", who, table.concat(keys, " =, ") .. " =") end
  for k in pairs(o) do
    local known = false
    for _, key in ipairs(keys) do known = known or k == key end
    if not known then errors.raisef("weighting.%s: unknown option %q (options: %s)", who, tostring(k), table.concat(keys, ", ")) end
  end
  for _, key in ipairs(keys) do
    if type(o[key]) ~= "number" or o[key] ~= o[key] then
      errors.raisef("weighting.%s: %s must be a number, got %s", who, key, tostring(o[key]))
    end
  end
end

--- ramp{from =, to =, epochs =} -> function(epoch): from at epoch 1, straight to `to`
--- at epoch `epochs`, then `to` (a warm-up when from < to, a fade-out when from > to).
function M.ramp(o)
  check_helper("ramp", o, {"from", "to", "epochs"})
  if o.from < 0 or o.to < 0 then errors.raisef("weighting.ramp: from and to must be >= 0, got %g and %g", o.from, o.to) end
  if math.type(o.epochs) ~= "integer" or o.epochs < 1 then
    errors.raisef("weighting.ramp: epochs must be a positive integer, got %s", tostring(o.epochs))
  end
  return function(epoch)
    if epoch >= o.epochs or o.epochs == 1 then return o.to end
    return o.from + (o.to - o.from) * (epoch - 1) / (o.epochs - 1)
  end
end

--- decay{from =, half_life =} -> function(epoch): from * 0.5^((epoch - 1) / half_life).
function M.decay(o)
  check_helper("decay", o, {"from", "half_life"})
  if o.from < 0 then errors.raisef("weighting.decay: from must be >= 0, got %g", o.from) end
  if not (o.half_life > 0) then errors.raisef("weighting.decay: half_life must be > 0 epochs, got %g", o.half_life) end
  return function(epoch) return o.from * 0.5 ^ ((epoch - 1) / o.half_life) end
end

return M
