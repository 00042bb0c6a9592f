-- mtfl.nn.criterion: the base of the losses. forward(input, target) returns the loss
-- as a Lua number; backward(input, target) returns dLoss/dInput as a new tensor (the
-- caller may scale it in place).
--
-- A criterion implements either updateOutput(input, target) -> number, or
-- loss(input, target) -> a one-element tensor on the input's device. The second keeps
-- the value on the device: MultiTask reads every task's loss with one transfer, the
-- training step's only wait for the device. When the value read is not finite,
-- explain(input, target) may raise the reason (CrossEntropy: a label that is not a
-- class number).
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"

local Criterion = class("Criterion")

function Criterion:__init() end

--- c:describe() -> the criterion's name for messages ("LandmarkLoss(wing, w 10, epsilon 2)").
function Criterion:describe() return self._class_name end

function Criterion:__tostring() return self:describe() end

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

--- Criterion.finite(x) -> whether the number x is neither NaN nor infinite.
function Criterion.finite(x) return finite(x) end

--- c:updateOutput(input, target) -> the loss as a Lua number, called by forward; by
--- default read from loss(input, target), a one-element tensor on the device.
function Criterion:updateOutput(input, target)
  if not self.loss then self:fail("defines neither updateOutput nor loss") end
  return self:value_of(self:loss(input, target):item(), input, target)
end

--- The loss value read from the device, explained first when it is not finite.
function Criterion:value_of(value, input, target)
  if not finite(value) then self:explain(input, target) end
  return value
end

--- Raises why the loss is not finite, when the inputs say so (nothing by default:
--- the trainer reports a diverged run).
function Criterion:explain(input, target) end

--- c:forward(input, target) -> the loss (a Lua number), also kept as c.output.
---   local loss = nn.CrossEntropy():forward(scores, labels)
function Criterion:forward(input, target)
  self.output = self:updateOutput(input, target)
  return self.output
end

--- c:backward(input, target) -> dLoss/dInput, a new tensor shaped like input (the
--- caller may scale it in place), from updateGradInput.
---   model:backward(x, criterion:backward(model.output, y))
function Criterion:backward(input, target)
  self.gradInput = self:updateGradInput(input, target)
  return self.gradInput
end

--- Criterion:updateGradInput(input, target) -> dLoss/dInput, called by backward; a
--- criterion of your own defines it beside updateOutput or loss.
---   function MyLoss:updateGradInput(x, y) return x:sub(y):mul(2 / x:numel()) end

--- c:fail(fmt, ...): raises "<describe()>: <message>" at the user's line.
function Criterion:fail(fmt, ...)
  errors.raise(self:describe() .. ": " .. string.format(fmt, ...))
end

--- fn(...) (a C op), its errors prefixed with this criterion and shown at the user's line.
function Criterion:call(fn, ...)
  return errors.call(self:describe() .. ": ", fn, ...)
end

--- The prediction must be a tensor with ndim dimensions (any number when nil).
function Criterion:check_input(input, ndim, layout)
  if not mtfl.is_tensor(input) then self:fail("input is a %s, not a tensor", type(input)) end
  if ndim and input:dim() ~= ndim then
    self:fail("input %s is not %s", shape.str(input), layout)
  end
end

--- The target as a tensor on the input's device: tensors on another device are copied
--- over, Lua tables (of numbers, or nested) are converted.
function Criterion:target_tensor(target, input)
  if type(target) == "table" and not mtfl.is_tensor(target) then
    return mtfl.tensor(target, {device = input:device()})
  end
  if not mtfl.is_tensor(target) then self:fail("target is a %s, not a tensor", type(target)) end
  return target:to(input:device())
end

return Criterion
