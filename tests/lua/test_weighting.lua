-- The task-weighting policies (mtfl.train.weighting): each policy's rule checked on
-- constructed losses whose expected lambdas are worked out by hand here, the early
-- stopping policy freezing a real head, bad options, the run's config (unchanged for
-- the experiments that choose no new policy), and a tiny end-to-end run per policy
-- through experiment.run on synthetic faces that records the weights every epoch and
-- resumes after an interruption to the same result as a run without one.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local json = require "mtfl.json"
local T = require "harness"
local H = require "data_helpers"
local weighting = require "mtfl.train.weighting"
local experiment = require "mtfl.train.experiment"
local options = require "mtfl.train.options"
local heads = require "mtfl.train.heads"

mtfl.set_device("cpu")

local function started(name, opts, tasks, run)
  run = run or {}
  run.tasks = tasks
  return weighting.new(name, opts):start(run)
end

-- A network of a shared Linear layer and one Linear head per task, with the criterion
-- and an optimizer on its flat parameters.
local function small_model(outputs)
  mtfl.manual_seed(5)
  local model = nn.Sequential{nn.Linear(4, 3), nn.ReLU()}:add(heads.linear(3, outputs), "heads")
  local params, grads = nn.flatten_parameters(model)
  return model, optim.Adam(params, grads, {lr = 1e-2})
end

-- ---- fixed and scheduled -------------------------------------------------------------

T.test("fixed: the experiment's lambdas, every epoch", function()
  local p = started("fixed", nil, {landmarks = 1, pose = 6, glasses = 3})
  for epoch = 1, 3 do
    p:before_epoch(epoch)
    p:after_epoch(epoch, {landmarks = 5, pose = 1, glasses = 1}, {landmarks = 5, pose = 1, glasses = 1})
    local w = p:weights()
    T.eq(w.landmarks, 1, "landmarks") T.eq(w.pose, 6, "pose") T.eq(w.glasses, 3, "glasses")
  end
  T.eq(p:describe(), "fixed{}", "describe")
  T.eq(next(p:stop_epochs()), nil, "nothing stops")
end)

T.test("scheduled: ramp, decay and a plain function, asked per epoch", function()
  -- ramp 0 -> 6 over 4 epochs: 0, 2, 4, 6, then 6; decay from 8 with half-life 2:
  -- 8, 8/sqrt(2), 4, 4/sqrt(2), 2
  local p = started("scheduled", nil, {landmarks = 1, pose = weighting.ramp{from = 0, to = 6, epochs = 4},
    glasses = weighting.decay{from = 8, half_life = 2}, smile = function(epoch) return epoch <= 2 and 1 or 0 end})
  local pose = {0, 2, 4, 6, 6}
  local glasses = {8, 8 / math.sqrt(2), 4, 4 / math.sqrt(2), 2}
  local smile = {1, 1, 0, 0, 0}
  for epoch = 1, 5 do
    p:before_epoch(epoch)
    local w = p:weights()
    T.near(w.pose, pose[epoch], 1e-12, "pose at epoch " .. epoch)
    T.near(w.glasses, glasses[epoch], 1e-12, "glasses at epoch " .. epoch)
    T.eq(w.smile, smile[epoch], "smile at epoch " .. epoch)
    T.eq(w.landmarks, 1, "a number stays")
  end
  T.eq(p:describe(), "scheduled{glasses, pose, smile}", "describe names the scheduled tasks")
  -- a fade-out ramp and the schedules option
  local q = started("scheduled", {schedules = {pose = weighting.ramp{from = 6, to = 0, epochs = 3}}}, {landmarks = 1, pose = 6})
  q:before_epoch(2)
  T.near(q:weights().pose, 3, 1e-12, "half way down")
  T.raises(function() started("scheduled", nil, {pose = function() return -1 end}) end,
           "the schedule of task pose gave -1 at epoch 1")
  T.raises(function() weighting.ramp{from = 0, to = 1} end, "weighting.ramp: epochs must be a number")
  T.raises(function() weighting.decay{from = 1, half_life = 0} end, "half_life must be > 0")
  T.raises(function() started("scheduled", {schedules = {gender = function() return 1 end}}, {pose = 1}) end,
           "schedules names task \"gender\"")
end)

-- ---- early stopping ---------------------------------------------------------------------

T.test("early stopping: eq. (4) stops pose at a known epoch; lambda 0 and its head frozen", function()
  local model, optimizer = small_model({landmarks = 2, pose = 3})
  local p = started("early_stopping", {k = 3}, {landmarks = 1, pose = 2}, {model = model, optimizer = optimizer})
  -- k = 3, lambda 2: threshold 15 * 2 = 30. Epoch 5: training window {1.5, 1.2, 1.0}:
  -- median 1.2, sum 3.7, first factor 3.6 / 0.1 = 36; validation window {0.4, 0.5, 0.6}:
  -- rise 0.2, second factor 0.2 / (2 * 0.4) = 0.25: 36 * 0.25 = 9 < 30.
  -- Epoch 6: training {1.2, 1.0, 0.98}: median 1.0, sum 3.18, 3 / 0.18 = 16.67;
  -- validation {0.5, 0.6, 1.6}: rise 1.1, 1.1 / (2 * 0.5) = 1.1: 18.33 < 30.
  -- Epoch 7: training {1.0, 0.98, 0.97}: median 0.98, sum 2.95, 2.94 / 0.01 = 294;
  -- validation {0.6, 1.6, 1.7}: rise 1.1, 1.1 / 1.2 = 0.9167: 269.5 > 30 -> stop at 7.
  local train = {3.0, 2.0, 1.5, 1.2, 1.0, 0.98, 0.97, 0.96}
  local val = {1.0, 0.5, 0.4, 0.5, 0.6, 1.6, 1.7, 1.8}
  local pose_head = model:get("heads"):get("pose")
  local stopped_at
  for epoch = 1, #train do
    local changes = p:after_epoch(epoch, {landmarks = 1, pose = train[epoch]}, {landmarks = 1, pose = val[epoch]})
    if #changes.stopped > 0 then
      T.eq(changes.stopped[1], "pose", "pose stops")
      T.truthy(not stopped_at, "once")
      stopped_at = epoch
    end
    T.eq(p:weights().pose, epoch < 7 and 2 or 0, "pose lambda after epoch " .. epoch)
  end
  T.eq(stopped_at, 7, "the stop epoch")
  T.eq(p:stop_epochs().pose, 7, "stop_epochs")
  T.near(p.detector.values.pose[7], (2.94 / 0.01) * (1.1 / 1.2), 1e-9, "the criterion at epoch 7")
  T.eq(p:weights().landmarks, 1, "the main task is never stopped")
  T.truthy(model:get("heads"):is_frozen("pose"), "the head is frozen")
  -- the frozen head does not move under an optimizer step with a gradient
  local before = pose_head.weight:clone()
  optimizer:zeroGrad()
  local x = mtfl.tensor({{1, 2, 3, 4}})
  model:forward(x)
  model:backward(x, {landmarks = mtfl.ones(1, 2), pose = mtfl.ones(1, 3)})
  optimizer:step()
  T.eq(mtfl.max_abs_diff(before, pose_head.weight), 0, "the pose head stays where it was")
  -- its state resumes: a fresh policy on a fresh model knows pose stopped and freezes it
  local model2, optimizer2 = small_model({landmarks = 2, pose = 3})
  local q = started("early_stopping", {k = 3}, {landmarks = 1, pose = 2}, {model = model2, optimizer = optimizer2})
  q:load_state(json.decode(json.encode(p:state())))
  T.eq(q:weights().pose, 0, "resumed lambda")
  T.eq(q:stop_epochs().pose, 7, "resumed stop epoch")
  T.truthy(model2:get("heads"):is_frozen("pose"), "resumed frozen head")
end)

local function spec_of(fields)
  local spec = {name = "w", tasks = {landmarks = 1, pose = 6},
                network = function(size, outputs)
                  return nn.Sequential{nn.Flatten(), nn.Linear(3 * size * size, 8), nn.ReLU()}
                    :add(heads.linear(8, outputs), "heads")
                end}
  for k, v in pairs(fields or {}) do spec[k] = v end
  return spec
end

-- ---- TCDCN's dynamic coefficients ----------------------------------------------------

T.test("tcdcn: lambda follows the validation error's fall over tau epochs", function()
  local p = started("tcdcn", {tau = 2, rate = 0.1, floor = 0.2}, {landmarks = 1, pose = 6, glasses = 3})
  -- pose: after epoch 3 the error fell from 1.0 (epoch 1) to 0.8: 20% >= rate: 6.
  -- Epoch 4: from 0.9 to 0.855: 5%, half the rate: 6 * 0.5 = 3. Epoch 5: from 0.8 up to
  -- 0.9: a rise, the floor: 6 * 0.2 = 1.2.
  -- glasses: epochs 3, 4: 75% falls: 3; epoch 5: from 0.5 to 0.485: 3% -> 3 * 0.3 = 0.9.
  local pose = {1.0, 0.9, 0.8, 0.855, 0.9}
  local glasses = {2, 1, 0.5, 0.25, 0.485}
  local want_pose, want_glasses = {6, 6, 6, 3, 1.2}, {3, 3, 3, 3, 0.9}
  for epoch = 1, 5 do
    p:before_epoch(epoch)
    -- the training losses are not what it reads by default: give it others
    p:after_epoch(epoch, {landmarks = 9, pose = 0, glasses = 0}, {landmarks = 50 - epoch, pose = pose[epoch], glasses = glasses[epoch]})
    T.near(p:weights().pose, want_pose[epoch], 1e-9, "pose after epoch " .. epoch)
    T.near(p:weights().glasses, want_glasses[epoch], 1e-9, "glasses after epoch " .. epoch)
    T.eq(p:weights().landmarks, 1, "the main task keeps its lambda")
  end
  -- the state resumes: the same next epoch from a restored policy
  local q = started("tcdcn", {tau = 2, rate = 0.1, floor = 0.2}, {landmarks = 1, pose = 6, glasses = 3})
  q:load_state(json.decode(json.encode(p:state())))
  T.near(q:weights().pose, 1.2, 1e-12, "restored lambda")
  -- epoch 6: pose from 0.855 to 0.7695: 10% -> 6; glasses from 0.25 to 0.25: 0 -> floor 0.6
  for _, policy in ipairs{p, q} do
    policy:after_epoch(6, {}, {landmarks = 1, pose = 0.7695, glasses = 0.25})
    T.near(policy:weights().pose, 6, 1e-9, "pose after epoch 6")
    T.near(policy:weights().glasses, 0.6, 1e-9, "glasses after epoch 6")
  end
  -- the training-loss variant reads the training losses
  local r = started("dynamic", {tau = 1, error = "training"}, {landmarks = 1, pose = 2})
  r:after_epoch(1, {pose = 1}, {pose = 5})
  r:after_epoch(2, {pose = 0.99}, {pose = 1})   -- 1% fall of the training loss, rate 5%: 2 * 0.2
  T.near(r:weights().pose, 0.4, 1e-9, "training variant")
  T.raises(function() r:after_epoch(3, {}, {pose = 1}) end, "no training loss for task pose after epoch 3")
  T.raises(function() weighting.new("tcdcn", {rate = 0}) end, "tcdcn: option 'rate' must be > 0")
  T.raises(function() weighting.new("tcdcn", {floor = 2}) end, "tcdcn: option 'floor' must be >= 0 and <= 1")
end)

-- ---- uncertainty ------------------------------------------------------------------------

T.test("uncertainty: s after one and two steps, SGD and Adam, by hand", function()
  -- SGD, lr 0.1, s starting at 0; dL/ds = 1 - exp(-s) L.
  -- Step 1, L = 3: g = 1 - 3 = -2, s = 0 + 0.2 = 0.2.
  -- Step 2, L = 2: g = 1 - 2 exp(-0.2) = 1 - 2 * 0.8187307531 = -0.6374615062, s = 0.2637461506.
  local p = started("uncertainty", {optimizer = "sgd", lr = 0.1, init = 0}, {landmarks = 1, pose = 6})
  T.eq(p:weights().pose, 1, "exp(-0) before any step")
  p:after_step({landmarks = 3, pose = 3})
  T.near(p:log_variances().pose, 0.2, 1e-12, "s after step 1")
  T.near(p:weights().pose, math.exp(-0.2), 1e-12, "lambda = exp(-s)")
  p:after_step({landmarks = 2, pose = 2})
  T.near(p:log_variances().pose, 0.2637461506, 1e-9, "s after step 2")
  -- Adam, lr 0.01: step 1, g = -2: m = -0.2, v = 0.004, m^ = -2, v^ = 4,
  -- s = 0 - 0.01 * -2 / (2 + 1e-8) = 0.00999999995.
  local a = started("uncertainty", {lr = 0.01, init = 0}, {pose = 6})
  a:after_step({pose = 3})
  T.near(a:log_variances().pose, 0.00999999995, 1e-12, "Adam: s after step 1")
  -- step 2, L = 2: g = 1 - 2 exp(-0.00999999995) = -0.98009966..., m = 0.9 m + 0.1 g,
  -- v = 0.999 v + 0.001 g^2, bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999
  local s1 = 0.00999999995
  local g = 1 - 2 * math.exp(-s1)
  local m, v = 0.9 * -0.2 + 0.1 * g, 0.999 * 0.004 + 0.001 * g * g
  local want = s1 - 0.01 * (m / 0.19) / (math.sqrt(v / 0.001999) + 1e-8)
  a:after_step({pose = 2})
  T.near(a:log_variances().pose, want, 1e-12, "Adam: s after step 2")
  T.near(want, 0.0192922615, 1e-9, "which is 0.0192922615")
  -- by default s starts at -log lambda (the experiment's weights at the first step), and
  -- the learning rate is the run optimizer's
  local model, optimizer = small_model({landmarks = 2, pose = 3})
  local d = started("uncertainty", nil, {landmarks = 1, pose = 6}, {model = model, optimizer = optimizer})
  T.near(d:weights().pose, 6, 1e-12, "lambda starts at 6")
  T.near(d:log_variances().pose, -math.log(6), 1e-12, "s = -log 6")
  d:after_step({landmarks = 1, pose = 1})
  -- Adam's first step moves s by lr (1e-2) against the gradient's sign: 1 - 6 * 1 < 0
  T.near(d:log_variances().pose, -math.log(6) + 1e-2, 1e-9, "a first step of the run's rate")
  -- the state resumes to the same next step
  local r = started("uncertainty", nil, {landmarks = 1, pose = 6}, {model = model, optimizer = optimizer})
  r:load_state(json.decode(json.encode(d:state())))
  d:after_step({landmarks = 0.5, pose = 0.7})
  r:after_step({landmarks = 0.5, pose = 0.7})
  T.eq(r:log_variances().pose, d:log_variances().pose, "resumed s")
  T.eq(r:log_variances().landmarks, d:log_variances().landmarks, "resumed s (landmarks)")
  T.raises(function() started("uncertainty", nil, {landmarks = 1, pose = 0}) end, "task pose has lambda 0")
  T.raises(function() weighting.new("uncertainty", {lr = -1}) end, "uncertainty: option 'lr' must be > 0")
  T.raises(function() weighting.new("uncertainty", {optimizer = "rmsprop"}) end, "option 'optimizer' is \"rmsprop\"")
end)

-- ---- GradNorm --------------------------------------------------------------------------

-- 0.5 * sum (output - target)^2, in Lua numbers: a loss whose gradient is output - target.
local Square = require("mtfl.nn.class").class("Square", require("mtfl.nn.criterion"))
function Square:updateOutput(input, target)
  local a, b, sum = input:reshape(-1):totable(), target:reshape(-1):totable(), 0
  for i = 1, #a do sum = sum + 0.5 * (a[i] - b[i]) ^ 2 end
  return sum
end
function Square:updateGradInput(input, target) return input:sub(target) end

T.test("gradnorm: the shared layer's gradient norms and the weight update, by hand", function()
  -- x = [1, 2]; W = identity (the shared layer), so the features are x; head a = [1, 1],
  -- head b = [2, 0], no biases. Targets a = 1, b = 3: outputs 3 and 2, losses 2 and 0.5,
  -- dL/dout 2 and -1. grad_W L = (dL/dfeatures)^T x: a: [2, 2]^T [1, 2] = [[2, 4], [2, 4]],
  -- norm sqrt(40); b: [-2, 0]^T [1, 2] = [[-2, -4], [0, 0]], norm sqrt(20).
  local model = nn.Sequential{nn.Linear(2, 2, {bias = false})}
    :add(nn.Heads{a = nn.Linear(2, 1, {bias = false}), b = nn.Linear(2, 1, {bias = false})}, "heads")
  model:get(1).weight:copy(mtfl.tensor({{1, 0}, {0, 1}}))
  model:get("heads"):get("a").weight:copy(mtfl.tensor({{1, 1}}))
  model:get("heads"):get("b").weight:copy(mtfl.tensor({{2, 0}}))
  local params, grads = nn.flatten_parameters(model)
  local criterion = nn.MultiTask{a = {Square(), 1}, b = {Square(), 1}}
  local p = started("gradnorm", {lr = 0.01, alpha = 1.5, optimizer = "sgd"}, {a = 1, b = 1},
                    {model = model, criterion = criterion, optimizer = optim.SGD(params, grads, {lr = 0.1})})
  local x = mtfl.tensor({{1, 2}})
  local function step(ta, tb)
    local outputs = model:forward(x)
    local targets = {a = mtfl.tensor({{ta}}), b = mtfl.tensor({{tb}})}
    local _, losses = criterion:forward(outputs, targets)
    grads:zero()
    p:after_loss{losses = losses, outputs = outputs, targets = targets, input = x}
    T.eq(grads:abs():sum(), 0, "the probe leaves the model's gradients alone")
    return losses
  end
  local losses = step(1, 3)
  T.near(losses.a, 2, 1e-12, "loss a") T.near(losses.b, 0.5, 1e-12, "loss b")
  T.near(p.last_norms.a, math.sqrt(40), 1e-6, "g_a") T.near(p.last_norms.b, math.sqrt(20), 1e-6, "g_b")
  -- first step: L~ = 1 for both, r = 1, targets = mean G = (sqrt 40 + sqrt 20) / 2;
  -- G_a above it: w_a = 1 - 0.01 sqrt 40, G_b below: w_b = 1 + 0.01 sqrt 20; then sum 2
  local wa, wb = 1 - 0.01 * math.sqrt(40), 1 + 0.01 * math.sqrt(20)
  wa, wb = 2 * wa / (wa + wb), 2 * wb / (wa + wb)
  T.near(p:weights().a, wa, 1e-6, "w_a after step 1") T.near(p:weights().b, wb, 1e-6, "w_b after step 1")
  T.near(wa, 0.945512, 1e-5, "which is 0.9455")
  -- second step, target a = 2: L_a = 0.5 (L~_a = 0.25), g_a = sqrt 10; b unchanged (L~_b = 1).
  -- mean L~ = 0.625: r_a = 0.4, r_b = 1.6; G_a = w_a sqrt 10, G_b = w_b sqrt 20,
  -- targets mean(G) r^1.5
  step(2, 3)
  local Ga, Gb = wa * math.sqrt(10), wb * math.sqrt(20)
  local mean = (Ga + Gb) / 2
  local Ta, Tb = mean * 0.4 ^ 1.5, mean * 1.6 ^ 1.5
  T.truthy(Ga > Ta and Gb < Tb, "a above its target, b below")
  local na, nb = wa - 0.01 * math.sqrt(10), wb + 0.01 * math.sqrt(20)
  na, nb = 2 * na / (na + nb), 2 * nb / (na + nb)
  T.near(p:weights().a, na, 1e-6, "w_a after step 2") T.near(p:weights().b, nb, 1e-6, "w_b after step 2")
  -- Adam (the default): its first step is lr against the gradient's sign: 1 - 0.01 for a
  -- (above its target), 1 + 0.01 for b, already summing to 2
  local adam = started("gradnorm", {lr = 0.01}, {a = 1, b = 1}, {model = model, criterion = criterion})
  p = adam
  step(1, 3)
  T.near(adam:weights().a, 0.99, 1e-7, "Adam: w_a after step 1") T.near(adam:weights().b, 1.01, 1e-7, "Adam: w_b after step 1")
  -- every = 2: the second step leaves the weights as they are
  local q = started("gradnorm", {lr = 0.01, every = 2}, {a = 3, b = 1}, {model = model, criterion = criterion})
  T.near(q:weights().a, 1.5, 1e-12, "lambdas scaled to sum to the number of tasks")
  p = q
  step(1, 3)
  local after_first = p:weights().a
  T.truthy(after_first ~= 1.5, "the first step measures")
  step(2, 3)
  T.eq(p:weights().a, after_first, "the second does not")
  -- the state resumes
  local r = started("gradnorm", {lr = 0.01, every = 2}, {a = 3, b = 1}, {model = model, criterion = criterion})
  r:load_state(json.decode(json.encode(q:state())))
  T.eq(r:weights().a, q:weights().a, "resumed weight") T.eq(r.steps, 2, "resumed step count")
  T.raises(function() started("gradnorm", nil, {a = 1}, {model = nn.Sequential{nn.Linear(2, 2)}}) end,
           "gradnorm: the model is no nn.Sequential ending in nn.Heads")
  T.raises(function() started("gradnorm", nil, {a = 1}, {model = nn.Sequential{nn.ReLU()}:add(nn.Heads{a = nn.Linear(2, 1)}, "heads")}) end,
           "no module with parameters before the heads")
  T.raises(function() weighting.new("gradnorm", {every = 0}) end, "gradnorm: option 'every' must be >= 1")
end)

-- ---- options and the run's config -------------------------------------------------------

T.test("options: unknown, wrong type or out of range name the policy and the option", function()
  T.raises(function() weighting.new("tcdcnn") end, "no policy named tcdcnn", "tcdcn")
  T.raises(function() weighting.new("early_stopping", {kk = 5}) end, "early_stopping", "unknown option 'kk' (did you mean 'k'?")
  T.raises(function() weighting.new("early_stopping", {k = 1}) end, "early_stopping: option 'k' must be >= 2, got 1")
  T.raises(function() weighting.new("early_stopping", {k = "5"}) end, "option 'k' must be an integer, got \"5\"")
  T.raises(function() weighting.new("early_stopping", {second_factor = "test"}) end, "option 'second_factor' is \"test\" (use \"validation\" or \"training\")")
  T.raises(function() weighting.get{lr = 1} end, "starts with the policy's name")
  T.raises(function() started("fixed", nil, {pose = function() return 1 end}) end,
           "task pose needs a number >= 0", "scheduled")
  T.eq(experiment.policy(spec_of{policy = "dynamic"}, {}).name, "tcdcn", "dynamic is tcdcn")
  T.raises(function() experiment.script(spec_of{policy = {"tcdcn", tau = 0}}, experiment.AS_SPEC) end,
           "weighting policy tcdcn: option 'tau' must be >= 1, got 0")
  T.raises(function() experiment.script(spec_of{policy = {"early_stopping", k = 0}}, experiment.AS_SPEC) end,
           "weighting policy early_stopping: option 'k' must be >= 2, got 0")
  T.raises(function() experiment.script(spec_of{policy = "early_stopping", tasks = {landmarks = 1, pose = function() return 1 end}},
                                        experiment.AS_SPEC) end, "task pose needs a number >= 0", "scheduled")
  T.raises(function() started("early_stopping", nil, {landmarks = 1, pose = 0}) end, "task pose needs a positive lambda")
end)

T.test("experiment: the policy field, the early_stopping field and schedules in tasks", function()
  T.eq(experiment.policy(spec_of(), {}).name, "fixed", "no field: fixed")
  local es = experiment.policy(spec_of{early_stopping = {k = 4}}, {es_factor = "training"})
  T.eq(es.name, "early_stopping", "the early_stopping field")
  T.eq(es.options.k, 4, "its k") T.eq(es.options.second_factor, "training", "--es-factor")
  T.eq(experiment.policy(spec_of{policy = "early_stopping"}, {es_factor = "training"}).options.second_factor, "training",
       "--es-factor for the named policy too")
  T.eq(experiment.policy(spec_of{tasks = {landmarks = 1, pose = function() return 1 end}}, {}).name, "scheduled",
       "a function in tasks")
  T.raises(function() experiment.script(spec_of{policy = "fixed", early_stopping = {k = 5}}, experiment.AS_SPEC) end,
           "give either policy or early_stopping")
end)

-- ---- end to end: experiment.run on tiny synthetic faces -------------------------------------

local EPOCHS = 3

local function settings(out)
  local s = options.resolve(options.parse({"--quick", "--synthetic", "--limit", "40", "--size", "16", "--epochs",
                                           tostring(EPOCHS), "--epoch-size", "40", "--batch", "10", "--device", "cpu",
                                           "--out", out}))
  s.seed = 1
  return s
end

-- The run whole, and the same run stopped after epoch `stop_after` and resumed: the two
-- results must be the same numbers; returns the whole run's result.
local function run_twice(fields, stop_after)
  local whole, parts = H.temp_dir("whole"), H.temp_dir("parts")
  local spec = spec_of(fields)
  local a = experiment.run(spec, settings(whole), {quiet = true})
  local epochs = 0
  local stopped = experiment.run(spec_of(fields), settings(parts), {quiet = true, should_stop = function()
    epochs = epochs + 1
    return epochs >= (stop_after or 1)
  end})
  T.eq(stopped, nil, "the interrupted run has no result")
  local b = experiment.run(spec_of(fields), settings(parts), {quiet = true})
  for _, key in ipairs{"mean_error", "mean_accuracy", "pose_accuracy"} do
    T.eq(b[key], a[key], key .. " after an interruption")
  end
  for _, part in ipairs{"train_loss", "val_loss", "weights"} do
    for task, values in pairs(a.history[part]) do
      for epoch, v in ipairs(values) do
        T.eq(b.history[part][task][epoch], v, string.format("history.%s.%s[%d] after an interruption", part, task, epoch))
      end
    end
  end
  T.eq(json.encode(b.stop_epoch), json.encode(a.stop_epoch), "stop epochs")
  for task in pairs(spec.tasks) do
    T.eq(#a.history.weights[task], EPOCHS, "a weight per epoch for " .. task)
  end
  H.remove(whole)
  H.remove(parts)
  return a
end

T.test("end to end: fixed and early stopping through experiment.run, resumed exactly", function()
  local a = run_twice({})
  T.eq(a.config.policy, nil, "no policy in a fixed run's config")
  T.eq(a.history.weights.pose[EPOCHS], 6, "pose's lambda recorded")
  local b = run_twice({policy = {"early_stopping", k = 2, epsilon_factor = -1}})
  T.eq(b.stop_epoch.pose, 2, "pose stopped as soon as eq. (4) had a value")
  T.eq(b.history.weights.pose[2], 6, "epoch 2 trained with pose")
  T.eq(b.history.weights.pose[3], 0, "epoch 3 without")
  T.truthy(b.config.policy:find("early_stopping{", 1, true), "the explicit policy is in the config")
end)

T.test("end to end: a scheduled lambda", function()
  local a = run_twice({tasks = {landmarks = 1, pose = weighting.ramp{from = 0, to = 4, epochs = 3}}}, 2)
  T.eq(a.history.weights.pose[1], 0, "epoch 1") T.eq(a.history.weights.pose[2], 2, "epoch 2")
  T.eq(a.history.weights.pose[3], 4, "epoch 3")
  T.eq(a.tasks.pose, "a schedule", "result.tasks names the schedule")
  T.eq(a.config.policy, "scheduled{pose}", "config")
end)

T.test("end to end: tcdcn, resumed exactly", function()
  local a = run_twice({tasks = {landmarks = 1, pose = 6, glasses = 3}, policy = {"tcdcn", tau = 1}})
  T.truthy(a.config.policy:find("tcdcn{", 1, true), "the policy in the config: " .. tostring(a.config.policy))
  -- an epoch trains with the lambda set after the one before: tau = 1 needs two
  -- validation losses, so epochs 1 and 2 train with the base lambda
  T.eq(a.history.weights.pose[1], 6, "epoch 1") T.eq(a.history.weights.pose[2], 6, "epoch 2")
  local v = a.history.val_loss.pose
  local want = 6 * math.min(1, math.max(0, (v[1] - v[2]) / v[1] / 0.05))
  T.near(a.history.weights.pose[3], want, 1e-12, "pose's lambda in epoch 3, from validation losses " .. v[1] .. ", " .. v[2])
end)

T.test("end to end: uncertainty, weights every step, resumed exactly", function()
  local a = run_twice({policy = {"uncertainty", lr = 1e-2}})
  T.truthy(a.config.policy:find("uncertainty{", 1, true), "the policy in the config")
  T.truthy(a.history.weights.pose[1] ~= 6 and a.history.weights.pose[2] ~= a.history.weights.pose[1],
           "pose's lambda moves: " .. json.encode(a.history.weights.pose))
end)

T.test("end to end: gradnorm on the shared layer, resumed exactly", function()
  local a = run_twice({tasks = {landmarks = 1, pose = 6, glasses = 3}, policy = {"gradnorm", every = 2}})
  T.truthy(a.config.policy:find("gradnorm{", 1, true), "the policy in the config")
  local sum = a.history.weights.landmarks[1] + a.history.weights.pose[1] + a.history.weights.glasses[1]
  T.near(sum, 3, 1e-9, "the weights sum to the number of tasks")
  T.truthy(a.history.weights.pose[1] ~= 6 * 3 / 10, "they moved from the scaled lambdas")
end)

T.run_all()
