-- mtfl.optim.clip: gradient clipping by the total norm (Pascanu et al. 2013).
--
--   local norm = optim.clip_grad_norm(optimizer, 5)   -- or a model, a tensor, a list
--   ... norm:item() only when the value is wanted (a read waits for the device)
--
-- Everything stays on the device: the squared norms are summed there, the scale
-- min(1, max_norm / (norm + 1e-6)) is computed there and multiplied into the gradients
-- as a one-element tensor, so a training step that clips still makes its one blocking
-- read (the losses) and no other.
local mtfl = require "mtfl"
local is_instance = require("mtfl.nn.class").is_instance
local Optimizer = require "mtfl.optim.optimizer"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"

local M = {}

-- Keeps the scale finite when every gradient is 0.
M.EPS = 1e-6

-- The gradient tensors of what the caller passed.
local function gradients(x)
  if mtfl.is_tensor(x) then return {x} end
  if is_instance(x, Optimizer) then return x.grads end
  if type(x) == "table" and type(x.parameters) == "function" then
    local _, grads = x:parameters()
    return grads
  end
  if type(x) == "table" then return x end
  errors.raisef("clip_grad_norm: expects gradients (a tensor or a list), an optimizer or a model, got a %s", type(x))
end

--- clip_grad_norm(grads_or_model, max_norm) -> the total L2 norm of the gradients before
--- clipping, as a one-element tensor on their device (read it with :item()). Scales every
--- gradient in place by min(1, max_norm / (norm + EPS)).
function M.clip_grad_norm(x, max_norm)
  if type(max_norm) ~= "number" or not (max_norm > 0) then
    errors.raisef("clip_grad_norm: max_norm must be a positive number, got %s", tostring(max_norm))
  end
  local grads = gradients(x)
  if #grads == 0 then errors.raise("clip_grad_norm: no gradients") end
  local device = nil
  for i, g in ipairs(grads) do
    if not mtfl.is_tensor(g) then errors.raisef("clip_grad_norm: gradient %d is a %s, not a tensor", i, type(g)) end
    device = device or g:device()
    if g:device() ~= device then
      errors.raisef("clip_grad_norm: gradient %d %s is on %s, gradient 1 on %s", i, shape.str(g), g:device(), device)
    end
  end
  local squares = mtfl.zeros(1, {device = device})
  for _, g in ipairs(grads) do
    if g:numel() > 0 then squares:add_(g:reshape(g:numel()):pow(2):sum(1)) end
  end
  local norm = squares:sqrt_()
  local scale = (norm + M.EPS):pow_(-1):mul_(max_norm):clamp_(0, 1)
  for _, g in ipairs(grads) do g:mul_(scale) end
  return norm
end

return M
