-- BatchNorm2d / BatchNorm1d and average pooling against direct Lua computations on the
-- CPU: batch and running statistics, the evaluation formula, buffers in state dicts,
-- checkpoints, copies and parameter lists, shapes and errors. (Gradients are checked in
-- test_nn_gradients.lua, CPU/OpenCL agreement in test_nn_devices.lua.)
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local T = require "harness"
local C = require "nn_check"

mtfl.set_device("cpu")
mtfl.manual_seed(11)
math.randomseed(11)

-- Per channel of x [N, C, ...] (flat values v): mean, biased and unbiased variance, in
-- double precision, and the index list of each channel's values.
local function channel_stats(v, s)
  local n, c = s[1], s[2]
  local inner = #v // (n * c)
  local stats = {}
  for ch = 1, c do
    local at = {}
    for i = 1, n do
      for k = 1, inner do at[#at + 1] = ((i - 1) * c + (ch - 1)) * inner + k end
    end
    local sum = 0
    for _, j in ipairs(at) do sum = sum + v[j] end
    local mean, sq = sum / #at, 0
    for _, j in ipairs(at) do sq = sq + (v[j] - mean) ^ 2 end
    stats[ch] = {mean = mean, var = sq / #at, unbiased = sq / (#at - 1), at = at}
  end
  return stats
end

local function near_all(what, got, want, tol)
  T.eq(#got, #want, what .. ": count")
  for i = 1, #want do T.near(got[i], want[i], tol, string.format("%s[%d]", what, i)) end
end

T.test("training: output normalised by the batch statistics, running statistics by momentum", function()
  for _, case in ipairs({{nn.BatchNorm2d(3, {momentum = 0.3}), {4, 3, 5, 2}},
                         {nn.BatchNorm1d(5), {7, 5}}}) do
    local bn, s = case[1], case[2]
    bn.weight:copy(C.away_from_zero({s[2]}))
    bn.bias:copy(mtfl.randn(s[2]))
    local gamma, beta = C.values(bn.weight), C.values(bn.bias)
    -- an offset far from zero: a one-pass variance in float would lose it
    local x = mtfl.randn(s):mul(3):add(100)
    local v = C.values(x)
    local stats = channel_stats(v, s)
    local y = C.values(bn:forward(x))
    for ch, st in ipairs(stats) do
      for _, j in ipairs(st.at) do
        local want = (v[j] - st.mean) / math.sqrt(st.var + bn.eps) * gamma[ch] + beta[ch]
        T.near(y[j], want, 2e-4, bn:describe() .. " output")
      end
    end
    local m = bn.momentum
    local want_mean, want_var = {}, {}
    for ch, st in ipairs(stats) do
      want_mean[ch] = m * st.mean
      want_var[ch] = (1 - m) * 1 + m * st.unbiased
    end
    near_all(bn:describe() .. " running_mean after one step", C.values(bn.running_mean), want_mean, 1e-5)
    near_all(bn:describe() .. " running_var (unbiased) after one step", C.values(bn.running_var), want_var, 1e-5)
    -- a second batch moves them again from where they are
    local x2 = mtfl.randn(s)
    local stats2 = channel_stats(C.values(x2), s)
    bn:forward(x2)
    for ch, st in ipairs(stats2) do
      want_mean[ch] = (1 - m) * want_mean[ch] + m * st.mean
      want_var[ch] = (1 - m) * want_var[ch] + m * st.unbiased
    end
    near_all(bn:describe() .. " running_mean after two steps", C.values(bn.running_mean), want_mean, 1e-5)
    near_all(bn:describe() .. " running_var after two steps", C.values(bn.running_var), want_var, 1e-5)
  end
end)

T.test("evaluation: the running statistics, not the batch's; running statistics stay", function()
  local bn = nn.BatchNorm2d(2)
  bn.weight:copy(mtfl.tensor({1.5, -0.5}))
  bn.bias:copy(mtfl.tensor({0.25, 2}))
  bn.running_mean:copy(mtfl.tensor({0.3, -1}))
  bn.running_var:copy(mtfl.tensor({2, 0.5}))
  bn:evaluate()
  local stored_mean, stored_var = C.values(bn.running_mean), C.values(bn.running_var)
  local x = mtfl.randn(3, 2, 2, 2)
  local v, y = C.values(x), C.values(bn:forward(x))
  local gamma, beta, mean, var = {1.5, -0.5}, {0.25, 2}, {0.3, -1}, {2, 0.5}
  for j = 1, #v do
    local ch = ((j - 1) // 4) % 2 + 1
    T.near(y[j], (v[j] - mean[ch]) / math.sqrt(var[ch] + 1e-5) * gamma[ch] + beta[ch], 1e-6, "eval output")
  end
  near_all("running_mean unchanged", C.values(bn.running_mean), stored_mean, 0)
  near_all("running_var unchanged", C.values(bn.running_var), stored_var, 0)
  -- one sample alone gives what it gives inside the batch
  local alone = C.values(bn:forward(x:narrow(1, 2, 1)))
  for j = 1, #alone do T.near(alone[j], y[8 + j], 1e-7, "sample 2 alone") end
  -- and a batch of one is fine in evaluation, also for BatchNorm1d
  T.eq(nn.BatchNorm1d(3):evaluate():forward(mtfl.randn(1, 3)):size()[1], 1, "BatchNorm1d, N = 1, evaluating")
end)

T.test("buffers: in state_dict, not in parameters, flatten_parameters, zeroGrad or optimizers", function()
  local model = nn.Sequential{nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                              nn.Linear(8, 3), nn.BatchNorm1d(3, {affine = false})}
  local names = {}
  for name in pairs(model:state_dict()) do names[#names + 1] = name end
  table.sort(names)
  T.eq(table.concat(names, " "), "1.bias 1.weight 2.bias 2.running_mean 2.running_var 2.weight "
       .. "5.bias 5.weight 6.running_mean 6.running_var", "state_dict names")
  local params = model:parameters()
  T.eq(#params, 6, "parameters: conv, batchnorm and linear weights and biases, no buffers")
  T.eq(model:parameter_count(), 2 * 9 + 2 + 2 + 2 + 8 * 3 + 3, "parameter_count leaves buffers out")
  T.truthy(tostring(model):find("Total: 51 parameters", 1, true), "the printed total leaves buffers out")
  local flat = nn.flatten_parameters(model)
  T.eq(flat:numel(), 51, "flat buffer: parameters only")
  model:get(2).running_var:fill(3)
  model:zeroGrad()
  local adam = optim.Adam(flat, model._flat.grads, {lr = 0.1})
  local x = mtfl.randn(4, 1, 4, 4)
  model:forward(x)
  model:backward(x, mtfl.randn(4, 3))
  local before = C.values(model:get(2).running_mean)
  adam:step()
  near_all("an optimizer step leaves the running mean alone", C.values(model:get(2).running_mean), before, 0)
  T.truthy(model:get(2).running_var:max() < 3, "forward in training moved running_var")
end)

T.test("load_state_dict: buffers restored, and strict about them", function()
  local a, b = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
  a.running_mean:copy(mtfl.randn(3))
  a.running_var:copy(mtfl.rand(3):add(1))
  a.weight:copy(mtfl.randn(3))
  b:load_state_dict(a:state_dict())
  for _, key in ipairs({"running_mean", "running_var", "weight", "bias"}) do
    T.eq(mtfl.max_abs_diff(a[key], b[key]), 0, key .. " restored")
  end
  T.truthy(not rawequal(a.running_mean, b.running_mean), "copied, not shared")
  local sd = a:state_dict()
  local partial = {weight = sd.weight, bias = sd.bias, running_mean = sd.running_mean}
  T.raises(function() b:load_state_dict(partial) end, "1 missing (running_var)")
  b:load_state_dict(partial, {strict = false})
  local wrong = {weight = sd.weight, bias = sd.bias, running_mean = mtfl.zeros(4), running_var = sd.running_var}
  T.raises(function() b:load_state_dict(wrong) end, "running_mean is [3] in the model but [4]")
  local extra = {weight = sd.weight, bias = sd.bias, running_mean = sd.running_mean,
                 running_var = sd.running_var, num_batches = mtfl.zeros(1)}
  T.raises(function() b:load_state_dict(extra) end, "1 unexpected (num_batches)")
end)

T.test("nn.save / nn.load round-trip the running statistics; clone copies them", function()
  local model = nn.Sequential{nn.Conv2d(2, 3, 3, {padding = "same"}), nn.BatchNorm2d(3), nn.ReLU(),
                              nn.GlobalAvgPool2d(), nn.Linear(3, 2)}
  for _ = 1, 3 do model:forward(mtfl.randn(4, 2, 5, 5)) end
  local base = os.tmpname()   -- creates the file: only its unique name is wanted
  os.remove(base)
  local path = base .. ".safetensors"
  nn.save(path, model)
  local other = nn.Sequential{nn.Conv2d(2, 3, 3, {padding = "same"}), nn.BatchNorm2d(3), nn.ReLU(),
                              nn.GlobalAvgPool2d(), nn.Linear(3, 2)}
  nn.load(path, other)
  os.remove(path)
  T.eq(mtfl.max_abs_diff(other:get(2).running_mean, model:get(2).running_mean), 0, "running_mean from the file")
  T.eq(mtfl.max_abs_diff(other:get(2).running_var, model:get(2).running_var), 0, "running_var from the file")
  local x = mtfl.randn(2, 2, 5, 5)
  model:evaluate()
  other:evaluate()
  T.eq(mtfl.max_abs_diff(other:forward(x), model:forward(x)), 0, "same evaluation output")
  local copy = model:clone()
  T.eq(mtfl.max_abs_diff(copy:get(2).running_var, model:get(2).running_var), 0, "clone: same running_var")
  copy:get(2).running_var:fill(7)
  T.truthy(model:get(2).running_var:max() < 7, "clone: its own running_var")
  T.eq(#copy:get(2).buffer_slots, 2, "clone: buffers still registered")
end)

-- a random tensor of shape s, as a strided view when it is 4-D
local function strided_randn(s)
  if #s ~= 4 then return mtfl.randn(s) end
  return mtfl.randn(s[1], s[2], s[4], s[3]):transpose(3, 4)
end

T.test("views that are not contiguous give what their contiguous copies give", function()
  local x = strided_randn({3, 2, 4, 5})
  T.truthy(not x:is_contiguous(), "the input is a strided view")
  for _, make in ipairs({function() return nn.BatchNorm2d(2) end, function() return nn.AvgPool2d(2, 1) end,
                         function() return nn.GlobalAvgPool2d() end}) do
    local a, b = make(), make()
    local ya, yb = a:forward(x), b:forward(x:contiguous())
    local dy = strided_randn(ya:size())
    T.eq(mtfl.max_abs_diff(ya, yb), 0, a:describe() .. ": output")
    T.eq(mtfl.max_abs_diff(a:backward(x, dy), b:backward(x:contiguous(), dy:contiguous())), 0,
         a:describe() .. ": gradInput")
  end
end)

T.test("profile leaves the running statistics as they were", function()
  local model = nn.Sequential{nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU()}
  local bn = model:get(2)
  bn.running_mean:copy(mtfl.tensor({0.5, -0.5}))
  local before_mean, before_var = C.values(bn.running_mean), C.values(bn.running_var)
  model:profile(mtfl.randn(3, 1, 6, 6), {steps = 2})
  near_all("running_mean after profile", C.values(bn.running_mean), before_mean, 0)
  near_all("running_var after profile", C.values(bn.running_var), before_var, 0)
end)

T.test("arguments() rebuild the same structure; describe()", function()
  for _, m in ipairs({nn.BatchNorm2d(4), nn.BatchNorm2d(4, {eps = 1e-3, momentum = 0.2, affine = false}),
                      nn.BatchNorm1d(7), nn.AvgPool2d(3), nn.AvgPool2d({3, 2}, {1, 2}, {padding = {1, 0}, ceil = true}),
                      nn.AvgPool2d(2, {stride = 1}), nn.GlobalAvgPool2d()}) do
    local cls = nn[m._class_name]
    local again = cls(table.unpack(m:arguments()))
    T.eq(again:describe(), m:describe(), "rebuilt " .. m:describe())
    T.eq(#again:parameters(), #m:parameters(), "same parameters " .. m:describe())
  end
  T.eq(nn.BatchNorm2d(16):describe(), "BatchNorm2d(16)", "default describe")
  T.eq(nn.BatchNorm1d(8, {eps = 1e-3, momentum = 0.01, affine = false}):describe(),
       "BatchNorm1d(8, eps 0.001, momentum 0.01, no affine)", "options in describe")
  T.eq(nn.AvgPool2d(3, 2, {padding = 1, ceil = true}):describe(), "AvgPool2d(3x3, stride 2, padding 1, ceil)", "AvgPool2d")
  T.eq(nn.GlobalAvgPool2d():describe(), "GlobalAvgPool2d", "GlobalAvgPool2d")
end)

T.test("BatchNorm shapes and errors name the module and the shapes", function()
  local bn2, bn1 = nn.BatchNorm2d(16), nn.BatchNorm1d(5)
  T.eq(table.concat(bn2:shape_for({2, 16, 3, 3}), "x"), "2x16x3x3", "shape kept")
  T.raises(function() bn2:forward(mtfl.randn(2, 8, 3, 3)) end, "BatchNorm2d(16)", "[2x8x3x3]", "C = 16")
  T.raises(function() bn2:forward(mtfl.randn(2, 16)) end, "BatchNorm2d(16)", "[2x16]", "[N, C, H, W]")
  T.raises(function() bn1:forward(mtfl.randn(4, 6)) end, "BatchNorm1d(5)", "[4x6]", "F = 5")
  T.raises(function() bn1:forward(mtfl.randn(1, 5)) end, "BatchNorm1d(5)", "expected more than 1 value per channel")
  T.raises(function() bn2:forward(mtfl.randn(1, 16, 1, 1)) end, "expected more than 1 value per channel", "[1x16x1x1]")
  T.raises(function() bn2:forward({}) end, "BatchNorm2d(16)", "not a tensor")
  T.raises(function() bn2:backward(mtfl.randn(2, 16, 3, 3), mtfl.randn(2, 16, 3, 3)) end, "backward called before forward")
  bn2:forward(mtfl.randn(2, 16, 3, 3))
  T.raises(function() bn2:backward(mtfl.randn(2, 16, 3, 3), mtfl.randn(2, 16, 3, 2)) end, "gradOutput [2x16x3x2]")
  T.raises(function() nn.BatchNorm2d(0) end, "BatchNorm2d: channels must be a positive integer")
  T.raises(function() nn.BatchNorm2d(3, {eps = 0}) end, "eps must be a positive number")
  T.raises(function() nn.BatchNorm1d(3, {momentum = 2}) end, "momentum must be a number in [0, 1]")
  T.raises(function() mtfl.batchnorm(mtfl.randn(4), nil, nil, {}) end, "batchnorm: input [4] is not [N, C, ...]")
  T.raises(function() mtfl.batchnorm(mtfl.randn(4, 3), mtfl.ones(2), nil, {}) end, "batchnorm: weight is [2], should be [3]")
  T.raises(function() mtfl.batchnorm(mtfl.randn(4, 3), nil, nil, {training = false}) end, "needs options mean and var")
end)

T.test("AvgPool2d: averages of the elements inside each window, padding not counted", function()
  local x = mtfl.arange(1, 26):reshape(1, 1, 5, 5)   -- 1..25, row-major
  local y = C.values(nn.AvgPool2d(2, 2, {ceil = true}):forward(x))
  -- windows {1,2,6,7}, {3,4,8,9}, {5,10}, ..., {25} alone at the corner
  near_all("2x2 ceil", y, {4, 6, 7.5, 14, 16, 17.5, 21.5, 23.5, 25}, 1e-6)
  local p = C.values(nn.AvgPool2d(3, 2, {padding = 1}):forward(x))
  -- rows (and columns) {0,1}, {1,2,3}, {3,4}: the corner window covers {1,2,6,7} and
  -- gives their mean 4, not their sum over 9
  near_all("3x3 stride 2 padding 1", p, {4, 5.5, 7, 11.5, 13, 14.5, 19, 20.5, 22}, 1e-6)
  local g = C.values(nn.GlobalAvgPool2d():forward(mtfl.arange(0, 8):reshape(1, 2, 2, 2)))
  near_all("global", g, {1.5, 5.5}, 1e-6)
  T.eq(table.concat(nn.GlobalAvgPool2d():shape_for({3, 4, 5, 6}), "x"), "3x4", "global: N x C")
  T.eq(table.concat(nn.AvgPool2d(2):shape_for({3, 4, 7, 6}), "x"), "3x4x3x3", "floor")
  T.eq(table.concat(nn.AvgPool2d(2, 2, {ceil = true}):shape_for({3, 4, 7, 6}), "x"), "3x4x4x3", "ceil")
end)

T.test("average pooling errors name the op and the shapes", function()
  T.raises(function() nn.AvgPool2d(2):forward(mtfl.randn(3, 4)) end, "AvgPool2d(2x2)", "[3x4]", "[N,C,H,W]")
  T.raises(function() nn.AvgPool2d(5):forward(mtfl.randn(1, 1, 3, 3)) end, "AvgPool2d(5x5)", "does not fit", "1x1x3x3")
  T.raises(function() nn.AvgPool2d(2, 2, {padding = 2}) :forward(mtfl.randn(1, 1, 4, 4)) end,
           "padding 2x2 is more than half the 2x2 window")
  T.raises(function() nn.AvgPool2d(0) end, "AvgPool2d: kernel must be an integer >= 1")
  T.raises(function() nn.AvgPool2d(2, 0) end, "AvgPool2d: stride must be an integer >= 1")
  T.raises(function() nn.GlobalAvgPool2d():forward(mtfl.randn(2, 3)) end, "GlobalAvgPool2d", "[2x3]", "[N, C, H, W]")
  local pool = nn.AvgPool2d(2)
  pool:forward(mtfl.randn(1, 2, 4, 4))
  T.raises(function() pool:backward(mtfl.randn(1, 2, 4, 4), mtfl.randn(1, 2, 3, 2)) end, "gradOutput [1x2x3x2]", "[1x2x2x2]")
  T.raises(function() mtfl.avgpool2d_backward(mtfl.randn(1, 2, 3, 2), {1, 2, 4, 4}, {kernel = 2}) end,
           "avgpool2d_backward: gradOutput is [1x2x3x2], should be [1x2x2x2]")
  T.raises(function() mtfl.avgpool2d(mtfl.randn(1, 1, 4, 4), {}) end, "avgpool2d: option 'kernel' is required")
end)

T.test("a network with BatchNorm2d, AvgPool2d and BatchNorm1d learns, and evaluates with its running statistics", function()
  mtfl.manual_seed(5)
  local X = mtfl.randn(64, 1, 8, 8)
  -- targets: the means of the four 4x4 quadrants (scaled, shifted), which the layers can express
  local Y = nn.AvgPool2d(4):forward(X):reshape(64, 4):mul(3):add(1)
  local model = nn.Sequential{nn.Conv2d(1, 8, 3, {padding = "same"}), nn.BatchNorm2d(8), nn.ReLU(),
                              nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 32), nn.BatchNorm1d(32),
                              nn.ReLU(), nn.Linear(32, 4)}
  local loss_fn = nn.LandmarkLoss()
  local params, grads = nn.flatten_parameters(model)
  local adam = optim.Adam(params, grads, {lr = 1e-2})
  local losses = {}
  for i = 1, 100 do
    adam:zeroGrad()
    local out = model:forward(X)
    losses[i] = loss_fn:forward(out, Y)
    model:backward(X, loss_fn:backward(out, Y))
    adam:step()
  end
  T.truthy(losses[100] < losses[1] / 100, string.format("loss %.4g -> %.4g in 100 steps", losses[1], losses[100]))
  -- after many forwards of the same batch the running statistics are that batch's
  -- (the variance unbiased: 64/63 of the batch's), so evaluation nearly matches training
  for _ = 1, 60 do model:forward(X) end
  model:evaluate()
  local eval_loss = loss_fn:forward(model:forward(X), Y)
  T.truthy(eval_loss < losses[1] / 100, string.format("evaluation loss %.4g (first %.4g)", eval_loss, losses[1]))
end)

T.run_all()
