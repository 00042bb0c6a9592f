-- mtfl.nn.prelu: the parametric ReLU of He et al. (2015), y = x > 0 ? x : a_c x with a
-- learned slope a_c per channel (dimension 2 of [N, C, ...]) or one shared by all.
-- The slope is the parameter "weight" (as in PyTorch), so state dicts carry over.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show
local options_check = require("mtfl.options").check

local PReLU = class("PReLU", Module)

--- PReLU([channels = 1 [, init = 0.25 [, {device = mtfl.device()}]]]): channels = 1
--- shares one slope across the whole input.
function PReLU:__init(channels, init, options)
  Module.__init(self)
  channels, init = channels or 1, init or 0.25
  if math.type(channels) ~= "integer" or channels < 1 then
    errors.raisef("PReLU: channels must be a positive integer, got %s", show(channels))
  end
  if type(init) ~= "number" or init ~= init or math.abs(init) == math.huge then
    errors.raisef("PReLU: init must be a finite number, got %s", show(init))
  end
  self.channels, self.init = channels, init
  local device = options_check(options, {device = {"string"}}, "PReLU").device or mtfl.device()
  self:register_parameter("weight", "gradWeight", mtfl.full({channels}, init, {device = device}))
end

function PReLU:arguments() return {self.channels, self.init} end

--- PReLU.tensor_shapes([channels = 1]) -> {weight = {channels}}, known without making it.
function PReLU.tensor_shapes(channels)
  if channels ~= nil and math.type(channels) ~= "integer" then return nil end
  return {weight = {channels or 1}}
end

--- Puts every slope back to its initial value.
function PReLU:reset()
  self.weight:fill(self.init)
  return self
end

function PReLU:describe()
  if self.channels == 1 then return "PReLU(shared)" end
  return string.format("PReLU(%d channels)", self.channels)
end

function PReLU:shape_for(input_shape)
  if self.channels > 1 and (#input_shape < 2 or input_shape[2] ~= self.channels) then
    self:fail("input %s does not have %d channels in dimension 2", shape.str(input_shape), self.channels)
  end
  return input_shape
end

function PReLU:updateOutput(input)
  self:check_tensor_input(input)
  self:shape_for(input:size())
  return self:call(mtfl.prelu, input, self.weight)
end

function PReLU:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  return self:call(mtfl.prelu_backward, gradOutput, input, self.weight)
end

function PReLU:accGradParameters(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  self:call(mtfl.prelu_backward, gradOutput, input, self.weight, self.gradWeight, false)
end

-- Both gradients in one call into C, with one set of checks.
function PReLU:backward(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  local dslope = not self.frozen and self.gradWeight or nil
  if self.needs_input_gradient or dslope then
    self.gradInput = self:call(mtfl.prelu_backward, gradOutput, input, self.weight, dslope,
                               self.needs_input_gradient)
  else
    self.gradInput = nil
  end
  return self.gradInput
end

return PReLU
