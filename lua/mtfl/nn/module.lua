-- mtfl.nn.module: the base class of every layer and container, after Torch7's nn.Module.
--
-- A module turns an input into self.output (forward) and, given dLoss/dOutput, returns
-- dLoss/dInput while adding dLoss/dParameters into its gradient tensors (backward).
-- Subclasses implement:
--   updateOutput(input)                   -> output
--   updateGradInput(input, gradOutput)    -> gradInput
--   accGradParameters(input, gradOutput)  (layers with parameters; gradients +=)
--   shape_for(input_shape)                -> output shape, checking the input's shape
--   describe()                            -> "Linear(1024 -> 10)", for messages and trees
-- Parameters are registered with register_parameter so that parameters(), state_dict(),
-- to(), clone() and flatten_parameters() find them, in a fixed order. State that is not
-- learnt by gradient (BatchNorm's running statistics) is registered with
-- register_buffer: saved, loaded, moved and copied like a parameter, but never seen by
-- parameters(), so optimizers, flatten_parameters and zeroGrad leave it alone.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"

local Module = class("Module")

function Module:__init()
  self.train = true
  self.needs_input_gradient = true
  self.parameter_slots = {}   -- {{param = "weight", grad = "gradWeight"}, ...}
  self.buffer_slots = {}      -- {"running_mean", ...}
end

--- nn.is_module(x) -> true when x is a layer or container (an instance of nn.Module or
--- of a class derived from it).
---   assert(nn.is_module(nn.ReLU()))
function Module.is_module(x) return require("mtfl.nn.class").is_instance(x, Module) end

--- self[param_name] = tensor, with a zero gradient of the same shape in self[grad_name].
function Module:register_parameter(param_name, grad_name, tensor)
  self[param_name] = tensor
  self[grad_name] = mtfl.zeros(tensor:size(), {device = tensor:device()})
  table.insert(self.parameter_slots, {param = param_name, grad = grad_name})
end

--- self[name] = tensor, state kept with the module but not a parameter: it appears in
--- state_dict() under its dotted name ("3.running_mean") and moves with to().
function Module:register_buffer(name, tensor)
  if not mtfl.is_tensor(tensor) then
    self:fail("register_buffer: %s is a %s, not a tensor", tostring(name), type(tensor))
  end
  self[name] = tensor
  table.insert(self.buffer_slots, name)
end

--- m:describe() -> a one-line name of the module for messages and printed trees
--- ("Linear(1024 -> 10)"); the class name unless the class says more.
---   print(nn.Conv2d(3, 16, 5):describe())   -- Conv2d(3 -> 16, 5x5)
function Module:describe() return self._class_name end

--- Module:arguments() -> the constructor's arguments as plain data (numbers, strings,
--- booleans, tables of them), so that nn.architecture can describe the module and
--- nn.build / nn.load_model make it again. A layer of your own defines it to be saved.
---   function Scale:arguments() return {self.k} end

--- Module.no_tensors() -> {}: the tensor_shapes of a layer without parameters or buffers.
--- A layer class says what tensors its arguments make (Class.tensor_shapes(args...) ->
--- {name = shape}) so that a model file is checked before its network is built; one
--- without tensor_shapes is built before its tensors can be compared.
function Module.no_tensors() return {} end

--- The modules inside this one and their names (empty for a layer).
function Module:children() return {}, {} end

-- ---- forward and backward ---------------------------------------------------------

local function shape_of(output)
  if mtfl.is_tensor(output) then return output:size() end
  local shapes = {}
  for k, v in pairs(output) do shapes[k] = shape_of(v) end
  return shapes
end

--- m:forward(input) -> output (a tensor, or a table of tensors for Heads): computes the
--- output with updateOutput and keeps it as m.output for backward.
---   local y = nn.Linear(4, 2):forward(mtfl.randn(8, 4))   -- [8x2]
function Module:forward(input)
  self.output = self:updateOutput(input)
  self.output_shape = shape_of(self.output)
  return self.output
end

--- Returns dLoss/dInput (nil when this module was told its input needs none) and
--- accumulates dLoss/dParameters, unless the module is frozen.
function Module:backward(input, gradOutput)
  if self.needs_input_gradient then
    self.gradInput = self:updateGradInput(input, gradOutput)
  else
    self.gradInput = nil
  end
  if not self.frozen then self:accGradParameters(input, gradOutput) end
  return self.gradInput
end

--- m:updateOutput(input) -> output: the layer's computation, called by forward. A layer
--- of your own defines it (and updateGradInput, and accGradParameters when it has
--- parameters); callers use forward.
---   function Scale:updateOutput(x) return x:mul(self.k) end
function Module:updateOutput(input)
  self:fail("updateOutput is not implemented")
end

--- m:updateGradInput(input, gradOutput) -> dLoss/dInput, called by backward (for the input
--- forward last saw).
---   function Scale:updateGradInput(x, dy) return dy:mul(self.k) end
function Module:updateGradInput(input, gradOutput)
  self:fail("backward is not implemented")
end

--- m:accGradParameters(input, gradOutput): adds dLoss/dParameters into the gradient
--- tensors (gradWeight, gradBias, ...), called by backward unless the module is frozen.
--- Nothing for a layer without parameters.
function Module:accGradParameters(input, gradOutput) end

--- The output shape for an input shape, without computing anything; raises the same
--- errors forward would. The default keeps the shape (activations, dropout).
function Module:shape_for(input_shape) return input_shape end

--- shape_for, also remembered as this module's output shape (for the printed tree).
function Module:infer_shape(input_shape)
  self.output_shape = self:shape_for(input_shape)
  return self.output_shape
end

--- Whether backward computes dLoss/dInput. The first layer of a network never needs
--- it (nothing upstream learns from the images), and for a convolution it costs as
--- much as the weight gradient.
function Module:input_gradient(needed)
  self.needs_input_gradient = needed and true or false
  return self
end

-- ---- checks layers share ---------------------------------------------------------

--- Raises "<describe()>: <message>", positioned at the user's line.
function Module:fail(fmt, ...)
  errors.raise(self:describe() .. ": " .. string.format(fmt, ...))
end

--- fn(...) (a C op), its errors prefixed with this module and shown at the user's line.
function Module:call(fn, ...)
  return errors.call(self:describe() .. ": ", fn, ...)
end

--- The input must be a tensor on the device of this module's parameters.
function Module:check_tensor_input(input, what)
  if not mtfl.is_tensor(input) then
    self:fail("%s is a %s, not a tensor", what or "input", type(input))
  end
  local first = self.parameter_slots[1]
  if first then
    local here, there = self[first.param]:device(), input:device()
    if here ~= there then
      self:fail("%s %s is on %s but the parameters are on %s (move one with :to())",
                what or "input", shape.str(input), there, here)
    end
  end
end

--- gradOutput must be a tensor shaped like the output this input gives.
function Module:check_grad_output(input, gradOutput)
  if not mtfl.is_tensor(gradOutput) then
    self:fail("gradOutput is a %s, not a tensor", type(gradOutput))
  end
  local want = self:shape_for(input:size())
  if not shape.equal(gradOutput:size(), want) then
    self:fail("gradOutput %s does not match the output %s", shape.str(gradOutput), shape.str(want))
  end
end

--- What backward needs from forward (pooling indices, a dropout mask), or an error.
function Module:cached(key)
  local value = self.cache and self.cache[key]
  if value == nil then self:fail("backward called before forward") end
  return value
end

-- ---- parameters --------------------------------------------------------------------

--- Calls fn(module, slot, name) for every parameter of this module and those inside
--- it, in the order of state_dict: own parameters first, then children in order.
function Module:each_parameter(fn, prefix)
  prefix = prefix or ""
  for _, slot in ipairs(self.parameter_slots) do fn(self, slot, prefix .. slot.param) end
  local modules, names = self:children()
  for i, m in ipairs(modules) do m:each_parameter(fn, prefix .. names[i] .. ".") end
end

--- Calls fn(module, name_in_module, dotted_name) for every buffer of this module and
--- those inside it, own buffers first, then children in order.
function Module:each_buffer(fn, prefix)
  prefix = prefix or ""
  for _, name in ipairs(self.buffer_slots) do fn(self, name, prefix .. name) end
  local modules, names = self:children()
  for i, m in ipairs(modules) do m:each_buffer(fn, prefix .. names[i] .. ".") end
end

--- Calls fn(module) for this module and every module inside it, parents first.
function Module:each_module(fn)
  fn(self)
  for _, m in ipairs((self:children())) do m:each_module(fn) end
end

--- The parameter tensors and their gradient tensors, two lists in the same order.
function Module:parameters()
  local params, grads = {}, {}
  self:each_parameter(function(m, slot)
    params[#params + 1] = m[slot.param]
    grads[#grads + 1] = m[slot.grad]
  end)
  return params, grads
end

--- Number of parameters (elements) of this module and the modules inside it.
function Module:parameter_count()
  local n = 0
  self:each_parameter(function(m, slot) n = n + m[slot.param]:numel() end)
  return n
end

--- m:zeroGrad() -> m: every parameter gradient set to 0 (one fill when the model is
--- flattened). Also m:zeroGradParameters(), Torch7's name.
---   model:zeroGrad(); model:backward(x, criterion:backward(model:forward(x), y))
function Module:zeroGrad()
  if self._flat then
    self._flat.grads:zero()      -- one fill for the whole network
  else
    self:each_parameter(function(m, slot) m[slot.grad]:zero() end)
  end
  return self
end
--- m:zeroGradParameters() -> m: zeroGrad under Torch7's name.
function Module:zeroGradParameters() return self:zeroGrad() end

--- Stops this module's parameter gradients (and, inside Heads, its whole backward).
--- Returns its parameter tensors, for optimizer:freeze.
function Module:freeze()
  self:each_module(function(m) m.frozen = true end)
  return (self:parameters())
end

--- m:unfreeze() -> its parameter tensors: undoes freeze (for optimizer:unfreeze).
function Module:unfreeze()
  self:each_module(function(m) m.frozen = nil end)
  return (self:parameters())
end

-- ---- modes, devices, copies ------------------------------------------------------------

--- m:training() -> m: training mode for it and every module inside (dropout drops,
--- batch norm uses the batch's statistics and updates its running ones).
function Module:training()
  self:each_module(function(m) m.train = true end)
  return self
end

--- m:evaluate() -> m: evaluation mode (dropout is the identity, batch norm uses its
--- running statistics, so one face gives the same output alone or in a batch).
---   local out = model:evaluate():forward(images)
function Module:evaluate()
  self:each_module(function(m) m.train = false end)
  return self
end

--- Drops what forward and backward left behind (outputs, gradients w.r.t. inputs,
--- pooling indices, dropout masks), e.g. before saving or moving a model.
function Module:clearState()
  self:each_module(function(m) m.output, m.gradInput, m.cache = nil, nil, nil end)
  return self
end

--- The device of the parameters, or of the buffers when there are no parameters (nil
--- for a module without either).
function Module:device()
  local params = self:parameters()
  if params[1] then return params[1]:device() end
  local device
  self:each_buffer(function(m, name) device = device or m[name]:device() end)
  return device
end

--- Moves parameters, gradients and buffers to device. A flattened model is flattened
--- again on the new device (an optimizer built on the old buffers must be built again).
function Module:to(device)
  device = mtfl.empty(0, {device = device}):device()   -- "gpu", "opencl" -> "opencl:0"
  local already_there = true
  self:each_parameter(function(m, slot)
    if m[slot.param]:device() ~= device then already_there = false end
  end)
  self:each_buffer(function(m, name)
    if m[name]:device() ~= device then already_there = false end
  end)
  if already_there then return self end   -- keeps flat buffers (and optimizers on them) valid
  local was_flat = self._flat ~= nil
  self._flat = nil
  self:clearState()
  self:each_parameter(function(m, slot)
    m[slot.param] = m[slot.param]:to(device)
    m[slot.grad] = m[slot.grad]:to(device)
  end)
  self:each_buffer(function(m, name) m[name] = m[name]:to(device) end)
  if was_flat then require("mtfl.nn.flat_parameters").flatten(self) end
  return self
end

-- Keys that hold per-call state, not part of a copy.
local transient = {output = true, gradInput = true, cache = true, _flat = true}

local function deep_copy(value, seen)
  if mtfl.is_tensor(value) then
    if not seen[value] then seen[value] = value:clone() end
    return seen[value]
  end
  if type(value) ~= "table" then return value end
  if seen[value] then return seen[value] end
  local copy = {}
  seen[value] = copy
  for k, v in pairs(value) do
    if not transient[k] then copy[deep_copy(k, seen)] = deep_copy(v, seen) end
  end
  -- the metatable is the class: shared, not copied
  return setmetatable(copy, getmetatable(value))
end

--- A deep copy with its own parameters (not flattened, even when this one is).
function Module:clone()
  return deep_copy(self, {})
end

-- ---- printing, shapes, saving ----------------------------------------------------------

--- The architecture as a tree, with the output shapes of the last forward (or of
--- summary) and the parameter counts.
function Module:__tostring()
  return require("mtfl.nn.summary").tree(self)
end

--- Infers every module's output shape for an input of input_shape (nothing is
--- computed) and returns the tree with those shapes.
function Module:summary(input_shape)
  self:infer_shape(input_shape)
  return tostring(self)
end

--- Milliseconds of forward and backward per module (mtfl.nn.profile); print the result.
function Module:profile(input, options)
  return require("mtfl.nn.profile").profile(self, input, options)
end

--- m:state_dict() -> {name = tensor}: every parameter and buffer under its dotted name
--- ("1.weight", "heads.pose.bias", "3.running_mean"); the module's own tensors, not copies.
---   for name, t in pairs(model:state_dict()) do print(name, t:shape_string()) end
function Module:state_dict()
  return require("mtfl.nn.state_dict").state_dict(self)
end

--- m:load_state_dict(tensors [, {strict = true}]) -> m: copies {name = tensor} into the
--- parameters and buffers (across devices); nothing is copied unless all fit, and the
--- error lists the names missing, unexpected and of another shape. strict = false
--- tolerates missing and unexpected names.
---   model:load_state_dict(other:state_dict())
function Module:load_state_dict(tensors, options)
  return require("mtfl.nn.state_dict").load_state_dict(self, tensors, options)
end

return Module
