-- mtfl.nn.batchnorm: batch normalisation (Ioffe and Szegedy, 2015), BatchNorm2d over
-- [N, C, H, W] and BatchNorm1d over [N, F], as in PyTorch.
--
-- In training each channel is normalised by the batch's own mean and (biased) variance
-- over N*H*W values, and running_mean / running_var move toward them by momentum (the
-- variance unbiased, n / (n - 1)); in evaluation (model:evaluate()) the running
-- statistics are used instead, so one face gives the same output alone or in a batch.
-- weight (gamma, 1) and bias (beta, 0) follow when affine. The running statistics are
-- buffers: saved and loaded with the model, never updated by an optimizer.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show
local options_check = require("mtfl.options").check

local BatchNorm = class("BatchNorm", Module)

local DEFAULTS = {eps = 1e-5, momentum = 0.1}

--- (channels [, {eps = 1e-5, momentum = 0.1, affine = true, device = mtfl.device()}])
function BatchNorm:__init(channels, options)
  Module.__init(self)
  local who = self._class_name
  if math.type(channels) ~= "integer" or channels < 1 then
    errors.raisef("%s: channels must be a positive integer, got %s", who, show(channels))
  end
  options = options_check(options, {eps = {"any"}, momentum = {"any"}, affine = {"boolean", true}, device = {"string"}}, who)
  self.channels = channels
  self.eps = options.eps or DEFAULTS.eps
  self.momentum = options.momentum or DEFAULTS.momentum
  if type(self.eps) ~= "number" or not (self.eps > 0) then
    errors.raisef("%s: eps must be a positive number, got %s", who, show(self.eps))
  end
  if type(self.momentum) ~= "number" or not (self.momentum >= 0 and self.momentum <= 1) then
    errors.raisef("%s: momentum must be a number in [0, 1], got %s", who, show(self.momentum))
  end
  self.affine = options.affine ~= false
  local device = options.device or mtfl.device()
  if self.affine then
    self:register_parameter("weight", "gradWeight", mtfl.ones(channels, {device = device}))
    self:register_parameter("bias", "gradBias", mtfl.zeros(channels, {device = device}))
  end
  self:register_buffer("running_mean", mtfl.zeros(channels, {device = device}))
  self:register_buffer("running_var", mtfl.ones(channels, {device = device}))
end

--- BatchNorm.tensor_shapes(channels [, options]) -> weight and bias (when affine),
--- running_mean and running_var, each {channels}: known without making them.
function BatchNorm.tensor_shapes(channels, options)
  if math.type(channels) ~= "integer" then return nil end
  local shapes = {running_mean = {channels}, running_var = {channels}}
  if not (type(options) == "table" and options.affine == false) then
    shapes.weight, shapes.bias = {channels}, {channels}
  end
  return shapes
end

--- The constructor's arguments, for the model file.
function BatchNorm:arguments()
  return {self.channels, {eps = self.eps, momentum = self.momentum, affine = self.affine}}
end

--- Back to gamma = 1, beta = 0 and the running statistics of no data (0 and 1).
function BatchNorm:reset()
  if self.affine then
    self.weight:fill(1)
    self.bias:zero()
  end
  self.running_mean:zero()
  self.running_var:fill(1)
  return self
end

function BatchNorm:describe()
  local parts = {tostring(self.channels)}
  if self.eps ~= DEFAULTS.eps then parts[#parts + 1] = string.format("eps %g", self.eps) end
  if self.momentum ~= DEFAULTS.momentum then
    parts[#parts + 1] = string.format("momentum %g", self.momentum)
  end
  if not self.affine then parts[#parts + 1] = "no affine" end
  return self._class_name .. "(" .. table.concat(parts, ", ") .. ")"
end

function BatchNorm:shape_for(s)
  if #s ~= #self.layout or s[2] ~= self.channels then
    self:fail("input %s is not [%s] with %s = %d", shape.str(s), table.concat(self.layout, ", "),
              self.layout[2], self.channels)
  end
  return shape.copy(s)
end

function BatchNorm:check_tensor_input(input)
  Module.check_tensor_input(self, input)
  local here = self.running_mean:device()   -- without affine there are no parameters
  if input:device() ~= here then
    self:fail("input %s is on %s but the running statistics are on %s (move one with :to())",
              shape.str(input), input:device(), here)
  end
end

function BatchNorm:updateOutput(input)
  self:check_tensor_input(input)
  self:shape_for(input:size())
  local options = {training = self.train, momentum = self.momentum, eps = self.eps}
  if self.train then
    options.running_mean, options.running_var = self.running_mean, self.running_var
  else
    options.mean, options.var = self.running_mean, self.running_var
  end
  local y, mean, var = self:call(mtfl.batchnorm, input, self.weight, self.bias, options)
  -- backward differentiates through the statistics forward used, in the mode it ran in
  self.cache = {mean = mean, var = var, training = self.train}
  return y
end

-- One C call for whichever of dx, dgamma, dbeta are wanted (they share the sums).
function BatchNorm:gradients(input, gradOutput, want_dx, want_params)
  self:check_grad_output(input, gradOutput)
  want_params = want_params and self.affine
  if not (want_dx or want_params) then return nil end
  local mean = self:cached("mean")
  return self:call(mtfl.batchnorm_backward, gradOutput, input, mean, self.cache.var, self.weight, {
    training = self.cache.training, eps = self.eps, need_dx = want_dx,
    dweight = want_params and self.gradWeight or nil, dbias = want_params and self.gradBias or nil})
end

function BatchNorm:backward(input, gradOutput)
  self.gradInput = self:gradients(input, gradOutput, self.needs_input_gradient, not self.frozen)
  return self.gradInput
end

function BatchNorm:updateGradInput(input, gradOutput)
  return self:gradients(input, gradOutput, true, false)
end

function BatchNorm:accGradParameters(input, gradOutput)
  self:gradients(input, gradOutput, false, true)
end

--- BatchNorm2d(channels [, options]): per channel of [N, C, H, W], over N*H*W values.
local BatchNorm2d = class("BatchNorm2d", BatchNorm)
BatchNorm2d.layout = {"N", "C", "H", "W"}

--- BatchNorm1d(features [, options]): per feature of [N, F], over the N samples.
local BatchNorm1d = class("BatchNorm1d", BatchNorm)
BatchNorm1d.layout = {"N", "F"}

return {BatchNorm = BatchNorm, BatchNorm1d = BatchNorm1d, BatchNorm2d = BatchNorm2d}
