-- multitask_uncertainty.lua: the seed's multi-task network (landmarks + pose + glasses)
-- with its task weights learned instead of set: homoscedastic uncertainty weighting
-- (Kendall, Gal, Cipolla 2018), lambda_t = exp(-s_t) with one log-variance s_t per task
-- trained every step beside the network (mtfl.train.weighting.uncertainty). s starts at
-- -log lambda, so the first step weighs the tasks as examples/multitask.lua does
-- (1, 6, 3); the lambdas of every epoch are in result.json's history.weights.
-- Another policy is one word away: "tcdcn", "gradnorm", {"gradnorm", alpha = 0.5}, ...
--
--   mtfl-lua examples/multitask_uncertainty.lua [--quick] [--protocol crop] [--seed 2] ...
local experiment = require "mtfl.train.experiment"

return experiment.script({
  name = "multitask_uncertainty",
  title = "multi-task, uncertainty weights",
  short = "multi+UW",
  tasks = {landmarks = 1, pose = 6, glasses = 3},
  policy = "uncertainty",
  network = experiment.example("seed_network.lua"),
}, ...)
