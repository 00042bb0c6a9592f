-- mtfl.train.sweep: the cross product of experiment settings, each point trained over
-- seeds like the grid's runs (resumable, shared by --jobs and MPI ranks), then one
-- table, one CSV and a plot per swept setting of the landmark error (mean and spread
-- over seeds), each point tested against a baseline experiment over the same seeds.
--
--   local sweep = require "mtfl.train.sweep"
--   local axes = sweep.axes{"lambda.pose=1,3,6,12", "policy=fixed,tcdcn"}
--   for _, point in ipairs(sweep.points(axes)) do
--     local spec, overrides = sweep.apply(base_spec, point)   -- a new experiment table
--   end
--
-- What a setting can be (the key before "="):
--   lambda.TASK       that task's weight (a task not in the experiment is added)
--   epsilon, k        eq. (4)'s threshold factor (epsilon = factor * lambda) and window:
--                     early stopping with these (turned on when the experiment has none)
--   policy            a weighting policy by name (mtfl.train.weighting); policy.OPTION
--                     one of its options
--   lr, batch, epochs, epoch_size, size   the run's settings (beat the command line)
--   clip, optimizer, landmark_loss        the experiment table's fields
-- Values are numbers where they read as numbers, else words.
local errors = require "mtfl.errors"
local experiment = require "mtfl.train.experiment"
local options = require "mtfl.train.options"
local workers = require "mtfl.train.workers"
local report = require "mtfl.train.report"
local significance = require "mtfl.train.significance"
local Progress = require "mtfl.train.progress"
local files = require "mtfl.files"
local json = require "mtfl.json"
local csv = require "mtfl.csv"
local plot = require "mtfl.data.plot"
local mtfl = require "mtfl"

local M = {}

M.RUN_SETTINGS = {lr = true, batch = true, epochs = true, epoch_size = true, size = true}
M.SPEC_FIELDS = {clip = true, optimizer = true, landmark_loss = true}

local function value_of(text)
  local n = tonumber(text)
  if n then return math.tointeger(n) or n end
  return text
end

local function check_key(key)
  if key:match("^lambda%.") then
    local task = key:sub(8)
    if not experiment.OUTPUTS[task] then
      local known = {}
      for t in pairs(experiment.OUTPUTS) do known[#known + 1] = t end
      table.sort(known)
      errors.raisef("sweep: %s: no task %q (tasks: %s)", key, task, table.concat(known, ", "))
    end
  elseif key:match("^policy%.") and #key > 7 then
    -- the policy checks its own options when it is built
  elseif not (key == "epsilon" or key == "k" or key == "policy" or M.RUN_SETTINGS[key] or M.SPEC_FIELDS[key]) then
    errors.raisef("sweep: unknown setting %q (use lambda.TASK, epsilon, k, policy, policy.OPTION, lr, batch, "
                  .. "epochs, epoch_size, size, clip, optimizer, landmark_loss)", key)
  end
end

--- axes({"key=v1,v2", ...} or {key = {v1, v2}, ...}) -> {{key =, values = {...}}, ...}
--- in the order given (a table's keys sorted); each key once, each with a value.
function M.axes(given)
  local out, seen = {}, {}
  local function add(key, values)
    key = key:gsub("%-", "_")
    check_key(key)
    if seen[key] then errors.raisef("sweep: %s is given twice", key) end
    if #values == 0 then errors.raisef("sweep: %s has no values", key) end
    local listed = {}
    for _, v in ipairs(values) do
      if listed[v] then errors.raisef("sweep: %s lists %s twice (each value is one run per seed)", key, tostring(v)) end
      listed[v] = true
    end
    seen[key] = true
    out[#out + 1] = {key = key, values = values}
  end
  if type(given) ~= "table" then errors.raise("sweep: the settings are a list of \"key=v1,v2\" or a table {key = {v1, v2}}") end
  if #given > 0 then
    for _, text in ipairs(given) do
      local key, list = tostring(text):match("^([%w_%.%-]+)=(.*)$")
      if not key then errors.raisef("sweep: %q is not key=value,value,...", tostring(text)) end
      local values = {}
      for v in list:gmatch("[^,]+") do values[#values + 1] = value_of(v) end
      add(key, values)
    end
  else
    local keys = {}
    for k in pairs(given) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = given[k]
      add(k, type(v) == "table" and v or {v})
    end
  end
  if #out == 0 then errors.raise("sweep: nothing to sweep (give key=v1,v2,...)") end
  return out
end

--- points(axes) -> every combination, {{key = value, ...}, ...}, the first axis slowest.
function M.points(axes)
  local points = {{}}
  for _, axis in ipairs(axes) do
    local next_points = {}
    for _, p in ipairs(points) do
      for _, v in ipairs(axis.values) do
        local q = {}
        for k, x in pairs(p) do q[k] = x end
        q[axis.key] = v
        next_points[#next_points + 1] = q
      end
    end
    points = next_points
  end
  return points
end

--- The point as words, in the axes' order: "lambda.pose=6,policy=tcdcn".
function M.label(axes, point)
  local parts = {}
  for _, axis in ipairs(axes) do parts[#parts + 1] = axis.key .. "=" .. tostring(point[axis.key]) end
  return table.concat(parts, ",")
end

local function copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- apply(spec, point, axes) -> a new experiment table for the point (named
--- "<experiment>@<label>"), and the run settings it overrides ({lr = ...}).
function M.apply(spec, point, axes)
  local s = copy(spec)
  s.tasks = copy(spec.tasks)
  local overrides = {}
  local policy_options = {}
  for key, v in pairs(point) do
    if key:match("^lambda%.") then
      if type(v) ~= "number" or not (v > 0) then errors.raisef("sweep: %s=%s: a weight must be a positive number", key, tostring(v)) end
      s.tasks[key:sub(8)] = v
    elseif key == "epsilon" or key == "k" then
      if type(v) ~= "number" or not (v > 0) then errors.raisef("sweep: %s=%s: must be a positive number", key, tostring(v)) end
      s.early_stopping = copy(s.early_stopping or {k = 5})
      if key == "epsilon" then s.early_stopping.epsilon_factor = v else s.early_stopping.k = v end
    elseif key == "policy" then
      s.policy = v
    elseif key:match("^policy%.") then
      policy_options[key:sub(8)] = v
    elseif M.RUN_SETTINGS[key] then
      overrides[key] = options.check(key, v, "sweep")
    else
      s[key] = v
    end
  end
  if next(policy_options) then
    local base = s.policy
    if type(base) == "table" then base = base[1] end
    if type(base) ~= "string" then
      errors.raise("sweep: policy.OPTION needs a policy: sweep policy=NAME too, or give an experiment with one")
    end
    local p = {base}
    if type(s.policy) == "table" then for k, x in pairs(s.policy) do if k ~= 1 then p[k] = x end end end
    for k, x in pairs(policy_options) do p[k] = x end
    s.policy = p
  end
  s.name = spec.name .. "@" .. M.label(axes, point)
  s.title = (spec.title or spec.name) .. " " .. M.label(axes, point)
  s.short = M.label(axes, point)
  return s, overrides
end

-- ---- the command ---------------------------------------------------------------------

--- The sweep's options: the grid's (less --experiments and --seed) and its own.
M.OPTIONS = {
  experiment = {"string", "the experiment swept: a script of examples/ by name, or a path (default: multitask)", argname = "NAME"},
  sweep = {"string", "the settings: key=v1,v2,... (several: lambda.pose=1,3,6 epsilon=5,15)", args = "+", argname = "KEY=V,..."},
  ["sweep-file"] = {"string", "a Lua file returning {experiment =, sweep = {key = {v1, v2}}, baseline =}", argname = "FILE"},
  baseline = {"string", "an experiment trained over the same seeds that every point is tested against (e.g. single_task_landmarks)", argname = "NAME"},
}
for name, spec in pairs(options.SPEC) do
  if name ~= "experiments" and name ~= "seed" and name ~= "data-parallel" then M.OPTIONS[name] = spec end
end

-- An experiment's table: examples/<name>.lua beside the sweep script, or a path.
local function load_experiment(name, here)
  local path = name:find("/", 1, true) and name or (here .. "/" .. name .. (name:match("%.lua$") and "" or ".lua"))
  local chunk, err = loadfile(path)
  if not chunk then errors.raisef("sweep: experiment %s: %s", name, err) end
  local spec = chunk(experiment.AS_SPEC)
  if type(spec) ~= "table" or not spec.name then errors.raisef("sweep: %s is not an experiment script", path) end
  return spec
end

--- The plan of a sweep from its options: {experiment = spec, axes, points = {{values,
--- spec, overrides}}, baseline = spec or nil}.
function M.plan(given, here)
  local file = given.sweep_file and dofile(given.sweep_file) or {}
  if type(file) ~= "table" then errors.raisef("sweep: %s must return a table", given.sweep_file) end
  local base = load_experiment(given.experiment or file.experiment or "multitask", here)
  local settings = {}
  for _, text in ipairs(given.sweep or {}) do settings[#settings + 1] = text end
  if file.sweep then
    for k, v in pairs(file.sweep) do
      local values = {}
      for i, x in ipairs(type(v) == "table" and v or {v}) do values[i] = tostring(x) end
      settings[#settings + 1] = k .. "=" .. table.concat(values, ",")
    end
  end
  local axes = M.axes(settings)
  local plan = {experiment = base, axes = axes, points = {}}
  for _, values in ipairs(M.points(axes)) do
    local spec, overrides = M.apply(base, values, axes)
    experiment.check(spec)   -- every point's table before any run trains
    plan.points[#plan.points + 1] = {values = values, spec = spec, overrides = overrides, label = M.label(axes, values)}
  end
  local baseline = given.baseline or file.baseline
  if baseline then plan.baseline = load_experiment(baseline, here) end
  return plan
end

-- The runs of the plan, seed by seed (every point's seed 1 first), the baseline first.
local function items_of(plan, given)
  local items = {}
  local seeds = options.resolve(given).seeds
  for seed = 1, seeds do
    local function add(spec, overrides)
      local s = options.resolve(given, spec)
      for k, v in pairs(overrides or {}) do s[k] = v end
      s.seed = seed
      items[#items + 1] = {spec = spec, settings = s}
    end
    if plan.baseline then add(plan.baseline) end
    for _, point in ipairs(plan.points) do add(point.spec, point.overrides) end
  end
  return items
end

local METRICS = {"mean_error", "mean_failure", "pose_accuracy", "glasses_accuracy", "gender_accuracy", "smile_accuracy"}

-- Per point: the stats of every metric over seeds, and the paired test of its landmark
-- error against the baseline's on the same seeds.
local function summarize(plan, runs)
  local by_name = {}
  for _, run in ipairs(runs) do
    by_name[run.experiment] = by_name[run.experiment] or {}
    by_name[run.experiment][run.seed] = run
  end
  local function stats_of(name)
    local per_seed, out = by_name[name] or {}, {}
    for _, m in ipairs(METRICS) do
      local list = {}
      for _, run in pairs(per_seed) do if type(run[m]) == "number" then list[#list + 1] = run[m] end end
      out[m] = report.stats(list)
    end
    return out
  end
  local rows = {}
  local base = plan.baseline and by_name[plan.baseline.name]
  for _, point in ipairs(plan.points) do
    local row = {label = point.label, values = point.values, experiment = point.spec.name, stats = stats_of(point.spec.name)}
    if base then
      local a, b = {}, {}
      for seed, run in pairs(by_name[point.spec.name] or {}) do
        if base[seed] and run.mean_error and base[seed].mean_error then
          a[#a + 1], b[#b + 1] = run.mean_error, base[seed].mean_error
        end
      end
      if #a >= 2 then row.vs_baseline = significance.paired(a, b) end
    end
    rows[#rows + 1] = row
  end
  return rows, base and stats_of(plan.baseline.name)
end

local function pct(st) return st and string.format("%.2f ± %.2f", 100 * st.mean, 100 * st.std) or "-" end
local function acc(st) return st and string.format("%.3f", st.mean) or "-" end

-- The table, as Markdown (the README's) and as text.
local function markdown(plan, rows, base_stats)
  local lines = {}
  local head = {}
  for _, axis in ipairs(plan.axes) do head[#head + 1] = axis.key end
  for _, h in ipairs{"landmark error (%)", "failure (%)", "pose", "glasses", "gender", "smile"} do head[#head + 1] = h end
  if plan.baseline then head[#head + 1] = "vs " .. plan.baseline.name .. " (paired t)" end
  lines[1] = "| " .. table.concat(head, " | ") .. " |"
  lines[2] = "|" .. string.rep(" --- |", #head)
  local function add(cells, st, test)
    for _, c in ipairs{pct(st.mean_error), pct(st.mean_failure), acc(st.pose_accuracy), acc(st.glasses_accuracy),
                       acc(st.gender_accuracy), acc(st.smile_accuracy)} do cells[#cells + 1] = c end
    if plan.baseline then
      cells[#cells + 1] = test and string.format("%+.2f points, p = %.3f", 100 * test.mean, test.p) or "-"
    end
    lines[#lines + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  if base_stats then
    local cells = {}
    for i = 1, #plan.axes do cells[i] = i == 1 and plan.baseline.name or "" end
    add(cells, base_stats, nil)
  end
  for _, row in ipairs(rows) do
    local cells = {}
    for _, axis in ipairs(plan.axes) do cells[#cells + 1] = tostring(row.values[axis.key]) end
    add(cells, row.stats, row.vs_baseline)
  end
  return table.concat(lines, "\n")
end

-- One figure per swept setting: the landmark error against its values, a line per
-- combination of the other settings (their average over all of them beyond six lines).
local function draw(plan, runs, rows, base_stats, dir)
  local out = {}
  local by_name = {}
  for _, run in ipairs(runs) do
    by_name[run.experiment] = by_name[run.experiment] or {}
    table.insert(by_name[run.experiment], run.mean_error)
  end
  for _, axis in ipairs(plan.axes) do
    local numeric = true
    for _, v in ipairs(axis.values) do if type(v) ~= "number" then numeric = false end end
    local position = {}
    for i, v in ipairs(axis.values) do position[tostring(v)] = numeric and v or i end
    local groups, order = {}, {}
    for _, row in ipairs(rows) do
      local rest = {}
      for _, other in ipairs(plan.axes) do
        if other.key ~= axis.key then rest[#rest + 1] = other.key .. "=" .. tostring(row.values[other.key]) end
      end
      local name = #rest > 0 and table.concat(rest, ",") or plan.experiment.name
      if not groups[name] then groups[name] = {}; order[#order + 1] = name end
      table.insert(groups[name], row)
    end
    local series = {}
    if #order <= 6 then
      for _, name in ipairs(order) do
        local x, mean, std = {}, {}, {}
        for _, row in ipairs(groups[name]) do
          local st = row.stats.mean_error
          if st then
            x[#x + 1], mean[#mean + 1], std[#std + 1] = position[tostring(row.values[axis.key])], 100 * st.mean, 100 * st.std
          end
        end
        series[#series + 1] = {name = name, x = x, mean = mean, std = std}
      end
    else
      local x, mean, std = {}, {}, {}
      for _, v in ipairs(axis.values) do
        local all = {}
        for _, row in ipairs(rows) do
          if row.values[axis.key] == v then
            for _, e in ipairs(by_name[row.experiment] or {}) do all[#all + 1] = 100 * e end
          end
        end
        local st = report.stats(all)
        if st then x[#x + 1], mean[#mean + 1], std[#std + 1] = position[tostring(v)], st.mean, st.std end
      end
      series[1] = {name = "mean over the other settings and seeds", x = x, mean = mean, std = std}
    end
    local labels
    if not numeric then
      labels = {}
      for i, v in ipairs(axis.values) do labels[i] = tostring(v) end
    end
    local file = string.format("%s/sweep_%s.png", dir, axis.key:gsub("[^%w_%-]", "_"))
    local ok, err = pcall(plot.sweep, {file = file, labels = labels, series = series, xlabel = axis.key,
      title = string.format("%s: landmark error against %s (mean ± std over seeds)", plan.experiment.name, axis.key),
      baseline = base_stats and base_stats.mean_error and {name = plan.baseline.name, mean = 100 * base_stats.mean_error.mean,
                                                            std = 100 * base_stats.mean_error.std}})
    out[#out + 1] = ok and file or ("(no figure: " .. tostring(err) .. ")")
  end
  return out
end

--- Writes sweep.json, sweep.csv (a row per run), sweep_summary.csv and .md, and the
--- figures into dir; prints the table. Returns the summary rows.
function M.write(plan, runs, dir)
  files.mkdir(dir)
  -- one writer at a time: the same sweep run twice at once (the same runs, the same
  -- table) leaves the table to whichever process got there first
  local lock <close>, _, holder = files.lock(dir .. "/lock", "the sweep's table in " .. dir, {try = true})
  if not lock then
    print(string.format("the sweep's table in %s is being written by process %s, from the same runs", dir, tostring(holder)))
    return (summarize(plan, runs))
  end
  local rows, base_stats = summarize(plan, runs)
  local axes_out = {}
  for i, axis in ipairs(plan.axes) do axes_out[i] = {key = axis.key, values = axis.values} end
  files.write_atomic(dir .. "/sweep.json", json.encode({experiment = plan.experiment.name, axes = axes_out,
    baseline = plan.baseline and plan.baseline.name, points = rows, baseline_stats = base_stats, runs = runs}))
  local header = {"experiment", "seed"}
  for _, axis in ipairs(plan.axes) do header[#header + 1] = axis.key end
  for _, m in ipairs(METRICS) do header[#header + 1] = m end
  local point_of = {}
  for _, p in ipairs(plan.points) do point_of[p.spec.name] = p end
  local run_rows = {}
  for _, run in ipairs(runs) do
    local r = {run.experiment, run.seed}
    local p = point_of[run.experiment]
    for _, axis in ipairs(plan.axes) do r[#r + 1] = p and p.values[axis.key] or "" end
    for _, m in ipairs(METRICS) do r[#r + 1] = run[m] end
    run_rows[#run_rows + 1] = r
  end
  files.write_atomic(dir .. "/sweep.csv", csv.text(header, run_rows, 8))
  local sheader = {}
  for _, axis in ipairs(plan.axes) do sheader[#sheader + 1] = axis.key end
  sheader[#sheader + 1] = "seeds"
  for _, m in ipairs(METRICS) do sheader[#sheader + 1] = m .. "_mean"; sheader[#sheader + 1] = m .. "_std" end
  for _, h in ipairs{"vs_baseline_mean", "vs_baseline_std", "vs_baseline_t", "vs_baseline_p"} do sheader[#sheader + 1] = h end
  local srows = {}
  for _, row in ipairs(rows) do
    local r = {}
    for _, axis in ipairs(plan.axes) do r[#r + 1] = row.values[axis.key] end
    r[#r + 1] = row.stats.mean_error and row.stats.mean_error.n or 0
    for _, m in ipairs(METRICS) do
      local st = row.stats[m]
      r[#r + 1] = st and st.mean; r[#r + 1] = st and st.std
    end
    local t = row.vs_baseline
    r[#r + 1] = t and t.mean; r[#r + 1] = t and t.std; r[#r + 1] = t and t.t; r[#r + 1] = t and t.p
    srows[#srows + 1] = r
  end
  files.write_atomic(dir .. "/sweep_summary.csv", csv.text(sheader, srows, 8))
  local md = markdown(plan, rows, base_stats)
  files.write_atomic(dir .. "/sweep_summary.md", md .. "\n")
  print("\nSweep of " .. plan.experiment.name .. " (test set; mean ± std over seeds; the last column: the"
        .. " landmark error's difference from the baseline, paired over seeds, two-sided p):")
  print(md)
  print("\nfigures:")
  for _, f in ipairs(draw(plan, runs, rows, base_stats, dir)) do print("  " .. f) end
  print("results: " .. dir .. "/sweep.json, sweep.csv, sweep_summary.csv, sweep_summary.md")
  return rows
end

--- Where a sweep's tables and figures go: <results>/sweeps/<experiment>@<key=v1,v2;...>
--- [vs <baseline>]/, named by what was swept, so that two sweeps of one key over other
--- values (or against another baseline) keep a table each; a name past 120 characters
--- becomes the keys and a hash of the values. Its runs are the results folder's (runs/),
--- shared with every sweep and grid writing there: a baseline or a point two sweeps have
--- in common is trained once.
function M.dir(plan, given)
  local keys, parts = {}, {}
  for _, axis in ipairs(plan.axes) do
    local values = {}
    for i, v in ipairs(axis.values) do values[i] = tostring(v) end
    keys[#keys + 1] = axis.key
    parts[#parts + 1] = axis.key .. "=" .. table.concat(values, ",")
  end
  local name = table.concat(parts, ";") .. (plan.baseline and " vs " .. plan.baseline.name or "")
  name = name:gsub("[/%c]", "_")
  if #name > 120 then name = table.concat(keys, ",") .. "#" .. require("mtfl.data").hash(name):sub(1, 12) end
  return string.format("%s/sweeps/%s@%s", experiment.results_dir(options.resolve(given)), plan.experiment.name, name)
end

--- The whole command (examples/sweep.lua): parse, train every point and seed, write.
function M.main(args, here)
  local given = require("mtfl.cli").parse(args, {script = args and args[0], options = M.OPTIONS,
    about = "a sweep: the cross product of experiment settings, over seeds, its table and figures"})
  if not given then return end   -- --help
  if not given.sweep and not given.sweep_file then errors.raise("sweep: give the settings (--sweep key=v1,v2 ...) or --sweep-file") end
  given.out = given.out or "out/sweep"
  if given.device then mtfl.set_device(given.device) end
  local plan = M.plan(given, here)
  local items = items_of(plan, given)
  local t0 = mtfl.clock()
  local runs, why = workers.run_all(items, {jobs = given.jobs, budget = given.stop_after_epochs, script = args[0],
    dir = experiment.results_dir(options.resolve(given)), announce = function(i, item)
      print(string.format("== run %d/%d: %s, seed %d -- %s so far", i, #items, item.spec.name, item.settings.seed,
                          Progress.duration(mtfl.clock() - t0)))
    end})
  if why == "worker" then return end
  if not runs then
    print("stopped as asked (--stop-after-epochs): run the same command again to resume")
    os.exit(3)
  end
  local rows = M.write(plan, runs, M.dir(plan, given))
  print(string.format("sweep done in %s", Progress.duration(mtfl.clock() - t0)))
  return rows
end

return M
