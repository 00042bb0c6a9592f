-- Tensors from Lua: construction, views, arithmetic, reductions and matmul, checked
-- on the CPU against hand-computed values and on every OpenCL device against the CPU.
local mtfl = require "mtfl"
local T = require "harness"

local function flat(t)
  local out = {}
  local v = t:contiguous():reshape(t:numel()):totable()
  for i = 1, #v do out[i] = v[i] end
  return out
end

local function same_values(a, b, tol, what)
  local x, y = flat(a), flat(b)
  T.eq(#x, #y, what .. " element count")
  for i = 1, #x do
    if math.abs(x[i] - y[i]) > tol * math.max(1, math.abs(y[i])) then
      error(string.format("%s: element %d is %.9g, want %.9g", what, i, x[i], y[i]), 2)
    end
  end
end

T.test("tables in and out", function()
  local t = mtfl.tensor({{1, 2, 3}, {4, 5, 6}}, {device = "cpu"})
  T.eq(t:dim(), 2, "dim")
  T.eq(t:size(1), 2, "size 1")
  T.eq(t:size(-1), 3, "size -1")
  T.eq(#t, 2, "#t")
  T.eq(t:numel(), 6, "numel")
  T.eq(t[2][3], 6, "t[2][3]")
  local back = t:totable()
  T.eq(back[2][1], 4, "totable")
  T.eq(mtfl.tensor(3.5):item(), 3.5, "0-d tensor")
  T.eq(mtfl.tensor({}):numel(), 0, "empty tensor")
end)

T.test("printing shows shape, device and values", function()
  local s = tostring(mtfl.tensor({{1, 2}, {3, 4}}, {device = "cpu"}))
  T.truthy(s:find("mtfl.Tensor [2x2] on cpu", 1, true), "header in " .. s)
  T.truthy(s:find("3%s+4"), "values in " .. s)
  local big = tostring(mtfl.zeros(50, 60, {device = "cpu"}))
  T.truthy(big:find("...", 1, true), "long tensors are summarised")
end)

T.test("views share storage", function()
  local t = mtfl.arange(24, {device = "cpu"}):reshape(2, 3, 4)
  local v = t:transpose(1, 3):narrow(2, 2, 2)       -- [4, 2, 2]
  T.eq(v:is_contiguous(), false, "transposed view is strided")
  v:fill(-1)
  T.eq(t[1][2][1], -1, "write through the view")
  T.eq(t[1][1][1], 0, "outside the view untouched")
  local s = t:select(2, 1)                           -- [2, 4]
  T.eq(s[2][4], 15, "select")
  T.eq(t:reshape(-1, 4):size(1), 6, "reshape infers -1")
  T.eq(t:t():size(2), 4, "t() swaps the last two dims")
  t[2] = 7
  T.eq(t[2][3][4], 7, "t[i] = number fills a row")
end)

T.test("arithmetic with scalars and tensors", function()
  local a = mtfl.tensor({1, 2, 4}, {device = "cpu"})
  local b = mtfl.tensor({2, 2, 2}, {device = "cpu"})
  same_values(a + b, mtfl.tensor({3, 4, 6}), 0, "a + b")
  same_values(a - 1, mtfl.tensor({0, 1, 3}), 0, "a - 1")
  same_values(1 - a, mtfl.tensor({0, -1, -3}), 0, "1 - a")
  same_values(a * 3, mtfl.tensor({3, 6, 12}), 0, "a * 3")
  same_values(8 / a, mtfl.tensor({8, 4, 2}), 0, "8 / a")
  same_values(a / b, mtfl.tensor({0.5, 1, 2}), 0, "a / b")
  same_values(a ^ 2, mtfl.tensor({1, 4, 16}), 1e-6, "a ^ 2")
  same_values(2 ^ a, mtfl.tensor({2, 4, 16}), 1e-6, "2 ^ a")
  same_values(-a, mtfl.tensor({-1, -2, -4}), 0, "-a")
  same_values(a:log():exp(), a, 1e-6, "exp(log(a))")
  same_values(a:sqrt(), mtfl.tensor({1, math.sqrt(2), 2}), 1e-6, "sqrt")
  same_values((a - 2):relu(), mtfl.tensor({0, 0, 2}), 0, "relu")
  same_values(a:clamp(1.5, 3), mtfl.tensor({1.5, 2, 3}), 0, "clamp")
  same_values(a:maximum(b), mtfl.tensor({2, 2, 4}), 0, "maximum")
  same_values(a:minimum(3), mtfl.tensor({1, 2, 3}), 0, "minimum with scalar")
  local y = a:clone():axpy(0.5, b)
  same_values(y, mtfl.tensor({2, 3, 5}), 0, "axpy")
  local z = a:clone()
  z:mul_(2):add_(1)
  same_values(z, mtfl.tensor({3, 5, 9}), 0, "in-place chain")
  same_values(a, mtfl.tensor({1, 2, 4}), 0, "non-in-place ops leave a alone")
end)

T.test("reductions", function()
  local t = mtfl.tensor({{1, 5, 3}, {4, 2, 6}}, {device = "cpu"})
  T.eq(t:sum(), 21, "sum")
  T.eq(t:mean(), 3.5, "mean")
  T.eq(t:max(), 6, "max")
  T.eq(t:min(), 1, "min")
  T.eq(t:argmax(), 6, "argmax (flat, 1-based)")
  T.eq(t:argmin(), 1, "argmin")
  same_values(t:sum(1), mtfl.tensor({5, 7, 9}), 0, "sum over dim 1")
  same_values(t:max(2), mtfl.tensor({5, 6}), 0, "max over dim 2")
  same_values(t:argmax(2), mtfl.tensor({2, 3}), 0, "argmax over dim 2 (1-based)")
  T.eq(t:sum(2, true):dim(), 2, "keepdim")
end)

T.test("matmul", function()
  local a = mtfl.tensor({{1, 2}, {3, 4}, {5, 6}}, {device = "cpu"})
  local b = mtfl.tensor({{1, 0, 2}, {0, 1, 3}}, {device = "cpu"})
  same_values(mtfl.matmul(a, b), mtfl.tensor({{1, 2, 8}, {3, 4, 18}, {5, 6, 28}}), 0, "a b")
  same_values(a:matmul(a, {ta = true}), mtfl.tensor({{35, 44}, {44, 56}}), 0, "a' a")
  same_values(mtfl.matmul(a:t(), a), mtfl.tensor({{35, 44}, {44, 56}}), 0, "a:t() a")
  local batch = mtfl.arange(12, {device = "cpu"}):reshape(3, 2, 2)
  local r = mtfl.matmul(batch, mtfl.tensor({{1, 0}, {0, 1}}))
  same_values(r, batch, 0, "batched times a shared identity")
  local c = mtfl.ones(3, 3, {device = "cpu"})
  mtfl.matmul(a, b, {out = c, alpha = 2, beta = 1})
  same_values(c, mtfl.tensor({{3, 5, 17}, {7, 9, 37}, {11, 13, 57}}), 0, "alpha, beta, out")
end)

T.test("seeded random numbers repeat and match across devices", function()
  mtfl.manual_seed(123)
  local a = mtfl.rand(1000, {device = "cpu"})
  mtfl.manual_seed(123)
  local b = mtfl.rand(1000, {device = "cpu"})
  same_values(a, b, 0, "same seed")
  T.truthy(a:min() >= 0 and a:max() < 1, "rand in [0, 1)")
  for _, id in ipairs(T.devices()) do
    mtfl.manual_seed(99)
    local u = mtfl.rand(5000, {device = id})
    local n = mtfl.randn(5000, {device = id})
    mtfl.manual_seed(99)
    same_values(u, mtfl.rand(5000, {device = "cpu"}), 0, "rand on " .. id)
    same_values(n, mtfl.randn(5000, {device = "cpu"}), 1e-5, "randn on " .. id)
  end
  local seed, counter = mtfl.rng_state()
  local next1 = mtfl.rand(10, {device = "cpu"})
  mtfl.set_rng_state(seed, counter)
  same_values(mtfl.rand(10, {device = "cpu"}), next1, 0, "rng_state resumes the stream")
end)

T.test("every op agrees between OpenCL and the CPU", function()
  mtfl.manual_seed(5)
  local x = mtfl.rand(64, 129, {device = "cpu"}):add_(0.5)
  local y = mtfl.rand(64, 129, {device = "cpu"}):add_(0.5)
  local w = mtfl.randn(129, 33, {device = "cpu"})
  local function ops(a, b, m)
    return {
      a + b, a - b, a * b, a / b, a ^ b, a:exp(), a:log(), a:sqrt(), a:tanh(), a:sigmoid(),
      (a - 1):relu(), a:clamp(0.7, 1.2), a:t():contiguous(), a:narrow(2, 3, 50) * 2,
      a:sum(1), a:mean(2), a:max(1), a:min(2), a:argmax(2), a:argmin(1),
      mtfl.matmul(a, m), mtfl.matmul(a, a, {tb = true}), a:clone():axpy(-2, b),
      mtfl.tensor(a:sum(), {device = a:device()}), mtfl.tensor(a:argmax(), {device = a:device()}),
    }
  end
  local want = ops(x, y, w)
  for _, id in ipairs(T.devices()) do
    if id ~= "cpu" then
      local got = ops(x:to(id), y:to(id), w:to(id))
      for i = 1, #want do
        T.eq(got[i]:device(), id, "result device")
        same_values(got[i], want[i], (i == 21 or i == 22) and 1e-4 or 1e-5, "op " .. i .. " on " .. id)
      end
    end
  end
end)

T.test("uint8 images round trip", function()
  local bytes = {}
  for i = 1, 4 * 5 * 3 do bytes[i] = string.char((i * 37) % 256) end
  bytes = table.concat(bytes)
  for _, id in ipairs(T.devices()) do
    local img = mtfl.from_bytes(bytes, 4, 5, 3, {device = id})
    T.eq(img:shape_string(), "3x4x5", "CHW shape")
    T.near(img[1][1][1], bytes:byte(1) / 255, 1e-6, "first pixel scaled")
    local back, h, w, c = img:to_bytes()
    T.eq(back, bytes, "round trip on " .. id)
    T.eq(h * 100 + w * 10 + c, 453, "dimensions")
    local hwc = mtfl.from_bytes(bytes, 4, 5, 3, {layout = "hwc", scale = 1, device = id})
    T.eq(hwc[1][1][2], bytes:byte(2), "HWC layout, scale 1")
  end
end)

T.test("free and to-be-closed variables release at once", function()
  local before = mtfl.memory("cpu").in_use
  do
    local t <close> = mtfl.zeros(1000, 1000, {device = "cpu"})
    T.eq(mtfl.memory("cpu").in_use, before + 4e6, "allocated")
  end
  T.eq(mtfl.memory("cpu").in_use, before, "released by __close")
  local t = mtfl.zeros(1000, {device = "cpu"})
  t:free()
  T.eq(mtfl.memory("cpu").in_use, before, "released by free()")
end)

-- A NaN in an input or a weight must show in what comes out (IEEE and PyTorch): a ReLU,
-- a max pool or a max that turned it into a plausible number hid a broken model.
T.test("NaN propagates through relu, max pooling, max/min, clamp and maximum on every device", function()
  local nn = require "mtfl.nn"
  local nan = 0 / 0
  local function is_nan(x) return x ~= x end
  for _, dev in ipairs(T.devices()) do
    local t = mtfl.tensor({1, nan, 3, -2}, {device = dev})
    local r = flat(t:relu())
    T.truthy(r[1] == 1 and is_nan(r[2]) and r[3] == 3 and r[4] == 0, dev .. ": relu keeps NaN, zeroes -2")
    T.truthy(is_nan(t:max()) and is_nan(t:min()), dev .. ": max and min of a tensor with a NaN")
    T.eq(t:argmax(), 2, dev .. ": argmax points at the NaN")
    T.eq(t:argmin(), 2, dev .. ": argmin points at the NaN")
    T.eq(mtfl.tensor({nan, 5, nan}, {device = dev}):argmax(), 1, dev .. ": the first NaN")
    local all = mtfl.tensor({nan, nan, nan}, {device = dev})
    T.truthy(is_nan(all:max()) and is_nan(all:min()), dev .. ": an all-NaN tensor's max is NaN, not -inf")
    -- long enough for the CPU's parallel parts, NaN in the last part
    local long = mtfl.arange(0, 100000, {device = dev})
    long:narrow(1, 99990, 1):fill(nan)
    T.truthy(is_nan(long:max()) and is_nan(long:min()), dev .. ": a long tensor's max and min")
    T.eq(long:argmax(), 99990, dev .. ": a long tensor's argmax")
    local m = mtfl.tensor({{1, 2, 3}, {4, nan, 0}}, {device = dev})
    local rows = flat(m:max(2))
    T.truthy(rows[1] == 3 and is_nan(rows[2]), dev .. ": max along a dimension")
    T.eq(flat(m:argmax(2))[2], 2, dev .. ": argmax along a dimension")
    local cols = flat(m:min(1))
    T.truthy(cols[1] == 1 and is_nan(cols[2]) and cols[3] == 0, dev .. ": min along the other")
    local c = flat(t:clamp(0, 2))
    T.truthy(c[1] == 1 and is_nan(c[2]) and c[3] == 2 and c[4] == 0, dev .. ": clamp keeps NaN")
    local zero = mtfl.zeros(4, {device = dev})
    T.truthy(is_nan(flat(t:maximum(zero))[2]) and is_nan(flat(zero:minimum(t))[2]) and is_nan(flat(t:maximum(0))[2]),
             dev .. ": maximum and minimum of two tensors")
    -- every place in a window: the 2x2 fast path and the general 3x3 one
    for _, k in ipairs{2, 3} do
      for at = 1, k * k do
        local x = mtfl.arange(1, k * k + 1, {device = "cpu"})
        x:narrow(1, at, 1):fill(nan)
        local y = nn.MaxPool2d(k):forward(x:reshape(1, 1, k, k):to(dev))
        T.truthy(is_nan(y:item()), string.format("%s: %dx%d max pool with NaN at %d", dev, k, k, at))
      end
    end
    local leaky = flat(nn.LeakyReLU(0.1):forward(mtfl.tensor({nan, -1}, {device = dev})))
    T.truthy(is_nan(leaky[1]), dev .. ": leaky relu keeps NaN")
  end
end)

T.test("argmax and argmin give Lua integers: a number for the whole tensor, an index tensor per dimension", function()
  local i = mtfl.tensor({1, 5, 2}, {device = "cpu"}):argmax()
  T.eq(i, 2, "argmax")
  T.eq(math.type(i), "integer", "argmax is an integer")
  T.eq(math.type(mtfl.tensor({3, 1, 2}):argmin()), "integer", "argmin is an integer")
  for _, id in ipairs(T.devices()) do
    local t = mtfl.tensor({{1, 5, 3}, {4, 2, 6}}, {device = id})
    local rows = t:argmax(2)
    T.eq(rows[1], 2, "row 1's maximum on " .. id)
    T.eq(math.type(rows[1]), "integer", "indexing an index tensor on " .. id)
    T.eq(math.type(rows:narrow(1, 2, 1):item()), "integer", "item() of a view of it")
    local list = rows:tolist()
    T.eq(list[1] == 2 and list[2] == 3, true, "tolist")
    T.eq(math.type(list[2]), "integer", "tolist gives integers")
    T.eq(math.type(t:argmin(1, true):totable()[1][3]), "integer", "keepdim, totable, nested")
    T.eq(math.type(rows:to("cpu"):clone()[2]), "integer", "copies keep the mark")
    T.eq(math.type(mtfl.stack({rows, rows})[1][1]), "integer", "joined index tensors keep it")
    -- arithmetic makes ordinary values again; a float tensor's values stay floats
    T.eq(math.type((rows + 0.5)[1]), "float", "arithmetic drops the mark")
    T.eq(math.type(t:max(2)[1]), "float", "a max is a float")
    T.eq(math.type(mtfl.cat({rows, rows + 0})[1]), "float", "joined with a plain tensor: floats")
  end
  T.truthy(tostring(mtfl.tensor({{1, 5}, {4, 2}}):argmax(2)):find("^%s+2%s+1\n"), "prints as integers")
end)

T.test("cat and stack: every dimension, views, negative dims, on every device", function()
  for _, id in ipairs(T.devices()) do
    local a = mtfl.tensor({{1, 2, 3}, {4, 5, 6}}, {device = id})
    local b = mtfl.tensor({{7, 8, 9}}, {device = id})
    same_values(mtfl.cat({a, b}), mtfl.tensor({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}), 0, "cat dim 1 on " .. id)
    same_values(mtfl.cat({a, a:narrow(2, 2, 2)}, 2), mtfl.tensor({{1, 2, 3, 2, 3}, {4, 5, 6, 5, 6}}), 0,
                "cat dim 2 with a view on " .. id)
    same_values(mtfl.cat({a:t(), b:t()}, -1), mtfl.tensor({{1, 4, 7}, {2, 5, 8}, {3, 6, 9}}), 0,
                "cat of transposed views along the last dim on " .. id)
    same_values(mtfl.stack({a, a * 10}), mtfl.tensor({{{1, 2, 3}, {4, 5, 6}}, {{10, 20, 30}, {40, 50, 60}}}), 0,
                "stack dim 1 on " .. id)
    same_values(mtfl.stack({a, a * 10}, 3), mtfl.tensor({{{1, 10}, {2, 20}, {3, 30}}, {{4, 40}, {5, 50}, {6, 60}}}), 0,
                "stack dim 3 on " .. id)
    same_values(mtfl.stack({b:select(1, 1), b:select(1, 1)}, -1), mtfl.tensor({{7, 7}, {8, 8}, {9, 9}}), 0,
                "stack along a new last dim on " .. id)
    T.eq(mtfl.cat({a}):device(), id, "result on the inputs' device")
    if id ~= "cpu" then
      -- one strided copy per input, whatever the rank
      local parts = {mtfl.randn(4, 3, 5, 5, {device = id}), mtfl.randn(4, 1, 5, 5, {device = id}),
                     mtfl.randn(4, 2, 5, 5, {device = id})}
      local before = mtfl.stats(id).launches
      local joined = mtfl.cat(parts, 2)
      T.eq(mtfl.stats(id).launches - before, 3, "cat of three along channels: launches on " .. id)
      same_values(joined:narrow(2, 4, 1), parts[2], 0, "the second part in its place on " .. id)
    end
    T.eq(mtfl.cat({a, mtfl.zeros(0, 3, {device = id})}):size(1), 2, "an empty part adds nothing")
  end
  local a, b = mtfl.zeros(2, 3), mtfl.zeros(2, 4)
  T.raises(function() mtfl.cat({a, b}) end, "cat: tensor 2 [2x4] does not match tensor 1 [2x3]",
           "except along dimension 1")
  T.raises(function() mtfl.cat({a, a, mtfl.zeros(3)}, 2) end, "cat: tensor 3 [3]")
  T.raises(function() mtfl.stack({a, b}) end, "stack: tensor 2 [2x4] does not match tensor 1 [2x3]")
  T.raises(function() mtfl.cat({}) end, "cat: expects a list of tensors, got an empty one")
  T.raises(function() mtfl.stack({}) end, "stack: expects a list of tensors, got an empty one")
  T.raises(function() mtfl.cat({a, "x"}) end, "cat: entry 2 is a string, not a tensor")
  T.raises(function() mtfl.cat({a, a}, 3) end, "cat: dimension 3 out of range for tensor 1 [2x3]")
  T.raises(function() mtfl.cat({a, a}, 0) end, "cat: dimension 0 out of range")
  T.raises(function() mtfl.stack({a, a}, 4) end, "stack: dimension 4 out of range")
  T.raises(function() mtfl.cat(a) end, "table expected")
  for _, id in ipairs(T.devices()) do
    if id ~= "cpu" then
      T.raises(function() mtfl.cat({a, a:to(id)}) end, "cat: tensor 2 [2x3] is on " .. id, "tensor 1 [2x3] on cpu")
    end
  end
end)

T.run_all()
