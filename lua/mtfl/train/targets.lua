-- mtfl.train.targets: what the criterion is given for a batch.
--
-- Landmarks are trained in "reference pixels": the pixels of a 150x150 image, the
-- seed's input size, whatever size the network sees (scale = 150 / size). The
-- landmark loss then has the seed's magnitude (30-60 once trained) at every input
-- size, so the seed's weights lambda_pose = 6 and lambda_glasses = 3 keep their
-- meaning when the quick profile shrinks the images to 64x64.
local M = {}

M.REFERENCE_SIZE = 150

--- The factor from the pixels of a size x size input to reference pixels.
function M.landmark_scale(size) return M.REFERENCE_SIZE / size end

--- {task = target} for the tasks of a MultiTask criterion, from a loader batch.
function M.of_batch(batch, criterion, landmark_scale)
  local t = {}
  for _, task in ipairs(criterion:task_names()) do
    local v = batch[task]
    if task == "landmarks" and landmark_scale ~= 1 then v = v:mul(landmark_scale) end
    t[task] = v
  end
  return t
end

return M
