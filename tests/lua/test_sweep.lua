-- The sweep (examples/sweep.lua, mtfl.train.sweep): settings parsed and checked, their
-- cross product, what each point changes in the experiment, the paired t-test against
-- the baseline, and a tiny sweep end to end: runs, table, CSV, figures.
local mtfl = require "mtfl"
local json = require "mtfl.json"
local T = require "harness"
local H = require "data_helpers"
local sweep = require "mtfl.train.sweep"
local significance = require "mtfl.train.significance"
local experiment = require "mtfl.train.experiment"

mtfl.set_device("cpu")

local HOST = os.getenv("MTFL_LUA") or "mtfl-lua"
local SWEEP = "../../examples/sweep.lua"

-- tables compared by their JSON (keys sorted)
local function same(got, want, what) T.eq(json.encode(got), json.encode(want), what) end

T.test("settings: key=values, numbers where they are numbers, bad keys and values named", function()
  local axes = sweep.axes{"lambda.pose=1,3,6", "policy=fixed,tcdcn", "epoch-size=100"}
  T.eq(#axes, 3, "three axes")
  T.eq(axes[1].key, "lambda.pose", "in the order given")
  same(axes[1].values, {1, 3, 6}, "numbers")
  T.eq(math.type(axes[1].values[1]), "integer", "integers stay integers")
  same(axes[2].values, {"fixed", "tcdcn"}, "words")
  T.eq(axes[3].key, "epoch_size", "dashes as underscores")
  T.raises(function() sweep.axes{"lambda.nose=1"} end, "no task \"nose\"")
  T.raises(function() sweep.axes{"colour=1"} end, "unknown setting \"colour\"")
  T.raises(function() sweep.axes{"lr"} end, "is not key=value")
  T.raises(function() sweep.axes{"lr=1", "lr=2"} end, "lr is given twice")
  T.raises(function() sweep.axes{"lr="} end, "lr has no values")
  T.raises(function() sweep.axes{"lambda.pose=1,1"} end, "sweep: lambda.pose lists 1 twice")
  T.raises(function() sweep.axes{"lambda.pose=1,1.0"} end, "lists 1 twice")
  local from_table = sweep.axes{epsilon = {5, 15}, ["lambda.glasses"] = 3}
  T.eq(from_table[1].key, "epsilon", "a table's keys sorted")
  same(from_table[2].values, {3}, "a single value")
end)

T.test("points: the cross product, the first axis slowest", function()
  local axes = sweep.axes{"lambda.pose=1,6", "epsilon=5,15,45"}
  local points = sweep.points(axes)
  T.eq(#points, 6, "2 x 3")
  same(points[1], {["lambda.pose"] = 1, epsilon = 5}, "first")
  same(points[3], {["lambda.pose"] = 1, epsilon = 45}, "the last axis fastest")
  same(points[4], {["lambda.pose"] = 6, epsilon = 5}, "then the first moves")
  T.eq(sweep.label(axes, points[6]), "lambda.pose=6,epsilon=45", "its label")
end)

T.test("apply: weights, eq. (4)'s settings, policies and run settings; the base is untouched", function()
  local base = experiment.example("../../examples/multitask.lua")
  local before = json.encode(base.tasks)
  local axes = sweep.axes{"lambda.pose=12", "lambda.smile=2", "epsilon=45", "lr=0.01", "clip=5"}
  local spec, overrides = sweep.apply(base, sweep.points(axes)[1], axes)
  T.eq(spec.tasks.pose, 12, "pose's weight")
  T.eq(spec.tasks.smile, 2, "a task added")
  T.eq(spec.tasks.landmarks, 1, "the others kept")
  T.eq(spec.early_stopping.epsilon_factor, 45, "early stopping with that epsilon")
  T.eq(spec.early_stopping.k, 5, "and the default window")
  T.eq(spec.clip, 5, "an experiment field")
  same(overrides, {lr = 0.01}, "a run setting")
  T.eq(spec.name, "multitask@lambda.pose=12,lambda.smile=2,epsilon=45,lr=0.01,clip=5", "its name")
  T.eq(json.encode(base.tasks), before, "the base experiment is unchanged")
  T.eq(base.early_stopping, nil, "and has no early stopping")
  local paxes = sweep.axes{"policy=tcdcn", "policy.tau=3"}
  local pspec = sweep.apply(base, sweep.points(paxes)[1], paxes)
  T.eq(pspec.policy[1], "tcdcn", "a policy")
  T.eq(pspec.policy.tau, 3, "with an option")
  local oaxes = sweep.axes{"policy.tau=3"}
  T.raises(function() sweep.apply(base, sweep.points(oaxes)[1], oaxes) end, "policy.OPTION needs a policy")
  local bad = sweep.axes{"lambda.pose=0"}
  T.raises(function() sweep.apply(base, sweep.points(bad)[1], bad) end, "a weight must be a positive number")
  -- a run setting gets the command line's own check
  for _, case in ipairs{{"epochs=0", "sweep: epochs must be a positive integer, got 0"},
                        {"epochs=-1", "epochs must be a positive integer, got -1"},
                        {"epoch_size=0", "epoch_size must be a positive integer, got 0"},
                        {"batch=1.5", "batch must be a positive integer, got 1.5"},
                        {"batch=-3", "batch must be a positive integer, got -3"},
                        {"size=big", "size must be a positive integer, got \"big\""},
                        {"lr=0", "lr must be a positive number, got 0"}} do
    local a = sweep.axes{case[1]}
    T.raises(function() sweep.apply(base, sweep.points(a)[1], a) end, case[2])
  end
end)

T.test("the paired t-test: Student's t table and hand-computed differences", function()
  -- two-sided 5% critical values of Student's t
  T.near(significance.t_p_value(12.7062, 1), 0.05, 1e-5, "df 1")
  T.near(significance.t_p_value(4.302653, 2), 0.05, 1e-6, "df 2")
  T.near(significance.t_p_value(2.228139, 10), 0.05, 1e-6, "df 10")
  T.near(significance.t_p_value(1, 1), 0.5, 1e-9, "Cauchy: P(|T| > 1) = 1/2")
  T.near(significance.incomplete_beta(0.3, 2, 3), 0.3483, 1e-9, "I_0.3(2, 3) = 0.3483 (by the binomial sum)")
  -- differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641, df 2
  local t = significance.paired({11, 12, 13}, {10, 10, 10})
  T.near(t.mean, 2, 1e-12, "mean difference")
  T.near(t.std, 1, 1e-12, "its sd")
  T.near(t.t, 2 * math.sqrt(3), 1e-12, "t")
  -- df 2: p = 1 - t / sqrt(t^2 + 2) in closed form
  T.near(t.p, 1 - t.t / math.sqrt(t.t ^ 2 + 2), 1e-9, "p for df 2")
  T.eq(significance.paired({1, 2}, {1, 2}).p, 1, "no difference: p = 1")
end)

T.test("a tiny sweep end to end: every point and seed, the table, the CSV and the figures", function()
  local out = H.temp_dir("sweep")
  local rc, text = T.run(string.format("%s %s --quick --synthetic --limit 40 --size 24 --epoch-size 80 --epochs 2 "
    .. "--device cpu --seeds 2 --sweep lambda.pose=1,6 --baseline single_task_landmarks --out %s", HOST, SWEEP, out))
  T.eq(rc, 0, "sweep\n" .. text)
  local dir = out .. "/seed-quick/sweeps/multitask@lambda.pose=1,6 vs single_task_landmarks"
  local result = json.decode(H.read(dir .. "/sweep.json"))
  T.eq(#result.runs, 6, "(baseline + 2 points) x 2 seeds")
  T.eq(#result.points, 2, "two points")
  -- the summary is the mean over the point's seeds, the test their paired difference
  for _, point in ipairs(result.points) do
    local errs, base = {}, {}
    for _, run in ipairs(result.runs) do
      if run.experiment == point.experiment then errs[run.seed] = run.mean_error end
      if run.experiment == "single_task_landmarks" then base[run.seed] = run.mean_error end
    end
    T.near(point.stats.mean_error.mean, (errs[1] + errs[2]) / 2, 1e-12, point.label .. ": mean over seeds")
    T.near(point.vs_baseline.mean, ((errs[1] - base[1]) + (errs[2] - base[2])) / 2, 1e-12, point.label .. ": paired difference")
  end
  local csv_lines = 0
  for _ in H.read(dir .. "/sweep.csv"):gmatch("[^\n]+") do csv_lines = csv_lines + 1 end
  T.eq(csv_lines, 7, "a header and a row per run")
  T.truthy(H.read(dir .. "/sweep_summary.md"):find("| 6 |", 1, true), "the table has the point pose = 6")
  T.truthy(text:find("vs single_task_landmarks", 1, true), "printed beside the baseline\n" .. text)
  local f = io.open(dir .. "/sweep_lambda.pose.csv") or io.open(dir .. "/sweep_lambda_pose.csv")
  T.truthy(f, "the figure's data")
  if f then f:close() end
  -- run again: every run is finished, nothing is trained
  rc, text = T.run(string.format("%s %s --quick --synthetic --limit 40 --size 24 --epoch-size 80 --epochs 2 "
    .. "--device cpu --seeds 2 --sweep lambda.pose=1,6 --baseline single_task_landmarks --out %s", HOST, SWEEP, out))
  T.eq(rc, 0, "again\n" .. text)
  T.truthy(not text:find("epoch 1/2", 1, true), "nothing trained twice\n" .. text)
  rc, text = T.run(string.format("%s %s --quick --synthetic --out %s", HOST, SWEEP, out))
  T.truthy(rc ~= 0 and text:find("give the settings", 1, true), "no settings is an error\n" .. text)
  -- the same key over other values, into the same folder: a table of its own, the first kept
  rc, text = T.run(string.format("%s %s --quick --synthetic --limit 40 --size 24 --epoch-size 80 --epochs 2 "
    .. "--device cpu --seeds 2 --sweep lambda.pose=6,12 --baseline single_task_landmarks --out %s", HOST, SWEEP, out))
  T.eq(rc, 0, "another sweep of lambda.pose\n" .. text)
  local other = json.decode(H.read(out .. "/seed-quick/sweeps/multitask@lambda.pose=6,12 vs single_task_landmarks/sweep.json"))
  T.eq(other.axes[1].values[2], 12, "its own table")
  T.eq(json.decode(H.read(dir .. "/sweep.json")).axes[1].values[1], 1, "the first sweep's table is still there")
  T.truthy(text:find("finished before", 1, true), "the shared point and the baseline were not trained again\n" .. text)
  -- a bad value stops the sweep before anything trains, with the command line's words
  rc, text = T.run(string.format("%s %s --quick --synthetic --limit 40 --seeds 1 --sweep epochs=0 --out %s", HOST, SWEEP, out))
  T.truthy(rc ~= 0 and text:find("sweep: epochs must be a positive integer, got 0", 1, true), "epochs=0\n" .. text)
end)

T.run_all()
