-- mtfl.train.run_state: one training run's checkpoint, written atomically after every
-- epoch so that an interrupted run resumes exactly where it was.
--
-- The file is an nn.save checkpoint (safetensors): the model, the optimizer's moments
-- and step count, mtfl's RNG state, and under the metadata key "mtfl.train" a JSON
-- record of everything else the next epoch depends on or the results report: the
-- epochs done, the loss and accuracy histories, the early-stopping state and the
-- task weights. The loader needs nothing saved: epoch e's order and augmentation are
-- a function of (seed, e).
local json = require "mtfl.json"
local nn = require "mtfl.nn"
local errors = require "mtfl.errors"

local M = {}

local KEY = "mtfl.train"

-- JSON has no infinity (eq. 4 is infinite once a training loss stops falling) and no
-- holes in arrays (its value is unknown for the first k - 1 epochs).
local function encode_number(v)
  if v == nil then return json.null end
  if v == math.huge then return "inf" end
  return v
end

local function decode_number(v)
  if v == json.null then return nil end
  if v == "inf" then return math.huge end
  return v
end

--- The early-stopping state as JSON-safe tables.
function M.encode_early_stopping(s)
  local values = {}
  for task, per_epoch in pairs(s.values) do
    local list = json.array({})
    for epoch = 1, s.epoch do list[epoch] = encode_number(per_epoch[epoch]) end
    values[task] = list
  end
  return {epoch = s.epoch, train = s.train, val = s.val, values = values, stopped = s.stopped}
end

function M.decode_early_stopping(s)
  local values = {}
  for task, list in pairs(s.values) do
    values[task] = {}
    for epoch = 1, #list do values[task][epoch] = decode_number(list[epoch]) end
  end
  -- an empty history came back as an empty object: any table will do
  return {epoch = s.epoch, train = s.train, val = s.val, values = values, stopped = s.stopped}
end

--- save(path, model, optimizer, record): record is a JSON-able table.
function M.save(path, model, optimizer, record)
  nn.save(path, model, optimizer, {[KEY] = json.encode(record)})
end

--- load(path, model, optimizer) -> record; restores the RNG state too.
function M.load(path, model, optimizer)
  local meta = nn.load(path, model, optimizer, {restore_rng = true})
  if not meta[KEY] then errors.raisef("%s is a checkpoint without a training record (%s)", path, KEY) end
  return json.decode(meta[KEY])
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

return M
