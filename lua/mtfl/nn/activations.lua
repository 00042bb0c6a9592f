-- mtfl.nn.activations: ReLU, Tanh, Sigmoid. Each backward needs only the output
-- (relu' = [y > 0], tanh' = 1 - y^2, sigmoid' = y (1 - y)), so no input is kept.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"

local function activation(name, apply, apply_in_place, derivative)
  local cls = class(name, Module)
  cls.tensor_shapes = Module.no_tensors

  --- name([in_place]): in place overwrites the input with the output (saves memory;
  --- the module before must not need its own output in backward).
  function cls:__init(in_place)
    Module.__init(self)
    self.in_place = in_place and true or false
  end

  function cls:describe()
    return self.in_place and name .. "(in place)" or name
  end

  function cls:arguments() return {self.in_place} end

  function cls:updateOutput(input)
    self:check_tensor_input(input)
    return self.in_place and apply_in_place(input) or apply(input)
  end

  function cls:updateGradInput(input, gradOutput)
    self:check_grad_output(input, gradOutput)
    if not self.output then self:fail("backward called before forward") end
    return derivative(gradOutput, self.output)
  end

  return cls
end

return {
  ReLU = activation("ReLU", function(x) return x:relu() end, function(x) return x:relu_() end,
                    function(dy, y) return mtfl.relu_backward(dy, y) end),
  Tanh = activation("Tanh", function(x) return x:tanh() end, function(x) return x:tanh_() end,
                    function(dy, y) return mtfl.tanh_backward(dy, y) end),
  Sigmoid = activation("Sigmoid", function(x) return x:sigmoid() end,
                       function(x) return x:sigmoid_() end,
                       function(dy, y) return mtfl.sigmoid_backward(dy, y) end),
}
