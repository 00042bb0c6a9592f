-- mtfl.onnx: a model file's network as an ONNX file (opset 13), for runtimes outside
-- mtfl-lua (OpenCV's dnn module, ONNX Runtime, ...).
--
--   local nn, onnx = require "mtfl.nn", require "mtfl.onnx"
--   local model, card = nn.load_model("face.safetensors")
--   local info = onnx.save("face.onnx", model, card)   -- info.outputs, info.ops
--
-- The graph takes "images" [N, channels, size, size] (the card's input: pixel / 255,
-- NCHW) and gives one output per head, named by its task: "landmarks" [N, 10] (x1..x5,
-- y1..y5) in the input's pixels, as mtfl.predictor gives them, and each attribute's
-- scores [N, K] (their softmax is the predictor's probabilities; the class names are in
-- the card, kept in the file's metadata as mtfl.card). Inference semantics: Dropout is
-- the identity and batch normalisation uses the running statistics. Each layer's
-- operators are in mtfl.onnx.layers; a layer that has none is an error naming its place
-- in the tree and its class. A class of your own exports when it has a method
-- onnx(self, c, x, shape) -> y, output shape (see mtfl.onnx.layers for c).
local mtfl = require "mtfl"
local json = require "mtfl.json"
local files = require "mtfl.files"
local errors = require "mtfl.errors"
local shape_util = require "mtfl.nn.shape"
local graph = require "mtfl.onnx.graph"
local layers = require "mtfl.onnx.layers"
local messages = require "mtfl.onnx.messages"

local M = {}

M.OPSET = messages.OPSET
M.INPUT = "images"   -- the graph input's name

local Context = {}
Context.__index = Context

local convert

--- c:fail(fmt, ...): an error naming the module's place and class.
function Context:fail(fmt, ...)
  errors.raisef("onnx: %s (%s): %s", self.path, self.module:describe(), string.format(fmt, ...))
end

--- c:node(op, inputs [, attributes]) -> the output value of a new node named after the module
function Context:node(op, inputs, attributes) return self.graph:node(op, inputs, attributes, self.path) end

--- c:weight(name, tensor [, dims]) -> an initializer named "<path>.<name>" holding tensor
function Context:weight(name, tensor, dims) return self.graph:initializer(self.path .. "." .. name, tensor, dims) end

--- c:constant(name, dims, values) -> an initializer from a Lua list of numbers
function Context:constant(name, dims, values) return self.graph:constant(self.path .. "." .. name, dims, values) end

--- c:shape(m, s) -> m's output shape for input shape s; a mismatch names the module
function Context:shape(m, s)
  local ok, out = pcall(m.shape_for, m, s)
  if not ok then self:fail("%s", tostring(out):gsub("^[^:]*:%d+: ", "")) end
  return out
end

--- c:child(module, name, x, s) -> y, shape: a module inside this one, converted
function Context:child(module, name, x, s)
  return convert(self.graph, module, x, s, self.path .. "." .. name)
end

-- The layers mtfl.onnx.layers converts, for the error about one it does not.
local function exportable()
  local names = {}
  for name in pairs(layers) do names[#names + 1] = name end
  table.sort(names)
  return table.concat(names, ", ")
end

-- The converter of module m: its class's own onnx method, else mtfl.nn's layer's.
local function converter(m)
  if type(m.onnx) == "function" then
    return function(c, module, x, s) return module:onnx(c, x, s) end
  end
  local name = m._class_name
  local builtin = layers[name]
  -- by class, not by name: a class of someone else's called "Linear" is not nn.Linear
  if builtin and require("mtfl.nn")[name] == getmetatable(m) then return builtin end
  return nil
end

convert = function(g, m, x, s, path)
  local c = setmetatable({graph = g, module = m, path = path}, Context)
  if type(x) ~= "string" then
    c:fail("its input is the named outputs of a Heads (%s): only the graph's outputs can take them",
           table.concat(shape_util.sorted_keys(x), ", "))
  end
  local fn = converter(m)
  if not fn then
    c:fail("a %s has no ONNX form (the layers that export: %s; a class of your own needs a method " ..
           "onnx(self, c, x, shape))", tostring(m._class_name), exportable())
  end
  return fn(c, m, x, s)
end

-- [1, ...] with its batch dimension named N: every size of the graph but the batch is fixed
local function batched(s)
  local dims = shape_util.copy(s)
  dims[1] = "N"
  return dims
end

local function describe_outputs(outputs, card)
  local lines = {}
  for _, o in ipairs(outputs) do
    local task = card.tasks and card.tasks[o.name]
    local what
    if o.name == "landmarks" then
      what = "x1..x5, y1..y5 in the input's pixels"
    elseif task and task.classes then
      what = "scores (softmax: probabilities) of " .. (task.names and table.concat(task.names, ", ") or task.classes .. " classes")
    else
      what = "the network's output"
    end
    lines[#lines + 1] = string.format("%s [%s]: %s", o.name, table.concat(o.dims, ", "), what)
  end
  return table.concat(lines, "; ")
end

--- encode(model, card) -> the bytes of the ONNX file, info = {outputs = {{name, dims}},
--- input = {name, dims}, ops = {op = count}, nodes, bytes}. card is the model card
--- (nn.load_model's second value): its input says the input's size and channels.
function M.encode(model, card)
  if type(card) ~= "table" or type(card.input) ~= "table" or math.type(card.input.size) ~= "integer" then
    errors.raise("onnx: the model card has no input.size (nn.load_model gives the card)")
  end
  local size, channels = card.input.size, card.input.channels or 3
  local input_shape = {1, channels, size, size}
  local g = graph.new(M.INPUT)
  local out, shapes = convert(g, model, M.INPUT, input_shape, "model")

  local outputs = {}
  local named = type(out) == "table" and out or {output = out}
  if type(out) ~= "table" then shapes = {output = shapes} end
  local scale = require("mtfl.predictor").landmark_scale(card)
  for _, name in ipairs(shape_util.sorted_keys(named)) do
    local value = named[name]
    if name == "landmarks" and scale ~= 1 then
      -- the head's units (pixels of a reference_size image) to the input's, as the predictor does
      value = g:node("Mul", {value, g:constant("landmarks.to_input_pixels", {}, {1 / scale})}, nil,
                     "landmarks.in_input_pixels")
    end
    local dims = batched(shapes[name])
    g:output(name, value, dims)
    outputs[#outputs + 1] = {name = name, dims = dims}
  end

  local input_dims = batched(input_shape)
  local doc = string.format("%s [%s], pixel / 255 -> %s", M.INPUT, table.concat(input_dims, ", "),
                            describe_outputs(outputs, card))
  local bytes = messages.model{
    -- not "pytorch": OpenCV's importer reads that producer's AveragePool as counting the
    -- padding, whatever count_include_pad says
    producer = "mtfl-lua", version = tostring(mtfl.version), doc = doc,
    graph = g:encode(card.name or "mtfl-lua model", input_dims, doc),
    metadata = {["mtfl.card"] = json.encode(card)},
  }
  local count = 0
  for _, n in pairs(g.ops) do count = count + n end
  return bytes, {input = {name = M.INPUT, dims = input_dims}, outputs = outputs, ops = g.ops, nodes = count,
                 bytes = #bytes}
end

--- save(path, model, card) -> info (see encode): the ONNX file, written atomically.
function M.save(path, model, card)
  local bytes, info = M.encode(model, card)
  files.write_atomic(path, bytes)
  return info
end

return M
