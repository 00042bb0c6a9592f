-- reproduce.lua: the seed study's grid, experiments x seeds x epochs, then the
-- results (JSON, CSV), the table beside the seed's published numbers, and the
-- equivalents of its Figures 2-6.
--
--   mtfl-lua examples/reproduce.lua [--protocol seed|crop] [--quick] [--epochs N]
--       [--seeds N] [--experiments a,b] [--device D] [--data DIR] [--out DIR]
--
-- Defaults are the seed's: 30 epochs, 3 seeds, batch 50, Adam 1e-4, 150x150, the seed
-- protocol (a GPU's work). --quick is sized for a 2-core CPU: 48x48, 10 short epochs
-- of 2,000 faces, Adam 1e-3, one seed. --protocol crop trains on faces cropped like
-- the test faces, which is what beats the seed. Results go to <out>/<protocol>[-quick]/.
--
-- An interrupted grid (Ctrl-C, a lost machine) loses nothing: run the same command
-- again. Finished runs are read back, the run in progress resumes from its last
-- epoch's checkpoint. --help lists every option.
local grid = require "mtfl.train.grid"
local experiment = require "mtfl.train.experiment"

-- The experiments, each a script beside this one (run any of them on its own too).
local EXPERIMENTS = {
  "single_task_landmarks", "single_task_pose", "single_task_glasses", "single_task_gender",
  "single_task_smile", "multitask", "multitask_early_stopping", "multitask_augmentation", "tcdcn",
}

local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/"
local catalogue = {}
for i, name in ipairs(EXPERIMENTS) do
  local chunk = assert(loadfile(here .. name .. ".lua"))
  catalogue[i] = chunk(experiment.AS_SPEC)
end

grid.main(arg, catalogue)
