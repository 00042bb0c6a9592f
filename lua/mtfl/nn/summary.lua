-- mtfl.nn.summary: a module as a printable tree: one line per module with its output
-- shape (from the last forward or from summary(input_shape)) and its parameter count,
-- then the total.
--
--                                               output            parameters
--   Sequential
--     (1) Conv2d(3 -> 16, 5x5, padding 2)       50x16x150x150          1,216
--     (2) ReLU                                  50x16x150x150
--     ...
--     (heads) Heads
--       (glasses) Linear(1024 -> 2)             50x2                   2,050
--   Total: 47,374,883 parameters (189.5 MB as float32)
local shape = require "mtfl.nn.shape"

local M = {}

local function own_parameter_count(module)
  local n = 0
  for _, slot in ipairs(module.parameter_slots) do n = n + module[slot.param]:numel() end
  return n
end

local function shape_text(s)
  if s == nil then return "?" end
  if #s == 0 and next(s) ~= nil then return "" end   -- named outputs: each head shows its own
  return table.concat(s, "x")
end

local function collect(module, label, depth, rows)
  local children, names = module:children()
  local count = own_parameter_count(module)
  rows[#rows + 1] = {
    name = string.rep("  ", depth) .. label .. module:describe() .. (module.frozen and "  [frozen]" or ""),
    output = shape_text(module.output_shape),
    params = (#children == 0 and count > 0) and shape.thousands(count) or "",
  }
  for i, child in ipairs(children) do collect(child, "(" .. names[i] .. ") ", depth + 1, rows) end
end

function M.tree(module)
  local rows = {}
  collect(module, "", 0, rows)
  if #rows == 1 and rows[1].params == "" and rows[1].output == "?" then
    return rows[1].name   -- a bare activation: just its name
  end
  local any_shape = false
  for _, r in ipairs(rows) do
    if r.output ~= "?" and r.output ~= "" then any_shape = true end
  end
  local name_width, output_width, params_width = 6, any_shape and 6 or 0, 10
  for _, r in ipairs(rows) do
    name_width = math.max(name_width, #r.name)
    output_width = math.max(output_width, #r.output)
    params_width = math.max(params_width, #r.params)
  end
  local function line(a, b, c)
    return string.format("%-" .. name_width .. "s  %-" .. output_width .. "s  %" .. params_width .. "s", a, b, c)
  end
  -- before any forward or summary the shapes are unknown: leave their column out
  local lines = {line("", any_shape and "output" or "", "parameters")}
  for _, r in ipairs(rows) do lines[#lines + 1] = line(r.name, any_shape and r.output or "", r.params) end
  local total, frozen = 0, 0
  module:each_parameter(function(m, slot)
    local n = m[slot.param]:numel()
    total = total + n
    if m.frozen then frozen = frozen + n end
  end)
  local bytes = total * 4
  local size = bytes >= 1e6 and string.format("%.1f MB", bytes / 1e6)
    or bytes >= 1e3 and string.format("%.1f kB", bytes / 1e3) or string.format("%d bytes", bytes)
  local footer = string.format("Total: %s parameters (%s as float32)", shape.thousands(total), size)
  if frozen > 0 then footer = footer .. string.format(", %s frozen", shape.thousands(frozen)) end
  lines[#lines + 1] = footer
  for i = 1, #lines do lines[i] = lines[i]:gsub("%s+$", "") end
  return table.concat(lines, "\n")
end

return M
