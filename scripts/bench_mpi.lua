-- bench_mpi.lua: what data-parallel training costs on this machine (mtfl.mpi), for a
-- scaling model: the allreduce's time per buffer size, and the img/s of a training step
-- split into compute and allreduce.
--
--   mpirun --allow-run-as-root --oversubscribe -np N --mca btl self,vader \
--     build/mtfl-lua scripts/bench_mpi.lua [--net best|seed] [--size 48] [--batch 64]
--     [--steps 10] [--warmup 2] [--reps 15] [--min-kib 4] [--max-mib 64] [--device D]
--   (also without mpirun: one rank, an allreduce of one process is the identity)
--
-- 1. allreduce("sum") of float32 buffers of 4 KiB, 16 KiB, ... 64 MiB (times 4): each
--    repetition starts after a barrier and counts the slowest rank's time; the median
--    of --reps repetitions (after two untimed) is printed, with the least-squares fit
--    time = latency + bytes * seconds_per_byte over all sizes.
-- 2. Training: the network of examples/best.lua (--net best, default; its batch norm
--    keeps per-rank statistics) or examples/seed_network.lua (--net seed) at --size,
--    heads landmarks, pose, glasses, Adam, on synthetic faces through the sharded
--    loader; --batch is the global batch (batch / N per rank). Per step (medians over
--    --steps after --warmup, slowest rank): compute (loader batch, forward, backward,
--    the device synchronised), allreduce (one of the flat gradient), update (the
--    optimizer's step), and img/s = global batch / step time.
-- Rank 0 prints; the last lines are key=value for scripts:
--   allreduce_latency_s=A allreduce_s_per_byte=B
--   ranks=N batch=B step_s=S compute_s=C allreduce_s=R update_s=U img_per_s=I grad_bytes=G
local mtfl = require "mtfl"
local mpi = require "mtfl.mpi"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local data = require "mtfl.data"
local experiment = require "mtfl.train.experiment"
local targets_of = require "mtfl.train.targets"

local opts = require("mtfl.cli").parse(arg, {script = arg[0], about = "allreduce times and data-parallel img/s (run under mpirun)",
  options = {net = {"choice", "the recipe's network (examples/best.lua) or the seed's", choices = {"best", "seed"}, default = "best"},
             size = {"int", "input side in pixels", default = 48, argname = "S"},
             batch = {"int", "the global batch (divisible by the ranks)", default = 64},
             steps = {"int", "timed training steps", default = 10},
             warmup = {"int", "untimed training steps first", default = 2},
             reps = {"int", "timed repetitions per allreduce size", default = 15},
             ["min-kib"] = {"int", "the smallest allreduce buffer, KiB", default = 4},
             ["max-mib"] = {"int", "the largest allreduce buffer, MiB", default = 64},
             device = {"string", "the device (default: mtfl's default device)", argname = "D"}}})
if not opts then return end   -- --help
local device = opts.device or mtfl.device()
mtfl.set_device(device)
local rank, world = mpi.rank(), mpi.size()
local function say(...) if rank == 0 then print(string.format(...)) io.stdout:flush() end end

local function median(xs)
  local s = {table.unpack(xs)}
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- the slowest rank's seconds for each entry
local function slowest(xs) return mpi.allreduce_numbers(xs, "max") end

say("bench_mpi: %d rank(s) (%s), device %s", world, mpi.built() and "MPI built in" or "without MPI", device)

-- ---- 1. allreduce per size --------------------------------------------------------------
say("%12s %12s %12s", "bytes", "median s", "GB/s")
local sizes, times = {}, {}
local bytes = opts.min_kib * 1024
while bytes <= opts.max_mib * 2^20 do
  local t = mtfl.zeros(bytes // 4, {device = device})
  local seconds = {}
  for r = 1, opts.reps + 2 do
    mpi.barrier()
    local t0 = mtfl.clock()
    mpi.allreduce(t, "sum")
    if r > 2 then seconds[#seconds + 1] = mtfl.clock() - t0 end
  end
  local m = median(slowest(seconds))
  sizes[#sizes + 1], times[#times + 1] = bytes, m
  say("%12d %12.6f %12.3f", bytes, m, bytes / m / 1e9)
  t:free()
  bytes = bytes * 4
end
-- least squares: time = a + b * bytes
local n, sx, sy, sxx, sxy = #sizes, 0, 0, 0, 0
for i = 1, n do
  sx, sy = sx + sizes[i], sy + times[i]
  sxx, sxy = sxx + sizes[i] ^ 2, sxy + sizes[i] * times[i]
end
local slope = n > 1 and (n * sxy - sx * sy) / (n * sxx - sx * sx) or 0
local latency = (sy - slope * sx) / n
say("fit: latency %.3g s + %.3g s/byte (%.3f GB/s)", latency, slope, slope > 0 and 1 / slope / 1e9 or 0)
say("allreduce_latency_s=%.6g allreduce_s_per_byte=%.6g", latency, slope)

-- ---- 2. data-parallel training ----------------------------------------------------------
if opts.batch % world ~= 0 then error(string.format("bench_mpi: --batch %d is not divisible by the %d ranks", opts.batch, world), 0) end
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local network
if opts.net == "best" then
  network = assert(loadfile(here .. "/../examples/best.lua"))(experiment.AS_SPEC).network
else
  network = assert(loadfile(here .. "/../examples/seed_network.lua"))(experiment.AS_SPEC)
end
local TASKS = {landmarks = 1, pose = 6, glasses = 3}
local outputs, criteria = {}, {}
for task, lambda in pairs(TASKS) do
  outputs[task] = experiment.OUTPUTS[task]
  criteria[task] = {task == "landmarks" and nn.LandmarkLoss() or nn.CrossEntropy(), lambda}
end
mtfl.manual_seed(1)
local model = network(opts.size, outputs)
model:input_gradient(false)
local params, grads = nn.flatten_parameters(model)
local optimizer = optim.Adam(params, grads, {lr = 1e-4})
local criterion = nn.MultiTask(criteria)
mpi.broadcast(params, 0)
local steps = opts.warmup + opts.steps
local set = data.synthetic{n = opts.batch * steps, size = opts.size, seed = 1}
local loader <close> = data.loader(set, {batch = opts.batch, seed = 1, device = device, shard = {rank, world}})
local scale = targets_of.landmark_scale(opts.size)
model:training()
local compute, reduce, update = {}, {}, {}
for batch, index in loader:epoch(1) do
  local t0 = mtfl.clock()
  optimizer:zeroGrad()
  local t = targets_of.of_batch(batch, criterion, scale)
  local out = model:forward(batch.images)
  criterion:forward(out, t)
  model:backward(batch.images, criterion:backward(out, t))
  mtfl.synchronize(device)
  local t1 = mtfl.clock()
  mpi.allreduce(grads, "mean")
  local t2 = mtfl.clock()
  optimizer:step()
  mtfl.synchronize(device)
  local t3 = mtfl.clock()
  if index > opts.warmup then
    compute[#compute + 1], reduce[#reduce + 1], update[#update + 1] = t1 - t0, t2 - t1, t3 - t2
  end
end
-- per step, the slowest rank's times
local all = {}
for i = 1, #compute do all[3 * i - 2], all[3 * i - 1], all[3 * i] = compute[i], reduce[i], update[i] end
all = slowest(all)
local c, r, u, total = {}, {}, {}, {}
for i = 1, #compute do
  c[i], r[i], u[i] = all[3 * i - 2], all[3 * i - 1], all[3 * i]
  total[i] = c[i] + r[i] + u[i]
end
local step = median(total)
say("training: %s network at %dx%d, %d parameters (%.1f MiB of gradient), global batch %d (%d per rank), %d timed steps",
    opts.net, opts.size, opts.size, params:numel(), params:numel() * 4 / 2^20, opts.batch, opts.batch // world, #total)
say("  step %.4f s = compute %.4f + allreduce %.4f + update %.4f (medians)", step, median(c), median(r), median(u))
say("  %.1f img/s", opts.batch / step)
say("ranks=%d batch=%d step_s=%.6g compute_s=%.6g allreduce_s=%.6g update_s=%.6g img_per_s=%.6g grad_bytes=%d",
    world, opts.batch, step, median(c), median(r), median(u), opts.batch / step, params:numel() * 4)
