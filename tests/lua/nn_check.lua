-- nn_check.lua: helpers the nn tests share: reading tensors into Lua, finite-difference
-- gradients, comparisons with stated tolerances, and inputs that avoid the kinks of
-- ReLU and max pooling (where a finite difference would straddle two slopes).
local mtfl = require "mtfl"

local M = {}

--- The values of a tensor as a flat Lua array (row-major).
function M.values(t)
  return t:contiguous():reshape(t:numel()):totable()
end

--- A tensor from a flat Lua array.
function M.tensor(values, shape, device)
  return mtfl.tensor(values, {device = device or "cpu"}):reshape(shape)
end

--- Values in +-[0.2, 1.2]: at least 0.2 from zero, random sign (Lua's own seeded RNG).
function M.away_from_zero(shape, device)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local v = {}
  for i = 1, n do
    v[i] = (0.2 + math.random()) * (math.random() < 0.5 and -1 or 1)
  end
  return M.tensor(v, shape, device)
end

--- Distinct values spaced `spacing` apart in random order: every max-pool window has a
--- clear winner, whatever the finite-difference step (as long as 2 eps < spacing).
function M.distinct(shape, spacing, device)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local v = {}
  for i = 1, n do v[i] = (i - n / 2) * spacing end
  for i = n, 2, -1 do
    local j = math.random(i)
    v[i], v[j] = v[j], v[i]
  end
  return M.tensor(v, shape, device)
end

--- sum_i a_i * b_i in double precision, a a tensor (or a table of named tensors, with
--- b a matching table) and b a flat Lua array.
function M.dot(a, b)
  if not mtfl.is_tensor(a) then
    local s = 0
    for name, t in pairs(a) do
      if b[name] then s = s + M.dot(t, b[name]) end   -- a head without weights adds nothing
    end
    return s
  end
  local v, s = M.values(a), 0
  for i = 1, #v do s = s + v[i] * b[i] end
  return s
end

--- Central differences (f(x + e) - f(x - e)) / (2e) for every element of t, which f
--- reads. The step actually taken is measured after rounding to float32.
function M.numeric_gradient(t, f, eps)
  local flat = t:view(t:numel())
  local grad = {}
  for i = 1, t:numel() do
    local original = flat[i]
    flat[i] = original + eps
    local up, x_up = f(), flat[i]
    flat[i] = original - eps
    local down, x_down = f(), flat[i]
    flat[i] = original
    grad[i] = (up - down) / (x_up - x_down)
  end
  return grad
end

--- Compares two gradients (flat arrays). The error is relative to the gradient's size:
--- max_i |numeric_i - analytic_i| / max(max_i |analytic_i|, floor). Raises when above tol.
function M.compare(what, numeric, analytic, tol, floor)
  if #numeric ~= #analytic then
    error(string.format("%s: %d numeric values, %d analytic", what, #numeric, #analytic), 2)
  end
  local worst, at, scale = 0, 0, floor or 1e-3
  for i = 1, #analytic do scale = math.max(scale, math.abs(analytic[i])) end
  for i = 1, #analytic do
    local d = math.abs(numeric[i] - analytic[i])
    if d > worst then worst, at = d, i end
  end
  local rel = worst / scale
  if os.getenv("NN_CHECK_VERBOSE") then print(string.format("    %-40s rel. error %.2e", what, rel)) end
  if rel > tol then
    error(string.format("%s: element %d is %.6g numerically, %.6g analytically (relative error %.2e > %.0e)",
                        what, at, numeric[at], analytic[at], rel, tol), 2)
  end
  return rel
end

--- Largest |a - b| over two tensors on any devices, relative to max |b| (at least 1).
function M.relative_difference(a, b)
  a = a:to("cpu")
  b = b:to("cpu")
  local scale = math.max(1, b:abs():max())
  return (a - b):abs():max() / scale
end

return M
