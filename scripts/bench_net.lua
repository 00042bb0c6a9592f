-- bench_net.lua: training and inference throughput (images/s) of a network of the
-- examples, on random data, measured the way its PyTorch peer in ../shared/peers
-- measures the same network:
--
--   --net seed   the seed study's multi-task network (examples/multitask.lua: the
--                network of examples/seed_network.lua, heads landmarks, pose, glasses,
--                L = L_landmarks + 6 L_pose + 3 L_glasses); 150x150, batch 64, Adam lr 1e-4,
--                2 warm-up steps, 5 timed; peer pytorch_seed_net.py
--   --net tcdcn  the TCDCN-like network (examples/tcdcn.lua: four conv + pool stages on
--                40x40, 256 features, heads for landmarks and four attributes, its task
--                weights); batch 50, Adam lr 1e-3, 3 warm-up steps, 50 timed; peer
--                pytorch_tcdcn_net.py
--
--   mtfl-lua scripts/bench_net.lua [--net seed|tcdcn] [--device D] [--batch N] [--steps N]
--                                  [--size S] [--profile]
--
-- The network is the example's own (its network function and task weights), so what is
-- measured is what the experiments train. Landmark targets are uniform in [0, 150) as
-- in the peers (in [0, size) for the seed network); class labels are uniform. The device
-- is synchronised before each clock reading; on a GPU at least 50 steps are timed;
-- inference is forward only, in evaluation mode. It also prints what one training step
-- asks of the device (mtfl.stats: kernel launches, blocking reads, fresh and cached
-- allocations), and --profile where the step's time goes, per module (Module:profile).
-- The last line is
--   train_img_per_s=X infer_img_per_s=Y
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local experiment = require "mtfl.train.experiment"

local NETS = {
  seed = {example = "multitask.lua", batch = 64, size = 150, lr = 1e-4, warmup = 2, steps = 5},
  tcdcn = {example = "tcdcn.lua", batch = 50, size = 40, lr = 1e-3, warmup = 3, steps = 50},
}

local opts = require("mtfl.cli").parse(arg, {script = arg[0], about = "training and inference images/s of an example's network",
  options = {net = {"choice", "the seed study's network or the TCDCN-like one", choices = {"seed", "tcdcn"}, default = "seed"},
             device = {"string", "the device (default: mtfl's default device)", argname = "D"},
             batch = {"int", "batch size (default: the network's, 64 or 50)"},
             steps = {"int", "timed steps (default: the network's, 5 or 50; at least 50 on a GPU)"},
             size = {"int", "input side in pixels (default: the network's, 150 or 40)", argname = "S"},
             profile = {"flag", "also print where a step's time goes, per module"}}})
if not opts then return end   -- --help
local net = NETS[opts.net]

local device = opts.device or mtfl.device()
mtfl.set_device(device)
local is_gpu = false
for _, d in ipairs(mtfl.devices()) do
  if d.id == device then is_gpu = d.is_gpu end
end
local steps = opts.steps or net.steps
if is_gpu then steps = math.max(steps, 50) end   -- GPU steps are short: time enough of them
local B, S = opts.batch or net.batch, opts.size or net.size

-- the example's network and task weights; the example file is run as a spec, not trained
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local chunk = assert(loadfile(here .. "/../examples/" .. net.example))
local spec = chunk(experiment.AS_SPEC)
local outputs, criteria = {}, {}
for task, lambda in pairs(spec.tasks) do
  outputs[task] = experiment.OUTPUTS[task]
  criteria[task] = {task == "landmarks" and nn.LandmarkLoss() or nn.CrossEntropy(), lambda}
end

mtfl.manual_seed(0)
local model = spec.network(S, outputs)
model:input_gradient(false)   -- the images need no gradient (nor do they in the peers)
local params, grads = nn.flatten_parameters(model)
local optimizer = optim.Adam(params, grads, {lr = net.lr})
local criterion = nn.MultiTask(criteria)

local x = mtfl.rand(B, 3, S, S)
local function random_classes(k)      -- 1..k, from mtfl's seeded RNG
  local u = mtfl.rand(B, {device = "cpu"}):totable()
  for n = 1, B do u[n] = math.floor(u[n] * k) + 1 end
  return mtfl.tensor(u)
end
local targets = {}
for task, k in pairs(outputs) do
  targets[task] = task == "landmarks" and mtfl.rand(B, 10):mul_(opts.net == "seed" and S or 150) or random_classes(k)
end

local function train_step()
  optimizer:zeroGrad()
  local out = model:forward(x)
  criterion:forward(out, targets)
  model:backward(x, criterion:backward(out, targets))
  optimizer:step()
end

local function rate(fn, n)
  for _ = 1, net.warmup do fn() end
  mtfl.synchronize(device)
  local t0 = mtfl.clock()
  for _ = 1, n do fn() end
  mtfl.synchronize(device)
  return B * n / (mtfl.clock() - t0)
end

print(model:summary{B, 3, S, S})
local train = rate(train_step, steps)
-- what one steady-state training step asks of the device (mtfl.stats)
local before = mtfl.stats(device)
train_step()
local after = mtfl.stats(device)
local counts = {}
for _, k in ipairs{"launches", "blocking_reads", "synchronizations", "bytes_to_device", "bytes_to_host",
                   "allocations", "cached_allocations"} do
  counts[#counts + 1] = string.format("%s=%d", k, after[k] - before[k])
end
print("one training step: " .. table.concat(counts, " "))
-- the most device memory in use at once so far: parameters, Adam's moments, activations,
-- gradients, the convolution workspace and the data
print(string.format("peak device memory after %d training steps: %.1f MiB", net.warmup + steps + 1,
                    mtfl.memory(device).peak / 2^20))
if opts.profile then
  local out = model:forward(x)
  criterion:forward(out, targets)
  print(model:profile(x, {gradOutput = criterion:backward(out, targets), steps = math.min(steps, 10)}))
end
model:evaluate()
local infer = rate(function() model:forward(x) end, steps)
print(string.format("mtfl %s net=%s device=%s batch=%d size=%d steps=%d", mtfl.version, opts.net, device, B, S, steps))
print(string.format("train_img_per_s=%.1f infer_img_per_s=%.1f", train, infer))
