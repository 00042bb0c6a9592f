-- mtfl.nn.leaky_relu: y = x > 0 ? x : slope * x. With a slope >= 0 the output has the
-- input's sign, so backward reads the output (and the layer may work in place); a
-- negative slope flips it, so then backward reads the input.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show

local LeakyReLU = class("LeakyReLU", Module)
LeakyReLU.tensor_shapes = Module.no_tensors

--- LeakyReLU([slope = 0.01 [, in_place]]): in place overwrites the input with the
--- output (needs slope >= 0).
function LeakyReLU:__init(slope, in_place)
  Module.__init(self)
  if slope == nil then slope = 0.01 end
  if type(slope) ~= "number" or slope ~= slope or math.abs(slope) == math.huge then
    errors.raisef("LeakyReLU: slope must be a finite number, got %s", show(slope))
  end
  if in_place and slope < 0 then
    errors.raisef("LeakyReLU: in place needs a slope >= 0 (backward then finds the input's "
                  .. "sign in the output), got %g", slope)
  end
  self.slope, self.in_place = slope, in_place and true or false
end

function LeakyReLU:arguments() return {self.slope, self.in_place} end

function LeakyReLU:describe()
  return string.format("LeakyReLU(%g%s)", self.slope, self.in_place and ", in place" or "")
end

function LeakyReLU:updateOutput(input)
  self:check_tensor_input(input)
  if self.in_place then return input:leaky_relu_(self.slope) end
  return input:leaky_relu(self.slope)
end

function LeakyReLU:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  if not self.output then self:fail("backward called before forward") end
  local sign_source = self.slope >= 0 and self.output or input
  return self:call(mtfl.leaky_relu_backward, gradOutput, sign_source, self.slope)
end

return LeakyReLU
