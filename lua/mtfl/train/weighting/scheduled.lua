-- mtfl.train.weighting.scheduled: each task's lambda a function of the epoch, asked
-- once before every epoch (epoch = 1, 2, ...); a number stays as it is.
--
--   tasks = {landmarks = 1, pose = weighting.ramp{from = 0, to = 6, epochs = 5},
--            glasses = function(epoch) return epoch <= 10 and 3 or 0 end}
--   -- an experiment with a function in tasks gets this policy by itself; or
--   policy = {"scheduled", schedules = {pose = weighting.decay{from = 6, half_life = 10}}}
--
-- Option schedules = {task = function(epoch) -> lambda} overrides the tasks' values.
-- A function must give a number >= 0: anything else is an error naming the task and
-- the epoch.
local Policy = require "mtfl.train.weighting.policy"
local errors = require "mtfl.errors"

local Scheduled = Policy.class("scheduled", {schedules = {"table", nil}})

function Scheduled:check_base(task, value)
  if type(value) ~= "function" then Policy.check_base(self, task, value) end
end

function Scheduled:begin()
  for task, fn in pairs(self.options.schedules or {}) do
    if self.base[task] == nil then
      errors.raisef("weighting policy scheduled: option schedules names task %q, which this run does not have", tostring(task))
    end
    if type(fn) ~= "function" then
      errors.raisef("weighting policy scheduled: schedules.%s must be a function(epoch) -> lambda, got a %s", task, type(fn))
    end
    self.base[task] = fn
  end
  self:before_epoch(1)
end

function Scheduled:before_epoch(epoch)
  for task, value in pairs(self.base) do
    if type(value) == "function" then
      local lambda = value(epoch)
      if type(lambda) ~= "number" or lambda < 0 or lambda ~= lambda then
        errors.raisef("weighting policy scheduled: the schedule of task %s gave %s at epoch %d (want a number >= 0)",
                      task, tostring(lambda), epoch)
      end
      self.lambda[task] = lambda
    end
  end
end

--- The schedules are functions: only which tasks have one can be told apart.
function Scheduled:describe()
  local scheduled = {}
  for _, task in ipairs(self.task_names or {}) do
    if type(self.base[task]) == "function" then scheduled[#scheduled + 1] = task end
  end
  return "scheduled{" .. table.concat(scheduled, ", ") .. "}"
end

return Scheduled
