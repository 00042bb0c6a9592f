-- mtfl.nn.concat: several modules applied to the same input, their outputs joined
-- along one dimension (the branches of an Inception block: mtfl.cat). backward hands
-- each branch its slice of gradOutput and sums the branches' input gradients.
local class = require("mtfl.nn.class").class
local is_instance = require("mtfl.nn.class").is_instance
local mtfl = require "mtfl"
local Module = require "mtfl.nn.module"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show

local Concat = class("Concat", Module)

--- Concat(dim, {module1, module2, ...}): dim is 1-based, as in mtfl.cat (2: channels
--- of [N, C, H, W]).
function Concat:__init(dim, modules)
  Module.__init(self)
  if math.type(dim) ~= "integer" or dim < 1 then
    errors.raisef("Concat: dim must be a positive integer, got %s", show(dim))
  end
  if type(modules) ~= "table" or #modules == 0 then
    errors.raisef("Concat: expects a non-empty list of modules, got %s",
                  type(modules) == "table" and "an empty one" or type(modules))
  end
  self.dim, self.modules, self.names = dim, {}, {}
  for i, m in ipairs(modules) do
    if not is_instance(m, Module) then
      errors.raisef("Concat: entry %d is a %s, not an nn module", i, type(m))
    end
    self.modules[i], self.names[i] = m, tostring(i)
  end
end

function Concat:arguments() return {self.dim} end

--- Rebuilds a Concat from arguments() and its children in order.
function Concat.from_parts(args, modules) return Concat(args[1], modules) end

function Concat:children() return self.modules, self.names end

function Concat:describe() return string.format("Concat(dim %d)", self.dim) end

--- The joined shape, or an error naming the branch that does not fit.
function Concat:joined_shape(shapes)
  local first = shapes[1]
  if #first < self.dim then
    self:fail("branch 1's output %s has no dimension %d", shape.str(first), self.dim)
  end
  local joined = shape.copy(first)
  for i = 2, #shapes do
    local s = shapes[i]
    local fits = #s == #first
    for d = 1, #first do
      if fits and d ~= self.dim and s[d] ~= first[d] then fits = false end
    end
    if not fits then
      self:fail("branch %d's output %s does not match branch 1's %s except in dimension %d",
                i, shape.str(s), shape.str(first), self.dim)
    end
    joined[self.dim] = joined[self.dim] + s[self.dim]
  end
  return joined
end

function Concat:shape_for(input_shape)
  local shapes = {}
  for i, m in ipairs(self.modules) do shapes[i] = m:infer_shape(input_shape) end
  return self:joined_shape(shapes)
end

function Concat:updateOutput(input)
  local outputs, shapes = {}, {}
  for i, m in ipairs(self.modules) do
    outputs[i] = m:forward(input)
    if not mtfl.is_tensor(outputs[i]) then
      self:fail("branch %d gave a %s, not a tensor", i, type(outputs[i]))
    end
    shapes[i] = outputs[i]:size()
  end
  self:joined_shape(shapes)
  return self:call(mtfl.cat, outputs, self.dim)
end

function Concat:backward(input, gradOutput)
  if not mtfl.is_tensor(gradOutput) then self:fail("gradOutput is a %s, not a tensor", type(gradOutput)) end
  if not self.output then self:fail("backward called before forward") end
  if not shape.equal(gradOutput:size(), self.output:size()) then
    self:fail("gradOutput %s does not match the output %s", shape.str(gradOutput), shape.str(self.output))
  end
  local total, owned, at = nil, false, 1
  for i, m in ipairs(self.modules) do
    local size = m.output:size(self.dim)
    -- a narrow view steps over the other branches' columns: branches get it gathered,
    -- since some (Flatten, views) need a contiguous gradient
    local g = m:backward(input, gradOutput:narrow(self.dim, at, size):contiguous())
    at = at + size
    if g and not total then
      total = g
    elseif g then
      if not owned then total, owned = total:clone(), true end   -- never add into a branch's own tensor
      total:add_(g)
    end
  end
  self.gradInput = self.needs_input_gradient and total or nil
  if self.needs_input_gradient and not total then self:fail("no branch returned a gradInput") end
  return self.gradInput
end

function Concat:input_gradient(needed)
  Module.input_gradient(self, needed)
  for _, m in ipairs(self.modules) do m:input_gradient(needed) end
  return self
end

return Concat
