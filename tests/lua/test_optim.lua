-- AdamW against its formula, gradient clipping by the total norm, the learning-rate
-- schedules' exact values, and all of them in the trainer and in an experiment's table:
-- a step that clips and follows a schedule still reads its device once.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local data = require "mtfl.data"
local T = require "harness"
local C = require "nn_check"
local H = require "data_helpers"
local Trainer = require "mtfl.train.trainer"
local experiment = require "mtfl.train.experiment"
local options = require "mtfl.train.options"

local schedules = optim.schedules

mtfl.set_device("cpu")
mtfl.manual_seed(5)
math.randomseed(5)

-- ---- AdamW -------------------------------------------------------------------------------

T.test("AdamW: the decay is decoupled from the moments (Loshchilov & Hutter), default 0.01", function()
  local p0, g = C.values(mtfl.randn(50)), C.values(mtfl.randn(50))
  for _, case in ipairs({{wd = 0.01, config = {lr = 0.05}}, {wd = 0.3, config = {lr = 0.05, weight_decay = 0.3}}}) do
    local p, grad = C.tensor(p0, {50}), C.tensor(g, {50})
    local opt = optim.AdamW(p, grad, case.config)
    T.eq(opt.config.weight_decay, case.wd, "weight_decay")
    for _ = 1, 3 do opt:step() end
    local want = {}
    for i = 1, 50 do
      local q, mi, vi = p0[i], 0, 0
      for t = 1, 3 do
        mi = 0.9 * mi + 0.1 * g[i]
        vi = 0.999 * vi + 0.001 * g[i] ^ 2
        q = q - 0.05 * case.wd * q - 0.05 * (mi / (1 - 0.9 ^ t)) / (math.sqrt(vi / (1 - 0.999 ^ t)) + 1e-8)
      end
      want[i] = q
    end
    C.compare("AdamW weight decay " .. case.wd, C.values(p), want, 1e-5, 1)
  end
  -- with a zero gradient only the decay acts: every weight shrinks by (1 - lr wd) per step
  local p, zero = mtfl.ones(4), mtfl.zeros(4)
  local opt = optim.AdamW(p, zero, {lr = 0.1, weight_decay = 0.5})
  opt:step():step()
  T.near(p:max(), 0.95 * 0.95, 1e-6, "pure decay")
  T.eq(optim.AdamW(p, zero):state().type, "AdamW", "its state is marked AdamW")
  T.raises(function() optim.AdamW(p, zero, {beta2 = 1}) end, "AdamW: beta1 and beta2 must be below 1")
  T.raises(function() optim.AdamW(p, zero, {momentum = 0.9}) end, "AdamW: unknown option \"momentum\"")
  T.raises(function() optim.Adam(p, zero):load_state(optim.AdamW(p, zero):state()) end,
           "the state is for AdamW, not Adam")
end)

-- ---- clipping ----------------------------------------------------------------------------

T.test("clip_grad_norm scales every gradient by max_norm / total norm, only above it", function()
  for _, id in ipairs(T.devices()) do
    local a, b = mtfl.tensor({3, 0}, {device = id}), mtfl.tensor({{4}}, {device = id})
    local norm = optim.clip_grad_norm({a, b}, 1)
    T.eq(norm:device(), id, "the norm stays on the device")
    T.near(norm:item(), 5, 1e-6, id .. ": the norm before clipping")
    T.near(a:totable()[1], 0.6, 1e-6, id .. ": scaled to norm 1")
    T.near(b:totable()[1][1], 0.8, 1e-6, id .. ": across tensors")
    local c = mtfl.tensor({0.3, -0.4}, {device = id})
    T.near(optim.clip_grad_norm(c, 10):item(), 0.5, 1e-6, id .. ": below max_norm")
    T.eq(mtfl.max_abs_diff(c, mtfl.tensor({0.3, -0.4}, {device = id})), 0, id .. ": left as it is")
    local z = mtfl.zeros(3, {device = id})
    T.eq(optim.clip_grad_norm(z, 1):item(), 0, id .. ": all-zero gradients stay zero")
    T.eq(z:abs():max(), 0, id .. ": no NaN")
  end
  -- a model, an optimizer
  local model = nn.Linear(3, 2)
  model.gradWeight:fill(1)
  model.gradBias:fill(1)
  T.near(optim.clip_grad_norm(model, 2):item(), math.sqrt(8), 1e-6, "a model's gradients")
  T.near(model.gradWeight:max(), 2 / math.sqrt(8), 1e-6, "clipped in place")
  local params, grads = nn.flatten_parameters(model)
  grads:fill(2)
  T.near(optim.clip_grad_norm(optim.SGD(params, grads), 100):item(), 2 * math.sqrt(8), 1e-6, "an optimizer's")
  T.raises(function() optim.clip_grad_norm(model, 0) end, "clip_grad_norm: max_norm must be a positive number, got 0")
  T.raises(function() optim.clip_grad_norm(42, 1) end, "clip_grad_norm: expects gradients")
  T.raises(function() optim.clip_grad_norm({mtfl.zeros(2), "x"}, 1) end, "gradient 2 is a string")
  local devices = T.devices()
  if #devices > 1 then
    T.raises(function() optim.clip_grad_norm({mtfl.zeros(2), mtfl.zeros(2, {device = devices[2]})}, 1) end,
             "gradient 2 [2] is on " .. devices[2] .. ", gradient 1 on cpu")
  end
end)

-- ---- schedules ---------------------------------------------------------------------------

T.test("schedules: step, cosine, warm-up, exact values, composed", function()
  local step = schedules.step{every = 3, gamma = 0.5}
  T.eq(step(0, 0.8), 0.8, "step at 0")
  T.eq(step(2.99, 0.8), 0.8, "step before the first boundary")
  T.eq(step(3, 0.8), 0.4, "step at 3")
  T.eq(step(7.5, 0.8), 0.2, "step at 7.5")
  T.eq(schedules.step{every = 2}(4, 1), 0.1 ^ 2, "gamma 0.1 by default")
  local cosine = schedules.cosine{epochs = 4, min_lr = 0.1}
  T.eq(cosine(0, 1.1), 1.1, "cosine starts at the base")
  T.near(cosine(2, 1.1), 0.6, 1e-15, "half-way: the mean of base and min_lr")
  T.near(cosine(1, 1.1), 0.1 + 1.0 * (1 + math.cos(math.pi / 4)) / 2, 1e-15, "a quarter")
  T.eq(cosine(4, 1.1), 0.1, "the end: min_lr")
  T.eq(cosine(9, 1.1), 0.1, "and after it")
  T.near(schedules.cosine{}(5, 2, 10), 1, 1e-15, "the run's epochs when not given")
  T.raises(function() schedules.cosine{}(1, 1) end, "schedules.cosine: epochs is not set")
  local warm = schedules.warmup{epochs = 2, inner = schedules.step{every = 4, gamma = 0.1}}
  T.near(warm(0, 1), 0.1, 1e-15, "warm-up starts at a tenth")
  T.near(warm(1, 1), 0.55, 1e-15, "half-way up")
  T.eq(warm(2, 1), 1, "then the inner schedule")
  T.near(warm(5, 1), 0.1, 1e-15, "which counts the same epochs")
  T.near(schedules.warmup{epochs = 4, start = 0}(1, 2), 0.5, 1e-15, "from 0 over 4 epochs, constant inside")
  local nested = schedules.warmup{epochs = 1, inner = schedules.cosine{}}
  T.near(nested(0.5, 1, 10), 0.55 * (1 + math.cos(math.pi * 0.05)) / 2, 1e-15, "warm-up of a cosine")
  T.raises(function() schedules.step{} end, "schedules.step: every = epochs is missing")
  T.raises(function() schedules.step{every = -1} end, "schedules.step: every = -1 is not allowed")
  T.raises(function() schedules.cosine{min_lr = -1} end, "schedules.cosine: min_lr = -1")
  T.raises(function() schedules.warmup{start = 2} end, "schedules.warmup: start = 2")
  T.raises(function() schedules.warmup{inner = 3} end, "inner must be a schedule")
  T.raises(function() schedules.step(5) end, "expects a table of options")
end)

-- ---- in the trainer ----------------------------------------------------------------------

local function tiny_model()
  mtfl.manual_seed(3)
  local model = nn.Sequential{nn.Flatten(), nn.Linear(3 * 16 * 16, 8), nn.ReLU()}
    :add(require("mtfl.train.heads").linear(8, {landmarks = 10, pose = 5}), "heads")
  model:input_gradient(false)
  return model
end

local function criterion()
  return nn.MultiTask{landmarks = {nn.LandmarkLoss{kind = "wing", normalize = "iod"}, 1}, pose = {nn.CrossEntropy(), 2}}
end

T.test("a step that clips and follows a schedule reads its device once, on every device", function()
  local ds = data.synthetic_dataset{size = 16, seed = 4, train = 24, val = 8, test = 8}
  for _, dev in ipairs(T.devices()) do
    local model = tiny_model():to(dev)
    local params, grads = nn.flatten_parameters(model)
    local loader <close> = data.loader(ds.train, {batch = 6, seed = 1, device = dev})
    local seen = {}
    local trainer = Trainer.new{model = model, criterion = criterion(), loader = loader, val = ds.val, size = 16,
      epochs = 2, optimizer = optim.AdamW(params, grads, {lr = 1e-2}), clip = 1e-3,
      schedule = function(t, base, epochs)
        seen[#seen + 1] = t
        return schedules.warmup{epochs = 1, inner = schedules.cosine{}}(t, base, epochs)
      end}
    model:training()
    for batch, index in loader:epoch(1) do
      local before = mtfl.stats(dev)
      trainer:step(batch, index)
      local after = mtfl.stats(dev)
      T.eq(after.blocking_reads - before.blocking_reads, 1, dev .. ": step " .. index .. " reads once")
      T.eq(after.synchronizations - before.synchronizations, 0, dev .. ": and waits for nothing else")
    end
    T.eq(#seen, 4, dev .. ": the schedule is asked before every step")
    T.eq(seen[1], 0, dev .. ": t = 0 at the first step")
    T.eq(seen[4], 0.75, dev .. ": t in epochs done")
    T.near(trainer.optimizer.config.lr, 1e-2 * (0.1 + 0.9 * 0.75) * (1 + math.cos(math.pi * 0.75 / 2)) / 2, 1e-12,
           dev .. ": the rate set")
    -- max_norm 1e-3 is far below this network's gradients: every step clips
    T.truthy(trainer.grad_norm:item() > 1e-2, dev .. ": the last norm before clipping, readable")
    T.near(grads:pow(2):sum() ^ 0.5 / 1e-3, 1, 1e-4, dev .. ": the gradient the update took had norm max_norm")
  end
  local model = tiny_model()
  local params, grads = nn.flatten_parameters(model)
  local loader <close> = data.loader(ds.train, {batch = 6, seed = 1})
  local base = {model = model, criterion = criterion(), loader = loader, val = ds.val, size = 16, epochs = 1,
                optimizer = optim.Adam(params, grads)}
  local function with(extra)
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return o
  end
  T.raises(function() Trainer.new(with{clip = -1}) end, "Trainer.new: clip must be a positive number")
  T.raises(function() Trainer.new(with{schedule = 3}) end, "Trainer.new: schedule must be a function")
  T.raises(function() Trainer.new(with{schedule = schedules.constant(), lr_at = function() return 1 end}) end,
           "either schedule or lr_at")
end)

-- ---- in an experiment's table ------------------------------------------------------------

T.test("an experiment picks its optimizer, schedule, clipping and landmark loss from its table", function()
  local dir = H.temp_dir("optim")
  local made = {}
  local Spy = require("mtfl.nn.class").class("AdamW", optim.AdamW)
  function Spy:__init(p, g, config)
    made[#made + 1] = config
    optim.AdamW.__init(self, p, g, config)
  end
  local saved = experiment.OPTIMIZERS.adamw
  experiment.OPTIMIZERS.adamw = Spy
  local ts = {}
  local spec = {name = "tiny", tasks = {landmarks = 1, pose = 2},
    network = function(size, outputs)
      return nn.Sequential{nn.Flatten(), nn.Linear(3 * size * size, 8), nn.ReLU()}
        :add(require("mtfl.train.heads").linear(8, outputs), "heads")
    end,
    optimizer = {"adamw", weight_decay = 0.05}, clip = 5,
    schedule = function(t, base, epochs) ts[#ts + 1] = t return schedules.cosine{}(t, base, epochs) end,
    landmark_loss = {kind = "wing", normalize = "iod"}}
  local s = options.resolve(options.parse({"--quick", "--synthetic", "--limit", "20", "--size", "16", "--epoch-size", "20",
                                           "--epochs", "2", "--batch", "10", "--lr", "0.002", "--device", "cpu"}))
  s.seed = 1
  local ok, result = pcall(experiment.run, spec, s, {quiet = true, dir = dir})
  experiment.OPTIMIZERS.adamw = saved
  T.truthy(ok, tostring(result))
  T.eq(#made, 1, "one AdamW")
  T.eq(made[1].weight_decay, 0.05, "with the table's decay")
  T.eq(made[1].lr, 0.002, "and the run's rate")
  T.eq(#ts, 4, "the schedule asked at every step of two epochs of two batches")
  T.eq(ts[3], 1, "t counts epochs")
  T.truthy(result.test_losses.landmarks > 0, "a landmark loss")
  T.eq(result.config.landmark_loss, "LandmarkLoss(wing, w 10, epsilon 2, per inter-ocular distance)", "recorded")
  T.eq(result.config.optimizer, "AdamW{weight_decay = 0.05}", "the optimizer recorded")
  T.eq(result.config.clip, 5, "the clipping recorded")
  -- the finished run is not reused for another loss
  spec.landmark_loss = "l1"
  T.raises(function() experiment.run(spec, s, {quiet = true, dir = dir}) end, "made with other settings or data",
           "landmark_loss: LandmarkLoss(l1) now, LandmarkLoss(wing, w 10, epsilon 2, per inter-ocular distance) before")
  H.remove(dir)
  -- bad fields are refused before anything trains
  local function bad(field, value)
    local t = {name = "bad", tasks = {landmarks = 1}, network = spec.network}
    t[field] = value
    return function() experiment.script(t, experiment.AS_SPEC) end
  end
  T.raises(bad("optimizer", "rmsprop"), "experiment bad: optimizer rmsprop")
  T.raises(bad("clip", 0), "experiment bad: clip must be a positive number, got 0")
  T.raises(bad("schedule", {}), "experiment bad: schedule must be a function")
  T.raises(bad("landmark_loss", "huber"), "LandmarkLoss: kind \"huber\"")
  T.raises(bad("landmark_loss", {kind = "wing", w = -1}), "LandmarkLoss: w must be a positive number")
end)

T.run_all()
