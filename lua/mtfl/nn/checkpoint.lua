-- mtfl.nn.checkpoint: nn.save / nn.load, a model (and optionally its optimizer) in one
-- safetensors file. The model's parameters and buffers keep their state_dict names
-- ("1.weight", "2.running_mean"), so any safetensors reader sees the weights; the
-- optimizer's buffers are stored as
-- "optimizer.m.1" and so on, its step count and settings in the metadata, next to mtfl's
-- RNG state (so that dropout masks and shuffles can resume where they were).
local mtfl = require "mtfl"
local json = require "mtfl.json"
local safetensors = require "mtfl.safetensors"
local errors = require "mtfl.errors"

local M = {}

local OPTIMIZER_PREFIX = "optimizer."

--- save(path, model [, optimizer [, metadata]]): metadata is a table of strings (or
--- numbers), e.g. {epoch = 12}; it comes back from load.
function M.save(path, model, optimizer, metadata)
  local tensors, meta = {}, {}
  for k, v in pairs(metadata or {}) do meta[k] = v end
  for name, t in pairs(model:state_dict()) do tensors[name] = t end
  meta["mtfl.format"] = "mtfl.nn checkpoint 1"
  meta["mtfl.model"] = model:describe()
  local seed, counter = mtfl.rng_state()
  meta["mtfl.rng"] = json.encode({seed = seed, counter = counter})
  if optimizer then
    local s = optimizer:state()
    for name, t in pairs(s.buffers) do tensors[OPTIMIZER_PREFIX .. name] = t end
    meta["mtfl.optimizer"] = json.encode({type = s.type, step = s.step, config = s.config,
                                         frozen = {params = json.array(s.frozen.params),
                                                   views = json.array(s.frozen.views)}})
  end
  safetensors.save(path, tensors, meta)
end

--- load(path, model [, optimizer [, {restore_rng = false}]]) -> metadata. Parameters
--- and buffers are checked by name and shape (see load_state_dict) and copied into the model; the
--- optimizer's state is restored when one is given (the file must have it).
function M.load(path, model, optimizer, options)
  local tensors, meta = safetensors.load(path, {device = model:device() or mtfl.device()})
  local model_tensors, optimizer_buffers = {}, {}
  for name, t in pairs(tensors) do
    if name:sub(1, #OPTIMIZER_PREFIX) == OPTIMIZER_PREFIX then
      optimizer_buffers[name:sub(#OPTIMIZER_PREFIX + 1)] = t
    else
      model_tensors[name] = t
    end
  end
  local ok, err = pcall(model.load_state_dict, model, model_tensors)
  if not ok then errors.raise("nn.load " .. path .. ": " .. tostring(err):gsub("^.-load_state_dict: ", "")) end
  if optimizer then
    if not meta["mtfl.optimizer"] then
      errors.raisef("nn.load %s: the file holds no optimizer state", path)
    end
    local s = json.decode(meta["mtfl.optimizer"])
    s.buffers = optimizer_buffers
    local ok2, err2 = pcall(optimizer.load_state, optimizer, s)
    if not ok2 then errors.raise("nn.load " .. path .. ": " .. tostring(err2):gsub("^.-load_state: ", "")) end
  end
  if options and options.restore_rng and meta["mtfl.rng"] then
    local rng = json.decode(meta["mtfl.rng"])
    mtfl.set_rng_state(rng.seed, rng.counter)
  end
  return meta
end

return M
