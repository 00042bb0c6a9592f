-- single_task_landmarks.lua: the seed network trained on the five landmarks alone (the single-task
-- baseline the multi-task network is measured against).
-- The seed measured 0.19 mean test accuracy (1 - failure rate at 10% of the
-- inter-ocular distance): its training faces are much smaller than its test faces.
--
--   mtfl-lua examples/single_task_landmarks.lua [--quick] [--protocol crop] [--seed 2] [--epochs N] ...
local experiment = require "mtfl.train.experiment"

return experiment.script({
  name = "single_task_landmarks",
  title = "single-task landmarks",
  short = "landmarks",
  tasks = {landmarks = 1},
  network = experiment.example("seed_network.lua"),
}, ...)
