-- multitask_early_stopping.lua: the multi-task network (landmarks + 6 pose + 3
-- glasses), with the auxiliary tasks stopped early by eq. (4) of the seed report:
-- once per epoch, with the last k = 5 epochs' losses of task a,
--
--     k med(L_train)            L_val(now) - min(L_val)
--   -------------------------  x  -----------------------  >  15 lambda_a  ->  stop a
--   sum(L_train) - k med(L_train)     lambda_a min(L_val)
--
-- A stopped task's lambda goes to 0 and its head freezes; the landmarks go on.
-- --es-factor training puts the training loss in the second factor, as the authors'
-- code did. The seed measured 0.20 mean landmark accuracy; glasses stopped after 11.3
-- epochs and pose after 15.5 on average.
--
--   mtfl-lua examples/multitask_early_stopping.lua [--quick] [--protocol crop] ...
local experiment = require "mtfl.train.experiment"

return experiment.script({
  name = "multitask_early_stopping",
  title = "multi-task + early stopping",
  short = "multi+ES",
  tasks = {landmarks = 1, pose = 6, glasses = 3},
  early_stopping = {k = 5},
  network = experiment.example("seed_network.lua"),
}, ...)
