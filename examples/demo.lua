-- demo.lua: a first look at mtfl. Lists the devices, then fits a linear model
-- y = X w by gradient descent on every device and checks that they agree.
--
--   mtfl-lua examples/demo.lua
local mtfl = require "mtfl"
if not require("mtfl.cli").parse(arg, {script = arg[0], options = {},
    about = "lists the devices, then fits a linear model on each of them and compares the results"}) then
  return   -- --help
end

print("mtfl " .. mtfl.version .. " - devices:")
for _, d in ipairs(mtfl.devices()) do
  print(string.format("  %s%-10s %-8s %s (%d compute units, %.1f GiB)", d.default and "*" or " ",
                      d.id, d.backend, d.name, d.compute_units, d.memory / 2^30))
end

-- The data: 4096 samples of 64 features, a hidden weight vector and a little noise.
mtfl.manual_seed(2017)
local n, features = 4096, 64
local X = mtfl.randn(n, features, {device = "cpu"})
local true_w = mtfl.randn(features, 1, {device = "cpu"})
local y = mtfl.matmul(X, true_w) + mtfl.randn(n, 1, {device = "cpu"}):mul_(0.01)

local function fit(device)
  local Xd, yd = X:to(device), y:to(device)
  local w = mtfl.zeros(features, 1, {device = device})
  local losses = {}
  local t0 = mtfl.clock()
  for step = 1, 200 do
    local residual = mtfl.matmul(Xd, w):sub_(yd)              -- X w - y
    local grad = mtfl.matmul(Xd, residual, {ta = true}):mul_(1 / n)
    w:axpy(-0.5, grad)                                         -- w <- w - lr * grad
    if step == 1 or step % 50 == 0 then
      losses[#losses + 1] = string.format("%d: %.5f", step, 0.5 * (residual ^ 2):mean())
    end
  end
  mtfl.synchronize(device)
  return w:to("cpu"), losses, mtfl.clock() - t0
end

local reference
for _, d in ipairs(mtfl.devices()) do
  local w, losses, secs = fit(d.id)
  print(string.format("\n%s: loss by step  %s  (%.2f s)", d.id, table.concat(losses, "  "), secs))
  print(string.format("  largest error in the recovered weights: %.2e", mtfl.max_abs_diff(w, true_w)))
  if reference then
    print(string.format("  largest difference from the cpu result: %.2e", mtfl.max_abs_diff(w, reference)))
  else
    reference = w
  end
end
