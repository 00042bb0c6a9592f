-- mtfl.nn.sequential: modules applied one after another. Children are named "1", "2",
-- ... unless added with a name (model:add(heads, "heads") -> "heads.pose.weight").
local class = require("mtfl.nn.class").class
local is_instance = require("mtfl.nn.class").is_instance
local Module = require "mtfl.nn.module"
local errors = require "mtfl.errors"

local Sequential = class("Sequential", Module)

--- Sequential([{module1, module2, ...}])
function Sequential:__init(modules)
  Module.__init(self)
  self.modules, self.names = {}, {}
  self.position = {}   -- name -> index: adding the n-th child must not scan the n - 1 before it
  for _, m in ipairs(modules or {}) do self:add(m) end
end

--- Appends a module, named name (a string without dots) or its position. Returns self.
function Sequential:add(module, name)
  if not is_instance(module, Module) then
    errors.raisef("Sequential:add: entry %d is a %s, not an nn module", #self.modules + 1,
                  type(module))
  end
  name = name and tostring(name) or tostring(#self.modules + 1)
  if name:find(".", 1, true) or name == "" then
    errors.raisef("Sequential:add: name %q must be non-empty and without dots", name)
  end
  if self.position[name] then errors.raisef("Sequential:add: a module named %q already exists", name) end
  self.modules[#self.modules + 1] = module
  self.names[#self.names + 1] = name
  self.position[name] = #self.names
  return self
end

--- The child at a position or with a name.
function Sequential:get(key)
  if type(key) == "number" then return self.modules[key] end
  local i = self.position[key]
  if i then return self.modules[i] end
  return nil
end

--- s:size() -> the number of children.
function Sequential:size() return #self.modules end

function Sequential:children() return self.modules, self.names end

function Sequential:arguments() return {} end

--- A Sequential of these modules under these names (the model file's rebuild).
function Sequential.from_parts(_, modules, names)
  local s = Sequential()
  for i, m in ipairs(modules) do s:add(m, names[i]) end
  return s
end

function Sequential:updateOutput(input)
  local x = input
  for _, m in ipairs(self.modules) do x = m:forward(x) end
  return x
end

-- Each child's input is the previous child's output from the last forward.
function Sequential:backward(input, gradOutput)
  local grad = gradOutput
  for i = #self.modules, 1, -1 do
    local child_input = i > 1 and self.modules[i - 1].output or input
    grad = self.modules[i]:backward(child_input, grad)
    if grad == nil and i > 1 then
      errors.raisef("Sequential: module %s (%s) returned no gradInput", self.names[i],
                    self.modules[i]:describe())
    end
  end
  self.gradInput = grad
  return grad
end

function Sequential:shape_for(input_shape)
  local s = input_shape
  for _, m in ipairs(self.modules) do s = m:infer_shape(s) end
  return s
end

--- Only the first module's input is this container's input.
function Sequential:input_gradient(needed)
  Module.input_gradient(self, needed)
  if self.modules[1] then self.modules[1]:input_gradient(needed) end
  return self
end

return Sequential
