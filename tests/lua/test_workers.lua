-- The grid's runs shared among processes (mtfl.train.workers) under mpirun: two ranks
-- on this machine, with one shared output folder (each takes the runs nobody holds) and
-- with a folder each (run i to rank (i - 1) % 2, results sent to rank 0); both give the
-- results of a single process, bit for bit; a rank killed mid-run loses nothing: the
-- next start resumes its run from the checkpoint. (--jobs: test_experiments.lua.)
local mtfl = require "mtfl"
local json = require "mtfl.json"
local mpi = require "mtfl.mpi"
local T = require "harness"
local H = require "data_helpers"

mtfl.set_device("cpu")
local HOST = os.getenv("MTFL_LUA") or "mtfl-lua"
local REPRODUCE = "../../examples/reproduce.lua"
local GRID = "--quick --synthetic --limit 200 --size 24 --epoch-size 200 --device cpu --seeds 2 "
             .. "--experiments single_task_landmarks,multitask_early_stopping"

local function first_line(command)
  local p = io.popen(command)
  local line = p:read("l")
  p:close()
  return line
end

local MPIRUN = first_line("command -v mpirun 2>/dev/null")
-- shared memory and loopback only; root allowed (CI is root); more ranks than cores
local function mpirun(command)
  return string.format("%s --allow-run-as-root --oversubscribe -np 2 --mca btl self,vader -x OMP_NUM_THREADS=1 %s",
                       MPIRUN, command)
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local comparable = H.comparable_run

local function same_runs(a, b, what)
  T.eq(#b.runs, #a.runs, what .. ": every run")
  for i = 1, #a.runs do
    T.eq(comparable(b.runs[i]), comparable(a.runs[i]), what .. ": run " .. i .. " the same bits")
  end
end

-- set by tests/CMakeLists.txt where mpirun must not run (the sanitizer build)
local NO_MPIRUN = os.getenv("MTFL_TEST_NO_MPIRUN")
if not (mpi.built() and MPIRUN) or NO_MPIRUN then
  -- nothing to run: say why, as a passing check that there is a reason
  local why = NO_MPIRUN or (not mpi.built() and "mtfl is built without MPI") or "mpirun is missing"
  T.test("the grid's MPI paths are not tested here: " .. why, function()
    T.truthy(NO_MPIRUN or not mpi.built() or not MPIRUN, "skipped only for a reason")
  end)
  T.run_all()
  return
end

local reference
local function plain()
  if not reference then
    local out = H.temp_dir("plain")
    local rc, text = T.run(string.format("%s %s %s --epochs 3 --out %s", HOST, REPRODUCE, GRID, out))
    T.eq(rc, 0, "one process\n" .. text)
    reference = json.decode(H.read(out .. "/seed-quick/results.json"))
  end
  return reference
end

T.test("two ranks, one shared folder: each run once, the results of one process", function()
  local out = H.temp_dir("shared")
  local rc, text = T.run(mpirun(string.format("%s %s %s --epochs 3 --out %s", HOST, REPRODUCE, GRID, out)))
  T.eq(rc, 0, "mpirun\n" .. text)
  T.truthy(text:find("2 MPI ranks, a shared output folder", 1, true), "shared\n" .. text)
  local got = json.decode(H.read(out .. "/seed-quick/results.json"))
  same_runs(plain(), got, "shared")
  local trained = select(2, text:gsub("== run %d+/4", ""))
  T.eq(trained, 4, "four runs trained, none twice\n" .. text)
end)

T.test("two ranks, a folder each: runs split by rank, results gathered on rank 0", function()
  local base = H.temp_dir("own")
  -- each rank its own --out: the launcher's rank in the path
  local script = base .. "/rank.sh"
  H.write(script, string.format("#!/bin/sh\nexec %s %s %s --epochs 3 --out %s/rank$OMPI_COMM_WORLD_RANK\n",
                                HOST, REPRODUCE, GRID, base))
  os.execute("chmod +x " .. script)
  local rc, text = T.run(mpirun(script))
  T.eq(rc, 0, "mpirun\n" .. text)
  T.truthy(text:find("2 MPI ranks, no shared output folder", 1, true), "not shared\n" .. text)
  T.truthy(not exists(base .. "/rank1/seed-quick/results.json"), "only rank 0 writes the tables")
  T.truthy(exists(base .. "/rank1/seed-quick/runs/multitask_early_stopping/seed1/result.json"), "rank 1 trained run 2")
  T.truthy(not exists(base .. "/rank0/seed-quick/runs/multitask_early_stopping/seed1"), "and rank 0 did not")
  same_runs(plain(), json.decode(H.read(base .. "/rank0/seed-quick/results.json")), "a folder each")
end)

T.test("a rank killed mid-run: the next start resumes its run, same results", function()
  local out = H.temp_dir("killed")
  local rc_file = out .. "/rc"
  local command = mpirun(string.format("%s %s %s --epochs 8 --out %s", HOST, REPRODUCE, GRID, out))
  os.execute(string.format("sh -c '%s > %s/log 2>&1; echo $? > %s' &", command, out, rc_file))
  -- wait for a run with a checkpoint and no result: kill the rank that holds its lock
  local killed
  for _ = 1, 1200 do
    for _, run in ipairs{"single_task_landmarks/seed1", "multitask_early_stopping/seed1"} do
      local dir = out .. "/seed-quick/runs/" .. run
      if not killed and exists(dir .. "/checkpoint.safetensors") and not exists(dir .. "/result.json") then
        local pid = tonumber((H.read(dir .. "/lock"):match("%d+")))
        if pid then
          os.execute("kill -9 " .. pid)
          killed = run
        end
      end
    end
    if killed then break end
    os.execute("sleep 0.05")
  end
  T.truthy(killed, "a run was caught in progress")
  for _ = 1, 600 do
    if exists(rc_file) then break end
    os.execute("sleep 0.1")
  end
  T.truthy(H.read(rc_file):match("^%s*(%d+)") ~= "0", "mpirun reports the killed rank")
  T.truthy(not exists(out .. "/seed-quick/runs/" .. killed .. "/result.json"), "the killed run did not finish")
  local rc, text = T.run(mpirun(string.format("%s %s %s --epochs 8 --out %s", HOST, REPRODUCE, GRID, out)))
  T.eq(rc, 0, "restarted\n" .. text)
  T.truthy(text:find("resuming after epoch", 1, true), "the killed run resumed from its checkpoint\n" .. text)
  local whole = H.temp_dir("whole")
  local rc2, text2 = T.run(string.format("%s %s %s --epochs 8 --out %s", HOST, REPRODUCE, GRID, whole))
  T.eq(rc2, 0, "one process\n" .. text2)
  same_runs(json.decode(H.read(whole .. "/seed-quick/results.json")),
            json.decode(H.read(out .. "/seed-quick/results.json")), "killed and resumed")
end)

-- ---- one rank wrong: the whole job ends at once, saying which rank and why ----------

-- rank 0 runs one command line, rank 1 another (mpirun's MPMD form), within a time limit
local function mpmd(limit, rank0, rank1)
  return string.format("timeout %d %s --allow-run-as-root --oversubscribe --mca btl self,vader -x OMP_NUM_THREADS=1 "
                       .. "-np 1 %s : -np 1 %s", limit, MPIRUN, rank0, rank1)
end

local function ends_quickly(command, what)
  local t0 = os.time()
  local rc, text = T.run(command)
  T.truthy(rc ~= 0, what .. ": the job fails\n" .. text)
  T.truthy(rc ~= 124, what .. ": the job ended, it did not hang until the time limit\n" .. text)
  T.truthy(os.time() - t0 < 50, what .. ": within seconds")
  return text
end

T.test("an error on one rank after MPI started ends every rank in seconds, naming the rank", function()
  local dir = H.temp_dir("abort")
  local script = dir .. "/one_rank_fails.lua"
  -- rank 0 waits in a collective rank 1 never joins; rank 1's closing would wait for rank 0
  H.write(script, [[
local mpi = require "mtfl.mpi"
local t = mtfl.ones(4, {device = "cpu"})
if mpi.rank() == 1 then error("rank one's own mistake") end
mpi.allreduce(t)
print("rank " .. mpi.rank() .. " not reached")
]])
  local text = ends_quickly("timeout 60 " .. mpirun(HOST .. " " .. script), "mtfl-lua")
  T.truthy(text:find("rank one's own mistake", 1, true), "the error\n" .. text)
  T.truthy(text:find("rank 1 of 2: failed", 1, true), "names the rank\n" .. text)
  T.truthy(not text:find("not reached", 1, true), "nobody went on\n" .. text)

  -- a stock lua5.4 program wraps its work in mpi.protect for the same
  local so_dir = HOST:match("^(.*)/[^/]*$") or "."
  local stock = dir .. "/stock.lua"
  H.write(stock, [[
local mtfl = require "mtfl"
local mpi = require "mtfl.mpi"
mpi.protect(function()
  local t = mtfl.ones(4, {device = "cpu"})
  if mpi.rank() == 1 then error("stock lua's mistake") end
  mpi.allreduce(t)
end)
]])
  local text2 = ends_quickly(string.format("timeout 60 %s", mpirun(string.format("env LUA_CPATH='%s/?.so;;' lua5.4 %s", so_dir, stock))),
                             "lua5.4 with mpi.protect")
  T.truthy(text2:find("stock lua's mistake", 1, true) and text2:find("rank 1 of 2", 1, true), "named\n" .. text2)
  H.remove(dir)
end)

T.test("ranks given different settings all stop at start, the first difference named", function()
  local out = H.temp_dir("mismatch")
  local sweep = string.format("%s ../../examples/sweep.lua --quick --synthetic --limit 200 --epochs 1 --seeds 1 "
                              .. "--sweep lambda.pose=1,6 --out %s", HOST, out)
  -- the issue's case: --jobs on rank 1 alone used to hang the job for ever
  local text = ends_quickly(mpmd(60, sweep, sweep .. " --jobs 2"), "--jobs on one rank")
  T.truthy(text:find("the ranks were not given the same settings: jobs is 2 on rank 1, not given on rank 0", 1, true), text)
  text = ends_quickly(mpmd(60, sweep, sweep:gsub("lambda.pose=1,6", "lambda.pose=1,3")), "another sweep list")
  T.truthy(text:find('settings.sweep[1] is "lambda.pose=1,3" on rank 1, "lambda.pose=1,6" on rank 0', 1, true), text)
  local run = string.format("%s ../../examples/multitask.lua --quick --synthetic --limit 200 --size 24 --epoch-size 100 "
                            .. "--device cpu --data-parallel --out %s", HOST, out)
  for _, case in ipairs{{"--epochs 1", "--epochs 2", "settings.epochs is 2 on rank 1, 1 on rank 0"},
                        {"--seed 1", "--seed 2", "settings.seed is 2 on rank 1, 1 on rank 0"},
                        {"--lr 0.001", "--lr 0.002", "settings.lr is 0.002 on rank 1, 0.001 on rank 0"},
                        {"--batch 50", "--batch 40", "settings.batch is 40 on rank 1, 50 on rank 0"}} do
    text = ends_quickly(mpmd(60, run .. " " .. case[1], run .. " " .. case[2]), case[2])
    T.truthy(text:find("--data-parallel: the ranks were not given the same settings: " .. case[3], 1, true), text)
  end
  T.truthy(not exists(out .. "/seed-quick/runs/multitask/seed1/result.json"), "no result")
  H.remove(out)
end)

T.run_all()
