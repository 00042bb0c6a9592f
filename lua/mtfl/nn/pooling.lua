-- mtfl.nn.pooling: 2-D max pooling over [N, C, H, W]. Forward keeps the position of
-- each maximum; backward routes the gradient back to exactly those positions.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local window = require "mtfl.nn.window"

local MaxPool2d = class("MaxPool2d", Module)

--- MaxPool2d(kernel [, {stride = kernel, padding = 0, ceil = false}]): kernel, stride
--- and padding are a number or {h, w}. ceil rounds the output size up, so the last
--- window may hang over the edge (the seed network pools 75 -> 38 this way).
function MaxPool2d:__init(kernel, options)
  Module.__init(self)
  options = options or {}
  self.kernel_h, self.kernel_w = window.pair(kernel, "kernel", "MaxPool2d", 1)
  self.stride_h, self.stride_w = window.pair(options.stride or {self.kernel_h, self.kernel_w},
                                             "stride", "MaxPool2d", 1)
  self.pad_h, self.pad_w = window.pair(options.padding or 0, "padding", "MaxPool2d", 0)
  self.ceil = options.ceil and true or false
  self.geometry = {kernel = {self.kernel_h, self.kernel_w}, stride = {self.stride_h, self.stride_w},
                   padding = {self.pad_h, self.pad_w}, ceil = self.ceil}
end

--- The constructor's arguments, for the model file (mtfl.nn.architecture).
function MaxPool2d:arguments()
  return {{self.kernel_h, self.kernel_w}, self.geometry}
end

function MaxPool2d:describe()
  local parts = {window.kernel_str(self.kernel_h, self.kernel_w)}
  if self.stride_h ~= self.kernel_h or self.stride_w ~= self.kernel_w then
    parts[#parts + 1] = "stride " .. window.pair_str(self.stride_h, self.stride_w)
  end
  if self.pad_h ~= 0 or self.pad_w ~= 0 then
    parts[#parts + 1] = "padding " .. window.pair_str(self.pad_h, self.pad_w)
  end
  if self.ceil then parts[#parts + 1] = "ceil" end
  return "MaxPool2d(" .. table.concat(parts, ", ") .. ")"
end

-- the core's own rule (mtfl_maxpool2d_shape), the one maxpool2d allocates with
function MaxPool2d:shape_for(s)
  return self:call(mtfl.maxpool2d_shape, s, self.geometry)
end

function MaxPool2d:updateOutput(input)
  self:check_tensor_input(input)
  local y, indices = self:call(mtfl.maxpool2d, input, self.geometry)
  self.cache = {indices = indices}
  return y
end

function MaxPool2d:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  return self:call(mtfl.maxpool2d_backward, gradOutput, self:cached("indices"), input:size(), self.geometry)
end

return MaxPool2d
