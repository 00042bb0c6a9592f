-- mtfl.nn.residual: y = body(x) + shortcut(x), the block of residual networks; the
-- shortcut is the identity unless given (e.g. a 1x1 convolution where the body changes
-- the number of channels). The body must not overwrite its input (no in-place module
-- first in it): the identity shortcut reads the input after the body has run.
local class = require("mtfl.nn.class").class
local is_instance = require("mtfl.nn.class").is_instance
local mtfl = require "mtfl"
local Module = require "mtfl.nn.module"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"

local Residual = class("Residual", Module)

--- Residual(body [, shortcut])
function Residual:__init(body, shortcut)
  Module.__init(self)
  if not is_instance(body, Module) then
    errors.raisef("Residual: body is a %s, not an nn module", type(body))
  end
  if shortcut ~= nil and not is_instance(shortcut, Module) then
    errors.raisef("Residual: shortcut is a %s, not an nn module", type(shortcut))
  end
  self.body, self.shortcut = body, shortcut
end

function Residual:arguments() return {} end

--- Rebuilds a Residual from its children as children() names them.
function Residual.from_parts(_, modules, names)
  local parts = {}
  for i, name in ipairs(names) do parts[name] = modules[i] end
  return Residual(parts.body, parts.shortcut)
end

function Residual:children()
  if self.shortcut then return {self.body, self.shortcut}, {"body", "shortcut"} end
  return {self.body}, {"body"}
end

function Residual:describe()
  return self.shortcut and "Residual" or "Residual(identity shortcut)"
end

local function check_sum(self, body_shape, shortcut_shape)
  if not shape.equal(body_shape, shortcut_shape) then
    self:fail("body output %s and shortcut output %s differ", shape.str(body_shape),
              shape.str(shortcut_shape))
  end
end

function Residual:shape_for(input_shape)
  local a = self.body:infer_shape(input_shape)
  local b = self.shortcut and self.shortcut:infer_shape(input_shape) or input_shape
  check_sum(self, a, b)
  return a
end

function Residual:updateOutput(input)
  self:check_tensor_input(input)
  local a = self.body:forward(input)
  if rawequal(a, input) then self:fail("the body overwrote its input (an in-place module first in it)") end
  local b = self.shortcut and self.shortcut:forward(input) or input
  if not mtfl.is_tensor(a) or not mtfl.is_tensor(b) then
    self:fail("body and shortcut must give tensors, got a %s and a %s",
              mtfl.is_tensor(a) and "tensor" or type(a), mtfl.is_tensor(b) and "tensor" or type(b))
  end
  check_sum(self, a:size(), b:size())
  return self:call(a.add, a, b)
end

-- Both branches get the whole gradOutput (d(a + b)/da = d(a + b)/db = 1); the input's
-- gradient is the sum of theirs.
function Residual:backward(input, gradOutput)
  if not mtfl.is_tensor(gradOutput) then self:fail("gradOutput is a %s, not a tensor", type(gradOutput)) end
  if not self.output then self:fail("backward called before forward") end
  if not shape.equal(gradOutput:size(), self.output:size()) then
    self:fail("gradOutput %s does not match the output %s", shape.str(gradOutput), shape.str(self.output))
  end
  local g_body = self.body:backward(input, gradOutput)
  local g_short = self.shortcut and self.shortcut:backward(input, gradOutput) or gradOutput
  self.gradInput = nil
  if self.needs_input_gradient then
    if not g_body or not g_short then self:fail("a branch returned no gradInput") end
    self.gradInput = self:call(g_body.add, g_body, g_short)
  end
  return self.gradInput
end

function Residual:input_gradient(needed)
  Module.input_gradient(self, needed)
  self.body:input_gradient(needed)
  if self.shortcut then self.shortcut:input_gradient(needed) end
  return self
end

return Residual
