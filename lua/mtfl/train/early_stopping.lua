-- mtfl.train.early_stopping: stopping auxiliary tasks early, eq. (4) of the seed report
-- (after TCDCN). Once per epoch t, for each auxiliary task a still running, with the
-- task's last k training losses L_tr and validation losses L_val:
--
--          k * med(L_tr)                   L_val(t) - min(L_val)
--   ------------------------------  *  ---------------------------  >  epsilon = 15 * lambda_a
--    sum(L_tr) - k * med(L_tr)            lambda_a * min(L_val)
--
-- The first factor grows as the training loss flattens out (the sum of a falling window
-- exceeds k times its median); the second is how far validation has risen above its
-- recent best. The task stops when their product passes the threshold.
--
--   local es = EarlyStopping.new{tasks = {pose = 6, glasses = 3}, k = 5}
--   for epoch = 1, n do
--     ...
--     for _, task in ipairs(es:update(train_losses, val_losses)) do ... stop it ... end
--   end
--
-- Options: k (window, default 5), epsilon_factor (default 15: epsilon = 15 * lambda_a),
-- second_factor = "validation" (the report, default) or "training" (the authors' code,
-- which used the training loss in the second factor).
local EarlyStopping = {}
EarlyStopping.__index = EarlyStopping

local function median(values)
  local sorted = {}
  for i, v in ipairs(values) do sorted[i] = v end
  table.sort(sorted)
  local n = #sorted
  if n % 2 == 1 then return sorted[(n + 1) // 2] end
  return (sorted[n // 2] + sorted[n // 2 + 1]) / 2
end

local function last(values, k)
  local out = {}
  for i = math.max(1, #values - k + 1), #values do out[#out + 1] = values[i] end
  return out
end

--- EarlyStopping.new{tasks = {task = lambda}, k = 5, epsilon_factor = 15, second_factor =
--- "validation" | "training"} -> eq. (4)'s rule over those auxiliary tasks.
---   local es = EarlyStopping.new{tasks = {pose = 6, glasses = 3}, k = 5}
function EarlyStopping.new(opts)
  assert(type(opts) == "table" and type(opts.tasks) == "table",
         "EarlyStopping.new{tasks = {name = lambda, ...}, k = 5}")
  local second = opts.second_factor or "validation"
  if second ~= "validation" and second ~= "training" then
    error(string.format("EarlyStopping: second_factor %q (use \"validation\" or \"training\")", second), 2)
  end
  local self = setmetatable({
    k = opts.k or 5, epsilon_factor = opts.epsilon_factor or 15, second_factor = second,
    lambda = {}, train = {}, val = {}, values = {}, stopped = {}, epoch = 0,
  }, EarlyStopping)
  if self.k < 2 then error("EarlyStopping: window k must be at least 2", 2) end
  for task, lambda in pairs(opts.tasks) do
    if type(lambda) ~= "number" or lambda <= 0 then
      error(string.format("EarlyStopping: task %s needs a positive lambda, got %s", task, tostring(lambda)), 2)
    end
    self.lambda[task], self.train[task], self.val[task], self.values[task] = lambda, {}, {}, {}
  end
  return self
end

--- The left side of eq. (4) for one task from its loss histories (nil while fewer than k
--- epochs are known). Pure: exposed for tests and plots.
function EarlyStopping.criterion(train_losses, val_losses, k, lambda)
  if #train_losses < k or #val_losses < k then return nil end
  local tr, va = last(train_losses, k), last(val_losses, k)
  local med, sum = median(tr), 0
  for _, v in ipairs(tr) do sum = sum + v end
  local best = math.huge
  for _, v in ipairs(va) do best = math.min(best, v) end
  local rise = va[#va] - best
  if rise <= 0 then return 0 end                   -- validation at its best: keep going
  local flatness = sum - k * med
  if flatness <= 0 then return math.huge end      -- training no longer falls at all
  return (k * med / flatness) * (rise / (lambda * best))
end

--- Records one epoch's losses ({task = number}) and returns the tasks that stop now.
function EarlyStopping:update(train_losses, val_losses)
  self.epoch = self.epoch + 1
  local stopping = {}
  for task, lambda in pairs(self.lambda) do
    if not self.stopped[task] then
      local tr, va = train_losses[task], val_losses and val_losses[task]
      if type(tr) ~= "number" then error("EarlyStopping:update: no training loss for task " .. task, 2) end
      if self.second_factor == "validation" and type(va) ~= "number" then
        error("EarlyStopping:update: no validation loss for task " .. task, 2)
      end
      table.insert(self.train[task], tr)
      table.insert(self.val[task], self.second_factor == "validation" and va or tr)
      local value = EarlyStopping.criterion(self.train[task], self.val[task], self.k, lambda)
      self.values[task][self.epoch] = value
      if value and value > self.epsilon_factor * lambda then
        self.stopped[task] = self.epoch
        stopping[#stopping + 1] = task
      end
    end
  end
  table.sort(stopping)
  return stopping
end

--- Saves and restores the histories (for resuming a run).
function EarlyStopping:state()
  return {epoch = self.epoch, train = self.train, val = self.val, values = self.values, stopped = self.stopped}
end

--- es:load_state(s): the histories of state() put back (a resumed run).
function EarlyStopping:load_state(s)
  self.epoch, self.train, self.val, self.values, self.stopped = s.epoch, s.train, s.val, s.values, s.stopped
end

return EarlyStopping
