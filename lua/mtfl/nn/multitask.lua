-- mtfl.nn.multitask: the joint loss of the seed report's eq. 3,
--   L = sum_t lambda_t L_t   (lambda_landmarks = 1, lambda_pose = 6, lambda_glasses = 3),
-- over a table of named outputs (what nn.Heads returns) and a table of named targets.
-- A task whose lambda is 0 (stopped early) still reports its loss but sends no
-- gradient: backward leaves its entry nil, so Heads skips that head.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local is_instance = require("mtfl.nn.class").is_instance
local Criterion = require "mtfl.nn.criterion"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show

local MultiTask = class("MultiTask", Criterion)

local function check_weight(task, weight)
  if type(weight) ~= "number" or weight < 0 or weight ~= weight then
    errors.raisef("MultiTask: the weight of task %q must be a number >= 0, got %s", task, show(weight))
  end
end

--- MultiTask{task = {criterion, weight}, other = criterion (weight 1), ...}
function MultiTask:__init(tasks)
  self.tasks, self.criteria, self.weights = {}, {}, {}
  for _, task in ipairs(shape.sorted_keys(tasks or {})) do
    local spec = tasks[task]
    local criterion, weight = spec, 1
    if not is_instance(spec, Criterion) and type(spec) == "table" then
      criterion, weight = spec[1], spec[2] == nil and 1 or spec[2]
    end
    if not is_instance(criterion, Criterion) then
      errors.raisef("MultiTask: task %q needs a criterion ({nn.CrossEntropy(), weight}), got %s",
                    tostring(task), type(criterion))
    end
    check_weight(task, weight)
    self.tasks[#self.tasks + 1] = task
    self.criteria[task], self.weights[task] = criterion, weight
  end
  if #self.tasks == 0 then errors.raise("MultiTask: no tasks") end
end

function MultiTask:describe()
  local parts = {}
  for _, task in ipairs(self.tasks) do
    parts[#parts + 1] = string.format("%s = %g * %s", task, self.weights[task], self.criteria[task]:describe())
  end
  return "MultiTask{" .. table.concat(parts, ", ") .. "}"
end

--- mt:task_names() -> the tasks, sorted ({"glasses", "landmarks", "pose"}).
function MultiTask:task_names() return table.move(self.tasks, 1, #self.tasks, 1, {}) end

--- mt:check_task(task): raises, listing the tasks, unless task is one of them.
function MultiTask:check_task(task)
  if not self.criteria[task] then
    self:fail("no task %q (tasks: %s)", tostring(task), table.concat(self.tasks, ", "))
  end
end

--- mt:weight(task) -> its lambda now.
---   print(criterion:weight("pose"))   -- 6
function MultiTask:weight(task)
  self:check_task(task)
  return self.weights[task]
end

--- lambda 0 stops a task's gradient (early stopping); its loss is still reported.
function MultiTask:set_weight(task, lambda)
  self:check_task(task)
  check_weight(task, lambda)
  self.weights[task] = lambda
  return self
end

--- The output and target of a task; nil when a stopped task has no target.
function MultiTask:pair(outputs, targets, task)
  if type(outputs) ~= "table" or mtfl.is_tensor(outputs) then
    self:fail("outputs must be a table {task = tensor}, got a %s", mtfl.is_tensor(outputs) and "tensor" or type(outputs))
  end
  if type(targets) ~= "table" or mtfl.is_tensor(targets) then
    self:fail("targets must be a table {task = target}, got a %s", mtfl.is_tensor(targets) and "tensor" or type(targets))
  end
  local output, target = outputs[task], targets[task]
  if output == nil then
    self:fail("no output for task %q (outputs: %s)", task, table.concat(shape.sorted_keys(outputs), ", "))
  end
  if target == nil and self.weights[task] ~= 0 then
    self:fail("no target for task %q (targets: %s)", task, table.concat(shape.sorted_keys(targets), ", "))
  end
  return output, target
end

-- The values of the pending losses ({task, criterion, loss tensor, output, target}),
-- read with one transfer per device: each loss is copied into its place in one small
-- tensor, which is read at once.
local function read_losses(pending, values)
  local by_device, order = {}, {}
  for _, p in ipairs(pending) do
    local device = p.loss:device()
    if not by_device[device] then by_device[device] = {}; order[#order + 1] = device end
    table.insert(by_device[device], p)
  end
  for _, device in ipairs(order) do
    local group = by_device[device]
    local all = mtfl.empty(#group, {device = device})
    for i, p in ipairs(group) do all:narrow(1, i, 1):copy(p.loss) end
    local read = all:totable()
    for i, p in ipairs(group) do
      p.criterion.output = p.criterion:value_of(read[i], p.output, p.target)
      values[p.task] = p.criterion.output
    end
  end
end

--- forward(outputs, targets) -> total loss, {task = loss}
function MultiTask:forward(outputs, targets)
  local losses, pending = {}, {}
  for _, task in ipairs(self.tasks) do
    local output, target = self:pair(outputs, targets, task)
    local criterion = self.criteria[task]
    if target == nil then
      -- a stopped task without a target: nothing to report
    elseif criterion.loss then
      pending[#pending + 1] = {task = task, criterion = criterion, output = output, target = target,
                               loss = criterion:loss(output, target)}
    else
      losses[task] = criterion:forward(output, target)
    end
  end
  read_losses(pending, losses)
  local total = 0
  for _, task in ipairs(self.tasks) do
    if losses[task] then total = total + self.weights[task] * losses[task] end
  end
  self.output, self.losses = total, losses
  return total, losses
end

--- backward(outputs, targets) -> {task = lambda * dL_task/doutput}; nil for lambda 0.
function MultiTask:backward(outputs, targets)
  local grads = {}
  for _, task in ipairs(self.tasks) do
    local output, target = self:pair(outputs, targets, task)
    local weight = self.weights[task]
    if weight ~= 0 then
      local grad = self.criteria[task]:backward(output, target)
      grads[task] = weight == 1 and grad or grad:mul_(weight)
    end
  end
  self.gradInput = grads
  return grads
end

return MultiTask
