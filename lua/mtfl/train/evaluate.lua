-- mtfl.train.evaluate: a network measured on a whole set (validation or test), with
-- the metrics of mtfl.data.metrics and the loss of every task in the same pass.
--
-- The network's landmark head works in "reference pixels" (see targets.lua): its
-- outputs are brought back to the set's pixels before they are measured.
local mtfl = require "mtfl"
local metrics = require("mtfl.data").metrics
local targets = require "mtfl.train.targets"
local errors = require "mtfl.errors"

local M = {}

--- evaluate(model, criterion, set, {size, landmark_scale, batch = 100, device}) ->
--- {losses = {task = mean loss}, landmarks = summary, pose = summary, ...,
---  predictions = {task = [N, ...] cpu tensor}}
function M.evaluate(model, criterion, set, o)
  if #set == 0 then errors.raise("evaluate: the set has no faces") end
  local was_training = model.train
  model:evaluate()
  local sums, count = {}, 0
  local function predict(images, batch)
    local outputs = model:forward(images)
    local _, losses = criterion:forward(outputs, targets.of_batch(batch, criterion, o.landmark_scale))
    local n = images:size(1)
    for task, loss in pairs(losses) do sums[task] = (sums[task] or 0) + loss * n end
    count = count + n
    local measured = {}
    for task, out in pairs(outputs) do
      measured[task] = task == "landmarks" and out:mul(1 / o.landmark_scale) or out
    end
    return measured
  end
  local result = metrics.evaluate(set, predict, {size = o.size, batch = o.batch or 100, device = o.device})
  result.losses = {}
  for task, sum in pairs(sums) do result.losses[task] = sum / count end
  if was_training then model:training() end
  return result
end

--- The numbers of an evaluation that go into results (no tensors): for landmarks,
--- mean_error, point_error, point_failure, point_accuracy, mean_failure,
--- mean_accuracy, image_failure; for an attribute, <task>_accuracy,
--- <task>_majority_rate and its confusion matrix.
function M.flatten(result)
  local flat, confusion = {}, {}
  local lm = result.landmarks
  if lm then
    for _, key in ipairs{"mean_error", "mean_failure", "mean_accuracy", "image_failure"} do flat[key] = lm[key] end
    for _, key in ipairs{"point_error", "point_failure", "point_accuracy"} do
      flat[key] = table.move(lm[key], 1, 5, 1, {})
    end
  end
  for task, s in pairs(result) do
    if type(s) == "table" and s.majority_rate then
      flat[task .. "_accuracy"] = s.accuracy
      flat[task .. "_majority_rate"] = s.majority_rate
      confusion[task] = s.confusion
    end
  end
  if next(confusion) then flat.confusion = confusion end
  return flat
end

return M
