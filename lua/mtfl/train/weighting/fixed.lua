-- mtfl.train.weighting.fixed: the experiment's lambdas, unchanged for the whole run
-- (eq. (3) of the seed report as it stands). The default policy.
--
--   weighting.new("fixed"):start{tasks = {landmarks = 1, pose = 6, glasses = 3}}
local Policy = require "mtfl.train.weighting.policy"

return Policy.class("fixed", {})
