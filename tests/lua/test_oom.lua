-- Running short of device memory never changes a result. When an allocation does not
-- fit, the binding collects Lua's garbage and the core retries that one allocation;
-- an op is never run twice. So every layer's outputs and gradients, computed while
-- the budget is so tight that garbage must be collected somewhere inside the step,
-- equal bit for bit those computed with memory to spare.
--
-- The squeeze: with the collector stopped, garbage as large as the step's own need
-- fills the budget, which leaves `margin` bytes free. Margins from 0 up to the need
-- make the retry happen at every allocation of the step in turn (the convolution's
-- workspace is released first, so that it is allocated inside the op too).
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local T = require "harness"

local MARGINS = 16

-- One training step's results as bytes: the output, every gradient and the input's.
local function step(module, input, grad_output, seed)
  mtfl.manual_seed(seed)   -- dropout draws its mask from the RNG
  module:zeroGrad()
  local out = module:forward(input)
  local grad_input = module:backward(input, grad_output)
  local results = {out:to_string(), grad_input and grad_input:to_string() or ""}
  local _, grads = module:parameters()
  for _, g in ipairs(grads) do results[#results + 1] = g:to_string() end
  return results
end

local function squeezed(dev, margin, need, fn)
  collectgarbage()
  collectgarbage("stop")
  mtfl.release_workspaces()
  local live = mtfl.memory(dev).in_use
  do local _ = mtfl.empty(need // 4 + 1, {device = dev}) end   -- garbage, not yet collected
  mtfl.set_memory_limit(live + (need // 4 + 1) * 4 + margin, dev)
  local ok, result = pcall(fn)
  mtfl.set_memory_limit(0, dev)
  collectgarbage("restart")
  if not ok then error(result, 0) end
  return result
end

local function check(what, dev, module, input_shape, seed)
  mtfl.manual_seed(seed)
  module:to(dev)
  local input = mtfl.randn(input_shape):to(dev)
  local grad_output = mtfl.randn(module:shape_for(input_shape)):to(dev)
  local want = step(module, input, grad_output, seed)
  -- the most the step adds to what is in use, its workspace included
  collectgarbage()
  mtfl.release_workspaces()
  mtfl.release_cache(dev)   -- so that the peak counts every block the step takes
  mtfl.reset_peak(dev)
  local before = mtfl.memory(dev).in_use
  step(module, input, grad_output, seed)
  local need = mtfl.memory(dev).peak - before
  local retries = mtfl.memory(dev).oom_retries
  for k = 0, MARGINS - 1 do
    local margin = need * k // MARGINS
    local got = squeezed(dev, margin, need, function() return step(module, input, grad_output, seed) end)
    for i = 1, #want do
      T.truthy(got[i] == want[i], string.format("%s on %s, %d bytes left of a need of %d: result %d differs", what,
                                                dev, margin, need, i))
    end
  end
  -- a layer made of views (Flatten) allocates nothing and so has nothing to retry
  if need > 0 then
    T.truthy(mtfl.memory(dev).oom_retries > retries, what .. " on " .. dev .. ": the squeeze forced no retry")
  end
end

local LAYERS = {
  {"Conv2d", function() return nn.Conv2d(3, 4, 3, {padding = 1}) end, {5, 3, 9, 9}},
  {"Conv2d, stride 2, no bias", function() return nn.Conv2d(2, 3, 3, {stride = 2, bias = false}) end, {4, 2, 9, 9}},
  {"Linear", function() return nn.Linear(12, 5) end, {7, 12}},
  {"MaxPool2d, ceil mode", function() return nn.MaxPool2d(2, {ceil = true}) end, {3, 2, 7, 7}},
  {"ReLU", function() return nn.ReLU() end, {4, 9}},
  {"Tanh", function() return nn.Tanh() end, {4, 9}},
  {"Sigmoid", function() return nn.Sigmoid() end, {4, 9}},
  {"Dropout", function() return nn.Dropout(0.3) end, {4, 9}},
  {"Flatten", function() return nn.Flatten() end, {3, 2, 4, 4}},
  {"AvgPool2d, padding, ceil mode", function() return nn.AvgPool2d(3, 2, {padding = 1, ceil = true}) end, {3, 2, 8, 8}},
  {"GlobalAvgPool2d", function() return nn.GlobalAvgPool2d() end, {3, 2, 5, 5}},
  {"BatchNorm2d", function() return nn.BatchNorm2d(3) end, {4, 3, 5, 5}},
  {"BatchNorm1d", function() return nn.BatchNorm1d(6) end, {5, 6}},
  {"a small network", function()
     return nn.Sequential{nn.Conv2d(3, 4, 3, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 6), nn.Tanh()}
   end, {6, 3, 8, 8}},
}

for _, dev in ipairs(T.devices()) do
  for i, layer in ipairs(LAYERS) do
    T.test(layer[1] .. " on " .. dev .. ": the same results with memory to spare and squeezed", function()
      check(layer[1], dev, layer[2](), layer[3], i)
    end)
  end

  T.test("criteria on " .. dev .. ": the same losses and gradients squeezed", function()
    mtfl.manual_seed(3)
    local criteria = {
      {nn.LandmarkLoss(), mtfl.randn(6, 10):to(dev), mtfl.randn(6, 10):to(dev)},
      {nn.CrossEntropy(), mtfl.randn(6, 5):to(dev), mtfl.tensor({1, 5, 2, 3, 3, 4}):to(dev)},
    }
    for _, c in ipairs(criteria) do
      local function run()
        local loss = c[1]:forward(c[2], c[3])
        return {string.format("%.9g", loss), c[1]:backward(c[2], c[3]):to_string()}
      end
      local want = run()
      collectgarbage()
      mtfl.release_cache(dev)
      mtfl.reset_peak(dev)
      local before = mtfl.memory(dev).in_use
      run()
      local need = math.max(mtfl.memory(dev).peak - before, 4)
      for k = 0, MARGINS - 1 do
        local got = squeezed(dev, need * k // MARGINS, need, run)
        T.eq(got[1], want[1], c[1]:describe() .. " loss")
        T.truthy(got[2] == want[2], c[1]:describe() .. " gradient")
      end
    end
  end)
end

T.test("a coroutine's allocations are retried too", function()
  local co = coroutine.wrap(function()
    return squeezed("cpu", 0, 4096, function() return mtfl.ones(1024, {device = "cpu"}):sum() end)
  end)
  T.eq(co(), 1024, "sum computed after the collection")
end)

-- The budget a 2 GiB GTX 950M leaves: the seed network (150x150, batch 50, Adam, three
-- heads) must train in 1.5 GiB, cached blocks and the convolution workspace included.
-- The accounting is the core's, the same on every backend; the limit makes the
-- allocator collect garbage and empty its cache rather than go past it.
T.test("the seed network trains at batch 50 within 1.5 GiB of device memory", function()
  local optim = require "mtfl.optim"
  local experiment = require "mtfl.train.experiment"
  local spec = assert(loadfile("../../examples/multitask.lua"))(experiment.AS_SPEC)
  local LIMIT = 1.5 * 2^30
  for _, dev in ipairs(T.devices()) do
    collectgarbage()
    mtfl.release_workspaces()
    mtfl.set_memory_limit(0, dev)
    local start = mtfl.memory(dev).in_use
    mtfl.set_memory_limit(start + LIMIT, dev)   -- empties the cache: only this test's blocks count
    mtfl.reset_peak(dev)
    mtfl.set_device(dev)
    mtfl.manual_seed(1)
    local model = spec.network(150, {landmarks = 10, pose = 5, glasses = 2})
    model:input_gradient(false)
    local params, grads = nn.flatten_parameters(model)
    local adam = optim.Adam(params, grads, {lr = 1e-4})
    local criterion = nn.MultiTask{landmarks = {nn.LandmarkLoss(), 1}, pose = {nn.CrossEntropy(), 6},
                                   glasses = {nn.CrossEntropy(), 3}}
    local x = mtfl.rand(50, 3, 150, 150)
    local targets = {landmarks = mtfl.rand(50, 10):mul_(150), pose = mtfl.ones(50), glasses = mtfl.ones(50)}
    local ok, err = pcall(function()
      for _ = 1, 3 do   -- later steps run beside the earlier ones' garbage and cached blocks
        adam:zeroGrad()
        local out = model:forward(x)
        criterion:forward(out, targets)
        model:backward(x, criterion:backward(out, targets))
        adam:step()
      end
      mtfl.synchronize(dev)
    end)
    local peak = mtfl.memory(dev).peak - start
    mtfl.set_memory_limit(0, dev)
    mtfl.set_device("cpu")
    T.truthy(ok, dev .. ": three steps within 1.5 GiB: " .. tostring(err))
    T.truthy(peak <= LIMIT, string.format("%s: %.1f MiB at most held, more than 1536 MiB", dev, peak / 2^20))
    T.truthy(peak > 4 * 189e6, string.format("%s: %.1f MiB cannot hold weights, gradients and Adam's moments", dev, peak / 2^20))
    print(string.format("  %s: peak %.1f MiB (in use and cached)", dev, peak / 2^20))
  end
end)

T.run_all()
