-- mtfl.nn.conv: 2-D convolution over [N, C, H, W] with weights [F, C, KH, KW] and a
-- bias [F] (Torch's SpatialConvolution; im2col + GEMM in C).
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local init = require "mtfl.nn.initializers"
local window = require "mtfl.nn.window"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show
local options_check = require("mtfl.options").check

local Conv2d = class("Conv2d", Module)

local OPTIONS = {stride = {"any", 1}, padding = {"any", 0}, bias = {"boolean", true}, init = {{"string", "function"}},
                 device = {"string"}}

--- Conv2d(in_channels, out_channels, kernel [, {stride = 1, padding = 0 | "same" |
--- {ph, pw}, bias = true, init = "xavier_uniform", device = mtfl.device()}])
--- kernel and stride are a number or {h, w}. "same" pads (k - 1) / 2 on each side, which
--- keeps H and W at stride 1 (odd kernels only: even ones would need uneven padding).
function Conv2d:__init(in_channels, out_channels, kernel, options)
  Module.__init(self)
  options = options_check(options, OPTIONS, "Conv2d")
  if kernel == nil then errors.raise("Conv2d: the kernel size (the third argument) is missing") end
  -- in order, and each even when nil (a table would skip a missing one)
  for _, arg in ipairs{{"in_channels", in_channels}, {"out_channels", out_channels}} do
    if math.type(arg[2]) ~= "integer" or arg[2] < 1 then
      errors.raisef("Conv2d: %s must be a positive integer, got %s", arg[1], show(arg[2]))
    end
  end
  self.in_channels, self.out_channels = in_channels, out_channels
  self.kernel_h, self.kernel_w = window.pair(kernel, "kernel", "Conv2d", 1)
  self.stride_h, self.stride_w = window.pair(options.stride, "stride", "Conv2d", 1)
  if options.padding == "same" then
    if self.kernel_h % 2 == 0 or self.kernel_w % 2 == 0 then
      errors.raisef("Conv2d: padding \"same\" needs an odd kernel, got %dx%d",
                    self.kernel_h, self.kernel_w)
    end
    self.pad_h, self.pad_w = (self.kernel_h - 1) // 2, (self.kernel_w - 1) // 2
  else
    self.pad_h, self.pad_w = window.pair(options.padding, "padding", "Conv2d", 0)
  end
  self.geometry = {stride = {self.stride_h, self.stride_w}, padding = {self.pad_h, self.pad_w}}

  local device = options.device or mtfl.device()
  self:register_parameter("weight", "gradWeight", mtfl.empty(
    out_channels, in_channels, self.kernel_h, self.kernel_w, {device = device}))
  if options.bias then
    self:register_parameter("bias", "gradBias", mtfl.zeros(out_channels, {device = device}))
  end
  self.initializer = init.resolve(options.init, "Conv2d")
  self:reset()
end

--- Conv2d.tensor_shapes(in_channels, out_channels, kernel [, options]) -> {weight = {out,
--- in, kh, kw}, bias = {out}}: what these arguments make, known without making it; nil
--- for arguments the constructor would refuse.
function Conv2d.tensor_shapes(in_channels, out_channels, kernel, options)
  if math.type(in_channels) ~= "integer" or math.type(out_channels) ~= "integer" then return nil end
  local ok, kh, kw = pcall(window.pair, kernel, "kernel", "Conv2d", 1)
  if not ok then return nil end
  local shapes = {weight = {out_channels, in_channels, kh, kw}}
  if not (type(options) == "table" and options.bias == false) then shapes.bias = {out_channels} end
  return shapes
end

--- The constructor's arguments, for the model file (mtfl.nn.architecture).
function Conv2d:arguments()
  return {self.in_channels, self.out_channels, {self.kernel_h, self.kernel_w},
          {stride = {self.stride_h, self.stride_w}, padding = {self.pad_h, self.pad_w},
           bias = self.bias ~= nil}}
end

--- Draws fresh weights (Xavier by default) and zeroes the bias.
function Conv2d:reset(initializer)
  local area = self.kernel_h * self.kernel_w
  local draw = initializer or self.initializer
  draw(self.weight, self.in_channels * area, self.out_channels * area)
  if self.bias then self.bias:zero() end
  return self
end

function Conv2d:describe()
  local parts = {string.format("%d -> %d", self.in_channels, self.out_channels),
                 window.kernel_str(self.kernel_h, self.kernel_w)}
  if self.stride_h ~= 1 or self.stride_w ~= 1 then
    parts[#parts + 1] = "stride " .. window.pair_str(self.stride_h, self.stride_w)
  end
  if self.pad_h ~= 0 or self.pad_w ~= 0 then
    parts[#parts + 1] = "padding " .. window.pair_str(self.pad_h, self.pad_w)
  end
  if not self.bias then parts[#parts + 1] = "no bias" end
  return "Conv2d(" .. table.concat(parts, ", ") .. ")"
end

-- the core's own rule (mtfl_conv2d_shape), the one conv2d allocates its output with
function Conv2d:shape_for(s)
  return self:call(mtfl.conv2d_shape, s, self.weight:size(), self.geometry)
end

function Conv2d:updateOutput(input)
  self:check_tensor_input(input)
  return self:call(mtfl.conv2d, input, self.weight, self.bias, self.geometry)
end

--- One C call for whichever of dx, dW, db are wanted (they share the unfolded input).
function Conv2d:gradients(input, gradOutput, want_dx, want_params)
  self:check_grad_output(input, gradOutput)
  if not (want_dx or want_params) then return nil end
  return self:call(mtfl.conv2d_backward, gradOutput, input, self.weight, {
    stride = self.geometry.stride, padding = self.geometry.padding, need_dx = want_dx,
    dw = want_params and self.gradWeight or nil,
    db = want_params and self.bias and self.gradBias or nil})
end

function Conv2d:backward(input, gradOutput)
  self.gradInput = self:gradients(input, gradOutput, self.needs_input_gradient, not self.frozen)
  return self.gradInput
end

function Conv2d:updateGradInput(input, gradOutput)
  return self:gradients(input, gradOutput, true, false)
end

function Conv2d:accGradParameters(input, gradOutput)
  self:gradients(input, gradOutput, false, true)
end

return Conv2d
