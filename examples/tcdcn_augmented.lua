-- tcdcn_augmented.lua: the TCDCN-like network of tcdcn.lua trained on faces augmented
-- the way face-alignment work since TCDCN does it: turned by up to 20 degrees, zoomed by
-- up to 15% and moved by up to 8% of the face, mirrored half of the time (all one warp,
-- the landmarks carried along), with colour jitter, an occasional gray, blurred or
-- partly erased face. Under the crop protocol the faces are stored with room for the
-- turn, so the warp shows their real surroundings (mtfl.train.datasets.crop_jitter).
--
--   mtfl-lua examples/tcdcn_augmented.lua [--quick] [--protocol crop] [--seed 2] ...
local experiment = require "mtfl.train.experiment"

local spec = {}
for k, v in pairs(experiment.example("tcdcn.lua")) do spec[k] = v end
spec.name, spec.title, spec.short = "tcdcn_augmented", "TCDCN-like + rich augmentation", "TCDCN+aug"
spec.augment = {mirror = true, rotate = 20, scale = 0.15, shift = 0.08, color = 0.3, grayscale = 0.1,
                blur = {p = 0.2, sigma = {0.5, 1.5}}, erase = {p = 0.3, area = {0.02, 0.15}}}

return experiment.script(spec, ...)
