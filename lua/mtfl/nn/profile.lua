-- mtfl.nn.profile: where a network's time goes. Module:profile(input) runs forward and
-- backward a few times and reports, for every module of the tree, the milliseconds its
-- forward and its backward took (a container's include its children's), as a tree
-- like the summary's:
--
--   > = model:profile(mtfl.rand(64, 3, 150, 150))
--                                         forward ms  backward ms   share
--   Sequential                                 310.2        802.5  100.0%
--     (1) Conv2d(3 -> 16, 5x5, padding 2)       61.0        140.3   18.1%
--     ...
--
-- The device is synchronised before and after every module, so each figure is that
-- module's own work, queue included; the figures are medians over the timed steps.
local mtfl = require "mtfl"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show

local M = {}

local function median(values)
  local v = {}
  for i, x in ipairs(values) do v[i] = x end
  table.sort(v)
  local n = #v
  if n == 0 then return 0 end
  return n % 2 == 1 and v[(n + 1) // 2] or (v[n // 2] + v[n // 2 + 1]) / 2
end

-- ones shaped like the output: a tensor, or a table of them for Heads
local function ones_like(output)
  if mtfl.is_tensor(output) then return mtfl.ones(output:size(), {device = output:device()}) end
  local g = {}
  for k, v in pairs(output) do g[k] = ones_like(v) end
  return g
end

local function first_tensor(x)
  if mtfl.is_tensor(x) then return x end
  if type(x) == "table" then
    for _, v in pairs(x) do
      local t = first_tensor(v)
      if t then return t end
    end
  end
end

-- The rows of the tree, parents first, each with its module and indented label.
local function rows_of(module)
  local rows = {}
  local function walk(m, label, depth)
    rows[#rows + 1] = {module = m, name = string.rep("  ", depth) .. label .. m:describe(), forward = {}, backward = {}}
    local children, names = m:children()
    for i, child in ipairs(children) do walk(child, "(" .. names[i] .. ") ", depth + 1) end
  end
  walk(module, "", 0)
  return rows
end

-- method, timed into times while row.recording is set, the device synchronised on both
-- sides so that the time is the method's own work
local function timed(method, times, row, device)
  return function(self, ...)
    mtfl.synchronize(device)
    local t0 = mtfl.clock()
    local result = method(self, ...)
    mtfl.synchronize(device)
    if row.recording then table.insert(times, mtfl.clock() - t0) end
    return result
  end
end

-- Times every module's forward and backward by shadowing the two methods on the
-- instance; the class's methods are what runs, and the shadows go when profiling ends.
local function instrument(rows, device)
  for _, row in ipairs(rows) do
    local m = row.module
    m.forward = timed(m.forward, row.forward, row, device)
    m.backward = timed(m.backward, row.backward, row, device)
  end
end

local function uninstrument(rows)
  for _, row in ipairs(rows) do row.module.forward, row.module.backward = nil, nil end
end

local Report = {}
Report.__index = Report

function Report:__tostring()
  local total = self.forward_ms + self.backward_ms
  local width = 6
  for _, r in ipairs(self.rows) do width = math.max(width, #r.name) end
  local fmt = "%-" .. width .. "s  %10s  %11s  %6s"
  local lines = {string.format(fmt, "", "forward ms", "backward ms", "share")}
  for _, r in ipairs(self.rows) do
    local share = total > 0 and (r.forward_ms + (r.backward_ms or 0)) / total * 100 or 0
    lines[#lines + 1] = string.format(fmt, r.name, string.format("%.2f", r.forward_ms),
                                      r.backward_ms and string.format("%.2f", r.backward_ms) or "-",
                                      string.format("%.1f%%", share))
  end
  lines[#lines + 1] = string.format("%d timed steps of batch %d on %s (medians; the device synchronised around every module)",
                                    self.steps, self.batch, self.device)
  return table.concat(lines, "\n")
end

--- profile(module, input [, options]): options.steps (timed steps, default 3, after one
--- untimed), options.gradOutput (default: ones shaped like the output), options.backward
--- (false: forward only). The parameters' gradients and the buffers (BatchNorm's running
--- statistics) are left as they were. Returns a report: rows {name, forward_ms, backward_ms},
--- forward_ms and backward_ms of the whole module; tostring(report) is the table.
function M.profile(module, input, options)
  options = options or {}
  local steps = options.steps or 3
  if math.type(steps) ~= "integer" or steps < 1 then
    errors.raise("profile: steps must be a positive integer, got " .. show(options.steps))
  end
  local first = first_tensor(input)
  if not first then errors.raise("profile: the input holds no tensor") end
  local device = first:device()
  local with_backward = options.backward ~= false
  local rows = rows_of(module)
  -- backward adds into the gradients: they are put back as they were afterwards
  local _, grads = module:parameters()
  local saved = {}
  if with_backward then
    for i, g in ipairs(grads) do saved[i] = g:clone() end
  end
  -- forward in training moves BatchNorm's running statistics: put back as well
  local buffers, saved_buffers = {}, {}
  module:each_buffer(function(m, name)
    buffers[#buffers + 1] = m[name]
    saved_buffers[#saved_buffers + 1] = m[name]:clone()
  end)
  instrument(rows, device)
  local ok, err = pcall(function()
    local gradOutput = options.gradOutput
    for step = 0, steps do
      for _, row in ipairs(rows) do row.recording = step > 0 end
      local out = module:forward(input)
      if with_backward then
        gradOutput = gradOutput or ones_like(out)
        module:backward(input, gradOutput)
      end
    end
  end)
  uninstrument(rows)
  for i, g in ipairs(saved) do grads[i]:copy(g) end
  for i, b in ipairs(saved_buffers) do buffers[i]:copy(b) end
  if not ok then error(err, 0) end
  local report = setmetatable({rows = {}, steps = steps, device = device, batch = first:size(1)}, Report)
  for _, row in ipairs(rows) do
    local fwd = median(row.forward) * 1e3
    local bwd = with_backward and #row.backward > 0 and median(row.backward) * 1e3 or (with_backward and 0 or nil)
    report.rows[#report.rows + 1] = {name = row.name, forward_ms = fwd, backward_ms = bwd}
  end
  report.forward_ms = report.rows[1].forward_ms
  report.backward_ms = report.rows[1].backward_ms or 0
  return report
end

return M
