-- best.lua: the project's recipe for landmarks on MTFL's AFLW test faces, beyond TCDCN.
--
-- What matters, measured (docs/recipe.md has the table): resolution (80 pixels rather
-- than TCDCN's 40), batch normalisation after every convolution, depth (five stages
-- of 3x3 convolutions), augmentation that turns, zooms, moves, mirrors, recolours,
-- blurs and partly hides the faces (all in one warp in C, the landmarks carried
-- along), and a long cosine schedule after a one-epoch warm-up. The four attributes stay
-- as auxiliary tasks with the seed's weights.
--
--   mtfl-lua examples/best.lua --protocol crop [--seed 2] [--epochs N] [--size N] ...
--
-- --size changes the input side; the network follows it (the flattened map is the
-- input side halved five times, rounding up). Settings of its own: --quick is a
-- short run for trying the recipe, the full profile the one measured in the README.
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local experiment = require "mtfl.train.experiment"
local heads = require "mtfl.train.heads"

local WIDTHS = {24, 48, 96, 160, 192}
local FEATURES = 256

-- conv 3x3 (no bias: the batch norm after it has one) + batch norm + ReLU + 2x2 pooling
local function stage(layers, from, to)
  for _, m in ipairs{nn.Conv2d(from, to, 3, {padding = "same", bias = false}), nn.BatchNorm2d(to), nn.ReLU(true),
                     nn.MaxPool2d(2, {ceil = true})} do
    layers[#layers + 1] = m
  end
end

local function network(size, outputs)
  local layers, from, side = {}, 3, size
  for _, width in ipairs(WIDTHS) do
    stage(layers, from, width)
    from, side = width, (side + 1) // 2
  end
  for _, m in ipairs{nn.Flatten(), nn.Linear(from * side * side, FEATURES, {bias = false}), nn.BatchNorm1d(FEATURES),
                     nn.ReLU(true)} do
    layers[#layers + 1] = m
  end
  return nn.Sequential(layers):add(heads.linear(FEATURES, outputs), "heads")
end

return experiment.script({
  name = "best",
  title = "the recipe: 5 stages + batch norm, 80 px, strong augmentation, cosine",
  short = "recipe",
  tasks = {landmarks = 1, pose = 6, glasses = 3, gender = 3, smile = 3},
  augment = {mirror = true, rotate = 20, scale = 0.15, shift = 0.08, color = 0.3, grayscale = 0.1,
             blur = {p = 0.2, sigma = {0.5, 1.5}}, erase = {p = 0.3, area = {0.02, 0.15}}},
  optimizer = {"adamw", weight_decay = 1e-4},
  schedule = optim.schedules.warmup{epochs = 1, inner = optim.schedules.cosine{}},
  settings = {quick = {size = 64, lr = 2e-3, epochs = 8, epoch_size = 5000, batch = 64},
              -- 36 minutes on 2 cores (about 190 img/s, and a validation pass per epoch)
              full = {size = 80, lr = 2e-3, epochs = 45, batch = 64}},
  network = network,
}, ...)
