-- Metrics against hand-computed examples: errors over the inter-ocular distance,
-- failure and accuracy per landmark, image failure, attribute accuracy with its
-- confusion matrix and majority rate; evaluation over a whole set.
local mtfl = require "mtfl"
local data = require "mtfl.data"
local T = require "harness"

mtfl.set_device("cpu")

-- Face 1: eyes (0,0) and (10,0), inter-ocular distance 10; face 2 twice as big.
local TRUTH = {{0, 10, 5, 2, 8, 0, 0, 5, 9, 9}, {0, 20, 10, 4, 16, 0, 0, 10, 18, 18}}

local function copy(t)
  local out = {}
  for i, row in ipairs(t) do out[i] = table.move(row, 1, #row, 1, {}) end
  return out
end

T.test("landmark errors, failures and accuracy by hand", function()
  local pred = copy(TRUTH)
  pred[1][1], pred[1][6] = 3, 4         -- left eye 5 off: 0.5 of the IOD
  pred[1][3] = 5.5                      -- nose 0.5 off: 0.05
  pred[2][10] = 19                      -- face 2's right mouth 1 off: 1/20 = 0.05
  pred[2][4] = 7                        -- face 2's left mouth 3 off: 0.15, a failure
  local m = data.metrics.landmarks(pred, TRUTH)
  local e = m.errors:totable()
  T.near(e[1][1], 0.5, 1e-6, "left eye")
  T.near(e[1][3], 0.05, 1e-6, "nose")
  T.near(e[2][4], 0.15, 1e-6, "left mouth of face 2")
  T.near(e[2][5], 0.05, 1e-6, "right mouth of face 2")
  T.near(m.mean_error, (0.5 + 0.05 + 0.15 + 0.05) / 10, 1e-6, "mean error")
  T.near(m.point_error[1], 0.25, 1e-6, "left eye mean")
  T.near(m.point_failure[1], 0.5, 1e-9, "left eye failure")
  T.near(m.point_failure[4], 0.5, 1e-9, "left mouth failure")
  T.near(m.point_failure[3], 0, 1e-9, "nose: 0.05 passes")
  T.near(m.point_accuracy[1], 0.5, 1e-9, "accuracy = 1 - failure")
  T.near(m.mean_failure, 0.2, 1e-9, "mean of the five failure rates")
  T.near(m.mean_accuracy, 0.8, 1e-9, "the seed's mean accuracy")
  T.near(m.image_failure, 0.5, 1e-9, "face 1: mean of five 0.11 > 0.1; face 2: 0.04")
  local strict = data.metrics.landmarks(pred, TRUTH, {threshold = 0.04})
  T.near(strict.point_failure[3], 0.5, 1e-9, "a 5% nose error fails at 4%")
  T.truthy(data.metrics.format_landmarks(m):find("left eye%s+25.00%s+0.500%s+0.500"), data.metrics.format_landmarks(m))
end)

T.test("landmark metrics reject bad input clearly", function()
  T.raises(function() local m = data.metrics.landmarks({{1, 2, 3}}, {{1, 2, 3}}) return m end, "must be [N, 10]")
  T.raises(function() local m = data.metrics.landmarks(TRUTH, {TRUTH[1]}) return m end, "2 predictions for 1 faces")
  local flat = {{5, 5, 5, 5, 5, 1, 1, 1, 1, 1}}
  T.raises(function() local m = data.metrics.landmarks(flat, flat) return m end, "sample 1: the true eyes coincide")
  local pred = copy(TRUTH)
  pred[1][1] = 0 / 0
  T.near(data.metrics.landmarks(pred, TRUTH).point_failure[1], 0.5, 1e-9, "a NaN prediction fails")
end)

T.test("attribute accuracy, confusion matrix and majority rate by hand", function()
  local truth = {1, 1, 1, 1, 2, 2}
  local a = data.metrics.attribute({1, 1, 2, 1, 2, 1}, truth)
  T.near(a.accuracy, 4 / 6, 1e-9, "accuracy")
  T.eq(a.confusion[1][1], 3, "true 1 as 1")
  T.eq(a.confusion[1][2], 1, "true 1 as 2")
  T.eq(a.confusion[2][1], 1, "true 2 as 1")
  T.eq(a.majority_class, 1, "majority class")
  T.near(a.majority_rate, 4 / 6, 1e-9, "majority rate")
  local text = data.metrics.format_attribute("glasses", a, {"glasses", "no glasses"})
  T.truthy(text:find("accuracy 0.667 on 6 faces (majority class glasses: 0.667)", 1, true), text)
  T.truthy(text:find("no better than always answering it", 1, true), text)
  -- a true label of 0 is unknown: neither right nor wrong, counted apart
  local u = data.metrics.attribute({1, 2, 2, 1, 1}, {1, 0, 2, 0, 2})
  T.eq(u.count, 3, "known labels")
  T.eq(u.unknown, 2, "unknown labels")
  T.near(u.accuracy, 2 / 3, 1e-9, "accuracy over the known")
  T.eq(u.confusion[2][1], 1, "true 2 as 1")
  local ut = data.metrics.format_attribute("pose", u)
  T.truthy(ut:find("on 3 faces", 1, true) and ut:find("2 unknown left out", 1, true), ut)
  local none = data.metrics.attribute({1, 2}, {0, 0})
  T.eq(none.count, 0, "known labels") T.eq(none.unknown, 2, "unknown labels")
  T.eq(data.metrics.format_attribute("pose", none), "pose: no face with a known label, 2 unknown left out")
  T.raises(function() return data.metrics.attribute({1}, {3}) end, "true 3, classes are 1..2 (0: unknown)")
  -- scores [N, K]: the largest wins
  local scores = mtfl.tensor({{0.1, 2, 0.3}, {3, 1, 1}, {0, 0, 5}})
  local s = data.metrics.attribute(scores, {2, 1, 1})
  T.near(s.accuracy, 2 / 3, 1e-9, "accuracy from scores")
  T.eq(s.classes, 3, "classes from the scores")
  T.raises(function() local x = data.metrics.attribute({1, 3}, {1, 2}) return x end, "sample 2: predicted 3")
  T.raises(function() local x = data.metrics.attribute({1, 2, 1}, {1, 2}) return x end, "3 predictions for 2 labels")
end)

T.test("evaluate runs a predictor over a set and measures each output", function()
  local set = data.synthetic{n = 25, size = 32, seed = 2}
  -- a predictor one pixel off in x and y for every point, that always says pose 3
  local result = data.metrics.evaluate(set, function(images, batch)
    local pose = mtfl.zeros(images:size(1), 5)
    pose:select(2, 3):fill(1)
    return {landmarks = batch.landmarks + 1, pose = pose}
  end, {batch = 10})
  T.eq(result.landmarks.count, 25, "faces")
  T.eq(result.pose.count, 25, "poses")
  local want, frontal = 0, 0
  for i = 1, 25 do
    local _, p, labels = set:render(i)
    want = want + math.sqrt(2) / math.sqrt((p[1] - p[2]) ^ 2 + (p[6] - p[7]) ^ 2) / 25
    if labels.pose == 3 then frontal = frontal + 1 end
  end
  T.near(result.landmarks.mean_error, want, 1e-5, "sqrt(2) pixels over each face's IOD")
  T.near(result.pose.accuracy, frontal / 25, 1e-9, "pose 3 always")
  T.eq(result.predictions.landmarks:size(1), 25, "predictions kept")
end)

T.run_all()
