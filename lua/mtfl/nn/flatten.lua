-- mtfl.nn.flatten: [N, d2, d3, ...] -> [N, d2*d3*...], between convolutions and fully
-- connected layers. A view when the input is contiguous.
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local shape = require "mtfl.nn.shape"

local Flatten = class("Flatten", Module)
Flatten.tensor_shapes = Module.no_tensors

function Flatten:__init() Module.__init(self) end

function Flatten:arguments() return {} end

function Flatten:shape_for(s)
  if #s < 2 then self:fail("input %s has no dimensions after the batch to flatten", shape.str(s)) end
  local features = 1
  for i = 2, #s do features = features * s[i] end
  return {s[1], features}
end

function Flatten:updateOutput(input)
  self:check_tensor_input(input)
  local s = self:shape_for(input:size())
  return input:contiguous():reshape(s)
end

function Flatten:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  return gradOutput:contiguous():reshape(input:size())
end

return Flatten
