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
local shape = require "mtfl.nn.shape"

local M = {}

M.FORMAT = "mtfl-model 1"

-- what a card must say for the network to be used
local REQUIRED = {"input", "tasks"}

-- The largest input side a card may ask for: far beyond any face network, small enough
-- that one image of it fits in memory.
M.MAX_INPUT_SIZE = 4096

local function is_finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

local function show(v) return require("mtfl.options").show(v) end

-- Every field of the card a program reads, checked once, here: where names the file.
local function check_card(card, where)
  if type(card) ~= "table" then errors.raisef("%s: the model card is a %s, not a table", where, type(card)) end
  for _, key in ipairs(REQUIRED) do
    if card[key] == nil then errors.raisef("%s: the model card has no %q", where, key) end
  end
  local function bad(field, value, want)
    errors.raisef("%s: the model card's %s is %s, %s", where, field, show(value), want)
  end
  if type(card.input) ~= "table" then bad("input", card.input, "not a table {size = N}") end
  local size = card.input.size
  if math.type(size) ~= "integer" or size < 1 or size > M.MAX_INPUT_SIZE then
    bad("input.size", size, "not an integer from 1 to " .. M.MAX_INPUT_SIZE)
  end
  if card.input.channels ~= nil and card.input.channels ~= 3 then
    bad("input.channels", card.input.channels, "not 3 (the networks here take RGB images)")
  end
  if type(card.tasks) ~= "table" or next(card.tasks) == nil then bad("tasks", card.tasks, "not a table of tasks") end
  for task, t in pairs(card.tasks) do
    local name = "tasks." .. tostring(task)
    if type(task) ~= "string" then bad("tasks", card.tasks, "not a table keyed by task names") end
    if type(t) ~= "table" or not (t.outputs or t.classes) then
      errors.raisef("%s: task %s in the model card has neither outputs nor classes", where, tostring(task))
    end
    if task == "landmarks" then
      if math.type(t.outputs) ~= "integer" or t.outputs < 2 or t.outputs % 2 ~= 0 then
        bad(name .. ".outputs", t.outputs, "not an even number of coordinates (10: x1..x5 y1..y5)")
      end
      if t.reference_size ~= nil and not (is_finite(t.reference_size) and t.reference_size > 0) then
        bad(name .. ".reference_size", t.reference_size, "not a positive number of pixels")
      end
    else
      if math.type(t.classes) ~= "integer" or t.classes < 2 or t.classes > 100000 then
        bad(name .. ".classes", t.classes, "not a number of classes (an integer >= 2)")
      end
      if t.names ~= nil then
        if type(t.names) ~= "table" or #t.names ~= t.classes then
          bad(name .. ".names", t.names, string.format("not a list of %d class names", t.classes))
        end
        for i, n in ipairs(t.names) do
          if type(n) ~= "string" then bad(string.format("%s.names[%d]", name, i), n, "not a string") end
        end
      end
    end
  end
  local protocol = card.protocol
  if protocol ~= nil then
    if type(protocol) ~= "table" then bad("protocol", protocol, "not a table {name =, eye_mouth =}") end
    if protocol.name ~= nil and type(protocol.name) ~= "string" then bad("protocol.name", protocol.name, "not a string") end
    if protocol.eye_mouth ~= nil and not (is_finite(protocol.eye_mouth) and protocol.eye_mouth > 0 and protocol.eye_mouth <= 1) then
      bad("protocol.eye_mouth", protocol.eye_mouth, "not a share of the side in (0, 1]")
    end
  end
  for _, key in ipairs{"name", "title"} do
    if card[key] ~= nil and type(card[key]) ~= "string" then bad(key, card[key], "not a string") end
  end
end

M.check_card = check_card

-- The file's tensors against those the architecture declares, before anything is built:
-- a small file declaring a huge layer is refused without allocating it.
local function check_declared(arch, tensors, where)
  local declared, open = architecture.declared_tensors(arch)
  local function is_open(name)
    for _, prefix in ipairs(open) do if name:sub(1, #prefix) == prefix then return true end end
    return false
  end
  local problems = {}
  for _, name in ipairs(shape.sorted_keys(declared)) do
    local t = tensors[name]
    if t == nil then
      problems[#problems + 1] = string.format("%s %s is not in the file", name, shape.str(declared[name]))
    elseif not shape.equal(t:size(), declared[name]) then
      problems[#problems + 1] = string.format("%s is %s in the architecture but %s in the file", name,
                                              shape.str(declared[name]), shape.str(t))
    end
  end
  for _, name in ipairs(shape.sorted_keys(tensors)) do
    if declared[name] == nil and not is_open(name) then
      problems[#problems + 1] = string.format("%s is in the file but no layer of the architecture has it", name)
    end
  end
  if #problems > 0 then
    local shown = {table.unpack(problems, 1, math.min(#problems, 5))}
    errors.raisef("%s: the file's tensors do not fit the network it describes (nothing was built): %s%s", where,
                  table.concat(shown, "; "), #problems > 5 and string.format("; and %d more", #problems - 5) or "")
  end
end

-- A weight or statistic that is NaN or infinite makes every prediction meaningless.
local function check_finite(tensors, where)
  for _, name in ipairs(shape.sorted_keys(tensors)) do
    local t = tensors[name]
    if t:numel() > 0 and t:mul(0):sum() ~= 0 then   -- inf * 0 and nan * 0 are nan
      local values, count, first = t:contiguous():reshape(t:numel()):to("cpu"):totable(), 0, nil
      for i, v in ipairs(values) do
        if v ~= v or v == math.huge or v == -math.huge then
          count = count + 1
          first = first or {i, v}
        end
      end
      errors.raisef("%s: tensor %s %s holds %d value%s that %s not finite (the first, element %d, is %s): " ..
                    "the network would predict meaningless numbers", where, name, shape.str(t), count,
                    count == 1 and "" or "s", count == 1 and "is" or "are", first[1], show(first[2]))
    end
  end
end

-- The network's outputs against the card's tasks, on one blank image: a task the card
-- lists must come out of the network with its width, and nothing else may.
local function check_outputs(model, card, device, where)
  local size = card.input.size
  local ok, out = pcall(model.forward, model, mtfl.zeros(1, 3, size, size, {device = device}))
  if not ok then
    errors.raisef("%s: the network does not take the card's input [1x3x%dx%d]: %s", where, size, size,
                  tostring(out):gsub("^[^:]*:%d+: ", ""))
  end
  if mtfl.is_tensor(out) then
    errors.raisef("%s: the network gives one tensor %s, not a table of the card's tasks", where, shape.str(out))
  end
  for task, t in pairs(card.tasks) do
    local width = t.outputs or t.classes
    local o = out[task]
    if not mtfl.is_tensor(o) then
      errors.raisef("%s: the model card lists the task %s, which the network does not output", where, task)
    end
    if o:dim() ~= 2 or o:size(2) ~= width then
      errors.raisef("%s: the network's %s output is %s per image, the card says %d", where, task,
                    shape.str(o), width)
    end
  end
  for task in pairs(out) do
    if not card.tasks[task] then
      errors.raisef("%s: the network outputs %s, which the model card does not describe", where, tostring(task))
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
  check_finite(tensors, where)
  check_declared(arch, tensors, where)
  local built
  ok, built = pcall(architecture.build, arch)
  if not ok then errors.raise(where .. ": " .. tostring(built):gsub("^[^:]*:%d+: ", "")) end
  built:to(device)
  ok, built = pcall(built.load_state_dict, built, tensors)
  if not ok then errors.raise(where .. ": " .. tostring(built):gsub("^.-load_state_dict: ", "")) end
  built:evaluate()
  check_outputs(built, card, device, where)
  return built, card
end

return M
