-- single_task_gender.lua: the seed network trained on gender alone (the single-task
-- baseline the multi-task network is measured against).
-- Not in the seed's figures: TCDCN's other auxiliary task, here for completeness.
--
--   mtfl-lua examples/single_task_gender.lua [--quick] [--protocol crop] [--seed 2] [--epochs N] ...
local experiment = require "mtfl.train.experiment"

return experiment.script({
  name = "single_task_gender",
  title = "single-task gender",
  short = "gender",
  tasks = {gender = 1},
  network = experiment.example("seed_network.lua"),
}, ...)
