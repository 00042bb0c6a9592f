-- Data-parallel training equals one process on the whole batch (ctest mpi_data_parallel):
--   mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl self,vader build/mtfl-lua mpi_data_parallel.lua
-- A small network (conv + linear heads, no batch norm or dropout: per-rank statistics
-- and masks would differ by design) on synthetic faces, one epoch of 69 faces at a
-- global batch of 16: four full batches and a short one of 5, split 2 + 3, so the
-- weighting by rows is exercised; and 65 faces, whose last batch of one leaves rank 0
-- an empty slice. Each rank trains its slice (shard) with the trainer's
-- parallel option; rank 0 then trains the same run alone at batch 16 in this process.
-- The per-step losses and the final weights must agree within float rounding (the
-- gradient is summed in another order): relative 1e-4 on losses, 1e-4 on weights (of a
-- scale of 0.1, absolute 1e-5). The weights must also be identical on every rank.
package.path = "../lua/?.lua;" .. package.path
local mtfl = require "mtfl"
local mpi = require "mtfl.mpi"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local data = require "mtfl.data"
local heads = require "mtfl.train.heads"
local Trainer = require "mtfl.train.trainer"
local T = require "harness"

mtfl.set_device("cpu")
local rank, size = mpi.rank(), mpi.size()
local SIZE, N, BATCH = 16, 69, 16
local sets = {[N] = data.synthetic{n = N, size = SIZE, seed = 5}, [65] = data.synthetic{n = 65, size = SIZE, seed = 5}}
local TASKS = {landmarks = {10, 1}, pose = {5, 0.5}, glasses = {2, 0.5}}

local function network()
  local outputs = {}
  for task, t in pairs(TASKS) do outputs[task] = t[1] end
  return nn.Sequential{
    nn.Conv2d(3, 8, 3, {padding = "same"}), nn.ReLU(true), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(8 * 8 * 8, 32), nn.ReLU(true),
  }:add(heads.linear(32, outputs), "heads")
end

-- The weights a run starts from (seed 11).
local function initial_weights()
  mtfl.manual_seed(11)
  local params = nn.flatten_parameters(network())
  return params
end

-- One epoch of a run; returns the per-step losses {{task = loss}, ...} and the weights.
local function train(o)
  mtfl.manual_seed(11)
  -- a rank other than 0 starts from other weights: the broadcast must fix that
  if o.parallel and rank ~= 0 then mtfl.manual_seed(99) end
  local model = network()
  local params, grads = nn.flatten_parameters(model)
  local criteria = {}
  for task, t in pairs(TASKS) do criteria[task] = {task == "landmarks" and nn.LandmarkLoss() or nn.CrossEntropy(), t[2]} end
  local criterion = nn.MultiTask(criteria)
  local set = sets[o.n or N]
  local loader = data.loader(set, {batch = BATCH, seed = 3, augment = {mirror = true, rotate = 10},
                                   shard = o.parallel and {rank, size} or nil})
  local trainer = Trainer.new{model = model, criterion = criterion, loader = loader, val = set, size = SIZE,
                              epochs = 1, optimizer = optim.Adam(params, grads, {lr = 1e-2}), clip = 5,
                              parallel = o.parallel, flat_params = params, flat_grads = grads}
  if o.parallel then
    -- what fit does before its first step
    o.parallel.broadcast(params, 0)
  end
  model:training()
  local steps, rows = {}, {}
  for batch, index in loader:epoch(1) do
    steps[index] = trainer:step(batch, index)
    rows[index] = batch.count
  end
  loader:close()
  return steps, params, rows
end

T.test("two ranks at batch 8 + 8 train as one process at batch 16", function()
  T.eq(size, 2, "run with -np 2")
  local steps, params, rows = train{parallel = mpi}
  T.eq(#steps, 5, "five steps")
  T.eq(table.concat(rows, ","), rank == 0 and "8,8,8,8,2" or "8,8,8,8,3", "this rank's rows")
  -- the same weights on every rank, exactly
  local lo = mpi.allreduce(params:clone(), "min")
  local hi = mpi.allreduce(params:clone(), "max")
  T.eq((hi - lo):abs():max(), 0, "weights identical across ranks")
  -- the same losses on every rank (they were reduced), exactly
  local flat = {}
  for i, s in ipairs(steps) do flat[#flat + 1] = s.landmarks; flat[#flat + 1] = s.pose end
  local lmin, lmax = mpi.allreduce_numbers(flat, "min"), mpi.allreduce_numbers(flat, "max")
  for i = 1, #flat do T.eq(lmin[i], lmax[i], "loss " .. i .. " the same on every rank") end
  if rank ~= 0 then return end
  local alone_steps, alone_params = train{}
  T.eq(#alone_steps, 5, "the single run's steps")
  for i = 1, 5 do
    for task in pairs(TASKS) do
      T.near(steps[i][task], alone_steps[i][task], 1e-4, string.format("step %d %s loss", i, task))
    end
  end
  -- training moved the weights: the comparison below is not of two untouched copies
  local moved = (alone_params - initial_weights()):abs():max()
  T.truthy(moved > 1e-3, "the weights moved (" .. moved .. ")")
  local diff = (params - alone_params):abs():max()
  T.truthy(diff < 1e-5, string.format("final weights differ by %.3g (largest |w| %.3g)", diff, alone_params:abs():max()))
end)

T.test("a last batch of one face: rank 0's slice is empty, its gradient 0", function()
  local steps, params, rows = train{parallel = mpi, n = 65}
  T.eq(table.concat(rows, ","), rank == 0 and "8,8,8,8,0" or "8,8,8,8,1", "this rank's rows")
  local lo, hi = mpi.allreduce(params:clone(), "min"), mpi.allreduce(params:clone(), "max")
  T.eq((hi - lo):abs():max(), 0, "weights identical across ranks")
  if rank ~= 0 then return end
  local alone_steps, alone_params = train{n = 65}
  for task in pairs(TASKS) do T.near(steps[5][task], alone_steps[5][task], 1e-4, "the one-face step's " .. task .. " loss") end
  local diff = (params - alone_params):abs():max()
  T.truthy(diff < 1e-5, string.format("final weights differ by %.3g", diff))
end)

T.run_all()
