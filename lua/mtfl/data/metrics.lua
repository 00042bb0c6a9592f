-- mtfl.data.metrics: landmark errors and attribute accuracy, as the seed study and
-- TCDCN report them.
--
--   error of a point   distance to the truth / true inter-ocular distance
--   failure            error > 10% (threshold); the seed's "accuracy" is 1 - failure rate
--   image failure      the mean error of the image's five points > 10%
--   attribute          accuracy, confusion matrix, and the rate of always answering the
--                      most frequent class, which a classifier must beat
local mtfl = require "mtfl"
local C = mtfl._data
local call = require "mtfl.data.call"

local M = {}

M.POINTS = {"left eye", "right eye", "nose", "left mouth", "right mouth"}

local function as_tensor(x)
  if mtfl.is_tensor(x) then return x end
  return mtfl.tensor(x, {device = "cpu"})
end

--- landmarks(pred, truth [, {threshold = 0.1}]): both [N, 10] (tensors or tables) ->
--- {count, threshold, mean_error, point_error[5], point_failure[5], point_accuracy[5],
---  mean_failure, mean_accuracy, image_failure, errors = [N, 5] tensor}
function M.landmarks(pred, truth, options)
  local errors = call(C.landmark_errors, as_tensor(pred), as_tensor(truth))
  local s = call(C.landmark_summary, errors, options and options.threshold or 0.1)
  s.point_accuracy = {}
  for k = 1, 5 do s.point_accuracy[k] = 1 - s.point_failure[k] end
  s.mean_accuracy = 1 - s.mean_failure
  s.errors = errors
  return s
end

--- Per face, the mean error of its five points (a list), from a landmarks() summary.
function M.face_errors(summary)
  local rows, out = summary.errors:totable(), {}
  for i, r in ipairs(rows) do out[i] = (r[1] + r[2] + r[3] + r[4] + r[5]) / 5 end
  return out
end

--- The q-quantile (0..1) of a list of numbers (linear between order statistics).
function M.quantile(values, q)
  local sorted = table.move(values, 1, #values, 1, {})
  table.sort(sorted)
  if #sorted == 0 then return nil end
  local at = 1 + q * (#sorted - 1)
  local lo = math.floor(at)
  local hi = math.min(lo + 1, #sorted)
  return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo])
end

--- offsets(pred, truth): both [N, 10] -> {x = {5}, y = {5}}, the mean signed error of
--- each point along x and y in inter-ocular distances (prediction minus truth): a
--- constant offset is a difference of annotation convention, not of skill.
function M.offsets(pred, truth)
  local p, t = as_tensor(pred):totable(), as_tensor(truth):totable()
  local x, y = {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}
  for i, tr in ipairs(t) do
    local iod = math.sqrt((tr[1] - tr[2]) ^ 2 + (tr[6] - tr[7]) ^ 2)
    for k = 1, 5 do
      x[k] = x[k] + (p[i][k] - tr[k]) / iod
      y[k] = y[k] + (p[i][k + 5] - tr[k + 5]) / iod
    end
  end
  for k = 1, 5 do x[k], y[k] = x[k] / #t, y[k] / #t end
  return {x = x, y = y}
end

--- attribute(pred, truth [, {classes}]): pred [N] labels (1-based) or [N, K] scores,
--- truth [N] labels (0: unknown, left out) -> {count (known labels), unknown, classes,
---  accuracy, confusion[truth][pred], majority_class, majority_rate}
function M.attribute(pred, truth, options)
  return call(C.attribute_summary, as_tensor(pred), as_tensor(truth), options and options.classes)
end

--- A few lines: mean error, failure and accuracy per point, image failure.
function M.format_landmarks(s)
  local lines = {string.format("landmarks on %d faces: mean error %.2f%% of the inter-ocular distance, " ..
    "image failure %.1f%% (mean of five > %g%%)", s.count, 100 * s.mean_error, 100 * s.image_failure,
    100 * s.threshold)}
  lines[#lines + 1] = string.format("  %-12s %9s %9s %9s", "point", "error %", "failure", "accuracy")
  for k = 1, 5 do
    lines[#lines + 1] = string.format("  %-12s %9.2f %9.3f %9.3f", M.POINTS[k], 100 * s.point_error[k],
      s.point_failure[k], s.point_accuracy[k])
  end
  lines[#lines + 1] = string.format("  %-12s %9.2f %9.3f %9.3f", "mean of 5", 100 * s.mean_error,
    s.mean_failure, s.mean_accuracy)
  return table.concat(lines, "\n")
end

--- Accuracy with the majority-class rate beside it, then the confusion matrix.
function M.format_attribute(name, s, class_names)
  local unknown = (s.unknown or 0) > 0 and string.format(", %d unknown left out", s.unknown) or ""
  if s.count == 0 then return string.format("%s: no face with a known label%s", name, unknown) end
  local lines = {string.format("%s: accuracy %.3f on %d faces (majority class %s: %.3f)%s%s", name, s.accuracy,
    s.count, class_names and class_names[s.majority_class] or tostring(s.majority_class), s.majority_rate,
    unknown, s.accuracy > s.majority_rate and "" or "  -- no better than always answering it")}
  local header = {string.format("  %14s", "truth \\ pred")}
  for c = 1, s.classes do header[#header + 1] = string.format("%7d", c) end
  lines[#lines + 1] = table.concat(header)
  for r = 1, s.classes do
    local row = {string.format("  %14s", class_names and class_names[r] or tostring(r))}
    for c = 1, s.classes do row[#row + 1] = string.format("%7d", s.confusion[r][c]) end
    lines[#lines + 1] = table.concat(row)
  end
  return table.concat(lines, "\n")
end

--- evaluate(set, predict [, {batch = 100, threshold, device}]) runs predict(images,
--- batch, indices) -> {landmarks = [N, 10] (output pixels), pose = [N, 5] scores, ...} over the
--- whole set (no augmentation) and measures every output it gives:
--- {landmarks = summary, pose = summary, ..., predictions = {landmarks = [N, 10], ...},
---  truth = {landmarks = [N, 10], pose = [N], ...}}
function M.evaluate(set, predict, options)
  options = options or {}
  local size = options.size or set:info().size
  local outputs, truths = {}, {}
  local n, step = #set, options.batch or 100
  for first = 1, n, step do
    local indices = {}
    for i = first, math.min(n, first + step - 1) do indices[#indices + 1] = i end
    local batch = set:batch(indices, {device = options.device, size = size})
    for task, out in pairs(predict(batch.images, batch, indices)) do
      outputs[task] = outputs[task] or {}
      truths[task] = truths[task] or {}
      table.insert(outputs[task], out:to("cpu"))
      table.insert(truths[task], batch[task]:to("cpu"))
    end
  end
  local result = {predictions = {}, truth = {}}
  for task, chunks in pairs(outputs) do
    local pred, truth = mtfl.cat(chunks, 1), mtfl.cat(truths[task], 1)
    result.predictions[task], result.truth[task] = pred, truth
    if task == "landmarks" then
      result[task] = M.landmarks(pred, truth, options)
    else
      result[task] = M.attribute(pred, truth, {classes = pred:dim() == 2 and pred:size(2) or nil})
    end
  end
  return result
end

return M
