-- Training end to end on the CPU: a tiny conv network learns a synthetic landmark +
-- classification task; runs are bit-reproducible; checkpoints (model and optimizer)
-- round-trip exactly; freezing a head holds it still; misuse gives clear errors.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local safetensors = require "mtfl.safetensors"
local json = require "mtfl.json"
local T = require "harness"

mtfl.set_device("cpu")

-- 64 images 1x8x8 of faint noise with a bright 2x2 blob; targets: the blob's centre
-- (x, y in units of the image side, the landmark) and which half it is in (the class).
local function synthetic_data(n)
  mtfl.manual_seed(123)
  local noise = mtfl.rand(n, 1, 8, 8):mul_(0.1):totable()
  local centres, sides = {}, {}
  local rng = 1
  for i = 1, n do
    rng = (rng * 1103515245 + 12345) % 2^31          -- a fixed, portable sequence
    local r, c = rng % 7 + 1, (rng // 7) % 7 + 1     -- top-left corner of the blob, 1..7
    for dr = 0, 1 do for dc = 0, 1 do noise[i][1][r + dr][c + dc] = 1 end end
    centres[i] = {(c + 0.5) / 8, (r + 0.5) / 8}
    sides[i] = c <= 3 and 1 or 2
  end
  return mtfl.tensor(noise), {landmarks = mtfl.tensor(centres), side = mtfl.tensor(sides)}
end

local X, TARGETS = synthetic_data(64)

local function tiny_network(seed)
  mtfl.manual_seed(seed)
  return nn.Sequential{
    nn.Conv2d(1, 4, 3, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(4 * 4 * 4, 32), nn.ReLU()}
    :add(nn.Heads{landmarks = nn.Linear(32, 2), side = nn.Linear(32, 2)}, "heads")
end

local function criterion()
  return nn.MultiTask{landmarks = {nn.LandmarkLoss(), 1}, side = {nn.CrossEntropy(), 1}}
end

-- One full-batch training step; returns the loss before the update.
local function train_step(model, loss_fn, optimizer)
  optimizer:zeroGrad()
  local out = model:forward(X)
  local loss = loss_fn:forward(out, TARGETS)
  model:backward(X, loss_fn:backward(out, TARGETS))
  optimizer:step()
  return loss
end

local function train(seed, steps)
  local model = tiny_network(seed)
  local loss_fn = criterion()
  local params, grads = nn.flatten_parameters(model)
  local optimizer = optim.Adam(params, grads, {lr = 3e-3})
  local losses = {}
  for i = 1, steps do losses[i] = train_step(model, loss_fn, optimizer) end
  return losses, model
end

local function tmp_path(name)
  local base = os.tmpname()   -- creates the file: only its unique name is wanted
  os.remove(base)
  return base .. "-" .. name
end

T.test("a tiny conv network learns: the loss falls 10x in 100 steps, 100x in 300", function()
  local losses = train(1, 300)
  print(string.format("  loss: step 1 %.4f, 100 %.4f, 300 %.4f", losses[1], losses[100], losses[300]))
  T.truthy(losses[100] < losses[1] / 10, string.format("loss %.4f -> %.4f in 100 steps is not 10x lower", losses[1], losses[100]))
  T.truthy(losses[300] < losses[1] / 100, string.format("loss %.4f -> %.4f in 300 steps is not 100x lower", losses[1], losses[300]))
end)

T.test("two runs with the same seed give bit-identical losses", function()
  local a, b = train(5, 40), train(5, 40)
  for i = 1, #a do T.eq(a[i], b[i], "loss at step " .. i) end
  local c = train(6, 2)
  T.truthy(c[1] ~= a[1], "another seed gives another network")
end)

T.test("per-tensor and flattened Adam take identical steps", function()
  local flat_model, list_model = tiny_network(3), tiny_network(3)
  local loss_fn = criterion()
  local flat_params, flat_grads = nn.flatten_parameters(flat_model)
  local flat_opt = optim.Adam(flat_params, flat_grads, {lr = 3e-3})
  local list_params, list_grads = list_model:parameters()
  local list_opt = optim.Adam(list_params, list_grads, {lr = 3e-3})
  for i = 1, 5 do
    T.eq(train_step(flat_model, loss_fn, flat_opt), train_step(list_model, loss_fn, list_opt), "loss at step " .. i)
  end
end)

T.test("SGD with momentum learns too", function()
  local model = tiny_network(2)
  local loss_fn = criterion()
  local params, grads = model:parameters()
  local optimizer = optim.SGD(params, grads, {lr = 0.05, momentum = 0.9})
  local first = train_step(model, loss_fn, optimizer)
  local last
  for _ = 1, 150 do last = train_step(model, loss_fn, optimizer) end
  T.truthy(last < first / 3, string.format("SGD loss %.4f -> %.4f", first, last))
end)

T.test("save -> load gives identical outputs", function()
  local _, model = train(4, 20)
  local path = tmp_path("model.safetensors")
  nn.save(path, model, nil, {epoch = 3, note = "tiny"})
  local fresh = tiny_network(99)
  T.truthy(mtfl.max_abs_diff(fresh:forward(X).landmarks, model:forward(X).landmarks) > 0, "differs before loading")
  local meta = nn.load(path, fresh)
  T.eq(meta.epoch, "3", "metadata comes back (as strings)")
  T.eq(meta.note, "tiny", "metadata text")
  local a, b = model:forward(X), fresh:forward(X)
  T.eq(mtfl.max_abs_diff(a.landmarks, b.landmarks), 0, "landmarks identical")
  T.eq(mtfl.max_abs_diff(a.side, b.side), 0, "side logits identical")
  -- the file is plain safetensors: the model's names, F32, shapes
  local tensors = safetensors.load(path)
  T.eq(tostring(tensors["heads.side.weight"]:size(1)) .. "x" .. tensors["heads.side.weight"]:size(2), "2x32", "shape")
  T.eq(mtfl.max_abs_diff(tensors["1.weight"], model:get(1).weight), 0, "values")
  os.remove(path)
end)

T.test("optimizer state save/load resumes identically, frozen head included (Adam and AdamW)", function()
  for _, Optim in ipairs({optim.Adam, optim.AdamW}) do
    local path = tmp_path("checkpoint.safetensors")
    local function setup(seed)
      local model = tiny_network(seed)
      local loss_fn = criterion()
      local params, grads = nn.flatten_parameters(model)
      return model, loss_fn, Optim(params, grads, {lr = 3e-3})
    end
    local model, loss_fn, optimizer = setup(11)
    for _ = 1, 15 do train_step(model, loss_fn, optimizer) end
    -- early stopping of the side task: no gradient, head frozen, optimizer holds it
    loss_fn:set_weight("side", 0)
    optimizer:freeze(model:get("heads"):freeze("side"))
    for _ = 1, 5 do train_step(model, loss_fn, optimizer) end
    nn.save(path, model, optimizer)
    local expected = {}
    for i = 1, 10 do expected[i] = train_step(model, loss_fn, optimizer) end

    local model2, loss_fn2, optimizer2 = setup(12)
    loss_fn2:set_weight("side", 0)
    model2:get("heads"):freeze("side")
    nn.load(path, model2, optimizer2)
    T.eq(optimizer2.step_count, 20, "step count restored")
    for i = 1, 10 do T.eq(train_step(model2, loss_fn2, optimizer2), expected[i], "resumed loss at step " .. i) end
    T.eq(mtfl.max_abs_diff(model2:get("heads"):get("side").weight, model:get("heads"):get("side").weight), 0,
         "frozen head identical")
    -- a checkpoint without optimizer state cannot restore an optimizer
    nn.save(path, model)
    T.raises(function() nn.load(path, model2, optimizer2) end, "holds no optimizer state")
    os.remove(path)
  end
end)

T.test("a frozen head does not move, with flat and with per-tensor Adam and AdamW (even with weight decay)", function()
  for _, Optim in ipairs({optim.Adam, optim.AdamW}) do
    for _, flat in ipairs({true, false}) do
      local model = tiny_network(8)
      local loss_fn = criterion()
      local params, grads
      if flat then params, grads = nn.flatten_parameters(model) else params, grads = model:parameters() end
      local optimizer = Optim(params, grads, {lr = 1e-2, weight_decay = 1e-2})
      for _ = 1, 5 do train_step(model, loss_fn, optimizer) end   -- momentum builds up
      loss_fn:set_weight("side", 0)
      local head = model:get("heads"):get("side")
      optimizer:freeze(model:get("heads"):freeze("side"))
      local before_w, before_b = head.weight:clone(), head.bias:clone()
      local other = model:get("heads"):get("landmarks").weight:clone()
      for _ = 1, 5 do train_step(model, loss_fn, optimizer) end
      local what = Optim._class_name .. (flat and " flat" or " per-tensor")
      T.eq(mtfl.max_abs_diff(head.weight, before_w), 0, what .. ": frozen weight unchanged")
      T.eq(mtfl.max_abs_diff(head.bias, before_b), 0, what .. ": frozen bias unchanged")
      T.truthy(mtfl.max_abs_diff(model:get("heads"):get("landmarks").weight, other) > 0, what .. ": the rest still learns")
      -- unfreezing lets it learn again
      loss_fn:set_weight("side", 1)
      optimizer:unfreeze(model:get("heads"):unfreeze("side"))
      train_step(model, loss_fn, optimizer)
      train_step(model, loss_fn, optimizer)
      T.truthy(mtfl.max_abs_diff(head.weight, before_w) > 0, what .. ": unfrozen head moves")
    end
  end
end)

T.test("the printed tree shows shapes, parameter counts and the total", function()
  local model = tiny_network(1)
  model:forward(X)
  local text = tostring(model)
  T.truthy(text:find("(1) Conv2d(1 -> 4, 3x3, padding 1)", 1, true), "conv line in\n" .. text)
  T.truthy(text:find("64x4x8x8", 1, true), "conv output shape in\n" .. text)
  T.truthy(text:find("(side) Linear(32 -> 2)", 1, true), "head line in\n" .. text)
  T.truthy(text:find("Total: 2,252 parameters", 1, true), "total in\n" .. text)
  model:get("heads"):freeze("side")
  T.truthy(tostring(model):find("[frozen]", 1, true), "frozen head marked")
end)

T.test("summary infers the seed network's shapes without computing", function()
  mtfl.manual_seed(1)
  local model = nn.Sequential{
    nn.Conv2d(3, 16, 5, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 5, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2, {ceil = true}),
    nn.Flatten(), nn.Linear(46208, 1024), nn.ReLU()}
    :add(nn.Heads{landmarks = nn.Linear(1024, 10), pose = nn.Linear(1024, 5), glasses = nn.Linear(1024, 2)}, "heads")
  local text = model:summary{50, 3, 150, 150}
  T.truthy(text:find("50x32x38x38", 1, true), "75 -> 38 with ceil in\n" .. text)
  T.truthy(text:find("50x46208", 1, true), "flattened features")
  T.truthy(text:find("Total: 47,349,489 parameters", 1, true), "parameter count in\n" .. text)
  T.eq(model:parameter_count(), 47349489, "parameter_count")
end)

-- ---- misuse ---------------------------------------------------------------------------

T.test("wrong input shapes name the layer and the shapes, at the caller's line", function()
  local msg = T.raises(function() nn.Linear(1024, 10):forward(mtfl.zeros(64, 1023)) end,
                       "Linear(1024 -> 10): input [64x1023] does not end in 1024 features")
  T.truthy(msg:find("^[^:]*test_nn_training.lua:%d+:"), "position of the caller in " .. msg)
  -- the layers' shape rules are the core's (mtfl_conv2d_shape, mtfl_maxpool2d_shape): the
  -- same words whether a shape is inferred or an op is run
  T.raises(function() nn.Conv2d(3, 16, 5):forward(mtfl.zeros(2, 1, 20, 20)) end,
           "Conv2d(3 -> 16, 5x5): conv2d: input [2x1x20x20] and weight [16x3x5x5] do not fit")
  T.raises(function() nn.Conv2d(3, 16, 5):shape_for({2, 1, 20, 20}) end,
           "Conv2d(3 -> 16, 5x5): conv2d: input [2x1x20x20] and weight [16x3x5x5] do not fit")
  T.raises(function() nn.Conv2d(1, 2, 5):forward(mtfl.zeros(1, 1, 3, 3)) end,
           "Conv2d(1 -> 2, 5x5): conv2d: a 5x5 kernel (stride 1x1, padding 0x0) does not fit input [1x1x3x3]")
  T.raises(function() nn.MaxPool2d(2):forward(mtfl.zeros(4, 4)) end, "MaxPool2d(2x2): maxpool2d: input [4x4] is not [N,C,H,W]")
  T.raises(function() nn.MaxPool2d(4):shape_for({1, 1, 3, 3}) end,
           "MaxPool2d(4x4): maxpool2d: a 4x4 window (stride 4x4) does not fit input [1x1x3x3]")
  T.eq(table.concat(nn.MaxPool2d(2, {ceil = true}):shape_for({2, 3, 75, 75}), "x"), "2x3x38x38", "the seed's 75 -> 38")
  T.eq(table.concat(nn.Conv2d(3, 16, 5, {padding = "same"}):shape_for({2, 3, 150, 150}), "x"), "2x16x150x150", "same padding")
  T.raises(function() tiny_network(1):forward(mtfl.zeros(2, 1, 10, 10)) end,
           "Linear(64 -> 32): input [2x100] does not end in 64 features")
  T.raises(function() tiny_network(1):summary{2, 3, 8, 8} end, "Conv2d(1 -> 4, 3x3, padding 1): conv2d: input [2x3x8x8]")
  T.raises(function() nn.Linear(3, 2):forward({1, 2, 3}) end, "Linear(3 -> 2): input is a table, not a tensor")
  local layer = nn.Linear(3, 2)
  layer:forward(mtfl.zeros(4, 3))
  T.raises(function() layer:backward(mtfl.zeros(4, 3), mtfl.zeros(4, 3)) end,
           "Linear(3 -> 2): gradOutput [4x3] does not match the output [4x2]")
  T.raises(function() nn.MaxPool2d(2):backward(mtfl.zeros(1, 1, 4, 4), mtfl.zeros(1, 1, 2, 2)) end,
           "MaxPool2d(2x2): backward called before forward")
  T.raises(function() nn.Conv2d(3, 4, 4, {padding = "same"}) end, "padding \"same\" needs an odd kernel")
  T.raises(function() nn.Dropout(1) end, "Dropout: p must be in [0, 1)")
end)

T.test("criteria and containers reject what does not fit", function()
  T.raises(function() nn.LandmarkLoss():forward(mtfl.zeros(4, 10), mtfl.zeros(4, 8)) end,
           "LandmarkLoss(least_squares): prediction [4x10] and target [4x8] differ in shape")
  T.raises(function() nn.CrossEntropy():forward(mtfl.zeros(4, 5), mtfl.tensor({1, 2, 3})) end,
           "CrossEntropy: labels [3] do not match logits [4x5]")
  local msg = T.raises(function() nn.CrossEntropy():forward(mtfl.zeros(3, 5), mtfl.tensor({1, 6, 2})) end,
                       "CrossEntropy: cross_entropy: label 6 of sample 2 is not a class number 1..5")
  T.truthy(msg:find("^[^:]*test_nn_training.lua:%d+:"), "errors from C ops point at the caller too: " .. msg)
  local mt = criterion()
  T.raises(function() mt:forward({side = mtfl.zeros(64, 2)}, TARGETS) end,
           "MultiTask{landmarks = 1 * LandmarkLoss(least_squares), side = 1 * CrossEntropy}: no output for task \"landmarks\" (outputs: side)")
  T.raises(function() mt:forward({side = mtfl.zeros(64, 2), landmarks = mtfl.zeros(64, 2)}, {side = TARGETS.side}) end,
           "no target for task \"landmarks\" (targets: side)")
  T.raises(function() mt:set_weight("pose", 1) end, "no task \"pose\" (tasks: landmarks, side)")
  local heads = nn.Heads{a = nn.Linear(2, 2)}
  heads:forward(mtfl.zeros(1, 2))
  T.raises(function() heads:backward(mtfl.zeros(1, 2), {b = mtfl.zeros(1, 2)}) end, "no head named \"b\" (heads: a)")
  T.raises(function() heads:backward(mtfl.zeros(1, 2), mtfl.zeros(1, 2)) end, "gradOutput must be a table")
  T.raises(function() nn.Sequential{nn.Linear(2, 2), "relu"} end, "entry 2 is a string, not an nn module")
  local p, g = tiny_network(1):parameters()
  T.raises(function() optim.Adam(p, {g[1]}) end, "Adam: " .. #p .. " parameters but 1 gradients")
  T.raises(function() optim.Adam(p, g, {learning_rate = 1}) end, "Adam: unknown option \"learning_rate\"")
  T.raises(function() optim.Adam(p, g):freeze(mtfl.zeros(2)) end, "tensor [2] is not one of this optimizer's parameters")
end)

T.test("loading a file of another architecture says exactly what differs", function()
  local path = tmp_path("other.safetensors")
  mtfl.manual_seed(1)
  local other = nn.Sequential{nn.Conv2d(1, 8, 3, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(8 * 4 * 4, 32), nn.ReLU()}
    :add(nn.Heads{landmarks = nn.Linear(32, 2), pose = nn.Linear(32, 5)}, "heads")
  nn.save(path, other)
  local model = tiny_network(1)
  local before = model:get(1).weight:clone()
  local msg = T.raises(function() nn.load(path, model) end, "nn.load " .. path, "the tensors do not fit this Sequential",
                       "2 missing (heads.side.weight, heads.side.bias)",
                       "2 unexpected (heads.pose.bias, heads.pose.weight)",
                       "1.weight is [4x1x3x3] in the model but [8x1x3x3] in the tensors given",
                       "5.weight is [32x64] in the model but [32x128] in the tensors given")
  T.eq(mtfl.max_abs_diff(model:get(1).weight, before), 0, "nothing was loaded")
  T.raises(function() model:load_state_dict({["1.weight"] = mtfl.zeros(4, 1, 3, 3)}) end, "7 missing (1.bias, 5.weight")
  model:load_state_dict({["1.weight"] = mtfl.zeros(4, 1, 3, 3)}, {strict = false})
  T.eq(model:get(1).weight:abs():max(), 0, "strict = false loads what is there")
  os.remove(path)
end)

-- ---- safetensors files -------------------------------------------------------------------

local function write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

local function safetensors_bytes(header_json, data)
  return string.pack("<I8", #header_json) .. header_json .. data
end

T.test("safetensors: the format on disk, and files written by others", function()
  local path = tmp_path("format.safetensors")
  local a = mtfl.tensor({{1, 2, 3}, {4, 5, 6}})
  safetensors.save(path, {a = a, s = mtfl.tensor(7), e = mtfl.zeros(0, 3)}, {who = "test", ["quote\"d"] = "x\ny"})
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("a")
  f:close()
  local n = string.unpack("<I8", bytes)
  T.eq((8 + n) % 8, 0, "data starts 8-byte aligned")
  local header = json.decode(bytes:sub(9, 8 + n))
  T.eq(header.a.dtype, "F32", "dtype")
  T.eq(json.encode(header.a.shape), "[2,3]", "shape")
  T.eq(json.encode(header.s.shape), "[]", "a scalar's shape")
  T.eq(header.__metadata__["quote\"d"], "x\ny", "escaped metadata")
  T.eq(string.unpack("<f", bytes, 9 + n + header.a.data_offsets[1] + 4 * 5), 6, "float32 little-endian, row-major")
  T.truthy(not io.open(path .. ".tmp"), "no temporary file left")
  local back, meta = safetensors.load(path)
  T.eq(mtfl.max_abs_diff(back.a, a), 0, "values back")
  T.eq(back.s:item(), 7, "scalar back")
  T.eq(back.e:size(1), 0, "empty tensor back")
  T.eq(meta.who, "test", "metadata back")
  -- a file from another writer: no metadata, no padding, keys in any order
  write_file(path, safetensors_bytes('{"w":{"data_offsets":[0,8],"shape":[2],"dtype":"F32"}}',
                                     string.pack("<ff", 1.5, -2)))
  local t, m = safetensors.load(path)
  T.eq(t.w[1], 1.5, "foreign file value 1")
  T.eq(t.w[2], -2, "foreign file value 2")
  T.eq(next(m), nil, "no metadata")
  os.remove(path)
end)

T.test("corrupt safetensors files raise errors naming the file and the fault", function()
  local path = tmp_path("corrupt.safetensors")
  local good_header = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
  local cases = {
    {"x", "too short for a header"},
    {string.pack("<I8", 1000) .. "{}", "header length 1000 does not fit a file of 10 bytes"},
    {safetensors_bytes('{"w":{"dtype":"F32",', ""), "header is not valid JSON"},
    {safetensors_bytes('[1,2]', ""), "header is not a JSON object"},
    {safetensors_bytes(good_header, string.pack("<f", 1)), "data_offsets [0, 8] lie outside the 4 bytes of data"},
    {safetensors_bytes('{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', "abcd"), "dtype F16 (only F32"},
    {safetensors_bytes('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', "abcdefgh"), "shape [3] needs 12 bytes"},
    {safetensors_bytes('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' ..
                       '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', "abcdefgh"), "overlap or gap"},
    {safetensors_bytes(good_header, "abcdefgh1234"), "4 bytes of data after the last tensor"},
    {safetensors_bytes('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', "abcdefgh"), "shape entry 1 is -2"},
    -- 2^62 * 4 values wrap around to 0 in 64-bit arithmetic: must not pass as 0 bytes
    {safetensors_bytes('{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}', ""),
     "has more values than any file can hold"},
  }
  for i, case in ipairs(cases) do
    write_file(path, case[1])
    local msg = T.raises(function() safetensors.load(path) end, "safetensors.load " .. path .. ": ", case[2])
    T.truthy(msg:find("test_nn_training.lua:%d+:"), "case " .. i .. " points at the caller: " .. msg)
  end
  T.raises(function() safetensors.load(path .. ".missing") end, "cannot open " .. path .. ".missing")
  T.raises(function() nn.load(path, tiny_network(1)) end, "safetensors.load " .. path)
  T.raises(function() safetensors.save("/nonexistent-dir/x.safetensors", {a = mtfl.zeros(1)}) end,
           "safetensors.save: /nonexistent-dir/x.safetensors: cannot create a temporary file beside it")
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir " .. dir)
  T.raises(function() nn.load(dir, tiny_network(1)) end, "safetensors.load: " .. dir .. " is a directory, not a safetensors file")
  os.remove(dir)
  os.remove(path)
end)

T.run_all()
