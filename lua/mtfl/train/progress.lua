-- mtfl.train.progress: the one-line progress bar of a training run,
--
--   multitask s1  epoch 3/30  batch 120/153 [#######---]  landmarks 41.2 pose 0.81
--   glasses 0.35 | 212 img/s | ETA 14m05s
--
-- redrawn in place on a terminal (at most 5 times a second), and printed once per
-- epoch otherwise, so that logs and test output stay readable.
local mtfl = require "mtfl"

local Progress = {}
Progress.__index = Progress

local function stderr_is_terminal()
  return os.execute("test -t 2") == true
end

--- "1h02m", "14m05s", "9s"
function Progress.duration(seconds)
  if seconds ~= seconds or seconds == math.huge then return "?" end
  seconds = math.floor(seconds + 0.5)
  if seconds >= 3600 then return string.format("%dh%02dm", seconds // 3600, seconds % 3600 // 60) end
  if seconds >= 60 then return string.format("%dm%02ds", seconds // 60, seconds % 60) end
  return string.format("%ds", seconds)
end

--- new{label, epochs, batches (per epoch), batch_size, tasks = {names}, live = auto,
--- quiet = false (counts images, prints nothing: the ranks of a data-parallel run but 0)}
function Progress.new(o)
  local self = setmetatable({}, Progress)
  self.label, self.epochs, self.batches, self.tasks = o.label or "", o.epochs, o.batches, o.tasks
  self.quiet = o.quiet
  self.live = not o.quiet and o.live
  if self.live == nil and not o.quiet then self.live = stderr_is_terminal() end
  self.drawn_at = -math.huge
  self.width = 0
  return self
end

--- Starts an epoch (its images are counted from here for the rate).
function Progress:start_epoch(epoch)
  self.epoch, self.images, self.started = epoch, 0, mtfl.clock()
end

local function bar(fraction, width)
  local full = math.floor(fraction * width + 0.5)
  return "[" .. string.rep("#", full) .. string.rep("-", width - full) .. "]"
end

--- p:line(batch, losses) -> the progress line after that batch: epoch, batch, bar, each
--- task's running loss, img/s and the time left.
function Progress:line(batch, losses)
  local elapsed = mtfl.clock() - self.started
  local rate = self.images / math.max(elapsed, 1e-9)
  -- what is left of this epoch and of the epochs after it, at this epoch's pace
  local left_batches = (self.batches - batch) + (self.epochs - self.epoch) * self.batches
  local eta = batch > 0 and left_batches * elapsed / batch or math.huge
  local parts = {string.format("%s  epoch %d/%d  batch %d/%d %s ", self.label, self.epoch, self.epochs,
                               batch, self.batches, bar(batch / self.batches, 10))}
  for _, task in ipairs(self.tasks) do
    if losses[task] then parts[#parts + 1] = string.format(" %s %.3g", task, losses[task]) end
  end
  parts[#parts + 1] = string.format(" | %.0f img/s | ETA %s", rate, Progress.duration(eta))
  return table.concat(parts)
end

--- After a batch: losses = {task = running mean this epoch}, images in the batch.
function Progress:update(batch, losses, images)
  self.images = self.images + images
  if not self.live then return end
  local now = mtfl.clock()
  if now - self.drawn_at < 0.2 and batch < self.batches then return end
  self.drawn_at = now
  local text = self:line(batch, losses)
  -- pad over a longer previous line
  io.stderr:write("\r", text, string.rep(" ", math.max(0, self.width - #text)))
  io.stderr:flush()
  self.width = #text
end

--- Ends the epoch's bar; `summary` (validation and so on) goes on its own line.
function Progress:finish_epoch(losses, summary)
  if self.quiet then return end
  if self.live then
    io.stderr:write("\r", string.rep(" ", self.width), "\r")
    io.stderr:flush()
    self.width = 0
  end
  print(self:line(self.batches, losses))
  if summary then print("    " .. summary) end
  io.stdout:flush()
end

return Progress
