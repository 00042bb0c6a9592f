-- mtfl.nn.heads: several named modules applied to the same input, e.g. one linear head
-- per task on top of shared features. forward returns {name = output}; backward takes
-- {name = gradOutput}, where a missing entry means that head gets no gradient, and
-- sums the heads' input gradients. A frozen head still computes its output but takes
-- no part in backward (early stopping of an auxiliary task).
local class = require("mtfl.nn.class").class
local is_instance = require("mtfl.nn.class").is_instance
local mtfl = require "mtfl"
local Module = require "mtfl.nn.module"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show

local Heads = class("Heads", Module)

--- Heads{name = module, ...}; heads are kept in name order.
function Heads:__init(heads)
  Module.__init(self)
  self.modules, self.names = {}, {}
  for _, name in ipairs(shape.sorted_keys(heads or {})) do self:add(name, heads[name]) end
end

--- h:add(name, module) -> h: one more head (a name without dots, not yet taken).
---   heads:add("smile", nn.Linear(256, 2))
function Heads:add(name, module)
  if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
    errors.raisef("Heads: head names must be non-empty strings without dots, got %s", show(name))
  end
  if not is_instance(module, Module) then
    errors.raisef("Heads: head %q is a %s, not an nn module", name, type(module))
  end
  if self:get(name) then errors.raisef("Heads: a head named %q already exists", name) end
  local at = #self.names + 1
  for i, existing in ipairs(self.names) do
    if name < existing then at = i break end
  end
  table.insert(self.names, at, name)
  table.insert(self.modules, at, module)
  return self
end

--- h:get(name) -> the head of that name, or nil.
function Heads:get(name)
  for i, existing in ipairs(self.names) do
    if existing == name then return self.modules[i] end
  end
  return nil
end

function Heads:children() return self.modules, self.names end

function Heads:arguments() return {} end

--- Heads with these modules under these names (the model file's rebuild).
function Heads.from_parts(_, modules, names)
  local h = Heads()
  for i, m in ipairs(modules) do h:add(names[i], m) end
  return h
end

--- h:head(name) -> the head of that name; an error listing the heads when there is none.
function Heads:head(name)
  local m = self:get(name)
  if not m then
    errors.raisef("Heads: no head named %q (heads: %s)", tostring(name), table.concat(self.names, ", "))
  end
  return m
end

--- freeze(name): that head stops taking part in backward and its gradients stay as
--- they are; returns its parameters (for optimizer:freeze). freeze() freezes all.
function Heads:freeze(name)
  if name == nil then return Module.freeze(self) end
  return self:head(name):freeze()
end

--- unfreeze(name): undoes freeze(name) (unfreeze() for all); returns its parameters.
function Heads:unfreeze(name)
  if name == nil then return Module.unfreeze(self) end
  return self:head(name):unfreeze()
end

--- h:is_frozen(name) -> whether that head is frozen (early stopping stopped its task).
function Heads:is_frozen(name) return self:head(name).frozen == true end

function Heads:updateOutput(input)
  local outputs = {}
  for i, name in ipairs(self.names) do outputs[name] = self.modules[i]:forward(input) end
  return outputs
end

function Heads:backward(input, gradOutputs)
  if type(gradOutputs) ~= "table" or mtfl.is_tensor(gradOutputs) then
    self:fail("gradOutput must be a table {head name = gradient}, got a %s",
              mtfl.is_tensor(gradOutputs) and "tensor" or type(gradOutputs))
  end
  for name in pairs(gradOutputs) do self:head(name) end   -- no gradient for a head that is not there
  local total, owned = nil, false
  for i, name in ipairs(self.names) do
    local head, grad = self.modules[i], gradOutputs[name]
    if grad ~= nil and not head.frozen then
      local g = head:backward(input, grad)
      if g and not total then
        total = g
      elseif g then
        if not owned then total, owned = total:clone(), true end  -- never add into a head's own tensor
        total:add_(g)
      end
    end
  end
  if self.needs_input_gradient and not total then
    total = mtfl.zeros(input:size(), {device = input:device()})   -- no head had a gradient
  end
  self.gradInput = self.needs_input_gradient and total or nil
  return self.gradInput
end

function Heads:shape_for(input_shape)
  local shapes = {}
  for i, name in ipairs(self.names) do shapes[name] = self.modules[i]:infer_shape(input_shape) end
  return shapes
end

function Heads:input_gradient(needed)
  Module.input_gradient(self, needed)
  for _, m in ipairs(self.modules) do m:input_gradient(needed) end
  return self
end

return Heads
