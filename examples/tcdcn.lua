-- tcdcn.lua: a deeper network after TCDCN (Zhang, Luo, Loy, Tang, ECCV 2014), the
-- study the seed re-implemented: four convolution + max-pooling stages on a small
-- face (40x40 here, RGB), 256 shared features, and all four attributes as auxiliary
-- tasks. Where the seed's network spends 99% of its weights on one fully connected
-- layer over 38x38 maps, this one builds its features in depth, which is what
-- locating points to a few percent of the inter-ocular distance needs.
--
-- On the crop protocol TCDCN reports about 8% mean error on the 2,995 AFLW faces.
--
--   mtfl-lua examples/tcdcn.lua [--quick] [--protocol crop] [--seed 2] [--epochs N] ...
local nn = require "mtfl.nn"
local experiment = require "mtfl.train.experiment"
local heads = require "mtfl.train.heads"

local function network(size, outputs)
  local side = size
  for _ = 1, 4 do side = (side + 1) // 2 end   -- 40 -> 20 -> 10 -> 5 -> 3 (rounding up)
  local function stage(from, to, kernel)
    return nn.Conv2d(from, to, kernel, {padding = "same"}), nn.ReLU(true), nn.MaxPool2d(2, {ceil = true})
  end
  local layers = {}
  for _, s in ipairs{{3, 20, 5}, {20, 48, 3}, {48, 64, 3}, {64, 80, 3}} do
    for _, m in ipairs{stage(s[1], s[2], s[3])} do layers[#layers + 1] = m end
  end
  table.move({nn.Flatten(), nn.Linear(80 * side * side, 256), nn.ReLU(true)}, 1, 3, #layers + 1, layers)
  return nn.Sequential(layers):add(heads.linear(256, outputs), "heads")
end

return experiment.script({
  name = "tcdcn",
  title = "TCDCN-like, 4 stages, multi-task",
  short = "TCDCN-like",
  input_size = 40,
  tasks = {landmarks = 1, pose = 6, glasses = 3, gender = 3, smile = 3},
  -- mirrored faces double the training set (the crop protocol already jitters scale
  -- and position)
  augment = function() return {mirror = true} end,
  -- a small network takes a larger step and more epochs than the seed's
  settings = {quick = {lr = 1e-3, epochs = 12, epoch_size = 5000}, full = {lr = 1e-3, epochs = 60}},
  -- the last quarter of the epochs at a tenth of the step, for the points to settle
  lr_schedule = function(epoch, epochs, lr) return epoch > (3 * epochs) // 4 and lr / 10 or lr end,
  network = network,
}, ...)
