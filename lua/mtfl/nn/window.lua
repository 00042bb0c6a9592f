-- mtfl.nn.window: the sizes shared by convolution and pooling layers: a number or a
-- {height, width} pair, and how they print ("5x5", "stride 2", "padding 2x1").
local errors = require "mtfl.errors"

local M = {}

--- h, w from n or {h, w}, each an integer >= minimum.
function M.pair(value, what, who, minimum)
  local h, w = value, value
  if type(value) == "table" then h, w = value[1], value[2] end
  for _, v in ipairs({h, w}) do
    if math.type(v) ~= "integer" or v < minimum then
      errors.raisef("%s: %s must be an integer >= %d or a pair of them, got %s", who, what,
                    minimum, type(value) == "table" and "{" .. table.concat(value, ", ") .. "}"
                                                     or tostring(value))
    end
  end
  return h, w
end

function M.pair_str(h, w)
  return h == w and tostring(h) or (h .. "x" .. w)
end

--- "5x5" for a square kernel too: a kernel is always shown as an area.
function M.kernel_str(h, w) return h .. "x" .. w end

--- A pooling layer's window read into layer (kernel_h/w, stride_h/w, pad_h/w, ceil,
--- and geometry, the table the C ops take); stride defaults to the kernel.
function M.set_pooling(layer, who, kernel, stride, padding, ceil)
  layer.kernel_h, layer.kernel_w = M.pair(kernel, "kernel", who, 1)
  layer.stride_h, layer.stride_w = M.pair(stride or {layer.kernel_h, layer.kernel_w}, "stride", who, 1)
  layer.pad_h, layer.pad_w = M.pair(padding or 0, "padding", who, 0)
  layer.ceil = ceil and true or false
  layer.geometry = {kernel = {layer.kernel_h, layer.kernel_w}, stride = {layer.stride_h, layer.stride_w},
                    padding = {layer.pad_h, layer.pad_w}, ceil = layer.ceil}
end

--- "MaxPool2d(2x2, stride 1, padding 1, ceil)": only what differs from the defaults.
function M.pooling_str(layer, who)
  local parts = {M.kernel_str(layer.kernel_h, layer.kernel_w)}
  if layer.stride_h ~= layer.kernel_h or layer.stride_w ~= layer.kernel_w then
    parts[#parts + 1] = "stride " .. M.pair_str(layer.stride_h, layer.stride_w)
  end
  if layer.pad_h ~= 0 or layer.pad_w ~= 0 then
    parts[#parts + 1] = "padding " .. M.pair_str(layer.pad_h, layer.pad_w)
  end
  if layer.ceil then parts[#parts + 1] = "ceil" end
  return who .. "(" .. table.concat(parts, ", ") .. ")"
end

return M
