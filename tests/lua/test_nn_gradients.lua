-- Every layer's and criterion's backward against central finite differences, on small
-- inputs on the CPU.
--
-- Modules: the loss is L = sum(output .* R) for a fixed random R (so dL/doutput = R),
-- summed in double precision on the host; each element of the input and of every
-- parameter is moved by +-EPS (float32 values of size ~1, so EPS = 1e-2 keeps the
-- rounding noise of the difference near 1e-5 while the curvature error of smooth
-- layers stays small). Criteria: the loss itself.
-- Pass: max |numeric - analytic| / max(max |analytic|, 1e-3) <= TOL = 1e-2 per tensor
-- (typical errors are 1e-5..1e-3; NN_CHECK_VERBOSE=1 prints them).
-- Kinks are kept out of reach: ReLU inputs are >= 0.2 from zero, max-pool inputs are
-- distinct values 0.05 apart (> 2 EPS).
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local T = require "harness"
local C = require "nn_check"

local EPS, TOL = 1e-2, 1e-2

mtfl.set_device("cpu")
mtfl.manual_seed(7)
math.randomseed(7)

local function random_like(output)
  if mtfl.is_tensor(output) then
    local values = C.values(mtfl.randn(output:size()))
    return values, C.tensor(values, output:size())
  end
  local values, tensors = {}, {}
  for name, t in pairs(output) do values[name], tensors[name] = random_like(t) end
  return values, tensors
end

local function parameter_names(module)
  local names = {}
  module:each_parameter(function(_, _, name) names[#names + 1] = name end)
  return names
end

--- Checks dL/dinput and dL/dparameters of module at input. options.before runs before
--- every forward (to replay a dropout mask); options.grad_outputs overrides R (Heads
--- with a missing gradient); options.eps, options.tol.
local function check_module(what, module, input, options)
  options = options or {}
  local before = options.before or function() end
  local eps, tol = options.eps or EPS, options.tol or TOL
  before()
  local R, R_tensors = random_like(module:forward(input))
  if options.drop then R[options.drop], R_tensors[options.drop] = nil, nil end
  local function loss()
    before()
    return C.dot(module:forward(input), R)
  end
  module:zeroGrad()
  before()
  module:forward(input)
  local grad_input = module:backward(input, R_tensors)
  C.compare(what .. ": input", C.numeric_gradient(input, loss, eps), C.values(grad_input), tol)
  local params, grads = module:parameters()
  for i, name in ipairs(parameter_names(module)) do
    C.compare(what .. ": " .. name, C.numeric_gradient(params[i], loss, eps), C.values(grads[i]), tol)
  end
end

T.test("Linear: 2-D and 3-D inputs, with and without bias", function()
  check_module("Linear(5 -> 4)", nn.Linear(5, 4), mtfl.randn(3, 5))
  check_module("Linear(5 -> 4) on [2x3x5]", nn.Linear(5, 4), mtfl.randn(2, 3, 5))
  check_module("Linear(5 -> 3, no bias)", nn.Linear(5, 3, {bias = false}), mtfl.randn(2, 5))
end)

T.test("Conv2d: stride 1 and 2, padding, non-square kernels", function()
  check_module("Conv2d 3x3 stride 1 same", nn.Conv2d(3, 4, 3, {padding = "same"}), mtfl.randn(2, 3, 6, 6))
  check_module("Conv2d 5x5 stride 2 padding 2", nn.Conv2d(2, 3, 5, {stride = 2, padding = 2}), mtfl.randn(2, 2, 7, 7))
  check_module("Conv2d 3x2 stride 2x1 padding 1x0", nn.Conv2d(2, 3, {3, 2}, {stride = {2, 1}, padding = {1, 0}}),
               mtfl.randn(1, 2, 6, 5))
  check_module("Conv2d 2x2 stride 2 no padding", nn.Conv2d(1, 2, 2, {stride = 2}), mtfl.randn(2, 1, 5, 5))
end)

T.test("MaxPool2d: floor and ceil modes, stride and padding", function()
  check_module("MaxPool2d 2 (7 -> 3)", nn.MaxPool2d(2), C.distinct({2, 2, 7, 7}, 0.05))
  check_module("MaxPool2d 2 ceil (7 -> 4)", nn.MaxPool2d(2, {ceil = true}), C.distinct({2, 2, 7, 7}, 0.05))
  check_module("MaxPool2d 3 stride 2 padding 1", nn.MaxPool2d(3, {stride = 2, padding = 1}),
               C.distinct({1, 3, 6, 6}, 0.05))
  check_module("MaxPool2d 3 stride 2 ceil", nn.MaxPool2d(3, {stride = 2, ceil = true}),
               C.distinct({1, 2, 8, 8}, 0.05))
end)

T.test("AvgPool2d (padding not counted, ceil) and GlobalAvgPool2d", function()
  check_module("AvgPool2d 2 (7 -> 3)", nn.AvgPool2d(2), mtfl.randn(2, 2, 7, 7))
  check_module("AvgPool2d 2 ceil (7 -> 4)", nn.AvgPool2d(2, 2, {ceil = true}), mtfl.randn(2, 2, 7, 7))
  check_module("AvgPool2d 3 stride 2 padding 1", nn.AvgPool2d(3, 2, {padding = 1}), mtfl.randn(1, 3, 6, 6))
  check_module("AvgPool2d 3x2 stride 1x2 padding 1x0 ceil", nn.AvgPool2d({3, 2}, {1, 2}, {padding = {1, 0}, ceil = true}),
               mtfl.randn(2, 1, 5, 7))
  check_module("GlobalAvgPool2d", nn.GlobalAvgPool2d(), mtfl.randn(3, 4, 5, 3))
end)

-- gamma and beta away from their initial 1 and 0, so that dx depends on gamma
local function random_affine(bn)
  bn.weight:copy(C.away_from_zero(bn.weight:size()))
  bn.bias:copy(mtfl.randn(bn.bias:size()))
  return bn
end

T.test("BatchNorm2d and BatchNorm1d: training (batch statistics) and evaluation", function()
  check_module("BatchNorm2d training", random_affine(nn.BatchNorm2d(3)), mtfl.randn(2, 3, 4, 3))
  check_module("BatchNorm1d training", random_affine(nn.BatchNorm1d(4)), mtfl.randn(6, 4))
  check_module("BatchNorm2d training, no affine", nn.BatchNorm2d(2, {affine = false}), mtfl.randn(3, 2, 2, 3))
  -- a batch of one in 2-D still has H*W values per channel
  check_module("BatchNorm2d training, N = 1", random_affine(nn.BatchNorm2d(2)), mtfl.randn(1, 2, 3, 3))
  for _, case in ipairs({{nn.BatchNorm2d(3), {2, 3, 4, 3}}, {nn.BatchNorm1d(4), {5, 4}}}) do
    local bn = random_affine(case[1])
    bn.running_mean:copy(mtfl.randn(bn.channels))
    bn.running_var:copy(mtfl.rand(bn.channels):add(0.5))
    bn:evaluate()
    check_module(bn:describe() .. " evaluating", bn, mtfl.randn(case[2]))
  end
end)

T.test("ReLU, Tanh, Sigmoid", function()
  check_module("ReLU", nn.ReLU(), C.away_from_zero({3, 7}))
  check_module("Tanh", nn.Tanh(), mtfl.randn(3, 7))
  check_module("Sigmoid", nn.Sigmoid(), mtfl.randn(3, 7))
end)

T.test("Dropout with a fixed mask, and the identity when evaluating", function()
  local seed, counter = mtfl.rng_state()
  local replay = function() mtfl.set_rng_state(seed, counter) end
  local dropout = nn.Dropout(0.4)
  check_module("Dropout(0.4) training", dropout, mtfl.randn(4, 6), {before = replay})
  replay()
  local x = mtfl.randn(50, 40)
  local y = dropout:forward(x)
  local kept = C.values(y:abs():step(1e-30))
  local count = 0
  for _, v in ipairs(kept) do count = count + v end
  T.truthy(count > 0.5 * 2000 and count < 0.7 * 2000, "about 60% kept: " .. count .. " of 2000")
  T.near((y:sum()), x:mul(y:abs():step(1e-30)):sum() / 0.6, 1e-3, "kept values scaled by 1/(1-p)")
  dropout:evaluate()
  check_module("Dropout(0.4) evaluating", dropout, mtfl.randn(4, 6))
  T.eq(mtfl.max_abs_diff(dropout:forward(x), x), 0, "evaluate: output is the input")
end)

T.test("Flatten", function()
  check_module("Flatten", nn.Flatten(), mtfl.randn(2, 3, 2, 2))
end)

T.test("Sequential: conv, tanh, pool (ceil), flatten, linear, sigmoid", function()
  local model = nn.Sequential{
    nn.Conv2d(2, 3, 3, {padding = "same"}), nn.Tanh(), nn.MaxPool2d(2, {ceil = true}),
    nn.Flatten(), nn.Linear(3 * 3 * 3, 4), nn.Sigmoid()}
  -- eps 1e-3: the pooled values come from a smooth function here, so ties are only
  -- avoided by keeping steps small
  check_module("Sequential", model, mtfl.randn(2, 2, 5, 5), {eps = 1e-3})
end)

T.test("Heads: all heads, and a head without gradient", function()
  local heads = nn.Heads{a = nn.Linear(5, 3), b = nn.Sequential{nn.Linear(5, 4), nn.Tanh()}}
  local x = mtfl.randn(3, 5)
  check_module("Heads", heads, x)
  -- no gradient for b: L only sees a, so b's gradients must stay exactly zero
  check_module("Heads without b", heads, x, {drop = "b"})
  local _, grads = heads:get("b"):parameters()
  for _, g in ipairs(grads) do T.eq(g:abs():max(), 0, "head b's gradient stays zero") end
  -- a frozen head is left out of backward like a missing one
  heads:freeze("a")
  heads:zeroGrad()
  heads:forward(x)
  local g = heads:backward(x, {a = mtfl.ones(3, 3), b = mtfl.ones(3, 4)})
  T.eq(heads:get("a").gradWeight:abs():max(), 0, "frozen head a: no gradient")
  heads:unfreeze("a")
  heads:forward(x)
  local only_b = heads:get("b"):backward(x, mtfl.ones(3, 4))
  T.eq(mtfl.max_abs_diff(g, only_b), 0, "frozen head a: gradInput comes from b alone")
end)

-- ---- criteria --------------------------------------------------------------------------

local function check_criterion(what, criterion, input, target, tol)
  local analytic = C.values(criterion:backward(input, target))
  local numeric = C.numeric_gradient(input, function() return criterion:forward(input, target) end, EPS)
  C.compare(what, numeric, analytic, tol or TOL)
end

T.test("LandmarkLoss least squares (eq. 2): value and gradient", function()
  local f, y = mtfl.randn(4, 10), mtfl.randn(4, 10)
  local fv, yv, want = C.values(f), C.values(y), 0
  for i = 1, #fv do want = want + (fv[i] - yv[i]) ^ 2 end
  want = want / (2 * 4)
  local criterion = nn.LandmarkLoss()
  T.near(criterion:forward(f, y), want, 1e-6, "1/(2N) sum ||y - f||^2")
  check_criterion("LandmarkLoss least_squares", criterion, f, y)
end)

T.test("LandmarkLoss euclidean: value and gradient, both layouts", function()
  local f, y = mtfl.randn(3, 10), mtfl.randn(3, 10)
  local fv, yv = C.values(f), C.values(y)
  local function expected(layout)
    local total = 0
    for n = 0, 2 do
      for k = 1, 5 do
        local ix, iy
        if layout == "mtfl" then ix, iy = n * 10 + k, n * 10 + 5 + k
        else ix, iy = n * 10 + 2 * k - 1, n * 10 + 2 * k end
        total = total + math.sqrt((fv[ix] - yv[ix]) ^ 2 + (fv[iy] - yv[iy]) ^ 2)
      end
    end
    return total / 3
  end
  for _, layout in ipairs({"mtfl", "interleaved"}) do
    local criterion = nn.LandmarkLoss{variant = "euclidean", layout = layout}
    T.near(criterion:forward(f, y), expected(layout), 1e-5, "sum of point distances / N, " .. layout)
    check_criterion("LandmarkLoss euclidean " .. layout, criterion, f, y)
  end
  -- a point predicted exactly has gradient 0, not NaN
  local g = nn.LandmarkLoss{variant = "euclidean"}:backward(y, y)
  T.eq(g:abs():max(), 0, "zero distance: zero gradient")
end)

T.test("CrossEntropy (eq. 1): value and gradient, labels 1-based", function()
  local logits = mtfl.randn(4, 5)
  local labels = mtfl.tensor({1, 5, 3, 2})
  local lv, want = C.values(logits), 0
  for n = 0, 3 do
    local z, label = 0, ({1, 5, 3, 2})[n + 1]
    for k = 1, 5 do z = z + math.exp(lv[n * 5 + k]) end
    want = want - (lv[n * 5 + label] - math.log(z))
  end
  local criterion = nn.CrossEntropy()
  T.near(criterion:forward(logits, labels), want / 4, 1e-5, "mean of -log softmax[label]")
  T.near(criterion:forward(logits, {1, 5, 3, 2}), want / 4, 1e-5, "labels as a Lua list")
  check_criterion("CrossEntropy", criterion, logits, labels)
end)

T.test("MultiTask (eq. 3): weighted sum, scaled gradients, lambda 0 sends none", function()
  local criterion = nn.MultiTask{
    landmarks = {nn.LandmarkLoss(), 1}, pose = {nn.CrossEntropy(), 6}, glasses = {nn.CrossEntropy(), 3}}
  local outputs = {landmarks = mtfl.randn(3, 10), pose = mtfl.randn(3, 5), glasses = mtfl.randn(3, 2)}
  local targets = {landmarks = mtfl.randn(3, 10), pose = mtfl.tensor({2, 3, 5}), glasses = mtfl.tensor({1, 2, 2})}
  local total, losses = criterion:forward(outputs, targets)
  T.near(total, losses.landmarks + 6 * losses.pose + 3 * losses.glasses, 1e-6, "L = L_lm + 6 L_pose + 3 L_glasses")
  local grads = criterion:backward(outputs, targets)
  for _, task in ipairs({"landmarks", "pose", "glasses"}) do
    local numeric = C.numeric_gradient(outputs[task], function() return (criterion:forward(outputs, targets)) end, EPS)
    C.compare("MultiTask " .. task, numeric, C.values(grads[task]), TOL)
  end
  criterion:set_weight("glasses", 0)
  T.eq(criterion:weight("glasses"), 0, "weight(task)")
  local total0, losses0 = criterion:forward(outputs, targets)
  T.near(losses0.glasses, losses.glasses, 1e-6, "a stopped task still reports its loss")
  T.near(total0, losses.landmarks + 6 * losses.pose, 1e-6, "but does not count")
  T.eq(criterion:backward(outputs, targets).glasses, nil, "and gets no gradient")
end)

T.test("Heads + MultiTask through a shared trunk", function()
  local model = nn.Sequential{nn.Linear(6, 5), nn.Tanh()}
    :add(nn.Heads{landmarks = nn.Linear(5, 4), pose = nn.Linear(5, 3)}, "heads")
  local criterion = nn.MultiTask{landmarks = {nn.LandmarkLoss{variant = "euclidean"}, 1},
                                 pose = {nn.CrossEntropy(), 6}}
  local x = mtfl.randn(3, 6)
  local targets = {landmarks = mtfl.randn(3, 4), pose = mtfl.tensor({1, 3, 2})}
  local loss = function() return (criterion:forward(model:forward(x), targets)) end
  model:zeroGrad()
  local out = model:forward(x)
  model:backward(x, criterion:backward(out, targets))
  C.compare("trunk input", C.numeric_gradient(x, loss, EPS), C.values(model.gradInput), TOL)
  local params, grads = model:parameters()
  for i, name in ipairs(parameter_names(model)) do
    C.compare(name, C.numeric_gradient(params[i], loss, EPS), C.values(grads[i]), TOL)
  end
end)

T.test("LeakyReLU, PReLU (per channel and shared), AbsTanh", function()
  check_module("LeakyReLU(0.01)", nn.LeakyReLU(), C.away_from_zero({3, 7}))
  check_module("LeakyReLU(-0.5)", nn.LeakyReLU(-0.5), C.away_from_zero({3, 7}))
  local prelu = nn.PReLU(3)
  prelu.weight:copy(mtfl.tensor({0.1, -0.2, 0.6}))   -- distinct slopes, one negative
  check_module("PReLU(3 channels)", prelu, C.away_from_zero({2, 3, 4, 5}))
  check_module("PReLU(3 channels) on [N, C]", prelu, C.away_from_zero({4, 3}))
  check_module("PReLU(shared)", nn.PReLU(1, 0.4), C.away_from_zero({2, 3, 4}))
  check_module("AbsTanh", nn.AbsTanh(), C.away_from_zero({4, 6}))
end)

T.test("Residual: identity and convolution shortcuts", function()
  check_module("Residual(Linear, Tanh)", nn.Residual(nn.Sequential{nn.Linear(5, 5), nn.Tanh()}), mtfl.randn(3, 5))
  check_module("Residual(conv body, 1x1 conv shortcut)",
               nn.Residual(nn.Sequential{nn.Conv2d(2, 3, 3, {padding = "same"}), nn.Tanh()},
                           nn.Conv2d(2, 3, 1)),
               mtfl.randn(2, 2, 5, 5), {eps = 1e-3})
end)

T.test("Concat: along features and along channels, branches of different widths", function()
  check_module("Concat(dim 2) of Linear branches",
               nn.Concat(2, {nn.Linear(4, 3), nn.Sequential{nn.Linear(4, 2), nn.Tanh()}, nn.AbsTanh()}),
               C.away_from_zero({3, 4}))
  check_module("Concat(dim 2) of convolutions",
               nn.Concat(2, {nn.Conv2d(2, 3, 3, {padding = "same"}), nn.Conv2d(2, 1, 1)}),
               mtfl.randn(2, 2, 4, 4), {eps = 1e-3})
  check_module("Concat(dim 3) in a Residual",
               nn.Residual(nn.Concat(3, {nn.Linear(4, 3), nn.Linear(4, 1)})), mtfl.randn(2, 3, 4))
end)

T.run_all()
