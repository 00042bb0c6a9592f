-- sweep.lua: an experiment's settings swept, every combination over seeds, with its
-- table, CSV and a figure per setting, each point tested against a baseline.
--
--   mtfl-lua examples/sweep.lua --quick --protocol crop --seeds 3 --experiment multitask \
--       --sweep lambda.pose=1,3,6,12 lambda.glasses=1,3 --baseline single_task_landmarks
--   mtfl-lua examples/sweep.lua --quick --seeds 3 --sweep policy=fixed,early_stopping,tcdcn,uncertainty,gradnorm
--   mtfl-lua examples/sweep.lua --sweep-file my_sweep.lua    -- {experiment =, sweep = {key = {...}}, baseline =}
--
-- Settings: lambda.TASK, epsilon and k (eq. 4), policy and policy.OPTION (mtfl.train.weighting),
-- lr, batch, epochs, epoch_size, size, clip, optimizer, landmark_loss. Runs are kept
-- under <out>/<protocol>[-quick]/runs/<experiment>@<setting=value,...>/seed<k>/ (out:
-- out/sweep by default) and resume like the grid's; the table, CSV and figures go to
-- <out>/<protocol>[-quick]/sweeps/<experiment>@<key=values;...>[ vs <baseline>]/; --jobs N trains N at once, and
-- under mpirun the ranks share them. --help lists every option.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
require("mtfl.train.sweep").main(arg, here)
