-- multitask.lua: the seed's multi-task network: landmarks learned jointly with head
-- pose and glasses, with the seed's task weights (eq. 3):
--
--   L = L_landmarks + 6 L_pose + 3 L_glasses
--
-- The seed measured 0.19 mean landmark accuracy on the test faces (the same as
-- single-task), pose 0.62 and glasses 0.89-0.92: their majority rates.
--
--   mtfl-lua examples/multitask.lua [--quick] [--protocol crop] [--seed 2] [--epochs N] ...
local experiment = require "mtfl.train.experiment"

return experiment.script({
  name = "multitask",
  title = "multi-task",
  short = "multi",
  tasks = {landmarks = 1, pose = 6, glasses = 3},
  network = experiment.example("seed_network.lua"),
}, ...)
