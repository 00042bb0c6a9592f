-- mtfl.optim.optimizer: what Adam and SGD share: the parameter and gradient lists,
-- the step count, freezing, and state for checkpoints.
--
-- Parameters come either as lists of tensors (model:parameters()) or as the two flat
-- buffers of nn.flatten_parameters(model), which makes each step one fused update over
-- the whole network. Freezing works with both: a frozen parameter is not updated and
-- its moment/velocity buffers are held at zero; a frozen view inside a flat buffer is
-- copied aside before each fused step and put back after it (Adam's momentum, or weight
-- decay, would otherwise keep moving it even with a zero gradient), and its part of the
-- buffers is held at zero.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local flat = require "mtfl.nn.flat_parameters"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"

local Optimizer = class("Optimizer")

local function as_list(x) return mtfl.is_tensor(x) and {x} or x end

--- Optimizer(params, grads, config, defaults): subclasses pass their defaults and
--- buffer names ({"m", "v"} for Adam).
function Optimizer:__init(params, grads, config, defaults, buffer_names)
  local who = self._class_name
  params, grads = as_list(params), as_list(grads)
  if type(params) ~= "table" or type(grads) ~= "table" then
    errors.raisef("%s: expects parameters and gradients (tensors or lists of tensors)", who)
  end
  if #params == 0 then errors.raisef("%s: no parameters", who) end
  if #params ~= #grads then
    errors.raisef("%s: %d parameters but %d gradients", who, #params, #grads)
  end
  for i, p in ipairs(params) do
    local g = grads[i]
    if not (mtfl.is_tensor(p) and mtfl.is_tensor(g)) then
      errors.raisef("%s: parameter %d or its gradient is not a tensor", who, i)
    end
    if not shape.equal(p:size(), g:size()) or p:device() ~= g:device() then
      errors.raisef("%s: parameter %d is %s on %s but its gradient is %s on %s", who, i,
                    shape.str(p), p:device(), shape.str(g), g:device())
    end
  end
  self.params, self.grads = params, grads
  self.config = {}
  for k, v in pairs(defaults) do self.config[k] = v end
  for k, v in pairs(config or {}) do
    if defaults[k] == nil then errors.raisef("%s: unknown option %q", who, tostring(k)) end
    if type(v) ~= "number" or v < 0 then errors.raisef("%s: option %s must be a number >= 0, got %s", who, k, tostring(v)) end
    self.config[k] = v
  end
  self.step_count = 0
  self.buffers = {}
  for _, name in ipairs(buffer_names) do
    self.buffers[name] = {}
    for i, p in ipairs(params) do self.buffers[name][i] = mtfl.zeros(p:size(), {device = p:device()}) end
  end
  self.frozen_params = {}    -- index -> true
  self.frozen_views = {}     -- {index =, offset =, numel =, saved = scratch copy}
end

--- o:set_lr(lr) -> o: the learning rate of the next steps (schedules call it).
---   adam:set_lr(1e-4)
function Optimizer:set_lr(lr) self.config.lr = lr return self end

--- o:zeroGrad() -> o: every gradient the optimizer reads set to 0.
function Optimizer:zeroGrad()
  for _, g in ipairs(self.grads) do g:zero() end
  return self
end

--- Optimizer:update(i): one parameter's update (Adam's, SGD's), called by step for
--- every parameter that is not frozen; an optimizer of your own defines it.
---   function MySGD:update(i) self.params[i]:axpy(-self.config.lr, self.grads[i]) end

--- One update of every parameter that is not frozen.
function Optimizer:step()
  self.step_count = self.step_count + 1
  for _, f in ipairs(self.frozen_views) do f.saved:copy(self:view_of(f)) end
  for i = 1, #self.params do
    if not self.frozen_params[i] then self:update(i) end
  end
  for _, f in ipairs(self.frozen_views) do
    self:view_of(f):copy(f.saved)
    self:each_buffer_part(f.index, f.offset, f.numel, function(b) b:zero() end)
  end
  return self
end

-- ---- freezing --------------------------------------------------------------------------

local function index_of(list, t)
  for i, x in ipairs(list) do if rawequal(x, t) then return i end end
  return nil
end

--- o:each_buffer_part(index, offset, numel, fn): fn(part) for each optimizer buffer (m,
--- v, velocity) of parameter index, narrowed to [offset, offset + numel) when offset is
--- given (a view inside a flat buffer).
function Optimizer:each_buffer_part(index, offset, numel, fn)
  for _, list in pairs(self.buffers) do
    local b = list[index]
    fn(offset and b:narrow(1, offset + 1, numel) or b)
  end
end

--- o:view_of(f) -> a frozen view's part of its flat parameter buffer.
function Optimizer:view_of(f)
  return self.params[f.index]:narrow(1, f.offset + 1, f.numel)
end

--- o:add_frozen_view(index, offset, numel): from now on that part of flat parameter
--- index is put back after every step (freeze does this for a view).
function Optimizer:add_frozen_view(index, offset, numel)
  local f = {index = index, offset = offset, numel = numel}
  f.saved = mtfl.empty(numel, {device = self.params[index]:device()})
  table.insert(self.frozen_views, f)
end

--- Where a tensor is among this optimizer's parameters: index, or index and the view's
--- offset and size inside a flat buffer.
function Optimizer:locate(t, caller)
  if not mtfl.is_tensor(t) then errors.raisef("%s:%s: expects tensors, got a %s", self._class_name, caller, type(t)) end
  local i = index_of(self.params, t)
  if i then return i end
  local place = flat.place(t)
  i = place and index_of(self.params, place.params)
  if i then return i, place.offset, place.numel end
  errors.raisef("%s:%s: tensor %s is not one of this optimizer's parameters, nor a view of its flat buffer",
                self._class_name, caller, shape.str(t))
end

--- freeze(tensors): stop updating these parameters (a tensor or a list, e.g. what
--- heads:freeze(name) returns), and zero their optimizer state.
function Optimizer:freeze(tensors)
  for _, t in ipairs(as_list(tensors)) do
    local i, offset, numel = self:locate(t, "freeze")
    if offset then
      self:unfreeze(t)   -- freezing twice keeps one record
      self:add_frozen_view(i, offset, numel)
    else
      self.frozen_params[i] = true
    end
    self:each_buffer_part(i, offset, numel, function(b) b:zero() end)
  end
  return self
end

--- unfreeze(tensors): update them again, starting from fresh (zero) optimizer state.
function Optimizer:unfreeze(tensors)
  for _, t in ipairs(as_list(tensors)) do
    local i, offset = self:locate(t, "unfreeze")
    if offset then
      for k = #self.frozen_views, 1, -1 do
        local f = self.frozen_views[k]
        if f.index == i and f.offset == offset then table.remove(self.frozen_views, k) end
      end
    else
      self.frozen_params[i] = nil
    end
  end
  return self
end

-- ---- state -----------------------------------------------------------------------------

--- {type, step, config, frozen, buffers = {"m.1" = tensor, ...}}: the buffers are the
--- optimizer's own tensors (clone them to keep a snapshot).
function Optimizer:state()
  local buffers = {}
  for name, list in pairs(self.buffers) do
    for i, t in ipairs(list) do buffers[name .. "." .. i] = t end
  end
  local frozen = {params = {}, views = {}}
  for i in pairs(self.frozen_params) do frozen.params[#frozen.params + 1] = i end
  table.sort(frozen.params)
  for _, f in ipairs(self.frozen_views) do
    frozen.views[#frozen.views + 1] = {index = f.index, offset = f.offset, numel = f.numel}
  end
  local config = {}
  for k, v in pairs(self.config) do config[k] = v end
  return {type = self._class_name, step = self.step_count, config = config, frozen = frozen,
          buffers = buffers}
end

--- Restores a state() (buffers copied in, across devices if need be).
function Optimizer:load_state(s)
  local who = self._class_name .. ":load_state"
  if type(s) ~= "table" then errors.raisef("%s: expects a state table, got a %s", who, type(s)) end
  if s.type ~= self._class_name then
    errors.raisef("%s: the state is for %s, not %s", who, tostring(s.type), self._class_name)
  end
  if math.type(s.step) ~= "integer" or s.step < 0 then errors.raisef("%s: bad step count %s", who, tostring(s.step)) end
  local mine = self:state().buffers
  local problems = {}
  for _, name in ipairs(shape.sorted_keys(mine)) do
    local given = s.buffers and s.buffers[name]
    if given == nil then
      problems[#problems + 1] = name .. " missing"
    elseif not shape.equal(given:size(), mine[name]:size()) then
      problems[#problems + 1] = string.format("%s is %s here but %s in the state", name,
                                              shape.str(mine[name]), shape.str(given))
    end
  end
  for _, name in ipairs(shape.sorted_keys(s.buffers or {})) do
    if mine[name] == nil then problems[#problems + 1] = name .. " unexpected" end
  end
  if #problems > 0 then
    errors.raisef("%s: the state does not fit these parameters: %s", who, table.concat(problems, "; "))
  end
  for name, t in pairs(mine) do t:copy(s.buffers[name]) end
  for k, v in pairs(s.config or {}) do
    if self.config[k] ~= nil then self.config[k] = v end
  end
  self.step_count = s.step
  self.frozen_params, self.frozen_views = {}, {}
  local frozen = s.frozen or {}
  for _, i in ipairs(frozen.params or {}) do self.frozen_params[i] = true end
  for _, f in ipairs(frozen.views or {}) do
    local p = self.params[f.index]
    if not p or f.offset < 0 or f.offset + f.numel > p:numel() then
      errors.raisef("%s: frozen view %s+%s of parameter %s is out of range", who, tostring(f.offset),
                    tostring(f.numel), tostring(f.index))
    end
    self:add_frozen_view(f.index, f.offset, f.numel)
  end
  return self
end

return Optimizer
