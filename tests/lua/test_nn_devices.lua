-- Every layer, criterion and optimizer step on each OpenCL device (PoCL where there is
-- no GPU) agrees with the CPU on random inputs: forward outputs, input gradients and
-- parameter gradients. A module is built on the CPU and cloned to the device, so both
-- start from the same weights; dropout replays the same RNG state on both (mtfl's RNG
-- gives the same numbers on every backend).
--
-- Tolerances, as max |device - cpu| / max(1, max |cpu|):
--   GEMM-based (Linear, Conv2d, networks): 1e-4 (sums of up to a few hundred products
--     in another order); elementwise, pooling, flatten, dropout: 1e-6; criteria and
--     PReLU (its slope gradient sums a channel's products in another order) 1e-5;
--   optimizer steps: 1e-6.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local T = require "harness"
local C = require "nn_check"

local GEMM_TOL, ELEMENTWISE_TOL, CRITERION_TOL, OPTIMIZER_TOL = 1e-4, 1e-6, 1e-5, 1e-6
-- batch normalisation: sums in double on both sides, but 1/sqrt and the cancellation in
-- dx round differently on the device
local NORM_TOL = 1e-5

local devices = {}
for _, id in ipairs(T.devices()) do
  if id ~= "cpu" then devices[#devices + 1] = id end
end

mtfl.set_device("cpu")
mtfl.manual_seed(3)
math.randomseed(3)

local function close(what, got, want, tol)
  local rel = C.relative_difference(got, want)
  if rel > tol then error(string.format("%s: relative difference %.2e > %.0e", what, rel, tol), 2) end
end

local function each_device(fn)
  if #devices == 0 then print("  (no OpenCL device: skipped)") return end
  for _, id in ipairs(devices) do fn(id) end
end

local function to_device(value, id)
  if mtfl.is_tensor(value) then return value:to(id) end
  local out = {}
  for k, v in pairs(value) do out[k] = to_device(v, id) end
  return out
end

local function random_like(output)
  if mtfl.is_tensor(output) then return mtfl.randn(output:size()) end
  local out = {}
  for k, v in pairs(output) do out[k] = random_like(v) end
  return out
end

local function compare_outputs(what, got, want, tol)
  if mtfl.is_tensor(want) then return close(what, got, want, tol) end
  for k, v in pairs(want) do close(what .. "." .. k, got[k], v, tol) end
end

--- Forward and backward of module on the CPU and on device id, compared.
local function agree(what, module, input, tol, id, before)
  before = before or function() end
  local on_device = module:clone():to(id)
  before()
  local want = module:forward(input)
  local grad_output = random_like(want)
  module:zeroGrad()
  local want_grad = module:backward(input, grad_output)
  local device_input = input:to(id)
  before()
  local got = on_device:forward(device_input)
  on_device:zeroGrad()
  local got_grad = on_device:backward(device_input, to_device(grad_output, id))
  compare_outputs(what .. " on " .. id .. ": output", got, want, tol)
  close(what .. " on " .. id .. ": gradInput", got_grad, want_grad, tol)
  local _, cpu_grads = module:parameters()
  local _, device_grads = on_device:parameters()
  for i = 1, #cpu_grads do
    T.eq(device_grads[i]:device(), id, "gradient on the device")
    close(what .. " on " .. id .. ": parameter gradient " .. i, device_grads[i], cpu_grads[i], tol)
  end
end

T.test("Linear and Conv2d (strides, padding) agree with the CPU", function()
  each_device(function(id)
    agree("Linear", nn.Linear(37, 19), mtfl.randn(8, 37), GEMM_TOL, id)
    agree("Conv2d same", nn.Conv2d(3, 8, 5, {padding = "same"}), mtfl.randn(4, 3, 15, 15), GEMM_TOL, id)
    agree("Conv2d stride 2", nn.Conv2d(4, 6, 3, {stride = 2, padding = 1}), mtfl.randn(3, 4, 11, 9), GEMM_TOL, id)
    agree("Conv2d 3x2 stride 2x1", nn.Conv2d(2, 3, {3, 2}, {stride = {2, 1}, padding = {1, 0}}),
          mtfl.randn(2, 2, 8, 7), GEMM_TOL, id)
  end)
end)

T.test("MaxPool2d, activations, Dropout and Flatten agree with the CPU", function()
  each_device(function(id)
    agree("MaxPool2d 2", nn.MaxPool2d(2), mtfl.randn(2, 3, 9, 9), ELEMENTWISE_TOL, id)
    agree("MaxPool2d 2 ceil", nn.MaxPool2d(2, {ceil = true}), mtfl.randn(2, 3, 75, 75), ELEMENTWISE_TOL, id)
    agree("MaxPool2d 3 stride 2 pad 1", nn.MaxPool2d(3, {stride = 2, padding = 1}), mtfl.randn(2, 2, 10, 10),
          ELEMENTWISE_TOL, id)
    agree("ReLU", nn.ReLU(), mtfl.randn(5, 33), ELEMENTWISE_TOL, id)
    agree("Tanh", nn.Tanh(), mtfl.randn(5, 33), ELEMENTWISE_TOL, id)
    agree("Sigmoid", nn.Sigmoid(), mtfl.randn(5, 33), ELEMENTWISE_TOL, id)
    local seed, counter = mtfl.rng_state()
    agree("Dropout", nn.Dropout(0.3), mtfl.randn(6, 40), ELEMENTWISE_TOL, id,
          function() mtfl.set_rng_state(seed, counter) end)
    agree("Flatten", nn.Flatten(), mtfl.randn(3, 4, 5, 2), ELEMENTWISE_TOL, id)
  end)
end)

T.test("AvgPool2d and GlobalAvgPool2d agree with the CPU", function()
  each_device(function(id)
    agree("AvgPool2d 2", nn.AvgPool2d(2), mtfl.randn(2, 3, 9, 9), ELEMENTWISE_TOL, id)
    agree("AvgPool2d 2 ceil", nn.AvgPool2d(2, 2, {ceil = true}), mtfl.randn(2, 3, 75, 75), ELEMENTWISE_TOL, id)
    agree("AvgPool2d 3 stride 2 pad 1 ceil", nn.AvgPool2d(3, 2, {padding = 1, ceil = true}),
          mtfl.randn(2, 2, 10, 11), ELEMENTWISE_TOL, id)
    agree("AvgPool2d 3x2 stride 1x2 pad 1x0", nn.AvgPool2d({3, 2}, {1, 2}, {padding = {1, 0}}),
          mtfl.randn(2, 2, 7, 8), ELEMENTWISE_TOL, id)
    agree("GlobalAvgPool2d", nn.GlobalAvgPool2d(), mtfl.randn(3, 5, 19, 19), ELEMENTWISE_TOL, id)
  end)
end)

T.test("BatchNorm2d and BatchNorm1d agree with the CPU: outputs, gradients, running statistics", function()
  each_device(function(id)
    -- channels of thousands of values (many per work-item), and more channels than
    -- work-groups in flight (the group loop)
    for _, case in ipairs({{nn.BatchNorm2d(16), {8, 16, 20, 20}}, {nn.BatchNorm1d(300), {12, 300}},
                           {nn.BatchNorm2d(3, {affine = false, momentum = 0.5}), {1, 3, 7, 5}}}) do
      local bn, s = case[1], case[2]
      if bn.affine then
        bn.weight:copy(mtfl.randn(bn.channels))
        bn.bias:copy(mtfl.randn(bn.channels))
      end
      local what = bn:describe()
      local on_device = bn:clone():to(id)
      T.eq(on_device.running_mean:device(), id, what .. ": to() moves the running mean")
      T.eq(on_device.running_var:device(), id, what .. ": to() moves the running variance")
      T.eq(on_device:device(), id, what .. ": device()")
      local input = mtfl.randn(s):mul(2):add(5)
      agree(what .. " training", bn, input, NORM_TOL, id)
      on_device:forward(input:to(id))
      close(what .. " on " .. id .. ": running_mean", on_device.running_mean, bn.running_mean, NORM_TOL)
      close(what .. " on " .. id .. ": running_var", on_device.running_var, bn.running_var, NORM_TOL)
      bn:evaluate()
      agree(what .. " evaluating", bn, mtfl.randn(s), NORM_TOL, id)
    end
  end)
end)

T.test("a small seed-like network with heads agrees with the CPU", function()
  each_device(function(id)
    local model = nn.Sequential{
      nn.Conv2d(3, 4, 5, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2),
      nn.Conv2d(4, 6, 5, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2, {ceil = true}),
      nn.Flatten(), nn.Linear(6 * 5 * 5, 16), nn.ReLU()}
      :add(nn.Heads{landmarks = nn.Linear(16, 10), pose = nn.Linear(16, 5)}, "heads")
    agree("network", model, mtfl.rand(4, 3, 18, 18), GEMM_TOL, id)
  end)
end)

T.test("criteria agree with the CPU", function()
  each_device(function(id)
    local f, y = mtfl.randn(6, 10), mtfl.randn(6, 10)
    local logits, labels = mtfl.randn(6, 5), mtfl.tensor({1, 2, 5, 4, 3, 3})
    local cases = {
      {nn.LandmarkLoss(), f, y},
      {nn.LandmarkLoss{variant = "euclidean"}, f, y},
      {nn.LandmarkLoss{variant = "euclidean", layout = "interleaved"}, f, y},
      {nn.CrossEntropy(), logits, labels},
    }
    for _, case in ipairs(cases) do
      local criterion, input, target = case[1], case[2], case[3]
      local what = criterion:describe() .. " on " .. id
      T.near(criterion:forward(input:to(id), target:to(id)), criterion:forward(input, target), CRITERION_TOL, what .. ": loss")
      close(what .. ": gradient", criterion:backward(input:to(id), target:to(id)), criterion:backward(input, target),
            CRITERION_TOL)
    end
    -- targets on the CPU are moved to the prediction's device
    T.near(nn.CrossEntropy():forward(logits:to(id), labels), nn.CrossEntropy():forward(logits, labels),
           CRITERION_TOL, "CPU labels with device logits")
  end)
end)

T.test("Adam, AdamW and SGD steps agree with the CPU, flat and per tensor", function()
  each_device(function(id)
    for _, make in ipairs({
      function(p, g) return optim.Adam(p, g, {lr = 1e-2, weight_decay = 1e-3}) end,
      function(p, g) return optim.AdamW(p, g, {lr = 1e-2, weight_decay = 0.1}) end,
      function(p, g) return optim.SGD(p, g, {lr = 1e-1, momentum = 0.9, weight_decay = 1e-3}) end,
    }) do
      for _, flat in ipairs({true, false}) do
        local cpu_model = nn.Sequential{nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3)}
        local dev_model = cpu_model:clone():to(id)
        local function setup(model)
          local p, g
          if flat then p, g = nn.flatten_parameters(model) else p, g = model:parameters() end
          return make(p, g)
        end
        local cpu_opt, dev_opt = setup(cpu_model), setup(dev_model)
        local x, dy = mtfl.randn(4, 7), mtfl.randn(4, 3)
        for _ = 1, 3 do
          for _, pair in ipairs({{cpu_model, cpu_opt, x, dy}, {dev_model, dev_opt, x:to(id), dy:to(id)}}) do
            local model, opt, input, grad = pair[1], pair[2], pair[3], pair[4]
            opt:zeroGrad()
            model:forward(input)
            model:backward(input, grad)
            opt:step()
          end
        end
        local cpu_params = cpu_model:parameters()
        local dev_params = dev_model:parameters()
        for i = 1, #cpu_params do
          close(cpu_opt._class_name .. (flat and " flat" or " per tensor") .. " on " .. id .. ": parameter " .. i,
                dev_params[i], cpu_params[i], OPTIMIZER_TOL)
        end
      end
    end
  end)
end)

T.test("mixing devices is an error that says where each tensor is", function()
  each_device(function(id)
    local layer = nn.Linear(3, 2)
    T.raises(function() layer:forward(mtfl.zeros(4, 3, {device = id})) end,
             "Linear(3 -> 2): input [4x3] is on " .. id .. " but the parameters are on cpu")
    local model = nn.Sequential{nn.Linear(3, 2)}
    model:to(id)
    T.eq(model:device(), id, "model:to moves the parameters")
    T.eq(model:get(1).gradWeight:device(), id, "and the gradients")
    T.eq(model:forward(mtfl.zeros(4, 3, {device = id})):device(), id, "output on the device")
  end)
end)

T.test("LeakyReLU, PReLU, AbsTanh, Residual and Concat agree with the CPU", function()
  each_device(function(id)
    agree("LeakyReLU", nn.LeakyReLU(0.1), mtfl.randn(5, 33), ELEMENTWISE_TOL, id)
    agree("LeakyReLU negative slope", nn.LeakyReLU(-0.3), mtfl.randn(5, 33), ELEMENTWISE_TOL, id)
    agree("AbsTanh", nn.AbsTanh(), mtfl.randn(5, 33), ELEMENTWISE_TOL, id)
    local prelu = nn.PReLU(6)
    prelu.weight:uniform(-0.5, 0.5)
    -- the slope gradient sums 4 * 9 * 11 products per channel, in another order on the device
    agree("PReLU per channel", prelu, mtfl.randn(4, 6, 9, 11), CRITERION_TOL, id)
    agree("PReLU shared", nn.PReLU(), mtfl.randn(3, 5, 7), CRITERION_TOL, id)
    agree("Residual", nn.Residual(nn.Sequential{nn.Conv2d(3, 4, 3, {padding = "same"}), nn.PReLU(4)},
                                  nn.Conv2d(3, 4, 1)), mtfl.randn(2, 3, 8, 8), GEMM_TOL, id)
    agree("Concat", nn.Concat(2, {nn.Conv2d(3, 2, 3, {padding = "same"}), nn.Sequential{nn.Conv2d(3, 3, 1), nn.AbsTanh()}}),
          mtfl.randn(2, 3, 7, 7), GEMM_TOL, id)
  end)
end)

T.run_all()
