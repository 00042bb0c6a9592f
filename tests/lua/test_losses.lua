-- The landmark losses of nn.LandmarkLoss{kind = ...} (mtfl.landmark_loss, one C op):
-- values against a direct Lua computation in double precision, gradients against
-- central finite differences, the inter-ocular normalisation in both layouts, the
-- default least squares unchanged, every device against the CPU, and errors.
-- Finite differences: EPS = 1e-2 on differences kept >= 0.1 from every kink (0, beta,
-- w), TOL 1e-2 as in test_nn_gradients.lua. Values: 1e-5 relative (float32 terms
-- summed in double).
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local T = require "harness"
local C = require "nn_check"

local EPS, TOL, VALUE_TOL, DEVICE_TOL = 1e-2, 1e-2, 1e-5, 1e-5

mtfl.set_device("cpu")
mtfl.manual_seed(11)
math.randomseed(11)

local N, D = 5, 10

-- Differences from +-0.1 to +-14, none within 0.1 of 0, beta (1) or w (10).
local function differences()
  local v = {}
  for i = 1, N * D do
    local d
    repeat d = 0.1 + math.random() * 13.9 until math.abs(d - 1) > 0.1 and math.abs(d - 10) > 0.1
    v[i] = d * (math.random() < 0.5 and -1 or 1)
  end
  return v
end

-- Faces of different sizes: eyes 20..80 reference pixels apart, in the dataset's order
-- (x1..x5, y1..y5) or interleaved (x1 y1 x2 y2 ...).
local function faces(layout)
  local v = {}
  for n = 0, N - 1 do
    local row = {}
    for k = 1, D do row[k] = 40 + math.random() * 70 end
    local iod = 20 + 15 * n
    if layout == "mtfl" then
      row[1], row[2], row[6], row[7] = 50, 50 + iod * 0.8, 60, 60 + iod * 0.6
    else
      row[1], row[3], row[2], row[4] = 50, 50 + iod * 0.8, 60, 60 + iod * 0.6
    end
    for k = 1, D do v[n * D + k] = row[k] end
  end
  return v
end

local function penalty(kind, d, o)
  local a = math.abs(d)
  if kind == "l2" then return d * d / 2 end
  if kind == "l1" then return a end
  if kind == "smooth_l1" then
    local beta = o.beta or 1
    return a < beta and d * d / (2 * beta) or a - beta / 2
  end
  local w, eps = o.w or 10, o.epsilon or 2
  return a < w and w * math.log(1 + a / eps) or a - (w - w * math.log(1 + w / eps))
end

-- 1/N sum_n weight_n sum_k f(d_nk), weight = 1 / |eye1 - eye2| with normalize.
local function expected(options, pv, yv, layout)
  local total = 0
  for n = 0, N - 1 do
    local weight = 1
    if options.normalize then
      local r = n * D
      local dx, dy
      if layout == "mtfl" then dx, dy = yv[r + 1] - yv[r + 2], yv[r + 6] - yv[r + 7]
      else dx, dy = yv[r + 1] - yv[r + 3], yv[r + 2] - yv[r + 4] end
      weight = 1 / math.sqrt(dx * dx + dy * dy)
    end
    local sum = 0
    for k = 1, D do sum = sum + penalty(options.kind, pv[n * D + k] - yv[n * D + k], options) end
    total = total + weight * sum
  end
  return total / N
end

local CASES = {
  {kind = "l2", normalize = "iod"},
  {kind = "l1"}, {kind = "l1", normalize = "iod"},
  {kind = "smooth_l1"}, {kind = "smooth_l1", beta = 2.5, normalize = "iod"},
  {kind = "wing"}, {kind = "wing", w = 5, epsilon = 0.5, normalize = "iod"},
}

local function inputs(layout)
  local yv, dv = faces(layout), differences()
  local pv = {}
  for i = 1, #yv do pv[i] = yv[i] + dv[i] end
  return C.tensor(pv, {N, D}), C.tensor(yv, {N, D})
end

T.test("each kind's loss is its formula, with and without the inter-ocular weights, both layouts", function()
  for _, layout in ipairs({"mtfl", "interleaved"}) do
    local f, y = inputs(layout)
    local pv, yv = C.values(f), C.values(y)
    for _, case in ipairs(CASES) do
      local options = {layout = layout}
      for k, v in pairs(case) do options[k] = v end
      local criterion = nn.LandmarkLoss(options)
      T.near(criterion:forward(f, y), expected(case, pv, yv, layout), VALUE_TOL, criterion:describe() .. " " .. layout)
    end
  end
end)

T.test("each kind's gradient matches central differences", function()
  for _, layout in ipairs({"mtfl", "interleaved"}) do
    local f, y = inputs(layout)
    for _, case in ipairs(CASES) do
      local options = {layout = layout}
      for k, v in pairs(case) do options[k] = v end
      local criterion = nn.LandmarkLoss(options)
      criterion:forward(f, y)
      local analytic = C.values(criterion:backward(f, y))
      local numeric = C.numeric_gradient(f, function() return criterion:forward(f, y) end, EPS)
      C.compare(criterion:describe() .. " " .. layout, numeric, analytic, TOL)
    end
  end
end)

T.test("the gradient comes with the loss and is handed out once; a new input is computed afresh", function()
  local f, y = inputs("mtfl")
  local criterion = nn.LandmarkLoss{kind = "wing"}
  criterion:forward(f, y)
  local first = criterion:backward(f, y)
  first:mul_(0)   -- the caller may scale it in place
  local again = criterion:backward(f, y)
  T.truthy(again:abs():max() > 0, "the second backward computes its own gradient")
  local g2 = f:clone()
  local fresh = criterion:backward(g2, y)
  T.eq(mtfl.max_abs_diff(fresh, again), 0, "the same values for an equal input")
end)

T.test("the default is the seed's least squares, unchanged; kind l2 without weights is the same loss", function()
  local f, y = mtfl.randn(6, 10), mtfl.randn(6, 10)
  local d = f - y
  local want = d:pow(2):reshape(60):sum(1):mul_(1 / 12):item()
  T.eq(nn.LandmarkLoss():forward(f, y), want, "LandmarkLoss() bit for bit")
  T.eq(nn.LandmarkLoss():describe(), "LandmarkLoss(least_squares)", "its name")
  T.eq(nn.LandmarkLoss{kind = "l2"}:forward(f, y), want, "kind l2 takes the same path")
  T.eq(mtfl.max_abs_diff(nn.LandmarkLoss():backward(f, y), d:mul(1 / 6)), 0, "gradient (f - y) / N")
  -- the fused op's l2 agrees with it within rounding
  local fused = nn.LandmarkLoss{kind = "l2", normalize = "iod"}
  T.truthy(fused.fused and not nn.LandmarkLoss{kind = "l2"}.fused, "only weights send l2 through the C op")
end)

T.test("inter-ocular normalisation: a face scaled up k times has the same l1 loss", function()
  local f, y = inputs("mtfl")
  local small = nn.LandmarkLoss{kind = "l1", normalize = "iod"}:forward(f, y)
  local large = nn.LandmarkLoss{kind = "l1", normalize = "iod"}:forward(f:mul(3), y:mul(3))
  T.near(large, small, 1e-5, "scale-free")
  local plain_small = nn.LandmarkLoss{kind = "l1"}:forward(f, y)
  local plain_large = nn.LandmarkLoss{kind = "l1"}:forward(f:mul(3), y:mul(3))
  T.near(plain_large, 3 * plain_small, 1e-5, "without it the loss grows with the face")
  -- coinciding eyes keep the weight finite
  local zero = mtfl.zeros(2, 10)
  T.eq(nn.LandmarkLoss{kind = "wing", normalize = "iod"}:forward(zero, zero), 0, "no error, no NaN")
end)

T.test("every device agrees with the CPU, loss and gradient", function()
  for _, id in ipairs(T.devices()) do
    if id ~= "cpu" then
      for _, layout in ipairs({"mtfl", "interleaved"}) do
        local f, y = inputs(layout)
        for _, case in ipairs(CASES) do
          local options = {layout = layout}
          for k, v in pairs(case) do options[k] = v end
          local cpu, dev = nn.LandmarkLoss(options), nn.LandmarkLoss(options)
          local what = cpu:describe() .. " " .. layout .. " on " .. id
          T.near(dev:forward(f:to(id), y:to(id)), cpu:forward(f, y), DEVICE_TOL, what .. ": loss")
          local rel = C.relative_difference(dev:backward(f:to(id), y:to(id)), cpu:backward(f, y))
          T.truthy(rel <= DEVICE_TOL, string.format("%s: gradient differs by %.2e", what, rel))
        end
        -- targets on the CPU are moved to the prediction's device
        local c = nn.LandmarkLoss{kind = "wing", normalize = "iod", layout = layout}
        T.near(c:forward(f:to(id), y), c:forward(f, y), DEVICE_TOL, "CPU targets, device predictions")
        local dev_loss, none = mtfl.landmark_loss(f:to(id), y:to(id), {kind = "smooth_l1", grad = false})
        T.eq(none, nil, id .. ": no gradient asked, none made")
        T.truthy(C.relative_difference(dev_loss, mtfl.landmark_loss(f, y, {kind = "smooth_l1"})) <= DEVICE_TOL,
                 id .. ": the losses without a gradient")
      end
    end
  end
end)

T.test("bad options and wrong shapes are errors naming the loss", function()
  T.raises(function() nn.LandmarkLoss{kind = "huber"} end, "LandmarkLoss: kind \"huber\"")
  T.raises(function() nn.LandmarkLoss{kind = "wing", w = 0} end, "LandmarkLoss: w must be a positive number, got 0")
  T.raises(function() nn.LandmarkLoss{kind = "wing", epsilon = -1} end, "epsilon must be a positive number")
  T.raises(function() nn.LandmarkLoss{kind = "smooth_l1", beta = 0 / 0} end, "beta must be a positive number")
  T.raises(function() nn.LandmarkLoss{kind = "l1", variant = "euclidean"} end, "either variant or kind")
  T.raises(function() nn.LandmarkLoss{variant = "euclidean", normalize = "iod"} end, "normalize needs a kind")
  T.raises(function() nn.LandmarkLoss{kind = "l1", normalize = "bbox"} end, "normalize \"bbox\"")
  local wing = nn.LandmarkLoss{kind = "wing"}
  T.raises(function() wing:forward(mtfl.zeros(4, 10), mtfl.zeros(4, 8)) end,
           "LandmarkLoss(wing, w 10, epsilon 2): prediction [4x10] and target [4x8] differ in shape")
  T.raises(function() wing:forward(mtfl.zeros(4, 9), mtfl.zeros(4, 9)) end, "odd number of coordinates")
  T.raises(function() wing:forward(mtfl.zeros(40), mtfl.zeros(40)) end, "input [40] is not [N x 2K]")
  T.raises(function() nn.LandmarkLoss{kind = "l1", normalize = "iod"}:forward(mtfl.zeros(4, 2), mtfl.zeros(4, 2)) end,
           "fewer than two points")
  -- the C op itself checks its arguments; without a gradient it gives the same losses
  local f, y = inputs("mtfl")
  local per_face, none = mtfl.landmark_loss(f, y, {kind = "wing", grad = false})
  local with_grad = mtfl.landmark_loss(f, y, {kind = "wing"})
  T.eq(none, nil, "grad = false: no gradient")
  T.eq(mtfl.max_abs_diff(per_face, with_grad), 0, "the same per-face losses")
  T.raises(function() mtfl.landmark_loss(f, y, {kind = "wing", weight = 5}) end,
           "landmark_loss: weight must be a [N] tensor, got a number")
  T.raises(function() mtfl.landmark_loss(mtfl.zeros(4, 10), mtfl.zeros(4, 10), {kind = "wing", weight = mtfl.ones(3)}) end,
           "landmark_loss: face weights is [3], should be [4]")
  T.raises(function() mtfl.landmark_loss(mtfl.zeros(4, 10), mtfl.zeros(4, 10), {kind = "cosh"}) end, "cosh")
  T.raises(function() mtfl.landmark_loss(mtfl.zeros(4, 10), mtfl.zeros(4, 10), {kind = "wing", w = -2}) end,
           "wing needs w > 0")
end)

T.test("a multi-task criterion reads the fused loss with the others in one transfer", function()
  local f, y = inputs("mtfl")
  local logits, labels = mtfl.randn(N, 3), mtfl.tensor({1, 2, 3, 1, 2})
  local mt = nn.MultiTask{landmarks = {nn.LandmarkLoss{kind = "wing", normalize = "iod"}, 1}, pose = {nn.CrossEntropy(), 6}}
  local total, losses = mt:forward({landmarks = f, pose = logits}, {landmarks = y, pose = labels})
  T.near(losses.landmarks, nn.LandmarkLoss{kind = "wing", normalize = "iod"}:forward(f, y), 1e-6, "the landmark loss")
  T.near(total, losses.landmarks + 6 * losses.pose, 1e-6, "the weighted sum")
  local grads = mt:backward({landmarks = f, pose = logits}, {landmarks = y, pose = labels})
  T.eq(grads.landmarks:size(2), 10, "a gradient for the landmark head")
end)

T.run_all()
