-- An experiment script with --data-parallel under mpirun (ctest mpi_script_data_parallel,
-- run by a plain mtfl-lua that starts the runs): two ranks, interrupted after the first
-- epoch and resumed, give the result of one plain process at the same global batch,
-- within float rounding (relative 1e-4); only rank 0 prints the progress; rank 0's
-- folder holds what a plain run leaves. MTFL_MPIRUN is the mpirun command line.
package.path = "../lua/?.lua;" .. package.path
local json = require "mtfl.json"
local files = require "mtfl.files"
local T = require "harness"

local HOST = os.getenv("MTFL_LUA") or "mtfl-lua"
local MPIRUN = os.getenv("MTFL_MPIRUN") or "mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl self,vader"
local SCRIPT = "../../examples/multitask.lua"
local ARGS = "--quick --synthetic --limit 40 --size 24 --epoch-size 80 --epochs 2 --batch 10 --device cpu"

local function result_of(out)
  return json.decode(files.read(out .. "/seed-quick/runs/multitask/seed1/result.json"))
end

local function count(text, plain)
  local n, at = 0, 1
  while true do
    local i = text:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, i + 1
  end
end

T.test("--data-parallel on two ranks, interrupted and resumed, equals one process", function()
  local base = os.tmpname()
  os.remove(base)
  local plain_out, dp_out = base .. "-plain", base .. "-dp"
  local status, out = T.run(string.format("%s %s %s --out %s", HOST, SCRIPT, ARGS, plain_out))
  T.eq(status, 0, "the plain run: " .. out)
  status, out = T.run(string.format("%s %s %s %s --data-parallel --stop-after-epochs 1 --out %s", MPIRUN, HOST, SCRIPT, ARGS, dp_out))
  T.truthy(status ~= 0, "stopped after one epoch (exit status 3)")
  T.truthy(out:find("stopped as asked (--stop-after-epochs)", 1, true), out)
  T.eq(count(out, "epoch 1/2  batch 4/4"), 1, "one progress line for the epoch: rank 0's\n" .. out)
  T.truthy(out:find("data-parallel: 2 ranks, 5 images each per batch of 10", 1, true), out)
  status, out = T.run(string.format("%s %s %s %s --data-parallel --out %s", MPIRUN, HOST, SCRIPT, ARGS, dp_out))
  T.eq(status, 0, "resumed: " .. out)
  T.truthy(out:find("resuming after epoch 1 of 2", 1, true), out)
  T.eq(count(out, "results: "), 1, "rank 0 alone prints the result")
  local plain, dp = result_of(plain_out), result_of(dp_out)
  for _, task in ipairs{"landmarks", "pose", "glasses"} do
    for epoch = 1, 2 do
      T.near(dp.history.train_loss[task][epoch], plain.history.train_loss[task][epoch], 1e-4, task .. " train loss " .. epoch)
      T.near(dp.history.val_loss[task][epoch], plain.history.val_loss[task][epoch], 1e-4, task .. " val loss " .. epoch)
    end
  end
  T.near(dp.mean_error, plain.mean_error, 1e-4, "test mean error")
  T.truthy(files.exists(dp_out .. "/seed-quick/runs/multitask/seed1/model.safetensors"), "the model file")
  T.truthy(not files.exists(dp_out .. "/seed-quick/runs/multitask/seed1/checkpoint.safetensors"), "the checkpoint removed")
  os.execute(string.format("rm -rf '%s' '%s'", plain_out, dp_out))
end)

T.run_all()
