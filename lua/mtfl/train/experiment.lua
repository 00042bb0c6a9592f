-- mtfl.train.experiment: an experiment of the study, as a table an example script
-- writes, and what it takes to run it: one seed, from data to test metrics.
--
--   -- examples/multitask.lua
--   local experiment = require "mtfl.train.experiment"
--   return experiment.script({
--     name = "multitask", title = "multi-task", short = "multi",  -- short: for narrow labels
--     tasks = {landmarks = 1, pose = 6, glasses = 3},        -- lambda per task, eq. (3)
--     network = experiment.example("seed_network.lua"),     -- function(size, outputs) -> model
--     -- early_stopping = {k = 5},                          -- eq. (4) on the auxiliary tasks
--     -- policy = "tcdcn",                                  -- the task weights' policy
--     --   (mtfl.train.weighting): "fixed" (default), "early_stopping", "tcdcn" ("dynamic"),
--     --   "uncertainty", "gradnorm", "scheduled"; or {name, options}: {"gradnorm", alpha = 1.5,
--     --   every = 4}; or a policy object. A task's value in tasks may be a function of the
--     --   epoch (pose = weighting.ramp{from = 0, to = 6, epochs = 5}): policy "scheduled"
--     -- augment = {mirror = true, rotate = 20, scale = 0.15, shift = 0.08, color = 0.3},
--     --   or function(size) return {translate = size // 10, mirror = true} end: the
--     --   loader's augment table (fields: mtfl.data.loader)
--     -- input_size = 60, settings = {quick = {lr = 1e-3}, full = {...}},
--     -- lr_schedule = function(epoch, epochs, lr) return lr end,  -- per epoch (1, 2, ...)
--     -- schedule = optim.schedules.warmup{epochs = 1, inner = optim.schedules.cosine{}},
--     --   a schedule of mtfl.optim.schedules, asked before every step (not with lr_schedule)
--     -- optimizer = "adamw",                               -- or "adam" (default), or a table:
--     --   {"adamw", weight_decay = 0.05}: the name, then options (lr comes from --lr)
--     -- clip = 5,                                          -- gradient norm clipping
--     -- landmark_loss = {variant = "euclidean"},            -- nn.LandmarkLoss's options:
--     --   {kind = "wing", w = 10, epsilon = 2, normalize = "iod"}, or a kind: "l1"
--     -- prepare = function(model, ds, scale) ... end,      -- e.g. a better initialisation
--   }, ...)
--
-- Run directly (mtfl-lua examples/multitask.lua --quick), the script trains one seed
-- and prints its metrics; examples/reproduce.lua loads the same file and gets the
-- table back, to run it in the grid.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local data = require "mtfl.data"
local json = require "mtfl.json"
local weighting = require "mtfl.train.weighting"
local Trainer = require "mtfl.train.trainer"
local evaluate = require "mtfl.train.evaluate"
local datasets = require "mtfl.train.datasets"
local options = require "mtfl.train.options"
local files = require "mtfl.files"
local targets = require "mtfl.train.targets"
local heads = require "mtfl.train.heads"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local provenance = require "mtfl.train.provenance"
local mpi = require "mtfl.mpi"
local commands = require "mtfl.commands"

local M = {}

--- What reproduce.lua passes to a script to get its table instead of a run.
M.AS_SPEC = setmetatable({}, {__name = "mtfl.train.experiment.AS_SPEC"})

-- The output width of each task's head.
M.OUTPUTS = {landmarks = 10}
for task, a in pairs(data.ATTRIBUTES) do M.OUTPUTS[task] = a.classes end

-- Test faces shown on the contact sheet (Fig. 6): this many, spread over the set.
M.SHEET_FACES = 6

--- The options an experiment script takes (the grid's, less --seeds/--experiments).
M.SCRIPT_OPTIONS = {protocol = true, quick = true, epochs = true, ["epoch-size"] = true, seed = true, device = true, data = true,
                    out = true, batch = true, lr = true, size = true, synthetic = true, limit = true,
                    ["es-factor"] = true, ["stop-after-epochs"] = true, ["keep-models"] = true, fresh = true,
                    ["data-parallel"] = true}

M.OPTIMIZERS = {adam = optim.Adam, adamw = optim.AdamW, sgd = optim.SGD}

-- The experiment's optimizer: spec.optimizer is a name or {name, options...}; the
-- learning rate is the run's (--lr, the profile's).
local function optimizer_class(spec)
  local o = spec.optimizer or "adam"
  local name, config = o, {}
  if type(o) == "table" then
    name = o[1] or o.type
    for k, v in pairs(o) do
      if k ~= 1 and k ~= "type" then config[k] = v end
    end
  end
  local cls = M.OPTIMIZERS[name]
  if not cls then
    errors.raisef("experiment %s: optimizer %s (use \"adam\", \"adamw\" or \"sgd\", or {name, options})",
                  spec.name, tostring(name))
  end
  return cls, config
end

local function make_optimizer(spec, s, params, grads)
  local cls, config = optimizer_class(spec)
  config.lr = s.lr
  return cls(params, grads, config)
end

local function landmark_loss(spec)
  local o = spec.landmark_loss
  if type(o) == "string" then o = {kind = o} end
  return nn.LandmarkLoss(o)
end

local function check(spec)
  if type(spec) ~= "table" or type(spec.name) ~= "string" then
    errors.raise("experiment: needs a table with a name")
  end
  if type(spec.tasks) ~= "table" or next(spec.tasks) == nil then
    errors.raisef("experiment %s: tasks = {task = lambda, ...} is missing", spec.name)
  end
  for task, lambda in pairs(spec.tasks) do
    if not M.OUTPUTS[task] then errors.raisef("experiment %s: unknown task %q", spec.name, tostring(task)) end
    if type(lambda) ~= "function" and (type(lambda) ~= "number" or lambda <= 0) then
      errors.raisef("experiment %s: task %s needs a positive lambda or a function(epoch) -> lambda, got %s",
                    spec.name, task, tostring(lambda))
    end
  end
  if spec.policy ~= nil and spec.early_stopping ~= nil then
    errors.raisef("experiment %s: give either policy or early_stopping (the policy \"early_stopping\"), not both", spec.name)
  end
  if spec.early_stopping ~= nil and type(spec.early_stopping) ~= "table" then
    errors.raisef("experiment %s: early_stopping must be a table {k = 5, epsilon_factor = 15}, got a %s", spec.name,
                  type(spec.early_stopping))
  end
  if spec.augment ~= nil and type(spec.augment) ~= "table" and type(spec.augment) ~= "function" then
    errors.raisef("experiment %s: augment must be a table or function(size) -> table, got %s", spec.name, type(spec.augment))
  end
  if type(spec.network) ~= "function" then
    errors.raisef("experiment %s: network = function(size, outputs) -> model is missing", spec.name)
  end
  if spec.schedule ~= nil and type(spec.schedule) ~= "function" then
    errors.raisef("experiment %s: schedule must be a function (t, base_lr, epochs) -> lr (mtfl.optim.schedules)", spec.name)
  end
  if spec.schedule and spec.lr_schedule then
    errors.raisef("experiment %s: give either schedule or lr_schedule, not both", spec.name)
  end
  if spec.clip ~= nil and (type(spec.clip) ~= "number" or not (spec.clip > 0)) then
    errors.raisef("experiment %s: clip must be a positive number, got %s", spec.name, tostring(spec.clip))
  end
  optimizer_class(spec)
  -- the policy's options and the tasks' lambdas checked before any training (an object
  -- is the caller's: it is started by its run only)
  if not weighting.is_policy(spec.policy) then M.policy(spec, {}):start{tasks = spec.tasks} end
  if spec.landmark_loss ~= nil then landmark_loss(spec) end   -- its options' errors, before any training
  spec.title = spec.title or spec.name
  return spec
end

--- check(spec) -> spec: an experiment table's fields, its policy's options and its
--- lambdas checked before any training (an error names the field).
function M.check(spec) return check(spec) end

--- The file `name` beside the script calling this, run and its value returned: how an
--- experiment script picks up a network written in another script, and how any script
--- gets an experiment's table (the file is given AS_SPEC, so it does not train).
function M.example(name)
  local source = debug.getinfo(2, "S").source
  local dir = source:match("^@(.*)/[^/]*$") or "."
  local chunk, err = loadfile(dir .. "/" .. name)
  if not chunk then errors.raise(err) end
  return chunk(M.AS_SPEC)
end

-- ---- one run ---------------------------------------------------------------------------

local function has_schedule(spec)
  for _, lambda in pairs(spec.tasks) do
    if type(lambda) == "function" then return true end
  end
  return false
end

--- The experiment's weighting policy (mtfl.train.weighting), not yet started: spec.policy,
--- or early_stopping = {...} as the policy "early_stopping", or "scheduled" when a task's
--- lambda is a function, else "fixed". s.es_factor (--es-factor) gives early stopping's
--- second factor unless the table does.
function M.policy(spec, s)
  if spec.early_stopping then
    local o = spec.early_stopping
    return weighting.new("early_stopping", {k = o.k or 5, epsilon_factor = o.epsilon_factor,
                                            second_factor = o.second_factor or s.es_factor})
  end
  local p = spec.policy
  if p == nil then return weighting.new(has_schedule(spec) and "scheduled" or "fixed") end
  if weighting.is_policy(p) then return p end
  if (p == "early_stopping" or type(p) == "table" and p[1] == "early_stopping" and p.second_factor == nil) and s.es_factor then
    local o = type(p) == "table" and p or {p}
    local copy = {second_factor = s.es_factor}
    for k, v in pairs(o) do copy[k] = v end
    p = copy
  end
  return weighting.get(p)
end

-- tasks as JSON can hold them: a schedule (a function) is named, not written.
local function tasks_record(spec)
  if not has_schedule(spec) then return spec.tasks end
  local out = {}
  for task, lambda in pairs(spec.tasks) do out[task] = type(lambda) == "function" and "a schedule" or lambda end
  return out
end

-- The settings a run's results depend on: a finished run is reused only when they match.
local CONFIG_KEYS = {"protocol", "profile", "size", "epochs", "epoch_size", "batch", "lr", "es_factor", "limit"}

-- The table's choices that change results, as strings, only where they differ from the
-- seed's (so that the runs made before these fields existed still match). A schedule is
-- a function and cannot be compared: only that there is one.
local function choices_of(spec, c)
  if spec.landmark_loss ~= nil then c.landmark_loss = landmark_loss(spec):describe() end
  if spec.optimizer ~= nil then
    local cls, config = optimizer_class(spec)
    local parts = {}
    for _, k in ipairs(shape.sorted_keys(config)) do parts[#parts + 1] = string.format("%s = %s", k, tostring(config[k])) end
    c.optimizer = cls._class_name .. "{" .. table.concat(parts, ", ") .. "}"
  end
  c.clip = spec.clip
  if spec.schedule then c.schedule = "a schedule" end
  -- the weights' policy, only when the table chose one other than the seed's fixed
  -- lambdas or its early_stopping field (the runs made before policies still match)
  if spec.policy ~= nil or has_schedule(spec) then
    local policy = M.policy(spec, c)
    if not weighting.is_policy(spec.policy) then policy:start{tasks = spec.tasks} end   -- describe knows the tasks
    if policy.name ~= "fixed" then c.policy = policy:describe() end
  end
  if has_schedule(spec) then c.tasks = json.encode(tasks_record(spec)) end
end

-- The network's structure and the augmentation are settings too: a finished run is not
-- reused once either changed. The network is built once more for its description
-- (without moving the random stream the run's weights will be drawn from).
local function network_fingerprint(spec, s)
  local outputs = {}
  for task in pairs(spec.tasks) do outputs[task] = M.OUTPUTS[task] end
  local seed, counter = mtfl.rng_state()
  local ok, arch = pcall(function() return json.encode(nn.architecture(spec.network(s.size, outputs))) end)
  mtfl.set_rng_state(seed, counter)
  -- a network of layers that cannot describe themselves is known by its printed tree
  if not ok then arch = tostring(spec.network(s.size, outputs)) mtfl.set_rng_state(seed, counter) end
  return data.hash(arch)
end

local function config_of(spec, s, ds, augment)
  local c = {experiment = spec.name, seed = s.seed, source = ds.info.source, data = ds.info.identity}
  for _, k in ipairs(CONFIG_KEYS) do c[k] = s[k] end
  choices_of(spec, c)
  c.network = network_fingerprint(spec, s)
  if augment then c.augment = json.encode(augment) end
  return c
end

-- A config as runs are compared: without its provenance (what made it, not what it is).
local function comparable(config)
  local c = {}
  for k, v in pairs(config) do
    if k ~= "provenance" then c[k] = v end
  end
  return c
end

local function differences(a, b)
  local keys, out = {}, {}
  for k in pairs(a) do keys[k] = true end
  for k in pairs(b) do keys[k] = true end
  for k in pairs(keys) do
    if a[k] ~= b[k] then out[#out + 1] = string.format("%s: %s now, %s before", k, tostring(b[k]), tostring(a[k])) end
  end
  table.sort(out)
  return table.concat(out, "; ")
end

-- The config a new run writes: its settings, and what made it (mtfl.train.provenance).
local function recorded(config, spec, s, script)
  local c = comparable(config)
  c.provenance = provenance.record(s, script)
  c.provenance.tasks = {}
  for task, lambda in pairs(spec.tasks) do
    c.provenance.tasks[task] = type(lambda) == "number" and lambda or "a " .. type(lambda)
  end
  return c
end

--- The folder of the runs of a profile and protocol: out/seed-quick, out/crop, ...
function M.results_dir(s)
  return s.out .. "/" .. s.protocol .. (s.profile == "quick" and "-quick" or "")
end

--- run_dir(spec, settings) -> the folder of one run: <results>/runs/<experiment>/seed<k>.
function M.run_dir(spec, s)
  return string.format("%s/runs/%s/seed%d", M.results_dir(s), spec.name, s.seed)
end

--- Test faces for the sheet: evenly spread, the same for every run of a grid.
function M.sheet_faces(n)
  local faces = {}
  for i = 1, math.min(M.SHEET_FACES, n) do faces[i] = 1 + (i - 1) * n // M.SHEET_FACES end
  return faces
end

-- The landmark head starts at the mean face rather than at 0 (the image's top-left
-- corner). The seed started from 0; at its 30 epochs and learning rate 1e-4 the head
-- had time to climb out, but the quick profile's few hundred steps would spend most
-- of themselves on that climb. spec.landmark_bias = "zero" keeps the seed's start.
local function init_landmark_head(spec, model, ds, size)
  if spec.landmark_bias == "zero" or not spec.tasks.landmarks then return end
  heads.start_at_mean_shape(model, ds.train, size, targets.landmark_scale(size))
end

local function build(spec, s, ds)
  mtfl.manual_seed(s.seed)   -- the initial weights are the seed's
  local outputs = {}
  for task in pairs(spec.tasks) do outputs[task] = M.OUTPUTS[task] end
  local model = spec.network(s.size, outputs)
  model:input_gradient(false)   -- nothing upstream of the images learns
  local size_check = model:summary{s.batch, 3, s.size, s.size}
  local params, grads = nn.flatten_parameters(model)
  local flat = {params = params, grads = grads}
  local criteria = {}
  for task, lambda in pairs(spec.tasks) do
    -- a scheduled lambda is set by the policy before the first step
    criteria[task] = {task == "landmarks" and landmark_loss(spec) or nn.CrossEntropy(),
                      type(lambda) == "number" and lambda or 1}
  end
  local criterion = nn.MultiTask(criteria)
  init_landmark_head(spec, model, ds, s.size)
  if spec.prepare then spec.prepare(model, ds, targets.landmark_scale(s.size)) end
  return model, make_optimizer(spec, s, params, grads), criterion, M.policy(spec, s), size_check, flat
end

-- What a run leaves in its folder; --fresh removes them to start over.
local RUN_FILES = {"result.json", "config.json", "checkpoint.safetensors", "model.safetensors"}

-- A finished run's result read back, when it was made with these settings on this data
-- (else an error naming the difference); nil when it has not finished.
local function finished_result(result_file, config, lock)
  if not files.exists(result_file) then return nil end
  local done = json.decode(files.read(result_file))
  local diff = differences(comparable(done.config or {}), comparable(config))
  if diff ~= "" then
    if lock then lock:release() end
    errors.raisef("%s was made with other settings or data (%s): run with --fresh to train it again, or use another --out", result_file, diff)
  end
  return done
end

-- What rank 0 finds in the run's folder before training: a finished run's result (or
-- nil), with the folder locked and the config written. The lock is returned to be
-- held for the run; with claim, a folder another process holds gives nil, "taken".
local function prepare_folder(spec, s, dir, config, o)
  files.mkdir(dir)
  local lock = files.lock(dir .. "/lock", string.format("the run %s seed %d (%s)", spec.name, s.seed, dir), {try = o.claim})
  if not lock then return nil, "taken" end
  files.remove_stale_temporaries(dir)   -- what a process killed mid-write left (kill -9)
  if s.fresh then
    for _, name in ipairs(RUN_FILES) do os.remove(dir .. "/" .. name) end
  end
  local result_file = dir .. "/result.json"
  local done = finished_result(result_file, config, lock)
  if done then
    print(string.format("%s seed %d: finished before, %s", spec.name, s.seed, result_file))
    return lock, done
  end
  local config_file = dir .. "/config.json"
  if files.exists(config_file) then
    local diff = differences(comparable(json.decode(files.read(config_file))), comparable(config))
    if diff ~= "" then
      lock:release()
      errors.raisef("%s belongs to a run with other settings or data (%s): run with --fresh to start it over, or use another --out", config_file, diff)
    end
  else
    files.write_atomic(config_file, json.encode(recorded(config, spec, s, o.script)))
  end
  return lock, nil
end

-- Rank 0's outcome of fn (its values, or its error) on every rank of a data-parallel
-- run: fn runs on rank 0 alone, encode turns its value into a string for the others.
local function on_rank0(parallel, fn, encode, decode)
  if not parallel then return fn() end
  local ok, a, b
  if parallel.rank() == 0 then ok, a, b = pcall(fn) end
  local message = parallel.rank() == 0 and (ok and "ok\n" .. encode(b) or "error\n" .. tostring(a)) or nil
  message = parallel.broadcast_string(message, 0)
  local kind, rest = message:match("^(%a+)\n(.*)$")
  if kind == "error" then
    if parallel.rank() == 0 then error(a, 0) end
    errors.raise("rank 0 failed: " .. rest)
  end
  if parallel.rank() == 0 then return a, b end
  return nil, decode(rest)
end

--- run(spec, settings, {script, should_stop, quiet, dir, claim, only_finished}) -> the
--- run's result, or nil when should_stop ended it early (its checkpoint holds the epochs
--- done). A run whose result.json exists, made with the same settings on the same data,
--- is not trained again: that result comes back. One made otherwise is refused, naming
--- the difference, or replaced with settings.fresh (--fresh). While a run trains, its
--- folder is locked: a second process given the same folder is refused, or with claim
--- gets nil, "taken" (mtfl.train.workers shares runs that way); announce() is called
--- before this process trains it. only_finished: the finished result or nil,
--- "unfinished"; nothing is trained.
---
--- settings.data_parallel (--data-parallel): under mpirun, the ranks train this one run
--- together (mtfl.mpi, Trainer's parallel option), settings.batch being the global batch
--- (each rank renders batch / ranks of it). Rank 0 alone takes the lock, reads and
--- writes the folder (config, checkpoint, model, result) and prints; the others get its
--- findings and the result from it. Resuming, every rank reads rank 0's checkpoint: the
--- folder must be shared (checked). Without mpirun it is an ordinary run.
function M.run(spec, s, o)
  o = o or {}
  check(spec)
  local parallel
  if s.data_parallel then
    mpi.check_launch("--data-parallel")
    parallel = mpi.size() > 1 and mpi or nil
  end
  if parallel then
    -- every rank trains this run: all must mean the same one (the device may differ)
    local settings = {}
    for k, v in pairs(s) do if k ~= "device" then settings[k] = v end end
    mpi.agree("--data-parallel", {experiment = spec.name, settings = settings})
  end
  local rank, world = parallel and mpi.rank() or 0, parallel and mpi.size() or 1
  if s.batch % world ~= 0 then
    errors.raisef("--data-parallel: the batch %d is not divisible by the %d ranks (each renders batch / ranks)", s.batch, world)
  end
  local dir = o.dir or M.run_dir(spec, s)
  if s.device then mtfl.set_device(s.device) end
  local augment = spec.augment
  if type(augment) == "function" then augment = augment(s.size) end
  if augment then data.check_augment(augment) end   -- before anything is written for the run
  local ds = datasets.get(s, o.script, augment)
  local config = config_of(spec, s, ds, augment)
  if o.only_finished then
    -- reading a finished result needs no lock: result.json is written whole or not at all
    local done = finished_result(dir .. "/result.json", config)
    if not done then return nil, "unfinished" end
    return done
  end
  local lock, done = on_rank0(parallel, function() return prepare_folder(spec, s, dir, config, o) end,
                              function(d) return d and json.encode(d) or "" end,
                              function(text) return text ~= "" and json.decode(text) or nil end)
  if not lock and done == "taken" then return nil, "taken" end
  local _ <close> = lock
  if done then return done end
  -- the run's record (settings and provenance), also when resumed: result.json keeps it
  if rank == 0 then config = json.decode(files.read(dir .. "/config.json")) end

  if o.announce then o.announce() end
  local model, optimizer, criterion, policy, tree, flat = build(spec, s, ds)
  local loader <close> = data.loader(ds.train, {batch = s.batch, seed = s.seed, augment = augment, device = s.device,
                                               shard = parallel and {rank, world} or nil})
  local trainer = Trainer.new{label = string.format("%s s%d", spec.name, s.seed), model = model,
    criterion = criterion, optimizer = optimizer, loader = loader, val = ds.val, size = s.size,
    epochs = s.epochs, epoch_size = s.epoch_size, batch = s.batch,
    lr_at = spec.lr_schedule and function(epoch) return spec.lr_schedule(epoch, s.epochs, s.lr) end,
    schedule = spec.schedule, clip = spec.clip,
    policy = policy, tasks = spec.tasks, checkpoint = dir .. "/checkpoint.safetensors",
    device = s.device, parallel = parallel, flat_params = flat.params, flat_grads = flat.grads}
  local epochs_done = trainer:resume()
  if rank == 0 and epochs_done > 0 then
    print(string.format("%s seed %d: resuming after epoch %d of %d", spec.name, s.seed, epochs_done, s.epochs))
  elseif rank == 0 and not o.quiet then
    print(tree)
    if parallel then print(string.format("data-parallel: %d ranks, %d images each per batch of %d", world, s.batch // world, s.batch)) end
  end
  if trainer:fit(o.should_stop) == "interrupted" then return nil end

  local _, result = on_rank0(parallel, function() return nil, M.finish(spec, s, ds, dir, trainer, model, config) end,
                             function(r) local test = r.test r.test = nil local text = json.encode(r) r.test = test return text end,
                             json.decode)
  return result
end

--- After training (rank 0): the test set's metrics, the model file and result.json.
function M.finish(spec, s, ds, dir, trainer, model, config)
  local result_file = dir .. "/result.json"
  local test = trainer:evaluate(ds.test)
  local result = evaluate.flatten(test)
  result.experiment, result.title, result.short, result.seed = spec.name, spec.title, spec.short, s.seed
  result.config = config
  result.tasks = tasks_record(spec)
  result.stop_epoch = trainer:stop_epochs()
  result.history = trainer.history
  result.train_seconds = 0
  for _, sec in ipairs(trainer.history.seconds) do result.train_seconds = result.train_seconds + sec end
  result.test_losses = test.losses
  if test.predictions.landmarks then
    local faces = M.sheet_faces(#ds.test)
    local rows = {}
    for i, face in ipairs(faces) do
      rows[i] = test.predictions.landmarks:narrow(1, face, 1):reshape(10):totable()
    end
    result.sheet = {size = s.size, faces = faces, landmarks = rows}
  end
  local where, value = M.first_non_finite(result, "result")
  if where then
    errors.raisef("%s seed %d: %s is %s: the network's test predictions are not finite numbers, so no result is " ..
                  "written (lower the learning rate, or look at the data)", spec.name, s.seed, where, tostring(value))
  end
  nn.save_model(dir .. "/model.safetensors", model:clearState(), M.model_card(spec, s, ds, result))
  files.write_atomic(result_file, json.encode(result))
  os.remove(dir .. "/checkpoint.safetensors")   -- the optimizer's state is no longer needed
  result.test = test                           -- for the caller's printout, not saved
  return result
end

--- The first number in a table of results that is NaN or infinite: its path and value,
--- or nil (what JSON could not hold, found before anything is written).
function M.first_non_finite(value, path)
  if type(value) == "number" then
    if value ~= value or value == math.huge or value == -math.huge then return path, value end
  elseif type(value) == "table" and not mtfl.is_tensor(value) then
    for _, k in ipairs(shape.sorted_keys(value)) do
      local where, v = M.first_non_finite(value[k], math.type(k) == "integer" and path .. "[" .. k .. "]" or path .. "." .. tostring(k))
      if where then return where, v end
    end
  end
  return nil
end

--- What the model file says about a run's network (mtfl.nn.model_file): its input,
--- its tasks and their units, how faces were framed, the settings and test metrics.
function M.model_card(spec, s, ds, result)
  local tasks = {}
  for task in pairs(spec.tasks) do
    if task == "landmarks" then
      tasks.landmarks = {outputs = M.OUTPUTS.landmarks, order = "x1 x2 x3 x4 x5 y1 y2 y3 y4 y5",
                         points = data.POINTS, reference_size = targets.REFERENCE_SIZE,
                         units = string.format("pixels of the input scaled to %dx%d", targets.REFERENCE_SIZE, targets.REFERENCE_SIZE)}
    else
      tasks[task] = {classes = M.OUTPUTS[task], names = data.ATTRIBUTES[task].names, output = "scores (softmax for probabilities)"}
    end
  end
  local not_metrics = {experiment = true, title = true, short = true, seed = true, config = true, tasks = true,
                       history = true, sheet = true, train_seconds = true, stop_epoch = true, model = true}
  local test = {}
  for k, v in pairs(result) do
    if not not_metrics[k] then test[k] = v end
  end
  return {
    name = spec.name, title = spec.title,
    input = {size = s.size},
    tasks = tasks,
    -- crop: faces framed like the AFLW test faces, the eye-mouth midpoint at the centre
    -- and the eye-mouth distance eye_mouth of the side; seed: whole images resized
    protocol = {name = s.protocol, eye_mouth = s.protocol == "crop" and 0.316 or nil},
    data = {source = ds.info.source, identity = ds.info.identity, test_faces = #ds.test},
    training = result.config, lambda = tasks_record(spec),
    test = test, train_seconds = result.train_seconds,
  }
end

-- ---- a script run on its own -----------------------------------------------------------

--- Prints a run's test metrics: landmark errors, attribute accuracy against the
--- majority rate, early-stopping epochs.
function M.print_metrics(result)
  local test = result.test
  if test and test.landmarks then print(data.metrics.format_landmarks(test.landmarks)) end
  for task, a in pairs(data.ATTRIBUTES) do
    if test and test[task] then print(data.metrics.format_attribute(task, test[task], a.names)) end
  end
  for task, epoch in pairs(result.stop_epoch or {}) do
    print(string.format("early stopping: %s stopped after epoch %d", task, epoch))
  end
end

-- The annotation file of a run's test faces, for the command that measures its model
-- again: MTFL's testing.txt after its 1,000 validation lines (the protocols' default);
-- none for synthetic faces, which live in memory.
local function test_list(spec, s, script)
  local augment = spec.augment
  if type(augment) == "function" then augment = augment(s.size) end
  local ds = datasets.get(s, script, augment)   -- the run's own, loaded once
  if ds.info.synthetic then return nil end
  return {list = (ds.info.real_dir or ds.info.dir) .. "/testing.txt", after_line = 1000}
end

--- What an experiment script returns: its table for reproduce.lua, or (run from the
--- command line) one training run of it.
function M.script(spec, ...)
  check(spec)
  if select(1, ...) == M.AS_SPEC then return spec end
  local given = options.parse(arg, M.SCRIPT_OPTIONS, "one training run of the experiment " .. spec.name ..
                              " (" .. spec.title .. ")")
  if not given then return end   -- --help
  local s = options.resolve(given, spec)
  s.seed = s.seed or 1
  local epochs_left = s.stop_after_epochs
  local result = M.run(spec, s, {script = arg[0], should_stop = epochs_left and function()
    epochs_left = epochs_left - 1
    return epochs_left <= 0
  end})
  if not result then
    if mpi.rank() == 0 then print("stopped as asked (--stop-after-epochs): run the same command again to resume") end
    os.exit(3, true)   -- closing the state: MPI, when running, finalizes
  end
  if mpi.rank() ~= 0 then return result end   -- rank 0 prints for the data-parallel run
  if result.test then M.print_metrics(result) end
  print("results: " .. M.run_dir(spec, s) .. "/result.json")
  local model = M.run_dir(spec, s) .. "/model.safetensors"
  if files.exists(model) then
    print("the trained network: " .. model .. " (nn.load_model reads it without this script)")
    for _, line in ipairs(commands.next_steps(model, arg[0], test_list(spec, s, arg[0]))) do print(line) end
  end
  return result
end

return M
