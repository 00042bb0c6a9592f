-- single_task_pose.lua: the seed network trained on head pose (five classes) alone (the single-task
-- baseline the multi-task network is measured against).
-- The seed measured 0.62: the rate of the majority class (frontal).
--
--   mtfl-lua examples/single_task_pose.lua [--quick] [--protocol crop] [--seed 2] [--epochs N] ...
local experiment = require "mtfl.train.experiment"

return experiment.script({
  name = "single_task_pose",
  title = "single-task pose",
  short = "pose",
  tasks = {pose = 1},
  network = experiment.example("seed_network.lua"),
}, ...)
