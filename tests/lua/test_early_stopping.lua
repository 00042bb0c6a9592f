-- Early stopping of auxiliary tasks, eq. (4), on constructed loss sequences whose
-- criterion values are computed by hand.
local T = require "harness"
local EarlyStopping = require "mtfl.train.early_stopping"

T.test("criterion by hand", function()
  -- k = 3, lambda = 2. Training window {1.0, 0.9, 0.8}: median 0.9, sum 2.7,
  -- first factor 3 * 0.9 / (2.7 - 2.7) -> the sum equals k*median: flat -> +inf,
  -- so use {1.2, 0.9, 0.8}: median 0.9, sum 2.9, 2.7 / 0.2 = 13.5.
  -- Validation window {0.5, 0.4, 0.6}: min 0.4, rise 0.2, 0.2 / (2 * 0.4) = 0.25.
  -- Criterion 13.5 * 0.25 = 3.375.
  local v = EarlyStopping.criterion({5, 1.2, 0.9, 0.8}, {9, 0.5, 0.4, 0.6}, 3, 2)
  T.near(v, 3.375, 1e-12, "criterion")
  -- validation at its minimum: 0, whatever the training loss does
  T.eq(EarlyStopping.criterion({1.2, 0.9, 0.8}, {0.5, 0.4, 0.3}, 3, 2), 0, "improving validation")
  -- a training loss that stopped falling: infinite first factor
  T.eq(EarlyStopping.criterion({1, 1, 1}, {0.3, 0.4, 0.5}, 3, 2), math.huge, "flat training loss")
  T.eq(EarlyStopping.criterion({1, 1}, {1, 1}, 3, 2), nil, "fewer than k epochs")
  -- even window: the median is the mean of the middle two
  -- {4, 3, 2, 1}: median 2.5, sum 10, 4*2.5/(10-10) -> flat; use {5, 3, 2, 1}: 10/(11-10) = 10
  -- validation {1, 2, 2, 3}: min 1, rise 2, 2/(1*1) = 2 -> 20
  T.near(EarlyStopping.criterion({5, 3, 2, 1}, {1, 2, 2, 3}, 4, 1), 20, 1e-12, "even window")
end)

T.test("a task stops when the criterion passes 15 * lambda", function()
  local es = EarlyStopping.new{tasks = {pose = 2, glasses = 1}, k = 3}
  -- glasses: improving validation every epoch: its criterion stays 0.
  -- pose: the training loss flattens while validation rises (lambda 2: threshold 30).
  local pose_train = {3.0, 2.0, 1.5, 1.2, 1.0, 0.9, 0.85}
  local pose_val = {1.0, 0.5, 0.4, 0.5, 0.6, 0.7, 2.0}
  local stopped_at
  for epoch = 1, #pose_train do
    local stops = es:update({pose = pose_train[epoch], glasses = 1 / epoch},
                            {pose = pose_val[epoch], glasses = 1 / epoch})
    for _, task in ipairs(stops) do
      T.eq(task, "pose", "only pose stops")
      stopped_at = epoch
    end
  end
  T.eq(es.values.pose[2], nil, "nothing before k epochs")
  -- epoch 3: validation {1.0, 0.5, 0.4} at its minimum -> 0
  T.eq(es.values.pose[3], 0, "epoch 3")
  -- epoch 4: train {2, 1.5, 1.2}: 4.5 / (4.7 - 4.5) = 22.5; val {0.5, 0.4, 0.5}: 0.1 / 0.8
  T.near(es.values.pose[4], 22.5 * 0.125, 1e-9, "epoch 4")
  -- epoch 5: train {1.5, 1.2, 1.0}: 3.6 / 0.1 = 36; val {0.4, 0.5, 0.6}: 0.2 / 0.8
  T.near(es.values.pose[5], 36 * 0.25, 1e-9, "epoch 5")
  -- epoch 6: train {1.2, 1.0, 0.9}: 3 / 0.1 = 30; val {0.5, 0.6, 0.7}: 0.2 / 1.0
  T.near(es.values.pose[6], 30 * 0.2, 1e-9, "epoch 6")
  -- epoch 7: train {1.0, 0.9, 0.85}: 2.7 / 0.05 = 54; val {0.6, 0.7, 2.0}: 1.4 / 1.2 -> 63 > 30
  T.near(es.values.pose[7], 54 * 1.4 / 1.2, 1e-9, "epoch 7")
  T.eq(stopped_at, 7, "pose stop epoch")
  T.eq(es.stopped.pose, 7, "recorded stop epoch")
  T.eq(es.stopped.glasses, nil, "glasses keeps going")
  T.eq(es.values.glasses[7], 0, "glasses criterion")
end)

T.test("the authors' variant uses the training loss in the second factor", function()
  local es = EarlyStopping.new{tasks = {pose = 1}, k = 3, second_factor = "training"}
  for _, l in ipairs({1.2, 0.9, 0.8}) do es:update({pose = l}) end
  -- second factor from training: {1.2, 0.9, 0.8}: current 0.8 is the minimum -> 0
  T.eq(es.values.pose[3], 0, "training-loss variant")
end)

T.test("bad options are errors", function()
  T.raises(function() EarlyStopping.new{tasks = {pose = 0}} end, "positive lambda")
  T.raises(function() EarlyStopping.new{tasks = {pose = 1}, second_factor = "test"} end, "second_factor")
  T.raises(function() EarlyStopping.new{tasks = {pose = 1}, k = 1} end, "at least 2")
  local es = EarlyStopping.new{tasks = {pose = 1}}
  T.raises(function() es:update({}, {}) end, "no training loss for task pose")
end)

T.run_all()
