-- ONNX export (mtfl.onnx, scripts/export-onnx.lua) checked by tools independent of
-- mtfl-lua: a model file holding every layer kind of mtfl.nn, exported, passed by
-- ONNX's own checker (Debian's python3-onnx) and run in OpenCV's dnn module (Debian's
-- python3-opencv; both through scripts/onnx_check.py, by export-onnx.lua --compare) on
-- the faces the predictor runs on, its outputs compared with the predictor's within
-- 1e-4. Layers that do not export are errors naming them.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local onnx = require "mtfl.onnx"
local predictor = require "mtfl.predictor"
local files = require "mtfl.files"
local T = require "harness"
local H = require "data_helpers"

local HOST = os.getenv("MTFL_LUA") or "mtfl-lua"
local PYTHON = os.getenv("MTFL_PYTHON3") or "python3"
local EXPORT = "../../scripts/export-onnx.lua"
local TOLERANCE = 1e-4
local SIZE = 13   -- odd: the ceil-mode pooling below has windows hanging over the edge
local q = files.shell_quote

local work = H.temp_dir("onnx")

local CARD = {input = {size = SIZE},
              tasks = {landmarks = {outputs = 10, order = "x1..x5 y1..y5", reference_size = 150},
                       pose = {classes = 5, names = {"left profile", "left", "frontal", "right", "right profile"}},
                       glasses = {classes = 2, names = {"no", "yes"}}, gender = {classes = 2},
                       smile = {classes = 2}}}

-- Every layer and container of mtfl.nn, with the options that change their operators:
-- no bias, no affine, ceil mode, padding, strides, a negative slope, a shared and a
-- per-channel PReLU, a Linear over the last dimension of a 4-D tensor, an identity
-- and a convolution shortcut.
local function every_layer_network()
  return nn.Sequential{
    nn.Conv2d(3, 4, 3, {padding = "same"}), nn.BatchNorm2d(4), nn.ReLU(true),
    nn.MaxPool2d(2, {ceil = true}),                                              -- 13 -> 7, over the edge
    nn.Residual(nn.Sequential{nn.Conv2d(4, 4, 3, {padding = 1}), nn.PReLU(4)}),
    nn.Concat(2, {nn.Sequential{nn.Conv2d(4, 2, 1), nn.Tanh()},
                  nn.Sequential{nn.Conv2d(4, 3, 3, {padding = 1, bias = false}), nn.AbsTanh()}}),
    nn.AvgPool2d(2, 2, {ceil = true}),                                           -- 7 -> 4, over the edge
    nn.LeakyReLU(-0.2),
    nn.Residual(nn.AvgPool2d(3, 1, {padding = 1}), nn.BatchNorm2d(5, {affine = false})),
    nn.Linear(4, 4), nn.Sigmoid(),                                               -- rows of the 4-D map
    nn.MaxPool2d(3, {stride = 2, padding = 1}),                                   -- 4 -> 2
    nn.Concat(2, {nn.Flatten(), nn.GlobalAvgPool2d()}),                          -- [N, 20 + 5]
    nn.Linear(25, 16), nn.BatchNorm1d(16), nn.PReLU(), nn.Dropout(0.3), nn.Linear(16, 12), nn.PReLU(12),
  }:add(nn.Heads{landmarks = nn.Linear(12, 10), pose = nn.Sequential{nn.Linear(12, 5), nn.Dropout(0.5)},
                 glasses = nn.Linear(12, 2, {bias = false}), gender = nn.Sequential{nn.Linear(12, 8), nn.Tanh(),
                                                                                     nn.Linear(8, 2)},
                 smile = nn.Linear(12, 2)}, "heads")
end

-- Weights, biases, slopes and running statistics all away from their initial values,
-- so that a swapped or left-out tensor shows in the outputs; batch norm's scales and the
-- slopes (the 1-D weights) positive and its means small, so that no ReLU sees only
-- negative values and the outputs still depend on the faces.
local function randomize(model)
  mtfl.manual_seed(1)
  local tensors = model:state_dict()
  for _, name in ipairs(require("mtfl.nn.shape").sorted_keys(tensors)) do   -- in one order: one network
    local t = tensors[name]
    local size = t:size()
    local values
    if name:match("running_var$") or (name:match("weight$") and #size == 1) then
      values = mtfl.rand(size, {device = "cpu"}):add(0.5)
    elseif name:match("running_mean$") or name:match("bias$") then
      values = mtfl.randn(size, {device = "cpu"}):mul(0.1)
    else
      values = mtfl.randn(size, {device = "cpu"}):mul(0.5)
    end
    t:copy(values)
  end
  return model:evaluate()
end

-- the classes of mtfl.nn that are modules (layers and containers), by name
local function module_classes()
  local names = {}
  for name, v in pairs(nn) do
    if type(v) == "table" and rawget(v, "_class_name") == name and v ~= nn.Module
       and require("mtfl.nn.class").is_instance(setmetatable({}, v), nn.Module) then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

T.test("the test network holds every layer and container of mtfl.nn", function()
  local used = {}
  every_layer_network():each_module(function(m) used[m._class_name] = true end)
  for _, name in ipairs(module_classes()) do T.truthy(used[name], name .. " in the test network") end
end)

local model_path, onnx_path = work .. "/every_layer.safetensors", work .. "/every_layer.onnx"

T.test("export-onnx.lua writes the model file's network as ONNX, one output per task", function()
  nn.save_model(model_path, randomize(every_layer_network()), CARD)
  local rc, text = T.run(string.format("%s %s %s %s", HOST, EXPORT, q(model_path), q(onnx_path)))
  T.eq(rc, 0, text)
  T.truthy(text:find("ONNX opset 13", 1, true), "the opset in: " .. text)
  for _, line in ipairs{"input  images [N, 3, 13, 13]", "output landmarks [N, 10]", "output pose [N, 5]",
                        "output gender [N, 2]"} do
    T.truthy(text:find(line, 1, true), line .. " in: " .. text)
  end
  local bytes = H.read(onnx_path)
  T.truthy(bytes:find("mtfl.card", 1, true), "the card in the metadata")
end)

T.test("the file is valid ONNX, and OpenCV's dnn module runs it to the predictor's outputs within 1e-4", function()
  local dir = H.synthetic_mtfl{train = 1, test = 6, size = 32}
  local list = dir .. "/testing.txt"
  local rc, text = T.run(string.format("%s %s %s %s --compare %s --python %s", HOST, EXPORT, q(model_path), q(onnx_path),
                                       q(list), q(PYTHON)))
  T.eq(rc, 0, text)
  T.truthy(text:find("onnx checker %S+: valid"), "ONNX's checker passes it: " .. text)
  T.truthy(text:find("compared on 6 faces", 1, true), text)
  for _, name in ipairs{"landmarks", "pose", "glasses", "gender", "smile"} do
    local d = tonumber(text:match("\n  " .. name .. "%s+max abs difference (%S+)"))
    T.truthy(d and d <= TOLERANCE, name .. " within the tolerance: " .. text)
  end
  local worst = tonumber(text:match("max_abs_difference=(%S+) faces=6\n"))
  T.truthy(worst and worst <= TOLERANCE, text)
  print(string.format("  %s vs the predictor on 6 faces: max abs difference %.3g", text:match("(opencv %S+)"), worst))
  -- the comparison can fail: it is measured, not assumed
  rc, text = T.run(string.format("%s %s %s %s --compare %s --python %s --tolerance 1e-12", HOST, EXPORT, q(model_path),
                                 q(work .. "/strict.onnx"), q(list), q(PYTHON)))
  T.truthy(rc ~= 0 and text:find("differs from the predictor's by", 1, true) and text:find("more than --tolerance 1e-12", 1, true),
           "a tolerance of 1e-12 fails: " .. text)
  -- a network blind to its input would pass too: the faces must get different answers
  local p = predictor.load(model_path, {device = "cpu"})
  local r = p:run(p:load_list(list))
  local first = r.landmarks:narrow(1, 1, 1):expand(6, 10)
  local spread = r.landmarks:sub(first):abs():max()
  T.truthy(spread > 10 * TOLERANCE, string.format("the faces' landmarks differ by %g only", spread))
  H.remove(dir)
end)

-- A layer of someone's own, registered so that it saves in a model file.
local Scale = nn.register(nn.class("Scale", nn.Module))
function Scale:__init(k) nn.Module.__init(self) self.k = k end
function Scale:arguments() return {self.k} end
function Scale:updateOutput(x) return x:mul(self.k) end

T.test("a layer without an ONNX form is an error naming its place and class", function()
  local model = nn.Sequential{nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 8)}
    :add(nn.Heads{landmarks = nn.Linear(8, 10), pose = nn.Sequential{nn.Linear(8, 5), Scale(2)}}, "heads")
  T.raises(function() onnx.encode(model, CARD) end, "onnx: model.heads.pose.2 (Scale): a Scale has no ONNX form",
           "Conv2d", "onnx(self, c, x, shape)")
  -- and so does the script, on the model file, with nothing written
  local path = work .. "/scale.safetensors"
  nn.save_model(path, model, {input = CARD.input, tasks = {landmarks = CARD.tasks.landmarks, pose = CARD.tasks.pose}})
  -- the layer as its user's own module would define it (loading the file runs the network once)
  local layer = work .. "/scale_layer.lua"
  H.write(layer, [[
local nn = require "mtfl.nn"
local Scale = nn.register(nn.class("Scale", nn.Module))
function Scale:__init(k) nn.Module.__init(self) self.k = k end
function Scale:arguments() return {self.k} end
function Scale:updateOutput(x) return x:mul(self.k) end
]])
  local rc, text = T.run(string.format("%s -e %s %s %s %s", HOST, q("dofile(" .. string.format("%q", layer) .. ")"),
                                       EXPORT, q(path), q(work .. "/scale.onnx")))
  T.truthy(rc ~= 0, "the script fails: " .. text)
  T.truthy(text:find("onnx: model.heads.pose.2 (Scale): a Scale has no ONNX form", 1, true), text)
  T.truthy(not files.exists(work .. "/scale.onnx"), "no file written")
end)

T.test("a class of your own exports through its onnx method", function()
  function Scale:onnx(c, x, shape) return c:node("Mul", {x, c:constant("k", {}, {self.k})}), shape end
  local model = nn.Sequential{nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 8)}
    :add(nn.Heads{landmarks = nn.Linear(8, 10), pose = nn.Sequential{nn.Linear(8, 5), Scale(2)}}, "heads")
  local _, info = onnx.encode(model, CARD)
  T.eq(info.ops.Mul, 2, "the layer's Mul and the landmarks' scale")
  Scale.onnx = nil
end)

T.test("what the export cannot take is an error naming it", function()
  local after_heads = nn.Sequential{nn.Flatten(), nn.Heads{a = nn.Linear(3 * SIZE * SIZE, 2)}, nn.ReLU()}
  T.raises(function() onnx.encode(after_heads, CARD) end, "onnx: model.3 (ReLU)", "named outputs of a Heads (a)")
  local wrong_size = nn.Sequential{nn.Flatten(), nn.Linear(10, 2)}
  T.raises(function() onnx.encode(wrong_size, CARD) end, "onnx: model.2 (Linear(10 -> 2))", "does not end in 10 features")
  T.raises(function() onnx.encode(wrong_size, {tasks = {}}) end, "onnx: the model card has no input.size")
  local rc, text = T.run(string.format("%s %s %s %s", HOST, EXPORT, q(work .. "/no_such.safetensors"), q(work .. "/x.onnx")))
  T.truthy(rc ~= 0 and text:find("no_such.safetensors", 1, true), text)
end)

T.test("the same network gives the same file", function()
  local a = onnx.encode(nn.load_model(model_path, {device = "cpu"}), CARD)
  local b = onnx.encode(nn.load_model(model_path, {device = "cpu"}), CARD)
  T.truthy(a == b, "two exports are byte for byte the same")
end)

T.run_all()
H.remove(work)
