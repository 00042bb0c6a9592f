-- mtfl.nn.flat_parameters: nn.flatten_parameters(model), Torch's getParameters.
--
-- Copies every parameter into one flat buffer, and every gradient into another, and
-- re-points the modules' tensors to views of them. An optimizer then updates the whole
-- network with one fused call, and zeroGrad is one fill. Each view is remembered with
-- its place in the buffer, so an optimizer holding only the flat buffer can still find
-- (and freeze) the part that belongs to one head.
local mtfl = require "mtfl"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"

local M = {}

-- parameter view -> {params = flat, grads = flat_grad, offset = 0-based, numel = n}
local places = setmetatable({}, {__mode = "k"})

--- flatten(model) -> flat parameters, flat gradients (1-D tensors on the model's device)
function M.flatten(model)
  local entries, total, device = {}, 0, nil
  local counted = {}
  model:each_parameter(function(m, slot, name)
    local p = m[slot.param]
    device = device or p:device()
    if p:device() ~= device then
      errors.raisef("flatten_parameters: %s %s is on %s, other parameters on %s (move the model with :to())",
                    name, shape.str(p), p:device(), device)
    end
    entries[#entries + 1] = {module = m, slot = slot}
    if not counted[p] then counted[p], total = true, total + p:numel() end
  end)
  if #entries == 0 then errors.raise("flatten_parameters: the model has no parameters") end

  local flat = mtfl.empty(total, {device = device})
  local flat_grad = mtfl.zeros(total, {device = device})
  local views, offset = {}, 0   -- a parameter shared by two modules gets one place
  for _, e in ipairs(entries) do
    local p, g = e.module[e.slot.param], e.module[e.slot.grad]
    if not views[p] then
      local n = p:numel()
      local pv = flat:narrow(1, offset + 1, n):view(p:size())
      local gv = flat_grad:narrow(1, offset + 1, n):view(p:size())
      pv:copy(p)
      gv:copy(g)
      places[pv] = {params = flat, grads = flat_grad, offset = offset, numel = n}
      views[p] = {pv, gv}
      offset = offset + n
    end
    e.module[e.slot.param], e.module[e.slot.grad] = views[p][1], views[p][2]
  end
  model._flat = {params = flat, grads = flat_grad}
  return flat, flat_grad
end

--- Where a parameter view lives: {params, grads, offset, numel}, or nil.
function M.place(tensor) return places[tensor] end

return M
