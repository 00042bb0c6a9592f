-- A trained network as a file: the module tree rebuilt without its script, the model
-- card, the errors for files that are not model files; any list of faces framed for a
-- model (whole, around the points, around a box) and predictions taken back to the
-- image's pixels; a predictor reproducing an evaluation exactly.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local data = require "mtfl.data"
local safetensors = require "mtfl.safetensors"
local predictor = require "mtfl.predictor"
local heads = require "mtfl.train.heads"
local T = require "harness"
local H = require "data_helpers"

mtfl.set_device("cpu")

local function network(size)
  local side = (size + 1) // 2
  return nn.Sequential{nn.Conv2d(3, 4, 3, {padding = "same"}), nn.ReLU(true), nn.MaxPool2d(2, {ceil = true}),
                       nn.Dropout(0.1), nn.Flatten(), nn.Linear(4 * side * side, 8, {bias = false}), nn.Tanh(),
                       nn.Sigmoid()}
    :add(heads.linear(8, {landmarks = 10, pose = 5, smile = 2}), "heads")
end

local CARD = {input = {size = 16}, protocol = {name = "crop", eye_mouth = 0.316},
              tasks = {landmarks = {outputs = 10, reference_size = 16}, pose = {classes = 5}, smile = {classes = 2}}}

T.test("architecture: every layer and container says how to build it again", function()
  mtfl.manual_seed(3)
  local m = network(16)
  local arch = nn.architecture(m)
  T.eq(arch.type, "Sequential")
  T.eq(#arch.children, 9, "children")
  T.eq(arch.children[9].name, "heads")
  T.eq(arch.children[9].children[1].name, "landmarks", "heads in name order")
  local seed, counter = mtfl.rng_state()
  local copy = nn.build(arch)
  local s2, c2 = mtfl.rng_state()
  T.eq(s2, seed, "build leaves the caller's random stream") T.eq(c2, counter, "build leaves the caller's random stream")
  T.eq(copy:describe(), m:describe())
  T.eq(tostring(copy:summary{2, 3, 16, 16}), tostring(m:summary{2, 3, 16, 16}), "the same tree, layer by layer")
  T.eq(copy:get(6).bias, nil, "Linear without bias stays without")
  T.eq(copy:get(3).ceil, true, "pooling keeps ceil")
  T.eq(copy:get(4).p, 0.1, "dropout keeps p")
end)

T.test("architecture: what cannot be described is named", function()
  local Scale = nn.class("Scale", nn.Module)
  function Scale:__init(k) nn.Module.__init(self) self.k = k end
  T.raises(function() return nn.architecture(nn.Sequential{nn.ReLU(), Scale(2)}) end,
           "model.2 is a Scale, not a class of mtfl.nn: nn.register it first")
  nn.register(Scale)
  T.raises(function() return nn.architecture(nn.Sequential{Scale(2)}) end, "model.1 (Scale) cannot describe itself")
  function Scale:arguments() return {self.k} end
  T.eq(nn.build(nn.architecture(Scale(2))).k, 2, "a registered class of one's own")
  T.raises(function() return nn.build({type = "Nope"}) end, "model is a Nope, which is neither in mtfl.nn nor registered")
  T.raises(function() return nn.build({type = "Conv2d", args = {3, -1, 3}}) end, "nn.build: model (Conv2d): ", "out_channels must be a positive integer")
  T.raises(function() return nn.build(7) end, "model is not a module description")
end)

T.test("a model file: loaded without the script, the same outputs, in evaluation mode", function()
  mtfl.manual_seed(5)
  local m = network(16)
  local path = os.tmpname()
  nn.save_model(path, m, CARD)
  local loaded, card = nn.load_model(path)
  T.eq(loaded.train, false, "evaluation mode")
  T.eq(card.input.size, 16) T.eq(card.input.scale, "pixel / 255") T.eq(card.protocol.name, "crop")
  m:evaluate()
  local x = mtfl.randn(3, 3, 16, 16)
  local a, b = m:forward(x), loaded:forward(x)
  for _, task in ipairs{"landmarks", "pose", "smile"} do
    T.eq((a[task] - b[task]):abs():max(), 0, task .. " outputs")
  end
  os.remove(path)
end)

T.test("a model file keeps the running statistics and the new layers", function()
  mtfl.manual_seed(6)
  local m = nn.Sequential{nn.Conv2d(3, 4, 3, {padding = "same", bias = false}), nn.BatchNorm2d(4), nn.PReLU(4),
                          nn.Residual(nn.Sequential{nn.Conv2d(4, 4, 3, {padding = "same"}), nn.LeakyReLU(0.1)}),
                          nn.AvgPool2d(2), nn.GlobalAvgPool2d(), nn.BatchNorm1d(4), nn.AbsTanh()}
    :add(heads.linear(4, {landmarks = 10}), "heads")
  for _ = 1, 3 do m:forward(mtfl.randn(5, 3, 8, 8)) end   -- training mode moves the statistics
  local path = os.tmpname()
  nn.save_model(path, m, {input = {size = 8}, tasks = {landmarks = {outputs = 10}}})
  local loaded = nn.load_model(path)
  T.truthy((loaded:get(2).running_var - 1):abs():max() > 1e-3, "the running variance moved and came back")
  T.eq((loaded:get(2).running_mean - m:get(2).running_mean):abs():max(), 0, "running mean")
  m:evaluate()
  local x = mtfl.randn(2, 3, 8, 8)
  T.eq((m:forward(x).landmarks - loaded:forward(x).landmarks):abs():max(), 0, "the same outputs")
  os.remove(path)
end)

T.test("files that are not model files say what they lack", function()
  local m = network(16)
  local path = os.tmpname()
  nn.save(path, m)
  T.raises(function() return nn.load_model(path) end, "a training checkpoint (nn.save) holds weights but not the architecture")
  safetensors.save(path, {w = mtfl.ones(2)})
  T.raises(function() return nn.load_model(path) end, "a safetensors file, not an mtfl model file: it has no mtfl.format entry (1 tensors, metadata: none)")
  safetensors.save(path, {w = mtfl.ones(2)}, {["mtfl.format"] = "mtfl-model 0"})
  T.raises(function() return nn.load_model(path) end, "format \"mtfl-model 0\", this program reads \"mtfl-model 1\"")
  safetensors.save(path, {w = mtfl.ones(2)}, {["mtfl.format"] = "mtfl-model 1"})
  T.raises(function() return nn.load_model(path) end, "the file has no mtfl.architecture entry")
  nn.save_model(path, m, CARD)
  local tensors, meta = safetensors.load(path)
  tensors["heads.pose.bias"] = nil
  safetensors.save(path, tensors, meta)
  T.raises(function() return nn.load_model(path) end, "the file's tensors do not fit the network it describes",
           "heads.pose.bias [5] is not in the file")
  T.raises(function() nn.save_model(path, m, {tasks = {}}) end, "the model card has no \"input\"")
  T.raises(function() nn.save_model(path, m, {input = {size = 0}, tasks = {}}) end, "input.size is 0")
  T.raises(function() return nn.load_model(nil) end, "the path is a nil")
  os.remove(path)
end)

-- A model file rewritten: its tensors (changed by edit) and its metadata's JSON entries.
local function rewritten(path, edit_tensors, edit_card, edit_arch)
  local json = require "mtfl.json"
  local tensors, meta = safetensors.load(path)
  if edit_tensors then edit_tensors(tensors) end
  local card, arch = json.decode(meta["mtfl.card"]), json.decode(meta["mtfl.architecture"])
  if edit_card then edit_card(card) end
  if edit_arch then edit_arch(arch) end
  meta["mtfl.card"], meta["mtfl.architecture"] = json.encode(card), json.encode(arch)
  local out = os.tmpname()
  safetensors.save(out, tensors, meta)
  return out
end

T.test("a declared layer is compared with the file's tensors before anything is built", function()
  local path = os.tmpname()
  nn.save_model(path, network(16), CARD)
  -- the issue's case: a small file declaring Linear(30000, 30000), 3.6 GB of weights
  local huge = rewritten(path, nil, nil, function(arch) arch.children[6].args[1] = 30000 arch.children[6].args[2] = 30000 end)
  local before = mtfl.memory("cpu").peak
  local t0 = mtfl.clock()
  T.raises(function() return nn.load_model(huge) end, "(nothing was built)",
           "6.weight is [30000x30000] in the architecture but [8x256] in the file")
  T.truthy(mtfl.clock() - t0 < 2, "refused at once")
  T.truthy(mtfl.memory("cpu").peak - before < 64 * 2^20, "without allocating the layer")
  local extra = rewritten(path, function(t) t["7.weight"] = mtfl.ones(3) end)
  T.raises(function() return nn.load_model(extra) end, "7.weight is in the file but no layer of the architecture has it")
  local conv = rewritten(path, nil, nil, function(arch) arch.children[1].args[3] = {5, 5} end)
  T.raises(function() return nn.load_model(conv) end, "1.weight is [4x3x5x5] in the architecture but [4x3x3x3] in the file")
  for _, f in ipairs{path, huge, extra, conv} do os.remove(f) end
end)

T.test("every layer of mtfl.nn says the tensors its arguments make, exactly those it makes", function()
  local shape = require "mtfl.nn.shape"
  local examples = {
    Linear = {{5, 3}, {5, 3, {bias = false}}}, Conv2d = {{3, 4, 3}, {2, 6, {5, 3}, {bias = false, stride = 2}}},
    BatchNorm2d = {{4}, {4, {affine = false}}}, BatchNorm1d = {{7}}, PReLU = {{}, {6}, {3, 0.1}},
    ReLU = {{}}, Tanh = {{true}}, Sigmoid = {{}}, LeakyReLU = {{0.2}}, AbsTanh = {{}}, Dropout = {{0.3}},
    Flatten = {{}}, MaxPool2d = {{2}, {{3, 2}, {stride = 1, ceil = true}}}, AvgPool2d = {{2}}, GlobalAvgPool2d = {{}},
  }
  local seen = 0
  for name, cls in pairs(nn) do
    if type(cls) == "table" and cls._class_name == name and name ~= "Module" and nn.is_module(cls) == false
       and require("mtfl.nn.class").is_instance(setmetatable({}, cls), nn.Module) and not cls.from_parts then
      T.truthy(cls.tensor_shapes, name .. " has tensor_shapes")
      T.truthy(examples[name], name .. " has an example here")
      for _, args in ipairs(examples[name]) do
        local built = nn.build({type = name, args = args})
        local made = {}
        for k, t in pairs(built:state_dict()) do made[k] = t:size() end
        local said = cls.tensor_shapes(table.unpack(args))
        for k, sz in pairs(made) do T.truthy(said[k] and shape.equal(said[k], sz), name .. ": " .. k .. " declared as made") end
        for k in pairs(said) do T.truthy(made[k], name .. ": " .. k .. " made as declared") end
      end
      seen = seen + 1
    end
  end
  T.truthy(seen >= 15, "every layer class checked (" .. seen .. ")")
end)

T.test("weights or statistics that are NaN or infinite are refused, naming the tensor", function()
  local m = nn.Sequential{nn.Conv2d(3, 4, 3, {padding = "same"}), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 16 * 16, 8)}:add(heads.linear(8, {landmarks = 10, pose = 5, smile = 2}), "heads")
  local path = os.tmpname()
  nn.save_model(path, m, CARD)
  T.truthy(nn.load_model(path), "the file as saved loads")
  local cases = {
    {"1.weight", function(t) t["1.weight"]:narrow(1, 2, 1):fill(0 / 0) end, "tensor 1.weight [4x3x3x3] holds 27 values that are not finite (the first, element 28, is nan)"},
    {"2.running_var", function(t) t["2.running_var"]:narrow(1, 3, 1):fill(0 / 0) end, "tensor 2.running_var [4] holds 1 value that is not finite (the first, element 3, is nan)"},
    {"heads.pose.bias", function(t) t["heads.pose.bias"]:narrow(1, 1, 1):fill(math.huge) end, "tensor heads.pose.bias [5] holds 1 value that is not finite"},
  }
  for _, case in ipairs(cases) do
    local bad = rewritten(path, case[2])
    T.raises(function() return nn.load_model(bad) end, case[3], "meaningless")
    T.raises(function() return predictor.load(bad) end, case[1], "not finite")
    os.remove(bad)
  end
  os.remove(path)
end)

T.test("every field of a model card is checked, naming it and what is allowed", function()
  local path = os.tmpname()
  nn.save_model(path, network(16), CARD)
  local cases = {
    {function(c) c.tasks.landmarks.reference_size = -150 end, "tasks.landmarks.reference_size is -150, not a positive number"},
    {function(c) c.tasks.landmarks.reference_size = 0 end, "tasks.landmarks.reference_size is 0, not a positive number"},
    {function(c) c.tasks.landmarks.reference_size = "150" end, "reference_size is \"150\""},
    {function(c) c.tasks.landmarks.outputs = 9 end, "tasks.landmarks.outputs is 9, not an even number"},
    {function(c) c.tasks.pose.classes = 1.5 end, "tasks.pose.classes is 1.5, not a number of classes"},
    {function(c) c.tasks.pose.names = 3 end, "tasks.pose.names is 3, not a list of 5 class names"},
    {function(c) c.tasks.pose.names = {"a", "b", "c", "d", 5} end, "tasks.pose.names[5] is 5, not a string"},
    {function(c) c.tasks = 3 end, "the model card's tasks is 3, not a table of tasks"},
    {function(c) c.input = 5 end, "the model card's input is 5, not a table"},
    {function(c) c.input.size = 1e9 end, "input.size is 1000000000, not an integer from 1 to 4096"},
    {function(c) c.input.channels = 1 end, "input.channels is 1, not 3"},
    {function(c) c.protocol = "crop" end, "the model card's protocol is \"crop\", not a table"},
    {function(c) c.protocol.eye_mouth = 7 end, "protocol.eye_mouth is 7, not a share of the side in (0, 1]"},
    {function(c) c.name = 12 end, "the model card's name is 12, not a string"},
    -- the card against the network: a task it lacks, one it adds, another width
    {function(c) c.tasks.landmarks = nil end, "the network outputs landmarks, which the model card does not describe"},
    {function(c) c.tasks.gender = {classes = 2} end, "the model card lists the task gender, which the network does not output"},
    {function(c) c.tasks.smile.classes = 3 end, "the network's smile output is [1x2] per image, the card says 3"},
    {function(c) c.input.size = 20 end, "the network does not take the card's input [1x3x20x20]"},
  }
  for _, case in ipairs(cases) do
    local bad = rewritten(path, nil, case[1])
    T.raises(function() return nn.load_model(bad) end, "nn.load_model " .. bad, case[2])
    os.remove(bad)
  end
  T.raises(function() nn.save_model(path, network(16), {input = {size = 16}, tasks = {landmarks = {outputs = 10, reference_size = -1}}}) end,
           "nn.save_model", "reference_size is -1")
  os.remove(path)
end)

T.test("lists: whole images, cut around the points or a box, points back in the file's pixels", function()
  local dir = H.synthetic_mtfl{train = 2, test = 4, size = 48, format = "png"}
  local list = dir .. "/testing.txt"
  local ann = data.read_annotations(list)
  for _, frame in ipairs{"none", "points"} do
    local set, info = data.load_list(list, {frame = frame, size = 24})
    T.eq(#set, 4, frame) T.eq(info.lines, 4)
    for i = 1, #set do
      local s = set:sample(i)
      -- the stored truth rendered at 24 pixels, then taken back: the annotation
      local rendered = {}
      for k = 1, 10 do
        local axis = k > 5 and 2 or 1
        rendered[k] = (s.points[k] - s.box[axis]) * 24 / s.box[2 + axis]
      end
      local back = data.to_file_pixels(s, rendered, 24)
      for k = 1, 10 do T.near(back[k], ann.faces[i].points[k], 1e-3, frame .. " point " .. k) end
    end
  end
  -- a box in four more columns, and the lines after a given one
  local lines = {}
  for line in H.read(list):gmatch("[^\n]+") do
    if line:match("%S") then lines[#lines + 1] = line:gsub("%s+$", "") .. " 4 6 30 36" end
  end
  H.write(dir .. "/boxes.txt", table.concat(lines, "\n") .. "\n")
  local set = data.load_list(dir .. "/boxes.txt", {frame = "box", size = 24, after_line = 2})
  T.eq(#set, 2, "lines after 2") T.eq(set:sample(1).line, 3)
  local s = set:sample(1)
  T.near(data.to_file_pixels(s, {12, 0, 0, 0, 0, 12, 0, 0, 0, 0}, 24)[1], 4 + 15, 0.8, "the box's centre (x)")
  T.near(data.to_file_pixels(s, {12, 0, 0, 0, 0, 12, 0, 0, 0, 0}, 24)[6], 6 + 18, 0.8, "the box's centre (y)")
  T.raises(function() return data.load_list(list, {frame = "box"}) end, "no face box")
  T.raises(function() return data.load_list(list, {frame = "square"}) end, "option 'frame' is 'square'")
  T.raises(function() return data.load_list(dir .. "/none.txt") end, "none.txt")
  -- images by path: whole, or by boxes
  local paths = {dir .. "/" .. ann.faces[1].path, dir .. "/" .. ann.faces[2].path}
  local images = data.load_images(paths, {size = 24})
  T.eq(#images, 2) T.eq(images:sample(2).path, paths[2])
  T.raises(function() return data.load_images(paths, {boxes = {{1, 2, 3, 4}}}) end, "boxes given for some images but not for image 2")
  T.raises(function() return data.load_images({dir .. "/missing.png"}) end, "missing.png")
  H.remove(dir)
end)

T.test("attribute 0 is unknown in a list but a bad line in training data", function()
  local dir = H.synthetic_mtfl{train = 3, test = 3, size = 32, format = "png"}
  local text = H.read(dir .. "/testing.txt")
  local first = text:match("^[^\n]+")
  local unknown_pose = first:gsub("%s+$", ""):gsub("%d+$", "0")
  H.write(dir .. "/testing.txt", text:gsub("^[^\n]+", (unknown_pose:gsub("%%", "%%%%"))))
  local set = data.load_list(dir .. "/testing.txt", {size = 16})
  T.eq(set:sample(1).pose, 0, "unknown kept in a list")
  T.raises(function() return data.load{dir = dir, protocol = "crop", size = 16, cache = false} end,
           "testing.txt:1: pose is 0 (unknown): training and test faces need every attribute")
  local ds = data.load{dir = dir, protocol = "crop", size = 16, cache = false, on_error = "skip", validation = 0}
  T.eq(#ds.test, 2, "skipped")
  H.remove(dir)
end)

T.test("a predictor measures a list exactly as training measured its test set", function()
  local dir = H.synthetic_mtfl{train = 4, test = 6, size = 32, format = "png"}
  mtfl.manual_seed(9)
  local m = network(16)
  local path = os.tmpname()
  nn.save_model(path, m, CARD)
  local p = predictor.load(path, {batch = 4})
  T.eq(p.size, 16) T.eq(p:trained_frame(), "points") T.eq(table.concat(p.attributes, ","), "pose,smile")
  local ds = data.load{dir = dir, protocol = "crop", size = 16, cache = false, validation = 2}
  local set = p:load_list(dir .. "/testing.txt", {after_line = 2})
  T.eq(#set, #ds.test, "the same faces")
  local r = p:run(set)
  m:evaluate()
  local batch = ds.test:batch({1, 2, 3, 4}, {size = 16})
  local out = m:forward(batch.images)
  T.eq((r.landmarks:narrow(1, 1, 4) - out.landmarks):abs():max(), 0, "landmarks, reference size = input size")
  for i = 1, 4 do
    local row = r.probabilities.pose:select(1, i):totable()
    local sum = 0
    for _, v in ipairs(row) do sum = sum + v end
    T.near(sum, 1, 1e-5, "probabilities sum to 1")
  end
  T.raises(function() return p:forward(mtfl.zeros(1, 3, 8, 8)) end, "the model takes [N x 3 x 16 x 16]")
  -- mirrored faces: what the mirror shows, mapped back, is the face itself
  local plain = set:batch({1, 2, 3}, {size = 16}).landmarks:totable()
  local mirrored = set:batch({1, 2, 3}, {size = 16, augment = {mirror = 1}}).landmarks:totable()
  for i = 1, 3 do
    local back = data.mirror_points(mirrored[i], 16)
    for k = 1, 10 do T.near(back[k], plain[i][k], 1e-4, "mirrored point " .. k .. " mapped back") end
  end
  local pm = predictor.load(path, {batch = 4, mirror = true})
  local rm = pm:run(set)
  T.eq(rm.landmarks:size(1), #set, "mirror: every face")
  T.truthy((rm.landmarks - r.landmarks):abs():max() > 0, "mirror: another answer than the plain one")
  os.remove(path)
  H.remove(dir)
end)

T.run_all()
