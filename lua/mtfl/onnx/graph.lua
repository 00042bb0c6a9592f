-- mtfl.onnx.graph: an ONNX graph while it is being built from a module tree: its nodes,
-- its weights (initializers) and the names of its values, kept as Lua tables until
-- the whole tree has been walked, so that a head's last value can still be renamed to
-- its task ("landmarks") before anything is encoded.
--
--   local g = graph.new("images")
--   local y = g:node("Relu", {x}, nil, "model.2")             -> "model.2", a fresh value
--   local w = g:initializer("model.1.weight", conv.weight)    -> its name
--   g:output("pose", y, {"N", 5})
--   local proto = g:encode("mtfl-lua model")                  -> a GraphProto message
local messages = require "mtfl.onnx.messages"
local errors = require "mtfl.errors"

local M = {}
local Graph = {}
Graph.__index = Graph

--- new(input_name) -> an empty graph whose one input is named input_name.
function M.new(input_name)
  local g = setmetatable({nodes = {}, initializers = {}, outputs = {}, used = {}, produced = {}, renamed = {},
                          ops = {}}, Graph)
  g.used[input_name] = true
  g.input_name = input_name
  return g
end

--- A value name not yet used in the graph: base itself, else base:2, base:3, ...
function Graph:fresh(base)
  local name, k = base, 1
  while self.used[name] do
    k = k + 1
    name = base .. ":" .. k
  end
  self.used[name] = true
  return name
end

--- node(op, inputs, attributes, where) -> the name of the node's one output, a fresh
--- value named after where (the module's place in the tree, "model.3").
function Graph:node(op, inputs, attributes, where)
  local output = self:fresh(where)
  local node = {op = op, inputs = inputs, outputs = {output}, name = output, attributes = attributes}
  self.nodes[#self.nodes + 1] = node
  self.produced[output] = node
  self.ops[op] = (self.ops[op] or 0) + 1
  return output
end

--- initializer(name, tensor [, dims]) -> the weight's value name. dims reshapes it (the
--- same values, row-major: a PReLU slope [C] as [C, 1, 1]); any device, any layout.
function Graph:initializer(name, tensor, dims)
  name = self:fresh(name)
  self.initializers[#self.initializers + 1] = messages.tensor(name, dims or tensor:size(), tensor:contiguous():to_string())
  return name
end

--- constant(name, dims, values) -> a float initializer from a Lua list.
function Graph:constant(name, dims, values)
  name = self:fresh(name)
  local raw = {}
  for i, v in ipairs(values) do raw[i] = string.pack("<f", v) end
  self.initializers[#self.initializers + 1] = messages.tensor(name, dims, table.concat(raw))
  return name
end

-- Every use of value `from` becomes `to` (and a later output of `from` finds `to`).
function Graph:rename(from, to)
  for _, node in ipairs(self.nodes) do
    for i, v in ipairs(node.inputs) do if v == from then node.inputs[i] = to end end
    for i, v in ipairs(node.outputs) do if v == from then node.outputs[i] = to end end
    if node.name == from then node.name = to end
  end
  self.produced[to], self.produced[from] = self.produced[from], nil
  self.renamed[from] = to
end

--- output(name, value, dims): value becomes the graph output `name`. The node that
--- made it is renamed (runtimes such as OpenCV's name a layer by its output), unless
--- the value is not a node's (the input, a weight) or is already another output: then
--- an Identity node gives it its second name.
function Graph:output(name, value, dims)
  while self.renamed[value] do value = self.renamed[value] end
  if self.used[name] and name ~= value then
    errors.raisef("onnx: the output name %q is already the name of a value in the graph", name)
  end
  local taken = false
  for _, o in ipairs(self.outputs) do if o.name == value then taken = true end end
  if name ~= value then
    if self.produced[value] and not taken then
      self:rename(value, name)
      self.used[name] = true
    else
      self.used[name] = true
      local node = {op = "Identity", inputs = {value}, outputs = {name}, name = name}
      self.nodes[#self.nodes + 1] = node
      self.produced[name] = node
      self.ops.Identity = (self.ops.Identity or 0) + 1
    end
  end
  self.outputs[#self.outputs + 1] = {name = name, dims = dims}
end

--- encode(name, input_dims, doc) -> the GraphProto message.
function Graph:encode(name, input_dims, doc)
  local nodes, outputs = {}, {}
  for i, n in ipairs(self.nodes) do nodes[i] = messages.node(n) end
  for i, o in ipairs(self.outputs) do outputs[i] = messages.value_info(o.name, o.dims) end
  return messages.graph{name = name, nodes = nodes, initializers = self.initializers, doc = doc,
                        inputs = {messages.value_info(self.input_name, input_dims)}, outputs = outputs}
end

return M
