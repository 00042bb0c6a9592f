-- mtfl.nn.avgpool: 2-D average pooling over [N, C, H, W], and its global form, which
-- averages each whole plane into one value per channel (N x C x H x W -> N x C).
--
-- Padding is not counted in the average (PyTorch's count_include_pad = False), nor is
-- the part of a ceil-mode window that hangs over the edge: every output is the mean of
-- the input elements its window covers, so a border output is not pulled toward zero.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local window = require "mtfl.nn.window"
local options_check = require("mtfl.options").check
local shape = require "mtfl.nn.shape"

local AvgPool2d = class("AvgPool2d", Module)
AvgPool2d.tensor_shapes = Module.no_tensors

local OPTIONS = {padding = {"any", 0}, ceil = {"boolean", false}}

--- AvgPool2d(kernel [, stride = kernel [, {padding = 0, ceil = false}]]): kernel,
--- stride and padding are a number or {h, w}; padding is at most half the kernel.
--- As with MaxPool2d, the second argument may also be the options table
--- {stride =, padding =, ceil =}.
function AvgPool2d:__init(kernel, stride, options)
  Module.__init(self)
  if type(stride) == "table" and stride[1] == nil then
    options = {}
    for k, v in pairs(stride) do if k ~= "stride" then options[k] = v end end
    stride = stride.stride
  end
  options = options_check(options, OPTIONS, "AvgPool2d")
  window.set_pooling(self, "AvgPool2d", kernel, stride, options.padding, options.ceil)
end

--- The constructor's arguments, for the model file.
function AvgPool2d:arguments()
  return {{self.kernel_h, self.kernel_w}, {self.stride_h, self.stride_w},
          {padding = {self.pad_h, self.pad_w}, ceil = self.ceil}}
end

function AvgPool2d:describe() return window.pooling_str(self, "AvgPool2d") end

-- the core's own rule (mtfl_avgpool2d_shape), the one avgpool2d allocates with
function AvgPool2d:shape_for(s)
  return self:call(mtfl.avgpool2d_shape, s, self.geometry)
end

function AvgPool2d:updateOutput(input)
  self:check_tensor_input(input)
  return self:call(mtfl.avgpool2d, input, self.geometry)
end

function AvgPool2d:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  return self:call(mtfl.avgpool2d_backward, gradOutput, input:size(), self.geometry)
end

local GlobalAvgPool2d = class("GlobalAvgPool2d", Module)
GlobalAvgPool2d.tensor_shapes = Module.no_tensors

--- GlobalAvgPool2d(): the mean of each H x W plane, [N, C, H, W] -> [N, C].
function GlobalAvgPool2d:__init()
  Module.__init(self)
end

function GlobalAvgPool2d:arguments() return {} end

function GlobalAvgPool2d:shape_for(s)
  if #s ~= 4 or s[3] < 1 or s[4] < 1 then
    self:fail("input %s is not [N, C, H, W] with H, W >= 1", shape.str(s))
  end
  return {s[1], s[2]}
end

-- an average pooling whose one window is the whole plane
local function plane_window(s) return {kernel = {s[3], s[4]}} end

function GlobalAvgPool2d:updateOutput(input)
  self:check_tensor_input(input)
  local s = input:size()
  local out = self:shape_for(s)
  return self:call(mtfl.avgpool2d, input, plane_window(s)):view(out)
end

function GlobalAvgPool2d:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  local s = input:size()
  return self:call(mtfl.avgpool2d_backward, gradOutput:contiguous():view(s[1], s[2], 1, 1), s,
                   plane_window(s))
end

return {AvgPool2d = AvgPool2d, GlobalAvgPool2d = GlobalAvgPool2d}
