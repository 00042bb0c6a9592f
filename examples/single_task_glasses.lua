-- single_task_glasses.lua: the seed network trained on glasses (yes or no) alone (the single-task
-- baseline the multi-task network is measured against).
-- The seed measured 0.89-0.92: the rate of the majority class (no glasses).
--
--   mtfl-lua examples/single_task_glasses.lua [--quick] [--protocol crop] [--seed 2] [--epochs N] ...
local experiment = require "mtfl.train.experiment"

return experiment.script({
  name = "single_task_glasses",
  title = "single-task glasses",
  short = "glasses",
  tasks = {glasses = 1},
  network = experiment.example("seed_network.lua"),
}, ...)
