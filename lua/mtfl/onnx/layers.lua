-- mtfl.onnx.layers: each layer and container of mtfl.nn as ONNX operators (opset 13),
-- with inference semantics: Dropout is the identity, batch normalisation uses the
-- running statistics.
--
-- A converter is function(c, m, x, shape) -> y, output shape, where c is the export's
-- context at module m (c:node, c:weight, c:child, c.path: see mtfl.onnx.export), x the
-- name of m's input value and shape its shape (batch 1). Containers convert their
-- children through c:child; a Heads gives a table {head name = value}.
local shape_util = require "mtfl.nn.shape"

local M = {}

local function float(x) return x + 0.0 end

-- ---- containers ------------------------------------------------------------------------

function M.Sequential(c, m, x, s)
  local modules, names = m:children()
  for i, child in ipairs(modules) do x, s = c:child(child, names[i], x, s) end
  return x, s
end

function M.Heads(c, m, x, s)
  local outputs, shapes = {}, {}
  local modules, names = m:children()
  for i, head in ipairs(modules) do
    local y, ys = c:child(head, names[i], x, s)
    if type(y) == "table" then c:fail("head %s gives named outputs of its own (a Heads in a head)", names[i]) end
    outputs[names[i]], shapes[names[i]] = y, ys
  end
  return outputs, shapes
end

function M.Residual(c, m, x, s)
  local a, sa = c:child(m.body, "body", x, s)
  local b, sb = x, s
  if m.shortcut then b, sb = c:child(m.shortcut, "shortcut", x, s) end
  if type(a) ~= "string" or type(b) ~= "string" then c:fail("body and shortcut must give tensors") end
  if not shape_util.equal(sa, sb) then
    c:fail("body output %s and shortcut output %s differ", shape_util.str(sa), shape_util.str(sb))
  end
  return c:node("Add", {a, b}), sa
end

function M.Concat(c, m, x, s)
  local values, shapes = {}, {}
  local modules, names = m:children()
  for i, branch in ipairs(modules) do
    values[i], shapes[i] = c:child(branch, names[i], x, s)
    if type(values[i]) ~= "string" then c:fail("branch %d gives named outputs, not a tensor", i) end
  end
  local joined = m:joined_shape(shapes)
  return c:node("Concat", values, {axis = m.dim - 1}), joined
end

-- ---- layers with weights -------------------------------------------------------------------

function M.Linear(c, m, x, s)
  local out = c:shape(m, s)
  if #s == 2 then
    -- y = x W^T + b in one operator, W [out, in] as stored
    local inputs = {x, c:weight("weight", m.weight)}
    if m.bias then inputs[3] = c:weight("bias", m.bias) end
    return c:node("Gemm", inputs, {transB = 1}), out
  end
  -- rows of features in a larger tensor ([N, ..., in]): MatMul broadcasts over the rest
  local y = c:node("MatMul", {x, c:weight("weight_t", m.weight:transpose(1, 2))})
  if m.bias then y = c:node("Add", {y, c:weight("bias", m.bias)}) end
  return y, out
end

function M.Conv2d(c, m, x, s)
  local out = c:shape(m, s)
  local inputs = {x, c:weight("weight", m.weight)}
  if m.bias then inputs[3] = c:weight("bias", m.bias) end
  return c:node("Conv", inputs, {kernel_shape = {m.kernel_h, m.kernel_w}, strides = {m.stride_h, m.stride_w},
                                 pads = {m.pad_h, m.pad_w, m.pad_h, m.pad_w}}), out
end

local function batchnorm(c, m, x, s)
  local out = c:shape(m, s)
  local scale, bias
  if m.affine then
    scale, bias = c:weight("weight", m.weight), c:weight("bias", m.bias)
  else
    local ones, zeros = {}, {}
    for i = 1, m.channels do ones[i], zeros[i] = 1, 0 end
    scale, bias = c:constant("weight", {m.channels}, ones), c:constant("bias", {m.channels}, zeros)
  end
  -- opset 13's BatchNormalization with one output is the inference form
  return c:node("BatchNormalization", {x, scale, bias, c:weight("running_mean", m.running_mean),
                                       c:weight("running_var", m.running_var)},
                {epsilon = float(m.eps), momentum = float(1 - m.momentum)}), out
end
M.BatchNorm2d, M.BatchNorm1d = batchnorm, batchnorm

function M.PReLU(c, m, x, s)
  local out = c:shape(m, s)
  -- ONNX broadcasts the slope from the last dimension: one per channel of [N, C, ...]
  -- is [C, 1, ..., 1]
  local dims = {m.channels}
  if m.channels > 1 then for _ = 3, #s do dims[#dims + 1] = 1 end end
  return c:node("PRelu", {x, c:weight("weight", m.weight, dims)}), out
end

-- ---- pooling ----------------------------------------------------------------------------------

-- The window's pads with the part of a ceil-mode window that hangs past the edge added
-- to the end: each runtime then takes the same windows with plain floor rounding (ONNX
-- runtimes differ in how they round ceil mode), and neither pooling counts padding.
local function pooling_pads(m, s, out)
  local extra = {}
  for axis, w in pairs{[3] = {m.kernel_h, m.stride_h, m.pad_h}, [4] = {m.kernel_w, m.stride_w, m.pad_w}} do
    local kernel, stride, pad = w[1], w[2], w[3]
    local reach = (out[axis] - 1) * stride + kernel   -- where the last window ends
    extra[axis] = math.max(0, reach - (s[axis] + 2 * pad))
  end
  return {m.pad_h, m.pad_w, m.pad_h + extra[3], m.pad_w + extra[4]}
end

function M.MaxPool2d(c, m, x, s)
  local out = c:shape(m, s)
  return c:node("MaxPool", {x}, {kernel_shape = {m.kernel_h, m.kernel_w}, strides = {m.stride_h, m.stride_w},
                                 pads = pooling_pads(m, s, out)}), out
end

function M.AvgPool2d(c, m, x, s)
  local out = c:shape(m, s)
  return c:node("AveragePool", {x}, {kernel_shape = {m.kernel_h, m.kernel_w}, strides = {m.stride_h, m.stride_w},
                                     pads = pooling_pads(m, s, out), count_include_pad = 0}), out
end

function M.GlobalAvgPool2d(c, m, x, s)
  local out = c:shape(m, s)
  return c:node("Flatten", {c:node("GlobalAveragePool", {x})}, {axis = 1}), out
end

-- ---- element-wise and shape ---------------------------------------------------------------------

local function unary(op)
  return function(c, m, x, s) return c:node(op, {x}), c:shape(m, s) end
end
M.ReLU, M.Tanh, M.Sigmoid = unary("Relu"), unary("Tanh"), unary("Sigmoid")

function M.LeakyReLU(c, m, x, s)
  return c:node("LeakyRelu", {x}, {alpha = float(m.slope)}), c:shape(m, s)
end

function M.AbsTanh(c, m, x, s)
  return c:node("Abs", {c:node("Tanh", {x})}), c:shape(m, s)
end

-- evaluation's dropout passes its input on: no operator at all
function M.Dropout(c, m, x, s) return x, c:shape(m, s) end

function M.Flatten(c, m, x, s)
  return c:node("Flatten", {x}, {axis = 1}), c:shape(m, s)
end

return M
