-- mtfl.onnx.messages: the ONNX messages an exported network is made of, encoded with
-- mtfl.onnx.protobuf. The field numbers are those of onnx.proto (ONNX's own
-- specification of the format): ModelProto, GraphProto, NodeProto, AttributeProto,
-- TensorProto, ValueInfoProto and the types and shapes inside it.
local protobuf = require "mtfl.onnx.protobuf"
local errors = require "mtfl.errors"

local M = {}

-- TensorProto.DataType
M.FLOAT, M.INT64 = 1, 7
-- AttributeProto.AttributeType
local ATTRIBUTE = {FLOAT = 1, INT = 2, STRING = 3, FLOATS = 6, INTS = 7}
-- The IR version of the format that opset 13 came with (ONNX 1.8).
M.IR_VERSION, M.OPSET = 7, 13

--- tensor(name, dims, raw) -> TensorProto: float32 values as raw little-endian bytes
--- (Tensor:to_string() gives them), in the order of dims (row-major).
function M.tensor(name, dims, raw)
  local count = 1
  for _, d in ipairs(dims) do count = count * d end
  if #raw ~= 4 * count then
    errors.raisef("onnx: tensor %s: %d bytes of data for dims [%s] (%d floats)", name, #raw,
                  table.concat(dims, "x"), count)
  end
  return protobuf.message():ints(1, dims):int(2, M.FLOAT):string(8, name):string(9, raw)
end

--- value_info(name, dims) -> ValueInfoProto of a float tensor; a dimension given as a
--- string is symbolic (the batch, "N").
function M.value_info(name, dims)
  local shape = protobuf.message()
  for _, d in ipairs(dims) do
    local dim = protobuf.message()
    if type(d) == "string" then dim:string(2, d) else dim:int(1, d) end
    shape:message(1, dim)
  end
  local tensor_type = protobuf.message():int(1, M.FLOAT):message(2, shape)
  local type_proto = protobuf.message():message(1, tensor_type)
  return protobuf.message():string(1, name):message(2, type_proto)
end

local function is_integer_list(v)
  for _, x in ipairs(v) do if math.type(x) ~= "integer" then return false end end
  return true
end

--- attribute(name, value) -> AttributeProto; its type follows the Lua value: an
--- integer (INT), a float (FLOAT), a string (STRING), a list of integers (INTS) or of
--- numbers (FLOATS).
function M.attribute(name, value)
  local a = protobuf.message():string(1, name)
  if math.type(value) == "integer" then
    a:int(3, value):int(20, ATTRIBUTE.INT)
  elseif math.type(value) == "float" then
    a:float(2, value):int(20, ATTRIBUTE.FLOAT)
  elseif type(value) == "string" then
    a:string(4, value):int(20, ATTRIBUTE.STRING)
  elseif type(value) == "table" and #value > 0 and is_integer_list(value) then
    a:ints(8, value):int(20, ATTRIBUTE.INTS)
  elseif type(value) == "table" and #value > 0 then
    a:floats(7, value):int(20, ATTRIBUTE.FLOATS)
  else
    errors.raisef("onnx: attribute %s: cannot write a %s", name, type(value))
  end
  return a
end

--- node{op =, inputs =, outputs =, name =, attributes = {name = value}} -> NodeProto;
--- attributes are written in name order, so that one network gives one file.
function M.node(n)
  local m = protobuf.message():strings(1, n.inputs):strings(2, n.outputs):string(3, n.name):string(4, n.op)
  local names = {}
  for k in pairs(n.attributes or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do m:message(5, M.attribute(k, n.attributes[k])) end
  return m
end

--- graph{name, nodes, initializers, inputs, outputs, doc} -> GraphProto (the lists
--- hold messages made above).
function M.graph(g)
  return protobuf.message():messages(1, g.nodes):string(2, g.name):messages(5, g.initializers)
    :string(10, g.doc or ""):messages(11, g.inputs):messages(12, g.outputs)
end

--- model{graph, producer, version, doc, metadata = {key = value}} -> the bytes of the
--- ModelProto: the file.
function M.model(m)
  local opset = protobuf.message():string(1, ""):int(2, M.OPSET)
  local model = protobuf.message():int(1, M.IR_VERSION):string(2, m.producer):string(3, m.version)
    :string(6, m.doc or ""):message(7, m.graph):message(8, opset)
  local keys = {}
  for k in pairs(m.metadata or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    model:message(14, protobuf.message():string(1, k):string(2, m.metadata[k]))
  end
  return model:encode()
end

return M
