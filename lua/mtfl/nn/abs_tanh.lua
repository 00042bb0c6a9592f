-- mtfl.nn.abs_tanh: y = |tanh(x)|, the activation of TCDCN. The output has lost the
-- input's sign, which the gradient sign(x) (1 - tanh(x)^2) needs: backward reads the
-- input, so there is no in-place variant. At x = 0 the gradient is taken as 0.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"

local AbsTanh = class("AbsTanh", Module)
AbsTanh.tensor_shapes = Module.no_tensors

--- AbsTanh()
function AbsTanh:__init() Module.__init(self) end

function AbsTanh:arguments() return {} end

function AbsTanh:updateOutput(input)
  self:check_tensor_input(input)
  return input:abs_tanh()
end

function AbsTanh:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  return self:call(mtfl.abs_tanh_backward, gradOutput, input)
end

return AbsTanh
