-- mtfl.train.trainer: the epoch loop of one training run.
--
--   local trainer = Trainer.new{label = "multitask s1", model = model, criterion = criterion,
--     optimizer = adam, loader = data.loader(ds.train, {...}), val = ds.val, size = 64,
--     epochs = 30, epoch_size = nil (images per epoch: all), batch = 50,
--     lr_at = nil (function(epoch) -> learning rate, set once per epoch),
--     schedule = nil (an mtfl.optim.schedules function, set before every step),
--     clip = nil (clip the gradients' total norm to this before every update),
--     policy = weighting.new("tcdcn") (the task weights: mtfl.train.weighting; "fixed" by
--       default, or early_stopping = EarlyStopping.new{tasks = {pose = 6, glasses = 3}}),
--     tasks = nil (the policy's base lambdas: the criterion's weights by default),
--     checkpoint = "out/runs/multitask/seed1/checkpoint.safetensors"}
--   trainer:resume()                 -- from the checkpoint, when there is one
--   local status = trainer:fit()     -- "finished" or "interrupted"
--   local test = trainer:evaluate(ds.test)
--
-- Each epoch: train over the loader's batches with a progress bar, measure the
-- validation set (every head's metrics and every task's loss), let the weighting policy
-- change the lambdas (early stopping: lambda to 0, head frozen), and write the checkpoint.
-- The policy's lambdas go to the criterion before every epoch (and before every step
-- for a policy whose policy.per_step is true); history.weights[task] holds each epoch's.
--
-- A schedule is asked before every step for the rate at t = epochs done + batches done /
-- batches per epoch (0 at the first step), schedule(t, base_lr, epochs), base_lr being
-- the optimizer's rate when the trainer was made; per step, so that a warm-up rises
-- within an epoch. Clipping keeps its norm on the device (optim.clip_grad_norm):
-- trainer.grad_norm holds the last one, unread.
--
-- Data-parallel (parallel = require "mtfl.mpi", or any table with rank, size, broadcast,
-- allreduce and allreduce_numbers; the loader made with shard = {rank, size}): each rank
-- trains on its slice of every global batch. Before the first step rank 0's flat
-- parameters (flat_params, from nn.flatten_parameters; default: the optimizer's one
-- buffer) go to every rank; every step, after the backward pass and before clipping and
-- the update, ONE allreduce("mean") of the flat gradients (flat_grads) makes them the
-- whole batch's, each rank's first weighted by its rows (a short last batch is split
-- unevenly), and one small allreduce_numbers makes every task's loss the whole batch's,
-- so that every rank logs and checks divergence on the same numbers. Rank 0 alone
-- measures the validation set and hands its losses to the others, so early stopping
-- decides the same on every rank even were their arithmetic to differ (another device
-- kind); the other ranks keep no validation metrics. Rank 0 alone prints and writes the
-- checkpoint; every rank resumes from it (the run's folder must be shared: the epochs
-- found are compared across ranks). BatchNorm keeps per-rank batch statistics.
local mtfl = require "mtfl"
local clip_grad_norm = require("mtfl.optim.clip").clip_grad_norm
local Progress = require "mtfl.train.progress"
local evaluate = require "mtfl.train.evaluate"
local targets = require "mtfl.train.targets"
local run_state = require "mtfl.train.run_state"
local errors = require "mtfl.errors"
local weighting = require "mtfl.train.weighting"
local StoppingPolicy = require "mtfl.train.weighting.early_stopping"

local Trainer = {}
Trainer.__index = Trainer

local REQUIRED = {"model", "criterion", "optimizer", "loader", "val", "size", "epochs"}

--- Trainer.new{model, criterion, optimizer, loader, val, size, epochs [, label, epoch_size,
--- batch, lr_at, schedule, clip, policy, tasks, checkpoint, parallel, ...]} -> a trainer
--- of one run (the options: the top of this file).
---   local trainer = Trainer.new{model = m, criterion = c, optimizer = adam, loader = loader,
---                               val = ds.val, size = 48, epochs = 10}
function Trainer.new(o)
  for _, key in ipairs(REQUIRED) do
    if o[key] == nil then errors.raisef("Trainer.new: option %q is missing", key) end
  end
  local self = setmetatable({}, Trainer)
  for k, v in pairs(o) do self[k] = v end
  self.label = o.label or "run"
  self.landmark_scale = o.landmark_scale or targets.landmark_scale(o.size)
  self.tasks = o.criterion:task_names()
  -- a short epoch is the first epoch_size images of the loader's epoch: a different
  -- random part of the training set each time, as the order is drawn per epoch
  self.batches = o.loader:batches()
  if o.epoch_size then
    if not o.batch then errors.raise("Trainer.new: epoch_size needs the batch option (the loader's batch size)") end
    self.batches = math.min(self.batches, math.max(1, math.ceil(o.epoch_size / o.batch)))
  end
  if o.schedule ~= nil and type(o.schedule) ~= "function" then
    errors.raisef("Trainer.new: schedule must be a function (t, base_lr, epochs) -> lr, got a %s", type(o.schedule))
  end
  if o.schedule and o.lr_at then errors.raise("Trainer.new: give either schedule or lr_at, not both") end
  if o.clip ~= nil and (type(o.clip) ~= "number" or not (o.clip > 0)) then
    errors.raisef("Trainer.new: clip must be a positive number (the largest gradient norm), got %s", tostring(o.clip))
  end
  self.base_lr = o.base_lr or o.optimizer.config.lr
  self.rank, self.world = 0, 1
  if o.parallel ~= nil then self:set_parallel(o) end
  self.epoch = 0
  self.history = {train_loss = {}, val_loss = {}, val = {}, seconds = {}, images_per_second = {}, first_loss = {},
                  weights = {}}
  if o.policy and o.early_stopping then errors.raise("Trainer.new: give either policy or early_stopping, not both") end
  self.policy = o.policy and weighting.get(o.policy) or o.early_stopping and StoppingPolicy.around(o.early_stopping)
                or weighting.new("fixed")
  local tasks = o.tasks
  if not tasks then
    tasks = {}
    for _, task in ipairs(self.tasks) do tasks[task] = o.criterion:weight(task) end
  end
  -- GradNorm weighs by the gradients of this process's rows: ranks would drift apart
  if self.parallel and self.policy.name == "gradnorm" then
    errors.raise("Trainer.new: the gradnorm policy measures each rank's own gradients, so the ranks of a "
                 .. "data-parallel run would weigh their tasks differently: train it in one process")
  end
  self.policy:start{tasks = tasks, model = o.model, criterion = o.criterion, optimizer = o.optimizer}
  self:apply_weights()
  return self
end

--- The policy's lambdas into the criterion. A lambda that is not a finite number >= 0,
--- or all of them 0, stops the run: nothing would learn, yet it would write a result.
function Trainer:apply_weights()
  local weights, any = self.policy:weights(), false
  for _, task in ipairs(self.tasks) do
    local lambda = weights[task]
    if lambda ~= nil then
      if type(lambda) ~= "number" or lambda ~= lambda or lambda < 0 or lambda == math.huge then
        errors.raisef("%s: the policy %s gave the %s task the weight %s in epoch %d: a weight must be a finite " ..
                      "number >= 0 (lower the policy's rate)", self.label, self.policy.name, task, tostring(lambda),
                      self.epoch + 1)
      end
      any = any or lambda > 0
    end
  end
  if next(weights) ~= nil and not any then
    errors.raisef("%s: the policy %s set every task's weight to 0 in epoch %d: nothing would learn (lower the " ..
                  "policy's rate, or check its options)", self.label, self.policy.name, self.epoch + 1)
  end
  for task, lambda in pairs(weights) do self.criterion:set_weight(task, lambda) end
end

local PARALLEL_FUNCTIONS = {"rank", "size", "broadcast", "allreduce", "allreduce_numbers"}

--- trainer:set_parallel(o): checks o.parallel (mtfl.mpi or a table like it) and the flat
--- buffers a data-parallel run exchanges; called by Trainer.new.
function Trainer:set_parallel(o)
  local p = o.parallel
  if type(p) ~= "table" then errors.raisef("Trainer.new: parallel must be mtfl.mpi or a table like it, got a %s", type(p)) end
  for _, name in ipairs(PARALLEL_FUNCTIONS) do
    if type(p[name]) ~= "function" then errors.raisef("Trainer.new: parallel has no function %s", name) end
  end
  local params, grads = o.optimizer.params, o.optimizer.grads
  self.flat_params = o.flat_params or (params and #params == 1 and params[1])
  self.flat_grads = o.flat_grads or (grads and #grads == 1 and grads[1])
  if not (mtfl.is_tensor(self.flat_params) and mtfl.is_tensor(self.flat_grads)) then
    errors.raise("Trainer.new: parallel needs flat_params and flat_grads (nn.flatten_parameters(model)), " ..
                 "or an optimizer over those two buffers alone")
  end
  self.parallel, self.rank, self.world = p, p.rank(), p.size()
end

--- Every task's number summed over the ranks, each rank's given as values[task] * scale
--- (nil on every rank stays nil): the same table on every rank.
function Trainer:sum_over_ranks(values, scale)
  local packed = {}
  for i, task in ipairs(self.tasks) do
    local v = values[task]
    packed[2 * i - 1], packed[2 * i] = v and v * scale or 0, v and 1 or 0
  end
  local all = self.parallel.allreduce_numbers(packed, "sum")
  local out = {}
  for i, task in ipairs(self.tasks) do
    if all[2 * i] > 0 then out[task] = all[2 * i - 1] end
  end
  return out
end

--- Rank 0's value of every task's number, on every rank.
function Trainer:from_rank0(values)
  return self:sum_over_ranks(self.rank == 0 and values or {}, 1)
end

--- Picks up the checkpoint when there is one; returns the epochs already done. In a
--- data-parallel run every rank reads rank 0's checkpoint (a shared folder) and the
--- epochs each found are compared: a rank that cannot see it is an error on every rank.
function Trainer:resume()
  local epoch = self:resume_own()
  if self.parallel then
    local range = self.parallel.allreduce_numbers({epoch, -epoch}, "max")
    if range[1] ~= -range[2] then
      errors.raisef("%s: the ranks found checkpoints of %d to %d epochs (%s): a data-parallel run resumes " ..
                    "from rank 0's checkpoint, which every rank must read (a shared folder)",
                    self.label, -range[2], range[1], tostring(self.checkpoint))
    end
  end
  return epoch
end

--- trainer:resume_own() -> the epochs done: this process's checkpoint read back (model,
--- optimizer, history, the policy's state), or 0 without one.
function Trainer:resume_own()
  if not (self.checkpoint and run_state.exists(self.checkpoint)) then return 0 end
  local record = run_state.load(self.checkpoint, self.model, self.optimizer)
  if record.epochs ~= self.epochs then
    errors.raisef("%s was written by a run of %d epochs, this one has %d (remove it to start over)",
                  self.checkpoint, record.epochs, self.epochs)
  end
  self.epoch, self.history = record.epoch, record.history
  self.history.first_loss = self.history.first_loss or {}
  self.history.weights = self.history.weights or {}
  local policy = record.policy
  -- a checkpoint written before policies existed kept the early-stopping state apart
  if not policy and record.early_stopping then policy = {name = "early_stopping", state = record.early_stopping} end
  if policy then
    if policy.name ~= self.policy.name then
      errors.raisef("%s was written by a run weighted by the policy %s, this one uses %s (remove it to start over)",
                    self.checkpoint, tostring(policy.name), self.policy.name)
    end
    self.policy:load_state(policy.state)
  end
  self:apply_weights()
  for task, weight in pairs(record.weights) do self.criterion:set_weight(task, weight) end
  return self.epoch
end

--- trainer:save_checkpoint(): model, optimizer, history and the policy's state written
--- atomically to the checkpoint (rank 0 only).
function Trainer:save_checkpoint()
  if not self.checkpoint or self.rank ~= 0 then return end
  local weights = {}
  for _, task in ipairs(self.tasks) do weights[task] = self.criterion:weight(task) end
  run_state.save(self.checkpoint, self.model, self.optimizer, {
    epoch = self.epoch, epochs = self.epochs, history = self.history, weights = weights,
    policy = {name = self.policy.name, state = self.policy:state()},
  })
end

local function append(histories, key, value)
  histories[key] = histories[key] or {}
  table.insert(histories[key], value)
end

-- A task's loss this many times its first value means the run has diverged.
Trainer.DIVERGENCE_FACTOR = 1e3

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- The parameters and gradients holding a NaN or an infinity (inf * 0 and nan * 0 are
-- nan), by state_dict name and layer: where a diverged run went wrong.
local function non_finite(model)
  local found = {}
  model:each_parameter(function(m, slot, name)
    for _, part in ipairs{{slot.param, "weights"}, {slot.grad, "gradient"}} do
      local t = m[part[1]]
      if t and t:numel() > 0 and t:mul(0):sum() ~= 0 then
        found[#found + 1] = string.format("%s (%s, %s)", name, m:describe(), part[2])
      end
    end
  end)
  return found
end

--- Stops the run when a task's loss is not finite or has grown DIVERGENCE_FACTOR times
--- past its first value: training on would only write meaningless numbers.
function Trainer:check_losses(losses, index)
  local first = self.history.first_loss
  for _, task in ipairs(self.tasks) do
    local loss, why = losses[task], nil
    if loss and not finite(loss) then
      why = string.format("the %s loss is %s", task, tostring(loss))
    elseif loss and first[task] and first[task] > 0 and loss > Trainer.DIVERGENCE_FACTOR * first[task] then
      why = string.format("the %s loss grew to %.4g, more than %g times its first value %.4g", task, loss,
                          Trainer.DIVERGENCE_FACTOR, first[task])
    end
    if why then
      local bad = non_finite(self.model)
      errors.raisef("%s: training diverged in epoch %d, batch %d: %s%s; lower the learning rate (--lr)",
                    self.label, self.epoch + 1, index, why,
                    #bad > 0 and "; not finite: " .. table.concat(bad, ", ") or "")
    end
    if loss and not first[task] then first[task] = loss end
  end
end

--- One training step on a loader batch (batch index of this epoch); returns the loss of
--- every task. Reading the losses is the step's one wait for the device: it comes
--- before the backward pass, so a diverged step never reaches the weights.
function Trainer:step(batch, index)
  if self.schedule then
    local t = self.epoch + (index - 1) / self.batches
    self.optimizer:set_lr(self.schedule(t, self.base_lr, self.epochs))
  end
  local policy = self.policy
  local step = {epoch = self.epoch + 1, index = index, batches = self.batches}
  policy:before_step(step)
  if policy.per_step then self:apply_weights() end
  self.optimizer:zeroGrad()
  -- a rank's slice of a short last batch may be empty: its gradient stays 0
  local t, outputs, losses = nil, nil, {}
  if batch.count > 0 then
    t = targets.of_batch(batch, self.criterion, self.landmark_scale)
    outputs = self.model:forward(batch.images)
    _, losses = self.criterion:forward(outputs, t)
  end
  local total = batch.total or batch.count
  -- the whole batch's losses: each rank's mean weighted by its share of the rows
  if self.parallel then losses = self:sum_over_ranks(losses, batch.count / total) end
  self:check_losses(losses, index)
  step.losses, step.outputs, step.targets, step.input = losses, outputs, t, batch.images
  if batch.count > 0 then
    policy:after_loss(step)
    self.model:backward(batch.images, self.criterion:backward(outputs, t))
  end
  if self.parallel then
    -- each rank's gradient is the mean over its rows: weighted by count * world / total,
    -- the mean over the ranks is the mean over the whole batch
    local weight = batch.count * self.world / total
    if weight ~= 1 then self.flat_grads:mul_(weight) end
    self.parallel.allreduce(self.flat_grads, "mean")
  end
  if self.clip then self.grad_norm = clip_grad_norm(self.optimizer, self.clip) end
  self.optimizer:step()
  policy:after_step(losses)
  return losses
end

--- One pass over the training set; returns the mean loss of every task.
function Trainer:train_epoch(progress)
  self.model:training()
  local sums, seen = {}, 0
  local means = {}
  for batch, index in self.loader:epoch(self.epoch + 1) do
    local losses = self:step(batch, index)
    local n = batch.total or batch.count   -- the whole batch's rows, over all ranks
    seen = seen + n
    for task, loss in pairs(losses) do
      sums[task] = (sums[task] or 0) + loss * n
      means[task] = sums[task] / seen
    end
    progress:update(index, means, n)
    if index == self.batches then break end
  end
  return means
end

--- The policy's decisions after an epoch: new lambdas for the next one; the tasks it
--- stopped (early stopping: lambda 0, head frozen, also in the optimizer) come back.
function Trainer:apply_policy(train_losses, val_losses)
  local changes = self.policy:after_epoch(self.epoch, train_losses, val_losses) or {}
  self:apply_weights()
  return changes.stopped or {}
end

--- "val: error 9.81% failure 0.41 | pose 0.62 | glasses 0.91"
local function summary_line(v, stopped, seconds)
  local parts = {}
  if v.mean_error then
    parts[#parts + 1] = string.format("val: landmarks error %.2f%% accuracy %.3f", 100 * v.mean_error, v.mean_accuracy)
  end
  local attrs = {}
  for key in pairs(v) do
    local task = key:match("^(.*)_majority_rate$")
    if task then attrs[#attrs + 1] = task end
  end
  table.sort(attrs)
  for _, task in ipairs(attrs) do
    parts[#parts + 1] = string.format("%s %.3f (majority %.3f)", task, v[task .. "_accuracy"], v[task .. "_majority_rate"])
  end
  if #stopped > 0 then parts[#parts + 1] = "early stopping: " .. table.concat(stopped, ", ") .. " stopped" end
  parts[#parts + 1] = string.format("%.0f s", seconds)
  return table.concat(parts, " | ")
end

--- Trains the remaining epochs. should_stop() (optional) is asked after each epoch's
--- checkpoint: true ends the loop early ("interrupted"), as a killed process would,
--- unless that epoch was the last.
function Trainer:fit(should_stop)
  local progress = Progress.new{label = self.label, epochs = self.epochs, batches = self.batches,
                                tasks = self.tasks, quiet = self.rank ~= 0}
  if self.parallel and not self.synchronized then
    self.parallel.broadcast(self.flat_params, 0)   -- rank 0's weights, resumed or fresh
    self.synchronized = true
  end
  while self.epoch < self.epochs do
    local t0 = mtfl.clock()
    progress:start_epoch(self.epoch + 1)
    if self.lr_at then self.optimizer:set_lr(self.lr_at(self.epoch + 1)) end
    self.policy:before_epoch(self.epoch + 1)
    self:apply_weights()
    local train_losses = self:train_epoch(progress)
    local train_seconds = mtfl.clock() - t0
    local val, flat = {losses = {}}, {}
    if self.rank == 0 then
      val = self:evaluate(self.val)
      flat = evaluate.flatten(val)
    end
    if self.parallel then val.losses = self:from_rank0(val.losses) end
    self.epoch = self.epoch + 1
    for task, loss in pairs(train_losses) do append(self.history.train_loss, task, loss) end
    for task, loss in pairs(val.losses) do append(self.history.val_loss, task, loss) end
    for key, value in pairs(flat) do
      if type(value) == "number" then append(self.history.val, key, value) end
    end
    append(self.history, "seconds", mtfl.clock() - t0)
    append(self.history, "images_per_second", progress.images / math.max(train_seconds, 1e-9))
    for task, lambda in pairs(self.policy:weights()) do append(self.history.weights, task, lambda) end
    local stopped = self:apply_policy(train_losses, val.losses)
    self:save_checkpoint()
    progress:finish_epoch(train_losses, summary_line(flat, stopped, mtfl.clock() - t0))
    -- asked after every epoch (it may count them), obeyed unless the run is complete
    if should_stop and should_stop() and self.epoch < self.epochs then return "interrupted" end
  end
  return "finished"
end

--- The model measured on a set: see mtfl.train.evaluate.
function Trainer:evaluate(set)
  return evaluate.evaluate(self.model, self.criterion, set, {size = self.size, landmark_scale = self.landmark_scale,
                                                             device = self.device})
end

--- The epoch at which each early-stopped task stopped ({} without early stopping).
function Trainer:stop_epochs()
  return self.policy:stop_epochs()
end

return Trainer
