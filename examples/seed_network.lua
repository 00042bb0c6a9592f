-- seed_network.lua: the seed study's network, for any input size and any set of heads.
-- The experiment scripts load it with experiment.example("seed_network.lua").
--
--   size x size x 3 -> conv 5x5 3->16 'same' -> ReLU -> max-pool 2
--   -> conv 5x5 16->32 'same' -> ReLU -> max-pool 2 (rounding up: 75 -> 38 at 150)
--   -> 1024 shared features (ReLU) -> one linear head per task
--
-- Xavier initialisation throughout (the layers' default); the seed tried dropout on the
-- shared features and dropped it, and so does this.
local nn = require "mtfl.nn"
local heads = require "mtfl.train.heads"

--- network(size, outputs): outputs = {task = number of outputs}, e.g. {landmarks = 10,
--- pose = 5}. The heads are named after the tasks, inside a Heads named "heads".
local function network(size, outputs)
  local pooled = (size // 2 + 1) // 2   -- the second pooling rounds up
  return nn.Sequential{
    nn.Conv2d(3, 16, 5, {padding = "same"}), nn.ReLU(true), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 5, {padding = "same"}), nn.ReLU(true), nn.MaxPool2d(2, {ceil = true}),
    nn.Flatten(), nn.Linear(32 * pooled * pooled, 1024), nn.ReLU(true),
  }:add(heads.linear(1024, outputs), "heads")
end

-- Loaded by experiment.example, the file is the function; run on its own, it shows the
-- network with the multi-task heads.
local experiment = require "mtfl.train.experiment"
if ... == experiment.AS_SPEC then return network end
local o = require("mtfl.cli").parse(arg, {script = arg[0], about = "shows the seed study's network, layer by layer",
  options = {size = {"int", "input side in pixels", default = 150}}})
if not o then return end   -- --help
print(network(o.size, {landmarks = 10, pose = 5, glasses = 2}):summary{1, 3, o.size, o.size})
