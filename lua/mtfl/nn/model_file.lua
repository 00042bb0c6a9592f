-- mtfl.nn.model_file: a trained network as one file that says how to use it.
--
--   nn.save_model("face.safetensors", model, {input = {size = 60}, tasks = {...}, ...})
--   local model, card = nn.load_model("face.safetensors")   -- no training script needed
--
-- The file is safetensors: the parameters and buffers by name (as state_dict), and in
-- its metadata the format, the module tree (mtfl.nn.architecture) and the model card,
-- a JSON table of what it takes to use the network:
--   input    = {size, channels = 3, layout = "NCHW", scale = "pixel / 255"}
--   tasks    = {landmarks = {outputs = 10, order = "x1..x5 y1..y5", units = "pixels of
--               a reference_size x reference_size image", reference_size = 150},
--               pose = {classes = 5, names = {...}}, ...}
--   protocol = {name = "crop", eye_mouth = 0.316}   -- how faces were framed in training
--   training = {...}, test = {...}                   -- settings, test metrics
-- nn.save (checkpoint.lua) stays the file of a training run (weights and optimizer);
-- this one is what a run hands to its users.
local mtfl = require "mtfl"
local json = require "mtfl.json"
local safetensors = require "mtfl.safetensors"
local architecture = require "mtfl.nn.architecture"
local errors = require "mtfl.errors"

local M = {}

M.FORMAT = "mtfl-model 1"

-- what a card must say for the network to be used
local REQUIRED = {"input", "tasks"}

local function check_card(card, where)
  if type(card) ~= "table" then errors.raisef("%s: the model card is a %s, not a table", where, type(card)) end
  for _, key in ipairs(REQUIRED) do
    if card[key] == nil then errors.raisef("%s: the model card has no %q", where, key) end
  end
  if math.type(card.input.size) ~= "integer" or card.input.size < 1 then
    errors.raisef("%s: the model card's input.size is %s, not a positive integer", where, tostring(card.input.size))
  end
  for task, t in pairs(card.tasks) do
    if type(t) ~= "table" or not (t.outputs or t.classes) then
      errors.raisef("%s: task %s in the model card has neither outputs nor classes", where, tostring(task))
    end
  end
end

--- save_model(path, model, card): the weights, the module tree and the card, written
--- atomically. The card needs input.size and tasks (see the top of this file).
function M.save_model(path, model, card)
  local where = "nn.save_model " .. tostring(path)
  check_card(card, where)
  local ok, arch = pcall(architecture.architecture, model)
  if not ok then errors.raise(where .. ": " .. tostring(arch):gsub("^[^:]*:%d+: ", "")) end
  local filled = {}
  for k, v in pairs(card) do filled[k] = v end
  filled.input = {}
  for k, v in pairs(card.input) do filled.input[k] = v end
  filled.input.channels = filled.input.channels or 3
  filled.input.layout = filled.input.layout or "NCHW"
  filled.input.scale = filled.input.scale or "pixel / 255"
  filled.program = filled.program or ("mtfl-lua " .. tostring(mtfl.version))
  safetensors.save(path, model:state_dict(), {
    ["mtfl.format"] = M.FORMAT,
    ["mtfl.architecture"] = json.encode(arch),
    ["mtfl.card"] = json.encode(filled),
  })
end

--- load_model(path [, {device = mtfl.device()}]) -> model (in evaluation mode), card.
--- A file that is not a model file (a checkpoint of nn.save, another program's
--- safetensors, an older format) is an error saying what it lacks.
function M.load_model(path, options)
  local where = "nn.load_model " .. tostring(path)
  if type(path) ~= "string" then errors.raisef("nn.load_model: the path is a %s, not a string", type(path)) end
  local device = options and options.device or mtfl.device()
  local tensors, meta = safetensors.load(path, {device = device})
  local format = meta["mtfl.format"]
  if format == nil then
    local count, keys = 0, {}
    for _ in pairs(tensors) do count = count + 1 end
    for key in pairs(meta) do keys[#keys + 1] = key end
    table.sort(keys)
    errors.raisef("%s: %s, not an mtfl model file: it has no mtfl.format entry (%d tensors, metadata: %s); a network is saved for use with nn.save_model",
                  where, meta["mtfl.optimizer"] and "a training checkpoint (nn.save)" or "a safetensors file",
                  count, #keys > 0 and table.concat(keys, ", ") or "none")
  end
  if format ~= M.FORMAT then
    local hint = format:match("checkpoint") and
      "a training checkpoint (nn.save) holds weights but not the architecture or the model card; load it with nn.load into the network its script builds"
      or "written by another program or version"
    errors.raisef("%s: format %q, this program reads %q: %s", where, format, M.FORMAT, hint)
  end
  for _, key in ipairs{"mtfl.architecture", "mtfl.card"} do
    if not meta[key] then errors.raisef("%s: the file has no %s entry", where, key) end
  end
  local ok, arch = pcall(json.decode, meta["mtfl.architecture"])
  if not ok then errors.raisef("%s: its architecture is not JSON: %s", where, tostring(arch)) end
  local card
  ok, card = pcall(json.decode, meta["mtfl.card"])
  if not ok then errors.raisef("%s: its model card is not JSON: %s", where, tostring(card)) end
  check_card(card, where)
  local built
  ok, built = pcall(architecture.build, arch)
  if not ok then errors.raise(where .. ": " .. tostring(built):gsub("^[^:]*:%d+: ", "")) end
  built:to(device)
  ok, built = pcall(built.load_state_dict, built, tensors)
  if not ok then errors.raise(where .. ": " .. tostring(built):gsub("^.-load_state_dict: ", "")) end
  return built:evaluate(), card
end

return M
