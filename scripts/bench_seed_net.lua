-- bench_seed_net.lua: training and inference throughput (images/s) of the seed
-- report's network, built exactly as the PyTorch peer ../shared/peers/pytorch_seed_net.py
-- builds it, on random data:
--
--   150x150x3 -> conv 5x5 3->16 'same' -> relu -> maxpool 2 -> conv 5x5 16->32 'same'
--   -> relu -> maxpool 2 (ceil: 75 -> 38) -> flatten -> linear 46208->1024 -> relu
--   -> heads: landmarks 10, pose 5, glasses 2
--   loss 0.5 ||y - f||^2 (mean over the batch) + 6 CE(pose) + 3 CE(glasses), Adam lr 1e-4
--
--   mtfl-lua scripts/bench_seed_net.lua [--device D] [--batch 64] [--steps N] [--size 150]
--
-- As in the peer: two warm-up steps, then N timed steps (default 5; at least 50 on a
-- GPU); the device is synchronised before each clock reading; inference is
-- forward only, in evaluation mode. The last line is
--   train_img_per_s=X infer_img_per_s=Y
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"

local opts = {batch = 64, size = 150}
local i = 1
while i <= #arg do
  local key, value = arg[i]:match("^%-%-(%w+)$"), arg[i + 1]
  if key == "device" then opts.device = value
  elseif key == "batch" or key == "steps" or key == "size" then opts[key] = math.tointeger(tonumber(value))
  else error("unknown argument " .. tostring(arg[i]) .. " (use --device D, --batch N, --steps N, --size S)") end
  if value == nil or (key ~= "device" and opts[key] == nil) then error("--" .. key .. " needs a value") end
  i = i + 2
end
local device = opts.device or mtfl.device()
mtfl.set_device(device)
local is_gpu = false
for _, d in ipairs(mtfl.devices()) do
  if d.id == device then is_gpu = d.is_gpu end
end
local steps = opts.steps or 5
if is_gpu then steps = math.max(steps, 50) end   -- GPU steps are short: time enough of them

local B, S = opts.batch, opts.size
local s1 = S // 2
local s2 = (s1 + 1) // 2

mtfl.manual_seed(0)
-- ReLU(true) works in place: the same numbers as F.relu, without a second copy of the
-- largest activations (64x16x150x150 floats, 92 MB at batch 64)
local model = nn.Sequential{
  nn.Conv2d(3, 16, 5, {padding = 2}), nn.ReLU(true), nn.MaxPool2d(2),
  nn.Conv2d(16, 32, 5, {padding = 2}), nn.ReLU(true), nn.MaxPool2d(2, {ceil = true}),
  nn.Flatten(), nn.Linear(32 * s2 * s2, 1024), nn.ReLU(true),
}:add(nn.Heads{landmarks = nn.Linear(1024, 10), pose = nn.Linear(1024, 5), glasses = nn.Linear(1024, 2)}, "heads")
model:input_gradient(false)   -- the images need no gradient (nor do they in the peer)
local params, grads = nn.flatten_parameters(model)
local optimizer = optim.Adam(params, grads, {lr = 1e-4})
local criterion = nn.MultiTask{
  landmarks = {nn.LandmarkLoss(), 1}, pose = {nn.CrossEntropy(), 6}, glasses = {nn.CrossEntropy(), 3}}

local x = mtfl.rand(B, 3, S, S)
local function random_classes(k)      -- 1..k, from mtfl's seeded RNG
  local u = mtfl.rand(B, {device = "cpu"}):totable()
  for n = 1, B do u[n] = math.floor(u[n] * k) + 1 end
  return mtfl.tensor(u)
end
local targets = {landmarks = mtfl.rand(B, 10):mul_(S), pose = random_classes(5), glasses = random_classes(2)}

local function train_step()
  optimizer:zeroGrad()
  local out = model:forward(x)
  criterion:forward(out, targets)
  model:backward(x, criterion:backward(out, targets))
  optimizer:step()
end

local function rate(fn, n)
  for _ = 1, 2 do fn() end
  mtfl.synchronize(device)
  local t0 = mtfl.clock()
  for _ = 1, n do fn() end
  mtfl.synchronize(device)
  return B * n / (mtfl.clock() - t0)
end

print(model:summary{B, 3, S, S})
local train = rate(train_step, steps)
model:evaluate()
local infer = rate(function() model:forward(x) end, steps)
print(string.format("mtfl %s device=%s batch=%d size=%d steps=%d", mtfl.version, device, B, S, steps))
print(string.format("train_img_per_s=%.1f infer_img_per_s=%.1f", train, infer))
