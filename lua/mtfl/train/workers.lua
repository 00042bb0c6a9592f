-- mtfl.train.workers: a list of training runs shared among processes, on one machine
-- (--jobs N) or on many (mpirun), every run done exactly once.
--
--   local workers = require "mtfl.train.workers"
--   local runs, why = workers.run_all(items, {jobs = given.jobs, budget = given.stop_after_epochs})
--   -- items = {{spec = experiment table, settings = s}, ...}; runs: the results, in order
--   -- (on the process that reports them); nil, "stopped" | "worker" otherwise
--
-- Four ways, picked by how the process was started:
-- - alone: the runs one after another, as the grid always did;
-- - --jobs N: N copies of this command start as workers (MTFL_WORKER=k/N in their
--   environment, the cores split between them through OMP_NUM_THREADS); this process
--   waits for them, then reads every run's result back;
-- - a worker, or an MPI rank whose output folder all ranks share: it walks the list and
--   takes every run nobody holds (the run's lock, files.lock, which dies with its
--   process), so the work balances itself and a killed worker's run is taken up again
--   on the next start, from its checkpoint; rank 0 then reads every result back;
-- - MPI ranks that do not share the folder: run i goes to rank (i - 1) % size, and the
--   results travel to rank 0 as JSON (mtfl.mpi.gather_strings).
-- Results are the same bits in every way: a run's numbers depend on its settings and
-- seed, not on how many threads computed them (the CPU backend's sums are in fixed order).
local json = require "mtfl.json"
local files = require "mtfl.files"
local data = require "mtfl.data"
local experiment = require "mtfl.train.experiment"
local errors = require "mtfl.errors"

local M = {}

local shell_quote = require("mtfl.files").shell_quote

--- The cores this process may use: OMP_NUM_THREADS when set, else every online core.
function M.cores()
  local n = math.tointeger(tonumber(os.getenv("OMP_NUM_THREADS") or ""))
  return n and n > 0 and n or data.cpu_count()
end

--- This process's place among the workers of --jobs: k, n from MTFL_WORKER=k/n, or nil.
function M.worker_slot()
  local v = os.getenv("MTFL_WORKER")
  if not v then return nil end
  local k, n = v:match("^(%d+)/(%d+)$")
  k, n = tonumber(k), tonumber(n)
  if not k or n < 1 or k < 1 or k > n then errors.raisef("MTFL_WORKER=%s: expected k/n with 1 <= k <= n", v) end
  return k, n
end

-- The command that started this process, as a shell command: the interpreter (and its
-- options) at arg's negative indices, the script, its arguments less --jobs N.
local function own_command(args)
  local lowest = 0
  while args[lowest - 1] do lowest = lowest - 1 end
  local parts, i = {}, lowest
  while i <= #args do
    local a = args[i]
    if i > 0 and a == "--jobs" then
      i = i + 1   -- and its value
    elseif not (i > 0 and a:match("^%-%-jobs=")) then
      parts[#parts + 1] = shell_quote(a)
    end
    i = i + 1
  end
  return table.concat(parts, " ")
end

-- --jobs N: starts N workers running this same command and waits for all of them.
-- Returns the exit codes of those that failed ({k = code}) and whether any stopped as
-- asked (--stop-after-epochs, exit 3).
local function run_jobs(n, args)
  local threads = math.max(1, M.cores() // n)
  local command = own_command(args)
  print(string.format("== %d jobs at once, %d thread%s each", n, threads, threads == 1 and "" or "s"))
  local children = {}
  for k = 1, n do
    -- "w": the worker writes to this process's stdout and stderr directly
    local env = string.format("MTFL_WORKER=%d/%d OMP_NUM_THREADS=%d ", k, n, threads)
    local child, err = io.popen(env .. "exec " .. command, "w")
    if not child then
      for j = 1, k - 1 do children[j]:close() end
      errors.raisef("option --jobs: could not start job %d of %d (%s)", k, n, tostring(err))
    end
    children[k] = child
  end
  local failed, stopped = {}, false
  for k, child in ipairs(children) do
    local ok, _, code = child:close()
    if code == 3 then stopped = true elseif not ok then failed[k] = code end
  end
  return failed, stopped
end

-- Runs the items this process takes, in order: with claim, only those no other process
-- holds. Their results go into o.done[i]. Returns false when the epoch budget ran out.
local function work(items, o, claim)
  local should_stop = o.budget and function()
    o.budget = o.budget - 1
    return o.budget <= 0
  end
  for i, item in ipairs(items) do
    if o.mine == nil or o.mine(i) then
      if o.budget and o.budget <= 0 then return false end
      local run, why = experiment.run(item.spec, item.settings, {script = o.script, should_stop = should_stop,
        quiet = true, claim = claim, announce = o.announce and function() o.announce(i, item) end})
      if not run and why ~= "taken" then return false end
      if run then
        run.test = nil   -- tensors: not for results.json
        o.done[i] = run
      end
    end
  end
  return true
end

-- Every item's finished result: this process's own, the others read back from their
-- folders; an unfinished one is an error naming it (what a failed worker left undone).
local function collect(items, o)
  local runs, missing = {}, {}
  for i, item in ipairs(items) do
    local run = o.done[i] or experiment.run(item.spec, item.settings, {script = o.script, only_finished = true})
    if run then
      run.test = nil
      runs[i] = run
    else
      missing[#missing + 1] = string.format("%s seed %d", item.spec.name, item.settings.seed)
    end
  end
  if #missing > 0 then
    errors.raisef("%d run%s did not finish (%s)%s: run the same command again to finish them", #missing,
                  #missing == 1 and "" or "s", table.concat(missing, ", "), o.failed or "")
  end
  return runs
end

-- Whether every rank sees the same output folder: rank 0 leaves a file in its folder,
-- the others look for it in theirs (the same path may name another disk on another
-- machine, or each rank may have been given a folder of its own).
local function shared_folder(mpi, dir)
  files.mkdir(dir)
  local name = ""
  if mpi.rank() == 0 then
    name = string.format(".rank0-%d-%d", os.time(), math.random(1 << 30))
    files.write_atomic(dir .. "/" .. name, "")
  end
  name = mpi.broadcast_string(name, 0)
  local seen = mpi.allreduce_numbers({files.exists(dir .. "/" .. name) and 1 or 0}, "min")[1] == 1
  mpi.barrier()
  if mpi.rank() == 0 then os.remove(dir .. "/" .. name) end
  return seen
end

local function run_mpi(mpi, items, o)
  local rank, size = mpi.rank(), mpi.size()
  local shared = shared_folder(mpi, o.dir)
  if rank == 0 then
    print(string.format("== %d MPI ranks, %s output folder", size, shared and "a shared" or "no shared"))
  end
  local finished
  if shared then
    finished = work(items, o, true)
  else
    o.mine = function(i) return (i - 1) % size == rank end
    finished = work(items, o, false)
  end
  -- every rank must know whether any stopped early: only then are the results complete
  local all_finished = mpi.allreduce_numbers({finished and 1 or 0}, "min")[1] == 1
  if not all_finished then return nil, "stopped" end
  if shared then
    mpi.barrier()
    if rank ~= 0 then return nil, "worker" end
    return collect(items, o)
  end
  local mine = {}
  for i, item in ipairs(items) do
    if o.mine(i) then
      local run = o.done[i] or experiment.run(item.spec, item.settings, {script = o.script, only_finished = true})
      run.test = nil
      mine[#mine + 1] = {index = i, run = run}
    end
  end
  local gathered = mpi.gather_strings(json.encode(mine), 0)
  if rank ~= 0 then return nil, "worker" end
  local runs = {}
  for _, text in ipairs(gathered) do
    for _, entry in ipairs(json.decode(text)) do runs[entry.index] = entry.run end
  end
  return runs
end

--- What every MPI rank must have been told alike: the runs and their settings, less the
--- device and the output folder (each rank may have its own: see run_mpi), --jobs and the
--- epoch budget.
function M.what_ranks_share(items, o)
  local runs = {}
  for i, item in ipairs(items) do
    local s = {}
    for k, v in pairs(item.settings) do
      if k ~= "device" and k ~= "out" then s[k] = v end
    end
    runs[i] = {experiment = item.spec.name, settings = s}
  end
  return {runs = runs, jobs = o.jobs, budget = o.budget}
end

--- run_all(items, {jobs = N, budget = epochs, script = arg[0], args = arg, dir = output
--- folder, announce = function(i, item)}) -> the results in items' order, or nil and
--- "stopped" (the epoch budget ran out: run again to go on) or "worker" (this process
--- is a worker: another one reports).
function M.run_all(items, o)
  o = o or {}
  o.done = {}
  local args = o.args or arg
  if o.jobs ~= nil and (math.type(o.jobs) ~= "integer" or o.jobs < 1) then
    errors.raisef("option --jobs: needs a whole number >= 1, got %s", tostring(o.jobs))
  end
  local mpi = require "mtfl.mpi"
  if mpi.launched() and mpi.size() > 1 then
    mpi.agree("the runs", M.what_ranks_share(items, o))
    if o.jobs and o.jobs > 1 then errors.raise("option --jobs: not under mpirun (each rank is already a job)") end
    return run_mpi(mpi, items, o)
  end
  if M.worker_slot() then
    if not work(items, o, true) then return nil, "stopped" end
    return nil, "worker"
  end
  local jobs = o.jobs and M.job_count(o.jobs, #items, M.cores())
  if jobs and jobs > 1 then
    local failed, stopped = run_jobs(jobs, args)
    if stopped then return nil, "stopped" end
    local why = {}
    for k, code in pairs(failed) do why[#why + 1] = string.format("job %d exited with %s", k, tostring(code)) end
    table.sort(why)
    o.failed = #why > 0 and " (" .. table.concat(why, ", ") .. ")" or nil
    return collect(items, o)
  end
  if not work(items, o, false) then return nil, "stopped" end
  return collect(items, o)
end

--- job_count(asked, runs, cores) -> how many workers --jobs asked starts: no more than
--- there are runs (one would have nothing to do) or cores (each needs a thread of its own);
--- a cut is said.
function M.job_count(asked, runs, cores)
  local n = math.max(1, math.min(asked, runs, cores))
  if n < asked then
    print(string.format("== --jobs %d: %d run%s on %d core%s, so %d job%s", asked, runs, runs == 1 and "" or "s",
                        cores, cores == 1 and "" or "s", n, n == 1 and "" or "s"))
  end
  return n
end

return M
