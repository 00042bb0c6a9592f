-- The layers and containers added after the seed's: LeakyReLU, PReLU, AbsTanh,
-- Residual and Concat. Their API on the CPU: rebuilding from arguments() (and, for
-- containers, from_parts), in-place use, what containers pass on to their children,
-- and the errors for bad arguments and shapes. Gradients are checked in
-- test_nn_gradients.lua, devices in test_nn_devices.lua.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local json = require "mtfl.json"
local T = require "harness"

mtfl.set_device("cpu")
mtfl.manual_seed(11)

local function shapes_of(module)
  local out = {}
  for name, t in pairs(module:state_dict()) do out[name] = table.concat(t:size(), "x") end
  return out
end

local function same_structure(a, b, what)
  T.eq(b._class_name, a._class_name, what .. ": class")
  T.eq(b:describe(), a:describe(), what .. ": describe")
  T.eq(tostring(b), tostring(a), what .. ": tree")
  local sa, sb = shapes_of(a), shapes_of(b)
  for name, s in pairs(sa) do T.eq(sb[name], s, what .. ": parameter " .. name) end
  for name in pairs(sb) do T.truthy(sa[name], what .. ": no extra parameter " .. name) end
end

-- What the model file does: arguments through JSON, children rebuilt first. Modules
-- that do not describe themselves yet (the older layers, on this branch) are cloned.
local function rebuild(module)
  if not module.arguments then return module:clone() end
  local cls = nn[module._class_name]
  T.truthy(cls, module._class_name .. " is exported by mtfl.nn")
  local args = json.decode(json.encode(module:arguments()))
  local children, names = module:children()
  if #children == 0 then return cls(table.unpack(args)) end
  local rebuilt = {}
  for i, child in ipairs(children) do rebuilt[i] = rebuild(child) end
  return cls.from_parts(args, rebuilt, names)
end

T.test("arguments() and from_parts rebuild every new module with the same structure", function()
  local cases = {
    nn.LeakyReLU(), nn.LeakyReLU(0.2, true), nn.LeakyReLU(-0.5), nn.PReLU(), nn.PReLU(4, 0.1),
    nn.AbsTanh(),
    nn.Residual(nn.Sequential{nn.Conv2d(3, 4, 3, {padding = "same"}), nn.PReLU(4)}, nn.Conv2d(3, 4, 1)),
    nn.Residual(nn.Sequential{nn.Linear(4, 4), nn.LeakyReLU(0.1)}),
    nn.Concat(2, {nn.Linear(4, 3), nn.Sequential{nn.Linear(4, 2), nn.AbsTanh()}}),
    nn.Concat(2, {nn.PReLU(3), nn.Residual(nn.AbsTanh(), nn.LeakyReLU(0.1)), nn.Residual(nn.PReLU(3))}),
  }
  for _, m in ipairs(cases) do same_structure(m, rebuild(m), m:describe()) end
  local r = rebuild(cases[7])
  T.eq(r.shortcut.weight:size(2), 3, "the 1x1 shortcut comes back as the shortcut")
  local slopes = rebuild(cases[5])
  T.eq(slopes.weight:size(1), 4, "PReLU channels")
  T.eq(slopes.weight:max(), slopes.weight:min(), "PReLU init")
  T.near(slopes.weight:max(), 0.1, 1e-7, "PReLU init value")
  T.eq(rebuild(cases[2]).in_place, true, "LeakyReLU in place")
  T.eq(rebuild(cases[9]).dim, 2, "Concat dim")
end)

T.test("LeakyReLU in place gives the plain layer's values and gradients", function()
  local x = mtfl.randn(4, 5)
  local plain, in_place = nn.LeakyReLU(0.2), nn.LeakyReLU(0.2, true)
  local y = plain:forward(x)
  local xc = x:clone()
  local y2 = in_place:forward(xc)
  T.eq(mtfl.max_abs_diff(y, y2), 0, "output")
  T.eq(mtfl.max_abs_diff(xc, y), 0, "overwrote its input")
  local dy = mtfl.randn(4, 5)
  T.eq(mtfl.max_abs_diff(plain:backward(x, dy), in_place:backward(xc, dy)), 0, "gradient")
  -- the values themselves: x > 0 ? x : 0.2 x
  local v = nn.LeakyReLU(0.2):forward(mtfl.tensor({-2, 0, 3}))
  T.near(v[1], -0.4, 1e-7, "negative side")
  T.eq(v[2], 0, "zero")
  T.eq(v[3], 3, "positive side")
  local a = nn.AbsTanh():forward(mtfl.tensor({-1, 0.5}))
  T.near(a[1], math.tanh(1), 1e-6, "|tanh(-1)|")
  T.near(a[2], math.tanh(0.5), 1e-6, "|tanh(0.5)|")
end)

T.test("PReLU: one slope per channel of [N, C, ...], or one shared; the slope learns", function()
  local m = nn.PReLU(2)
  m.weight:copy(mtfl.tensor({0.5, -1}))
  local x = mtfl.tensor({{{-2, 4}, {-3, 1}}})   -- [1, 2, 2]
  local y = m:forward(x)
  T.eq(y[1][1][1], -1, "channel 1 slope 0.5")
  T.eq(y[1][1][2], 4, "positive kept")
  T.eq(y[1][2][1], 3, "channel 2 slope -1")
  m:zeroGrad()
  m:backward(x, mtfl.ones(1, 2, 2))
  T.eq(m.gradWeight[1], -2, "d/da_1 = sum of negative inputs of channel 1")
  T.eq(m.gradWeight[2], -3, "d/da_2")
  m:freeze()
  m:backward(x, mtfl.ones(1, 2, 2))
  T.eq(m.gradWeight[1], -2, "frozen: the slope gradient stays")
  m:unfreeze()
  m:input_gradient(false)
  T.eq(m:backward(x, mtfl.ones(1, 2, 2)), nil, "no gradInput when not needed")
  T.eq(m.gradWeight[1], -4, "the slope still learns")
  T.eq(nn.PReLU():forward(mtfl.tensor({-4, 2}))[1], -1, "shared slope 0.25 on any shape")
end)

T.test("containers: children, state_dict names, modes and freezing reach every child", function()
  local res = nn.Residual(nn.Sequential{nn.Linear(3, 3), nn.Dropout(0.5)}, nn.Linear(3, 3))
  local cat = nn.Concat(2, {nn.Linear(3, 2), res})
  local names = {}
  for name in pairs(cat:state_dict()) do names[#names + 1] = name end
  table.sort(names)
  T.eq(table.concat(names, " "), "1.bias 1.weight 2.body.1.bias 2.body.1.weight 2.shortcut.bias 2.shortcut.weight",
       "state_dict names")
  cat:evaluate()
  cat:each_module(function(m) T.eq(m.train, false, m:describe() .. " evaluating") end)
  cat:training()
  cat:each_module(function(m) T.eq(m.train, true, m:describe() .. " training") end)
  cat:freeze()
  cat:each_module(function(m) T.eq(m.frozen, true, m:describe() .. " frozen") end)
  cat:unfreeze()
  -- every branch sees the container's input (a Sequential passes it to its first module)
  cat:input_gradient(false)
  for _, m in ipairs({cat, cat.modules[1], res, res.body, res.body.modules[1], res.shortcut}) do
    T.eq(m.needs_input_gradient, false, m:describe() .. " skips dL/dinput")
  end
  cat:evaluate()
  local x = mtfl.randn(4, 3)
  local y = cat:forward(x)
  T.eq(table.concat(y:size(), "x"), "4x5", "Concat output")
  cat:zeroGrad()
  T.eq(cat:backward(x, mtfl.ones(4, 5)), nil, "no gradInput")
  T.truthy(res.shortcut.gradWeight:abs():sum() > 0, "the shortcut still learns")
  T.truthy(cat:summary({4, 3}):find("(shortcut) Linear(3 -> 3)", 1, true), "tree shows the shortcut")
  T.eq(table.concat(cat:summary({4, 3}) and cat.output_shape, "x"), "4x5", "summary infers the shape")
end)

T.test("Residual and Concat: outputs and gradients are the branches' sums and slices", function()
  local lin = nn.Linear(3, 3)
  local res = nn.Residual(lin)
  local x = mtfl.randn(2, 3)
  T.truthy(mtfl.max_abs_diff(res:forward(x), lin:forward(x) + x) < 1e-6, "y = body(x) + x")
  local dy = mtfl.randn(2, 3)
  T.truthy(mtfl.max_abs_diff(res:backward(x, dy), lin:backward(x, dy) + dy) < 1e-6, "dx = body'(dy) + dy")
  local a, b = nn.Linear(3, 2), nn.Linear(3, 4)
  local cat = nn.Concat(2, {a, b})
  local y = cat:forward(x)
  T.eq(mtfl.max_abs_diff(y:narrow(2, 3, 4), b:forward(x)), 0, "second branch's columns")
  local g = mtfl.randn(2, 6)
  local dx = cat:backward(x, g)
  local want = a:backward(x, g:narrow(2, 1, 2):contiguous()) + b:backward(x, g:narrow(2, 3, 4):contiguous())
  T.truthy(mtfl.max_abs_diff(dx, want) < 1e-6, "dx sums the branches' gradients of their slices")
end)

T.test("a Sequential of 200,000 children builds in linear time, names still unique", function()
  local t0 = mtfl.clock()
  local s = nn.Sequential()
  local relu = nn.ReLU()
  for _ = 1, 200000 do s:add(relu) end
  T.truthy(mtfl.clock() - t0 < 5, string.format("200,000 adds took %.1f s", mtfl.clock() - t0))
  T.eq(s:size(), 200000, "all there")
  T.eq(s:get("199999"), relu, "by name")
  T.eq(s:get("nope"), nil, "an unknown name")
  T.raises(function() s:add(relu, "17") end, "a module named \"17\" already exists")
end)

T.test("an unknown or mistyped layer option is an error naming it, with the closest one", function()
  T.raises(function() nn.Conv2d(3, 16, 3, {groups = 2, bogus = 1}) end, "Conv2d: unknown option '")
  T.raises(function() nn.Conv2d(3, 16, 3, {strid = 2}) end,
           "Conv2d: unknown option 'strid' (did you mean 'stride'? options: bias, device, init, padding, stride)")
  T.raises(function() nn.Linear(3, 4, {bais = false}) end, "Linear: unknown option 'bais' (did you mean 'bias'?")
  T.raises(function() nn.MaxPool2d(2, {stide = 1}) end, "MaxPool2d: unknown option 'stide' (did you mean 'stride'?")
  T.raises(function() nn.MaxPool2d(2, {kernel = 3}) end, "MaxPool2d: option 'kernel' (3x3) differs from the kernel argument (2x2)")
  T.raises(function() nn.AvgPool2d(2, {stride = 1, pading = 1}) end, "AvgPool2d: unknown option 'pading' (did you mean 'padding'?")
  T.raises(function() nn.BatchNorm2d(4, {momentun = 0.1}) end, "BatchNorm2d: unknown option 'momentun' (did you mean 'momentum'?")
  T.raises(function() nn.PReLU(4, 0.25, {devise = "cpu"}) end, "PReLU: unknown option 'devise' (did you mean 'device'?")
  T.raises(function() nn.LandmarkLoss{knd = "wing"} end, "LandmarkLoss: unknown option 'knd' (did you mean 'kind'?")
  T.raises(function() nn.Conv2d(3, 16, 3, {bias = "no"}) end, "Conv2d: option 'bias' must be a boolean, got \"no\"")
  T.raises(function() nn.Conv2d(3, 16, 3, {1, 2}) end, "Conv2d: the options table has a positional value (key 1)")
  T.raises(function() nn.Conv2d(3, 16) end, "Conv2d: the kernel size (the third argument) is missing")
  T.raises(function() nn.Linear(3, 4, "fast") end, "Linear: the options must be a table, got \"fast\"")
  -- and the known ones still work
  T.eq(nn.Conv2d(3, 4, 3, {stride = 2, padding = "same", bias = false}).bias, nil, "bias = false")
  T.eq(nn.MaxPool2d(2, {stride = 1, ceil = true}).stride_h, 1, "MaxPool2d's stride")
end)

T.test("bad arguments and shapes are errors naming the module and the shapes", function()
  T.raises(function() nn.LeakyReLU("steep") end, "LeakyReLU: slope must be a finite number, got \"steep\"")
  T.raises(function() nn.LeakyReLU(-0.1, true) end, "LeakyReLU: in place needs a slope >= 0")
  T.raises(function() nn.PReLU(0) end, "PReLU: channels must be a positive integer, got 0")
  T.raises(function() nn.PReLU(2.5) end, "PReLU: channels must be a positive integer, got 2.5")
  T.raises(function() nn.PReLU(2, "a") end, "PReLU: init must be a finite number, got \"a\"")
  T.raises(function() nn.PReLU(3):forward(mtfl.zeros(2, 4, 5)) end,
           "PReLU(3 channels): input [2x4x5] does not have 3 channels in dimension 2")
  T.raises(function() nn.PReLU(3):summary({2, 4}) end, "PReLU(3 channels): input [2x4]")
  T.raises(function() nn.AbsTanh():forward(3) end, "AbsTanh: input is a number, not a tensor")
  T.raises(function() nn.LeakyReLU():backward(mtfl.zeros(2), mtfl.zeros(2)) end, "backward called before forward")
  T.raises(function()
    local m = nn.AbsTanh()
    m:forward(mtfl.zeros(2, 3))
    m:backward(mtfl.zeros(2, 3), mtfl.zeros(3, 2))
  end, "AbsTanh: gradOutput [3x2] does not match the output [2x3]")

  T.raises(function() nn.Residual(3) end, "Residual: body is a number, not an nn module")
  T.raises(function() nn.Residual(nn.ReLU(), "x") end, "Residual: shortcut is a string, not an nn module")
  T.raises(function() nn.Residual(nn.Linear(3, 4)):forward(mtfl.zeros(2, 3)) end,
           "Residual(identity shortcut): body output [2x4] and shortcut output [2x3] differ")
  T.raises(function() nn.Residual(nn.Linear(3, 4), nn.Linear(3, 5)):summary({2, 3}) end,
           "Residual: body output [2x4] and shortcut output [2x5] differ")
  T.raises(function() nn.Residual(nn.ReLU(true)):forward(mtfl.zeros(2)) end, "the body overwrote its input")
  T.raises(function()
    local r = nn.Residual(nn.Linear(3, 3))
    r:forward(mtfl.zeros(2, 3))
    r:backward(mtfl.zeros(2, 3), mtfl.zeros(2, 4))
  end, "gradOutput [2x4] does not match the output [2x3]")

  T.raises(function() nn.Concat(0, {nn.ReLU()}) end, "Concat: dim must be a positive integer, got 0")
  T.raises(function() nn.Concat(2, {}) end, "Concat: expects a non-empty list of modules, got an empty one")
  T.raises(function() nn.Concat(2) end, "Concat: expects a non-empty list of modules, got nil")
  T.raises(function() nn.Concat(2, {nn.ReLU(), 5}) end, "Concat: entry 2 is a number, not an nn module")
  T.raises(function() nn.Concat(1, {nn.Linear(3, 2), nn.Linear(3, 4)}):forward(mtfl.zeros(2, 3)) end,
           "Concat(dim 1): branch 2's output [2x4] does not match branch 1's [2x2] except in dimension 1")
  T.raises(function() nn.Concat(3, {nn.Linear(3, 2)}):forward(mtfl.zeros(2, 3)) end,
           "Concat(dim 3): branch 1's output [2x2] has no dimension 3")
  T.raises(function() nn.Concat(2, {nn.Linear(3, 2), nn.Linear(4, 2)}):summary({2, 3}) end,
           "Linear(4 -> 2): input [2x3] does not end in 4 features")
  T.raises(function()
    local c = nn.Concat(2, {nn.Linear(3, 2)})
    c:forward(mtfl.zeros(2, 3))
    c:backward(mtfl.zeros(2, 3), mtfl.zeros(2, 3))
  end, "Concat(dim 2): gradOutput [2x3] does not match the output [2x2]")
end)

T.run_all()
