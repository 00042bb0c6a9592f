-- The experiment scripts and the grid (examples/reproduce.lua) in CI conditions: tiny
-- synthetic faces, one or two short epochs, a temporary --out. The grid runs end to end
-- and writes its results and figures; an interrupted grid resumes without redoing
-- finished runs and ends with the same results; early stopping freezes what it stops.
local mtfl = require "mtfl"
local json = require "mtfl.json"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local data = require "mtfl.data"
local T = require "harness"
local H = require "data_helpers"
local options = require "mtfl.train.options"
local report = require "mtfl.train.report"
local Trainer = require "mtfl.train.trainer"
local EarlyStopping = require "mtfl.train.early_stopping"
local experiment = require "mtfl.train.experiment"

mtfl.set_device("cpu")

local HOST = os.getenv("MTFL_LUA") or "mtfl-lua"
local REPRODUCE = "../../examples/reproduce.lua"
-- every experiment, tiny: 24x24 faces (the TCDCN-like one keeps its 40x40), 40 of each part
local TINY = "--quick --synthetic --limit 40 --size 24 --epoch-size 80 --device cpu"

local function grid(args, out, env)
  return T.run(string.format("%s%s %s %s --out %s", env and env .. " " or "", HOST, REPRODUCE, args, out))
end

local function read_json(path) return json.decode(H.read(path)) end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- ---- options and tables --------------------------------------------------------------

T.test("options: profiles, an experiment's own settings, the command line on top", function()
  local s = options.resolve(options.parse({"--quick", "--epochs", "3", "--protocol=crop"}))
  T.eq(s.size, 48, "quick size")
  T.eq(s.epochs, 3, "--epochs beats the profile")
  T.eq(s.protocol, "crop", "--protocol=crop")
  T.eq(options.resolve({}).lr, 1e-4, "the seed's learning rate by default")
  local spec = {input_size = 40, settings = {quick = {lr = 1e-3, epochs = 12}}}
  s = options.resolve(options.parse({"--quick", "--size", "64", "--epochs", "2"}), spec)
  T.eq(s.size, 40, "an experiment's input size is its architecture's")
  T.eq(s.lr, 1e-3, "the experiment's quick settings")
  T.eq(s.epochs, 2, "the command line beats the experiment")
  s = options.resolve(options.parse({"--experiments", "multitask,tcdcn"}))
  T.eq(#s.experiments, 2, "a list")
  T.raises(function() options.parse({"--epochs", "0"}) end, "option --epochs wants a positive integer")
  T.raises(function() options.parse({"--protocol", "box"}) end, "option --protocol is \"box\" (use seed or crop)")
  T.raises(function() options.parse({"--epochs"}) end, "option '--epochs' requires an argument")
  T.raises(function() options.parse({"--bogus"}) end, "unknown option '--bogus' (--help lists the options)")
  T.raises(function() options.parse({"--seeds", "2"}, experiment.SCRIPT_OPTIONS) end, "unknown option '--seeds'; did you mean '--seed'?")
end)

T.test("report: mean and sample standard deviation over seeds, the table beside the seed", function()
  local st = report.stats({1, 2, 3})
  T.near(st.mean, 2, 1e-12, "mean")
  T.near(st.std, 1, 1e-12, "std")
  T.eq(report.stats({5}).std, 0, "one run")
  local function run(seed, err, acc)
    return {experiment = "multitask", title = "multi-task", seed = seed, mean_error = err, mean_accuracy = acc,
            point_accuracy = {acc, acc, acc, acc, acc}, pose_accuracy = 0.7, pose_majority_rate = 0.6,
            stop_epoch = {pose = seed + 4}}
  end
  local summary = report.summarize({run(1, 0.10, 0.5), run(2, 0.12, 0.4)})
  T.eq(#summary, 1, "one experiment")
  T.near(summary[1].stats.mean_error.mean, 0.11, 1e-12, "mean error")
  T.near(summary[1].stats["stop_epoch.pose"].mean, 5.5, 1e-12, "stop epoch")
  local text = report.text(summary, "seed")
  T.truthy(text:find("11.00 ± 1.41", 1, true), "mean ± std in percent:\n" .. text)
  T.truthy(text:find("acc. 0.19", 1, true), "the seed's published accuracy beside it")
  T.truthy(report.text(summary, "crop"):find("TCDCN error 8%", 1, true), "TCDCN's 8% on the crop protocol")
  T.truthy(report.markdown(summary, "seed"):match("^| experiment | runs |"), "markdown header")
  local csv = report.runs_csv({run(1, 0.1, 0.5)})
  T.truthy(csv:match("^experiment,seed,"), "csv header")
  T.truthy(csv:find("point_accuracy.5", 1, true), "per-landmark columns")
end)

-- ---- the trainer: early stopping and resuming ------------------------------------------

local function tiny_run(dir, should_stop, snapshots)
  local ds = data.synthetic_dataset{size = 16, seed = 3, train = 40, val = 20, test = 20}
  mtfl.manual_seed(7)
  local model = nn.Sequential{nn.Conv2d(3, 4, 3, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(4 * 8 * 8, 16), nn.ReLU()}
    :add(require("mtfl.train.heads").linear(16, {landmarks = 10, pose = 5, glasses = 2}), "heads")
  model:input_gradient(false)
  local params, grads = nn.flatten_parameters(model)
  local criterion = nn.MultiTask{landmarks = {nn.LandmarkLoss(), 1}, pose = {nn.CrossEntropy(), 6},
                                 glasses = {nn.CrossEntropy(), 3}}
  -- epsilon_factor -1: every task stops as soon as eq. (4) has a value (after k epochs)
  local es = EarlyStopping.new{tasks = {pose = 6, glasses = 3}, k = 2, epsilon_factor = -1}
  local loader <close> = data.loader(ds.train, {batch = 10, seed = 1})
  local trainer = Trainer.new{model = model, criterion = criterion, optimizer = optim.Adam(params, grads, {lr = 1e-3}),
    loader = loader, val = ds.val, size = 16, epochs = 4, early_stopping = es,
    checkpoint = dir .. "/checkpoint.safetensors"}
  trainer:resume()
  local status = trainer:fit(function()
    if snapshots then snapshots[trainer.epoch] = model:get("heads"):get("pose").weight:clone() end
    return should_stop and should_stop(trainer.epoch)
  end)
  return status, trainer, model, criterion
end

T.test("early stopping: lambda 0 and a frozen head from the stop epoch on", function()
  local dir = H.temp_dir("es")
  local snapshots = {}
  local status, trainer, model, criterion = tiny_run(dir, nil, snapshots)
  T.eq(status, "finished", "status")
  T.eq(trainer:stop_epochs().pose, 2, "pose stopped at epoch 2")
  T.eq(trainer:stop_epochs().glasses, 2, "glasses stopped at epoch 2")
  T.eq(criterion:weight("pose"), 0, "pose lambda")
  T.eq(criterion:weight("landmarks"), 1, "landmarks go on")
  T.truthy(model:get("heads"):is_frozen("pose"), "pose head frozen")
  T.eq(mtfl.max_abs_diff(snapshots[2], snapshots[4]), 0, "the pose head did not move after epoch 2")
  T.truthy(mtfl.max_abs_diff(snapshots[1], snapshots[2]) > 0, "it moved before")
  T.eq(#trainer.history.val_loss.pose, 4, "validation loss every epoch")
  H.remove(dir)
end)

T.test("a run stopped after epoch 3 resumes to the same weights", function()
  local whole, parts = H.temp_dir("whole"), H.temp_dir("parts")
  local _, _, model_a = tiny_run(whole)
  local status = tiny_run(parts, function(epoch) return epoch == 3 end)
  T.eq(status, "interrupted", "first part")
  local status2, trainer, model_b, criterion = tiny_run(parts)
  T.eq(status2, "finished", "second part")
  T.eq(trainer.epoch, 4, "epochs")
  T.eq(criterion:weight("glasses"), 0, "the stopped task stays stopped")
  T.truthy(model_b:get("heads"):is_frozen("glasses"), "and its head frozen")
  local pa, pb = nn.flatten_parameters(model_a), nn.flatten_parameters(model_b)
  T.eq(mtfl.max_abs_diff(pa, pb), 0, "weights after an interruption")
  H.remove(whole)
  H.remove(parts)
end)

T.test("an experiment's augment: a table or a function of the size, checked when its loader starts", function()
  local s = options.resolve(options.parse({"--quick", "--synthetic", "--limit", "40", "--size", "24", "--epochs", "1",
                                           "--epoch-size", "40", "--device", "cpu"}))
  s.seed = 1
  local network = loadfile("../../examples/seed_network.lua")(experiment.AS_SPEC)
  local function spec(augment)
    return {name = "augmented", tasks = {landmarks = 1, pose = 1}, network = network, augment = augment}
  end
  local dir = H.temp_dir("augment")
  local result = experiment.run(spec{mirror = true, rotate = 20, scale = 0.15, shift = 0.08, color = 0.3,
                                     grayscale = 0.1, blur = {p = 0.2}, erase = {p = 0.3}}, s, {dir = dir, quiet = true})
  T.truthy(result and result.mean_error > 0, "a run with every augmentation trains and is tested")
  H.remove(dir)
  dir = H.temp_dir("augment")
  T.raises(function() experiment.run(spec{rotation = 20}, s, {dir = dir, quiet = true}) end,
           "augment: unknown field 'rotation'")
  T.raises(function() experiment.run(spec(function(size) return {translate = size, blur = {p = 3}} end), s,
                                     {dir = dir, quiet = true}) end, "augment: blur.p 3")
  T.raises(function() experiment.run(spec(0.5), s, {dir = dir, quiet = true}) end,
           "experiment augmented: augment must be a table or function(size) -> table, got number")
  H.remove(dir)
end)

T.test("the crop room an experiment's augmentation needs: the default unless it asks for more", function()
  local datasets = require "mtfl.train.datasets"
  T.eq(datasets.crop_jitter{mirror = true, translate = 4}, nil, "no geometric jitter: the default room")
  T.eq(datasets.crop_jitter{scale = 0.1, shift = 0.05}, nil, "the default room holds the default jitter")
  local j = datasets.crop_jitter{rotate = 20, scale = 0.05, shift = 0.08}
  T.eq(j.rotate, 20, "rotation")
  T.eq(j.scale, 0.1, "never less than the default scale")
  T.eq(j.shift, 0.08, "shift")
  T.eq(datasets.crop_jitter{rotate = "20"}, nil, "not a number: left to the loader to reject")
  -- what data.load does with it: tests/lua/test_data_augment.lua (the window grows, the
  -- cache key and the set's jitter carry the rotation)
end)

-- ---- the grid -------------------------------------------------------------------------

T.test("the whole grid on tiny synthetic faces: results, table and figures", function()
  local out = H.temp_dir("grid")
  local rc, text = grid(TINY .. " --epochs 2", out)
  T.eq(rc, 0, "exit status\n" .. text)
  local dir = out .. "/seed-quick"
  local results = read_json(dir .. "/results.json")
  T.eq(#results.runs, 9, "a run per experiment")
  local by_name = {}
  for _, run in ipairs(results.runs) do by_name[run.experiment] = run end
  for _, name in ipairs{"single_task_landmarks", "multitask", "multitask_early_stopping", "multitask_augmentation", "tcdcn"} do
    local run = by_name[name]
    T.truthy(run, name .. " ran")
    T.eq(type(run.mean_error), "number", name .. " mean_error")
    T.eq(#run.point_accuracy, 5, name .. " point_accuracy")
    T.eq(#run.point_error, 5, name .. " point_error")
    T.eq(#run.point_failure, 5, name .. " point_failure")
    T.eq(#run.history.val.mean_error, 2, name .. " validation every epoch")
    T.eq(#run.sheet.landmarks, experiment.SHEET_FACES, name .. " sheet predictions")
  end
  for _, name in ipairs{"single_task_pose", "single_task_glasses", "single_task_gender", "single_task_smile"} do
    local task = name:match("single_task_(.*)")
    T.eq(type(by_name[name][task .. "_accuracy"]), "number", name .. " accuracy")
    T.eq(type(by_name[name][task .. "_majority_rate"]), "number", name .. " majority rate")
    T.eq(by_name[name].mean_error, nil, name .. " has no landmarks")
  end
  T.eq(type(by_name.tcdcn.smile_accuracy), "number", "the TCDCN-like network has every attribute")
  T.eq(type(by_name.multitask_early_stopping.stop_epoch), "table", "stop epochs recorded")
  T.eq(by_name.tcdcn.config.size, 40, "the TCDCN-like network keeps its input size")
  T.truthy(H.read(dir .. "/results.csv"):match("^experiment,seed,.*mean_error"), "results.csv header")
  T.truthy(H.read(dir .. "/summary.csv"):match("^experiment,runs,"), "summary.csv header")
  T.truthy(H.read(dir .. "/summary.md"):find("| multi-task + early stopping |", 1, true), "summary.md rows")
  T.truthy(text:find("landmark acc.", 1, true) and text:find("acc. 0.24", 1, true), "the printed table")
  for _, fig in ipairs{"fig2_landmark_accuracy", "fig3_early_stopping", "fig4_validation_accuracy", "fig5_augmentation",
                       "validation_error"} do
    T.truthy(exists(dir .. "/" .. fig .. ".csv"), fig .. ".csv")
    if data.plot.available() then T.truthy(exists(dir .. "/" .. fig .. ".png"), fig .. ".png") end
  end
  T.truthy(exists(dir .. "/fig6_test_faces.png"), "the contact sheet")
  H.remove(out)
end)

-- The numbers of a run that must not depend on interruptions (not the timings).
local comparable = H.comparable_run

T.test("--jobs 2 trains two runs at once to the same results, and resumes when its jobs are stopped", function()
  local args = TINY .. " --epochs 2 --seeds 2 --experiments single_task_landmarks,multitask_early_stopping"
  local one, two = H.temp_dir("one"), H.temp_dir("two")
  local rc, text = grid(args, one)
  T.eq(rc, 0, "one process\n" .. text)
  -- each job stops after its first epoch: nothing is complete, the command exits with 3
  rc, text = grid(args .. " --jobs 2 --stop-after-epochs 1", two, "OMP_NUM_THREADS=2")
  T.eq(rc, 3, "stopped jobs exit with 3\n" .. text)
  T.truthy(text:find("2 jobs at once, 1 thread each", 1, true), "the cores are split\n" .. text)
  T.truthy(not exists(two .. "/seed-quick/results.json"), "no grid results yet")
  rc, text = grid(args .. " --jobs 2", two, "OMP_NUM_THREADS=2")
  T.eq(rc, 0, "resumed jobs\n" .. text)
  T.truthy(text:find("resuming after epoch 1 of 2", 1, true), "runs resumed from their checkpoints\n" .. text)
  local a, b = read_json(one .. "/seed-quick/results.json"), read_json(two .. "/seed-quick/results.json")
  T.eq(#b.runs, 4, "every run in the results")
  local workers_seen = {}
  for i = 1, 4 do
    T.eq(b.runs[i].experiment, a.runs[i].experiment, "the same order")
    T.eq(comparable(b.runs[i]), comparable(a.runs[i]), "run " .. i .. " is the same bits as one process's")
    workers_seen[b.runs[i].config.provenance.worker] = true
  end
  T.truthy(workers_seen["1/2"] and workers_seen["2/2"], "both jobs trained runs")
  -- what made a run: the code, the libraries, the machine, every setting
  local p = a.runs[1].config.provenance
  T.truthy(p.libraries.openblas:find("OpenBLAS", 1, true) and p.libraries.clblast and p.libraries.lua:find("^Lua 5%.4"),
           "library versions recorded: " .. json.encode(p.libraries))
  T.eq(p.device.id, "cpu", "the device")
  T.eq(p.settings.epochs, 2, "the settings")
  T.eq(p.settings.seed, 1, "the seed")
  T.truthy(p.started:match("^%d%d%d%d%-%d%d%-%d%dT"), "when")
  T.truthy(p.commit == nil or p.commit:match("^%x+$") and #p.commit == 40, "the commit when in a checkout: " .. tostring(p.commit))
  rc, text = grid(args .. " --jobs 0", two)
  T.truthy(rc ~= 0 and text:find("--jobs", 1, true), "--jobs 0 is refused\n" .. text)
end)

T.test("--jobs starts no more workers than there are runs or cores, and says so", function()
  local workers = require "mtfl.train.workers"
  T.eq(workers.job_count(1000, 4, 2), 2, "the cores")
  T.eq(workers.job_count(8, 3, 16), 3, "the runs")
  T.eq(workers.job_count(2, 4, 2), 2, "as asked")
  T.eq(workers.job_count(4, 0, 2), 1, "at least one")
  local out = H.temp_dir("jobs")
  local rc, text = grid(TINY .. " --epochs 1 --seeds 1 --experiments single_task_landmarks,single_task_pose --jobs 1000", out,
                        "OMP_NUM_THREADS=2")
  T.eq(rc, 0, "--jobs 1000\n" .. text)
  T.truthy(text:find("--jobs 1000: 2 runs on 2 cores, so 2 jobs", 1, true), "the cut is said\n" .. text)
  T.truthy(text:find("2 jobs at once, 1 thread each", 1, true), "two started\n" .. text)
  H.remove(out)
end)

T.test("an interrupted grid resumes: finished runs are kept, the rest picks up, same results", function()
  local args = TINY .. " --epochs 3 --experiments single_task_landmarks,multitask_early_stopping,multitask_augmentation"
  local whole, parts = H.temp_dir("whole"), H.temp_dir("parts")
  local rc, text = grid(args, whole)
  T.eq(rc, 0, "uninterrupted grid\n" .. text)
  -- 4 epochs: the first run's 3, then one of the second
  rc, text = grid(args .. " --stop-after-epochs 4", parts)
  T.eq(rc, 3, "an interrupted grid exits with 3\n" .. text)
  local runs = parts .. "/seed-quick/runs/"
  local first = runs .. "single_task_landmarks/seed1/result.json"
  T.truthy(exists(first), "the first run finished")
  T.truthy(exists(runs .. "multitask_early_stopping/seed1/checkpoint.safetensors"), "the second has a checkpoint")
  T.truthy(not exists(runs .. "multitask_early_stopping/seed1/result.json"), "but no result")
  T.truthy(not exists(parts .. "/seed-quick/results.json"), "no grid results yet")
  local first_text = H.read(first)
  rc, text = grid(args, parts)
  T.eq(rc, 0, "resumed grid\n" .. text)
  T.truthy(text:find("single_task_landmarks seed 1: finished before", 1, true), "finished run skipped\n" .. text)
  T.truthy(text:find("multitask_early_stopping seed 1: resuming after epoch 1 of 3", 1, true), "resumed\n" .. text)
  T.eq(H.read(first), first_text, "the finished run's result is untouched")
  T.truthy(not exists(runs .. "multitask_early_stopping/seed1/checkpoint.safetensors"), "checkpoint gone once done")
  local a, b = read_json(whole .. "/seed-quick/results.json"), read_json(parts .. "/seed-quick/results.json")
  T.eq(#b.runs, 3, "every run in the results")
  for i = 1, 3 do
    T.eq(comparable(b.runs[i]), comparable(a.runs[i]), "run " .. a.runs[i].experiment .. " matches the uninterrupted one")
  end
  -- a finished run is only reused with the settings it was made with
  rc, text = grid(args:gsub("%-%-epochs 3", "--epochs 4"), parts)
  T.truthy(rc ~= 0 and text:find("was made with other settings or data (epochs: 4 now, 3 before)", 1, true),
           "changed settings are refused\n" .. text)
  H.remove(whole)
  H.remove(parts)
end)

-- ---- trust: results belong to their data, one process per run, divergence stops ---------

local MULTITASK = "../../examples/multitask.lua"
local QUICKSTART = "../../examples/quickstart.lua"
local ONE_RUN = "--quick --limit 40 --size 24 --epoch-size 80 --epochs 1 --device cpu"

local function script(path, args, env)
  return T.run(string.format("%s%s %s %s", env and env .. " " or "", HOST, path, args))
end

-- An MTFL-format folder big enough to have validation (the first 1,000 test lines) and
-- test faces.
local function mtfl_folder() return H.synthetic_mtfl{train = 60, test = 1030, size = 32} end

T.test("a finished run is reused only on the same data: other data refused, --fresh retrains", function()
  local out, dir = H.temp_dir("reuse"), mtfl_folder()
  local args = ONE_RUN .. " --out " .. out
  local rc, text = script(MULTITASK, args .. " --synthetic")
  T.eq(rc, 0, "on synthetic faces\n" .. text)
  local result = out .. "/seed-quick/runs/multitask/seed1/result.json"
  T.eq(read_json(result).config.source, "synthetic", "the first run's data")
  rc, text = script(MULTITASK, args .. " --data " .. dir)
  T.truthy(rc ~= 0, "the synthetic result reused for MTFL\n" .. text)
  T.truthy(text:find("was made with other settings or data (data: MTFL in ", 1, true) and
           text:find("now, synthetic faces (seed 1, 24x24; train 40, val 40, test 40) before", 1, true) and
           text:find("--fresh", 1, true), "the difference named\n" .. text)
  T.truthy(not text:find("finished before", 1, true), "not reported as finished\n" .. text)
  rc, text = script(MULTITASK, args .. " --data " .. dir .. " --fresh")
  T.eq(rc, 0, "--fresh retrains\n" .. text)
  T.eq(read_json(result).config.source, "MTFL", "the new result's data")
  rc, text = script(MULTITASK, args .. " --data " .. dir)
  T.eq(rc, 0, "the same data again\n" .. text)
  T.truthy(text:find("multitask seed 1: finished before", 1, true), "reused\n" .. text)
  -- the same folder with one label changed: its hash differs
  local train = H.read(dir .. "/training.txt")
  H.write(dir .. "/training.txt", (train:gsub(" 1 1 (%d) (%d)\r\n", " 2 1 %1 %2\r\n", 1)))
  rc, text = script(MULTITASK, args .. " --data " .. dir)
  T.truthy(rc ~= 0 and text:find("training.txt %d+ bytes, hash %x+") and text:find("other settings or data", 1, true),
           "a changed annotation file is other data\n" .. text)
  H.remove(dir)
  H.remove(out)
end)

T.test("the quickstart never shows a synthetic run's numbers as MTFL's", function()
  local out, dir = H.temp_dir("qs"), mtfl_folder()
  local rc, text = script(QUICKSTART, "--synthetic --epochs 1 --device cpu --out " .. out)
  T.eq(rc, 0, "synthetic quickstart\n" .. text)
  T.truthy(text:find("synthetic faces: the published numbers are for MTFL", 1, true), "labelled synthetic\n" .. text)
  rc, text = script(QUICKSTART, "--epochs 1 --device cpu --out " .. out, "MTFL_DATA=" .. dir)
  T.truthy(rc ~= 0 and text:find("was made with other settings or data", 1, true), "refused\n" .. text)
  T.truthy(not text:find("test faces: mean landmark error", 1, true), "no metrics printed\n" .. text)
  H.remove(dir)
  H.remove(out)
end)

T.test("an empty part is an error naming its file", function()
  local out, dir = H.temp_dir("empty"), H.synthetic_mtfl{train = 6, test = 5, size = 32}
  local rc, text = script(MULTITASK, ONE_RUN .. " --out " .. out .. " --data " .. dir)
  T.truthy(rc ~= 0 and text:find("no test faces in ", 1, true) and text:find("testing.txt (after the validation lines)", 1, true),
           "five test lines are all validation\n" .. text)
  T.truthy(not exists(out .. "/seed-quick/runs/multitask/seed1/result.json"), "no result written")
  H.write(dir .. "/training.txt", "")
  rc, text = script(MULTITASK, ONE_RUN .. " --out " .. out .. " --data " .. dir)
  T.truthy(rc ~= 0 and text:find("no training faces in ", 1, true) and text:find("/training.txt", 1, true), text)
  H.remove(dir)
  H.remove(out)
end)

T.test("a second process given the same --out is refused while the first trains", function()
  local out = H.temp_dir("busy")
  local args = "--quick --synthetic --limit 40 --size 24 --epoch-size 40 --epochs 40 --device cpu --out " .. out
  local lock = out .. "/seed-quick/runs/multitask/seed1/lock"
  os.execute(string.format("%s %s %s > %s/first.log 2>&1 &", HOST, MULTITASK, args, out))
  local t0 = mtfl.clock()
  while not exists(lock) and mtfl.clock() - t0 < 60 do os.execute("sleep 0.05") end
  T.truthy(exists(lock), "the first run took its lock")
  local rc, text = script(MULTITASK, args)
  T.truthy(rc ~= 0 and text:find("is in use by process %d+") and text:find("wait for it to finish, or use another folder", 1, true),
           "the second is refused\n" .. text)
  while exists(lock) and mtfl.clock() - t0 < 300 do os.execute("sleep 0.1") end
  rc, text = script(MULTITASK, args)
  T.eq(rc, 0, "after the first finished\n" .. text .. H.read(out .. "/first.log"))
  T.truthy(text:find("finished before", 1, true), "its result is reused, not trained twice\n" .. text)
  H.remove(out)
end)

T.test("a diverging run stops, naming the task, and writes no result", function()
  local out = H.temp_dir("diverge")
  local rc, text = script(MULTITASK, "--quick --synthetic --limit 40 --size 24 --epoch-size 80 --epochs 3 --device cpu --lr 100 --out " .. out)
  T.truthy(rc ~= 0, "exit status\n" .. text)
  T.truthy(text:find("multitask s1: training diverged in epoch %d+, batch %d+: the %a+ loss ") and
           text:find("lower the learning rate (--lr)", 1, true), "the message\n" .. text)
  T.truthy(not exists(out .. "/seed-quick/runs/multitask/seed1/result.json"), "no result.json")
  H.remove(out)
end)

T.test("a run removes the temporary files a killed process left in its folder", function()
  local out = H.temp_dir("stale")
  local dir = out .. "/seed-quick/runs/multitask/seed1"
  os.execute("mkdir -p '" .. dir .. "'")
  -- a pid no process has: a shell's, after it ended
  local p = io.popen("sh -c 'echo $$'")
  local dead = p:read("l")
  p:close()
  local stale = string.format("%s/checkpoint.safetensors.tmp.%s.AbC123", dir, dead)
  H.write(stale, "half a checkpoint")
  local rc, text = script(MULTITASK, "--quick --synthetic --limit 40 --size 24 --epoch-size 40 --epochs 1 --device cpu --out " .. out)
  T.eq(rc, 0, "the run\n" .. text)
  T.truthy(not exists(stale), "the dead process's temporary file is gone")
  H.remove(out)
end)

T.test("a run whose task weights all went to 0 stops, and writes no result", function()
  local spec = assert(loadfile("../../examples/multitask.lua"))(experiment.AS_SPEC)
  local out = H.temp_dir("lambda0")
  local copy = {}
  for k, v in pairs(spec) do copy[k] = v end
  -- the issue's case: exp(-s) with s stepped by 1e30 is 0 for every task
  copy.name, copy.policy = "multitask_uncertain", {"uncertainty", lr = 1e30}
  local s = options.resolve(options.parse({"--quick", "--synthetic", "--limit", "40", "--size", "24", "--epoch-size", "40",
                                           "--epochs", "3", "--device", "cpu", "--out", out}), copy)
  s.seed = 1
  T.raises(function() experiment.run(copy, s, {quiet = true}) end,
           "multitask_uncertain s1: the policy uncertainty set every task's weight to 0", "nothing would learn")
  T.truthy(not exists(out .. "/seed-quick/runs/multitask_uncertain/seed1/result.json"), "no result.json")
  H.remove(out)
end)

T.test("a training step of the multi-task network waits for its device once and takes no fresh memory", function()
  -- the TCDCN-like network of the examples, five heads, on loader batches as fit() trains
  local spec = assert(loadfile("../../examples/tcdcn.lua"))(experiment.AS_SPEC)
  local outputs, criteria = {}, {}
  for task, lambda in pairs(spec.tasks) do
    outputs[task] = experiment.OUTPUTS[task]
    criteria[task] = {task == "landmarks" and nn.LandmarkLoss() or nn.CrossEntropy(), lambda}
  end
  local ds = data.synthetic_dataset{size = 40, seed = 5, train = 48, val = 8, test = 8}
  for _, dev in ipairs(T.devices()) do
    mtfl.manual_seed(1)
    local model = spec.network(40, outputs):to(dev)
    model:input_gradient(false)
    local params, grads = nn.flatten_parameters(model)
    local loader <close> = data.loader(ds.train, {batch = 8, seed = 1, device = dev})
    local trainer = Trainer.new{model = model, criterion = nn.MultiTask(criteria), loader = loader, val = ds.val,
                                optimizer = optim.Adam(params, grads, {lr = 1e-3}), size = 40, epochs = 1}
    model:training()
    local counts = {}
    for batch, index in loader:epoch(1) do
      local before = mtfl.stats(dev)
      local losses = trainer:step(batch, index)
      local after = mtfl.stats(dev)
      counts[index] = {reads = after.blocking_reads - before.blocking_reads,
                       waits = after.synchronizations - before.synchronizations,
                       fresh = after.allocations - before.allocations}
      T.truthy(losses.smile and losses.landmarks, dev .. ": every task's loss")
    end
    T.eq(#counts, 6, dev .. ": six batches")
    for index = 1, #counts do
      T.eq(counts[index].reads, 1, dev .. ": step " .. index .. " reads the device once (its losses)")
      T.eq(counts[index].waits, 0, dev .. ": and waits for nothing else")
    end
    for index = 3, #counts do   -- the first steps fill the caches
      T.eq(counts[index].fresh, 0, dev .. ": step " .. index .. " takes no fresh memory")
    end
  end
end)

T.test("a non-finite loss names the task and the layers holding non-finite values", function()
  local dir = H.temp_dir("nan")
  local ds = data.synthetic_dataset{size = 16, seed = 3, train = 20, val = 10, test = 10}
  local model = nn.Sequential{nn.Flatten()}:add(nn.Heads{landmarks = nn.Linear(3 * 16 * 16, 10)}, "heads")
  model:get("heads"):get("landmarks").weight:fill(0 / 0)   -- as a non-finite gradient step would leave it
  local params, grads = nn.flatten_parameters(model)
  local loader <close> = data.loader(ds.train, {batch = 10, seed = 1})
  local trainer = Trainer.new{model = model, criterion = nn.MultiTask{landmarks = {nn.LandmarkLoss(), 1}},
    optimizer = optim.Adam(params, grads, {lr = 1e-3}), loader = loader, val = ds.val, size = 16, epochs = 1}
  T.raises(function() trainer:fit() end, "training diverged in epoch 1, batch 1: the landmarks loss is ",
           "not finite: heads.landmarks.weight (Linear")
  H.remove(dir)
end)

T.run_all()
