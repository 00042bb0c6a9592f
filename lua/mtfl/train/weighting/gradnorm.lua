-- mtfl.train.weighting.gradnorm: GradNorm (Chen, Badrinarayanan, Lee, Rabinovich, ICML
-- 2018) on the gradient norms at the last shared layer.
--
--   policy = "gradnorm"   or   {"gradnorm", alpha = 1.5, lr = 0.025, every = 1}
--
-- W is the weight of the last module with parameters before the nn.Heads (the seed
-- network's Linear(... -> 1024)). At a step, with the task weights w_i and the batch's
-- losses L_i:
--   G_i = ||grad_W (w_i L_i)|| = w_i g_i,  g_i = ||grad_W L_i||
--   L~_i = L_i(t) / L_i(0) (L_i(0): the first step's loss),  r_i = L~_i / mean_j L~_j
--   target_i = mean_j G_j * r_i^alpha       (held constant)
--   d/dw_i sum_j |G_j - target_j| = sign(G_i - target_i) g_i
-- a step on w with that gradient (Adam by default, as the paper trains w with the
-- network's optimizer; optimizer = "sgd": w_i <- w_i - lr * sign(G_i - target_i) g_i),
-- then w clipped at 0 and scaled to sum to the number of tasks. Why not plain SGD by
-- default: its step scales with g_i, and on the seed network the landmark loss's g is
-- some hundred times the attributes', so one step at lr 0.025 sent the landmarks'
-- weight to 0; Adam's step is about lr whatever the scale. The weights start at
-- the experiment's lambdas scaled the same way (all tasks, the main one included).
-- The new weights weigh the next step (this one's backward keeps those it measured).
--
-- g_i costs one backward of task i alone through its head and the modules after W
-- (updateGradInput only: they have no parameters) and W's parameter gradient into a
-- scratch tensor, swapped in for W's own gradient (which stays untouched): nothing
-- below W is visited. every = k measures at every k-th step (the first included) and
-- leaves the weights alone in between. Options: alpha (>= 0; the paper's 1.5 for its
-- NYUv2 runs), lr (> 0; 0.025, the paper's rate), optimizer ("adam" (beta1 0.9,
-- beta2 0.999, eps 1e-8) or "sgd"), every (>= 1).
local mtfl = require "mtfl"
local Policy = require "mtfl.train.weighting.policy"
local is_instance = require("mtfl.nn.class").is_instance
local Heads = require "mtfl.nn.heads"
local Sequential = require "mtfl.nn.sequential"
local errors = require "mtfl.errors"

local GradNorm = Policy.class("gradnorm", {
  alpha = {"number", 1.5, min = 0}, lr = {"number", 0.025, above = 0}, every = {"integer", 1, min = 1},
  optimizer = {"string", "adam", values = {"adam", "sgd"}},
})
GradNorm.per_step = true

-- The modules run before the Heads, in order, looking inside Sequentials; the Heads.
local function layers_before_heads(module, out)
  for _, child in ipairs((module:children())) do
    if is_instance(child, Heads) then return child end
    if is_instance(child, Sequential) then
      local heads = layers_before_heads(child, out)
      if heads then return heads end
    else
      out[#out + 1] = child
    end
  end
end

--- {layers =, shared = index of W's module in layers, heads =} for a model, or an error.
function GradNorm.shared_layer(model)
  local layers = {}
  local heads = is_instance(model, Sequential) and layers_before_heads(model, layers)
  if not heads then errors.raise("weighting policy gradnorm: the model is no nn.Sequential ending in nn.Heads") end
  for i = #layers, 1, -1 do
    local m = layers[i]
    if m:parameter_count() > 0 then
      if #m.parameter_slots == 0 then
        errors.raisef("weighting policy gradnorm: the last shared module with parameters is %s, a container; it needs a layer (Linear, Conv2d)",
                      m:describe())
      end
      return {layers = layers, shared = i, heads = heads}
    end
  end
  errors.raise("weighting policy gradnorm: no module with parameters before the heads")
end

function GradNorm:begin(run)
  local n, sum = #self.task_names, 0
  for _, task in ipairs(self.task_names) do sum = sum + self.base[task] end
  if not (sum > 0) then errors.raise("weighting policy gradnorm: the tasks' lambdas sum to 0") end
  for _, task in ipairs(self.task_names) do self.lambda[task] = self.base[task] * n / sum end
  self.first_loss, self.steps = {}, 0
  self.adam = self.options.optimizer == "adam" and {m = {}, v = {}, step = 0} or nil
  if run.model then self.net = GradNorm.shared_layer(run.model) end
end

-- ||grad_W L_task|| from the forward pass just made (step.outputs, step.targets,
-- step.input), leaving every gradient buffer of the model as it was.
function GradNorm:shared_gradient_norm(task, step)
  local net, criterion = self.net, self.criterion.criteria[task]
  local layers, w = net.layers, net.shared
  local function input_of(i) return i > 1 and layers[i - 1].output or step.input end
  local g = criterion:backward(step.outputs[task], step.targets[task])
  g = net.heads:head(task):updateGradInput(input_of(#layers + 1), g)
  for i = #layers, w + 1, -1 do g = layers[i]:updateGradInput(input_of(i), g) end
  local m = layers[w]
  local saved = {}
  for k, slot in ipairs(m.parameter_slots) do
    saved[k] = m[slot.grad]
    m[slot.grad] = mtfl.zeros(saved[k]:size(), {device = saved[k]:device()})
  end
  local ok, err = pcall(m.accGradParameters, m, input_of(w), g)
  local first = m[m.parameter_slots[1].grad]
  for k, slot in ipairs(m.parameter_slots) do m[slot.grad] = saved[k] end
  if not ok then error(err, 0) end
  return math.sqrt(first:mul(first):sum())
end

-- The step on w_i from its gradient: SGD, or Adam with moments kept in adam.
local function descend(task, w, gradient, lr, adam)
  if not adam then return w - lr * gradient end
  local b1, b2 = 0.9, 0.999
  adam.m[task] = b1 * (adam.m[task] or 0) + (1 - b1) * gradient
  adam.v[task] = b2 * (adam.v[task] or 0) + (1 - b2) * gradient * gradient
  local m_hat, v_hat = adam.m[task] / (1 - b1 ^ adam.step), adam.v[task] / (1 - b2 ^ adam.step)
  return w - lr * m_hat / (math.sqrt(v_hat) + 1e-8)
end

--- The weights' update from the norms g (unweighted) and the losses: pure, for tests.
--- adam = {m = {}, v = {}, step = n} (its moments, updated) for Adam, nil for SGD.
function GradNorm.update(weights, norms, losses, first_loss, alpha, lr, adam)
  local tasks = {}
  for task in pairs(weights) do tasks[#tasks + 1] = task end
  table.sort(tasks)
  local n = #tasks
  local G, ratio, mean_G, mean_ratio = {}, {}, 0, 0
  for _, task in ipairs(tasks) do
    G[task] = weights[task] * norms[task]
    ratio[task] = first_loss[task] > 0 and losses[task] / first_loss[task] or 1
    mean_G, mean_ratio = mean_G + G[task] / n, mean_ratio + ratio[task] / n
  end
  local new, sum = {}, 0
  for _, task in ipairs(tasks) do
    local target = mean_G * (mean_ratio > 0 and ratio[task] / mean_ratio or 1) ^ alpha
    local diff = G[task] - target
    local sign = diff > 0 and 1 or diff < 0 and -1 or 0
    new[task] = math.max(0, descend(task, weights[task], sign * norms[task], lr, adam))
    sum = sum + new[task]
  end
  if not (sum > 0) then return weights end   -- every weight driven to 0: keep the last ones
  for _, task in ipairs(tasks) do new[task] = new[task] * n / sum end
  return new
end

function GradNorm:after_loss(step)
  if not self.net then errors.raise("weighting policy gradnorm: started without a model") end
  self.steps = self.steps + 1
  for _, task in ipairs(self.task_names) do
    if not self.first_loss[task] then self.first_loss[task] = step.losses[task] end
  end
  if (self.steps - 1) % self.options.every ~= 0 then return end
  local norms = {}
  for _, task in ipairs(self.task_names) do norms[task] = self:shared_gradient_norm(task, step) end
  self.last_norms = norms
  if self.adam then self.adam.step = self.adam.step + 1 end
  self.lambda = GradNorm.update(self.lambda, norms, step.losses, self.first_loss, self.options.alpha, self.options.lr,
                                self.adam)
end

function GradNorm:state()
  return {lambda = self:weights(), first_loss = self.first_loss, steps = self.steps, adam = self.adam}
end

function GradNorm:load_state(s)
  for _, task in ipairs(self.task_names) do
    if type(s.lambda[task]) ~= "number" then
      errors.raisef("weighting policy gradnorm: the saved state has no weight for task %s", task)
    end
    self.lambda[task] = s.lambda[task]
    self.first_loss[task] = s.first_loss and s.first_loss[task]
  end
  self.steps = s.steps
  if self.adam then
    local a = s.adam or {}
    self.adam = {m = a.m or {}, v = a.v or {}, step = a.step or 0}
  end
end

return GradNorm
