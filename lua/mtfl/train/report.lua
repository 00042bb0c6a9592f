-- mtfl.train.report: the runs of a grid summarised per experiment (mean and standard
-- deviation over seeds), as a printed table beside the seed's published numbers, as
-- Markdown for the README, and as CSV rows.
local reference = require "mtfl.train.seed_reference"

local M = {}

M.ATTRIBUTES = {"pose", "glasses", "gender", "smile"}

--- {mean, std (sample, 0 for one run), n} of a list of numbers; nil for an empty one.
function M.stats(values)
  local n = #values
  if n == 0 then return nil end
  local sum = 0
  for _, v in ipairs(values) do sum = sum + v end
  local mean = sum / n
  local squares = 0
  for _, v in ipairs(values) do squares = squares + (v - mean) ^ 2 end
  return {mean = mean, std = n > 1 and math.sqrt(squares / (n - 1)) or 0, n = n}
end

-- The numbers of a run to summarise, flat: "mean_error", "point_accuracy.3",
-- "pose_accuracy", "stop_epoch.pose", ...
local function numbers_of(run)
  local out = {}
  for key, v in pairs(run) do
    if type(v) == "number" and key ~= "seed" then
      out[key] = v
    elseif (key == "point_accuracy" or key == "point_error" or key == "point_failure") and type(v) == "table" then
      for k, x in ipairs(v) do out[key .. "." .. k] = x end
    end
  end
  for task, epoch in pairs(run.stop_epoch or {}) do out["stop_epoch." .. task] = epoch end
  return out
end

--- summarize(runs) -> list of {experiment, title, seeds = {...}, runs = n, stats =
--- {key = {mean, std, n}}}, in the order the experiments first appear.
function M.summarize(runs)
  local order, by_name = {}, {}
  for _, run in ipairs(runs) do
    local e = by_name[run.experiment]
    if not e then
      e = {experiment = run.experiment, title = run.title, seeds = {}, values = {}}
      by_name[run.experiment] = e
      order[#order + 1] = e
    end
    e.seeds[#e.seeds + 1] = run.seed
    for key, v in pairs(numbers_of(run)) do
      e.values[key] = e.values[key] or {}
      table.insert(e.values[key], v)
    end
  end
  for _, e in ipairs(order) do
    e.runs = #e.seeds
    e.stats = {}
    for key, list in pairs(e.values) do e.stats[key] = M.stats(list) end
    e.values = nil
  end
  return order
end

-- "0.412 ± 0.013", or "0.412" for a single run, "-" for none
local function pm(st, scale, digits)
  if not st then return "-" end
  scale, digits = scale or 1, digits or 3
  local fmt = "%." .. digits .. "f"
  if st.n < 2 then return string.format(fmt, st.mean * scale) end
  return string.format(fmt .. " ± " .. fmt, st.mean * scale, st.std * scale)
end

local function attribute_cell(e, task)
  local acc = e.stats[task .. "_accuracy"]
  if not acc then return "-" end
  local majority = e.stats[task .. "_majority_rate"]
  return pm(acc) .. (majority and string.format(" (maj. %.3f)", majority.mean) or "")
end

local function stop_cell(e)
  local parts = {}
  for _, task in ipairs(M.ATTRIBUTES) do
    local st = e.stats["stop_epoch." .. task]
    if st then parts[#parts + 1] = string.format("%s %.1f (%d/%d)", task, st.mean, st.n, e.runs) end
  end
  return #parts > 0 and table.concat(parts, ", ") or "-"
end

local function seed_cell(e, protocol)
  local ref = reference.landmark_accuracy[e.experiment]
  local parts = {}
  if ref then parts[#parts + 1] = string.format("acc. %.2f", ref.mean) end
  if protocol == "crop" and e.stats.mean_error then
    parts[#parts + 1] = string.format("TCDCN error %.0f%%", 100 * reference.tcdcn_mean_error)
  end
  return #parts > 0 and table.concat(parts, "; ") or "-"
end

-- The table's columns: header, then a function of the experiment's summary.
local function columns(protocol)
  local cols = {
    {"experiment", function(e) return e.title end},
    {"runs", function(e) return tostring(e.runs) end},
    {"mean error %", function(e) return pm(e.stats.mean_error, 100, 2) end},
    {"landmark acc.", function(e) return pm(e.stats.mean_accuracy) end},
    {"per landmark (le, re, n, lm, rm)", function(e)
      if not e.stats["point_accuracy.1"] then return "-" end
      local p = {}
      for k = 1, 5 do p[k] = string.format("%.2f", e.stats["point_accuracy." .. k].mean) end
      return table.concat(p, " ")
    end},
  }
  for _, task in ipairs(M.ATTRIBUTES) do
    cols[#cols + 1] = {task, function(e) return attribute_cell(e, task) end}
  end
  cols[#cols + 1] = {"stopped after epoch", stop_cell}
  cols[#cols + 1] = {"seed study", function(e) return seed_cell(e, protocol) end}
  return cols
end

-- Only the columns with something in them.
local function cells(summary, protocol)
  local header, rows = {}, {}
  for _, col in ipairs(columns(protocol)) do
    local values, any = {}, false
    for i, e in ipairs(summary) do
      values[i] = col[2](e)
      if values[i] ~= "-" then any = true end
    end
    if any then
      header[#header + 1] = col[1]
      for i, v in ipairs(values) do
        rows[i] = rows[i] or {}
        table.insert(rows[i], v)
      end
    end
  end
  return header, rows
end

-- utf8.len: "±" is one column wide
local function width(s) return utf8.len(s) or #s end

--- The summary as an aligned text table.
function M.text(summary, protocol)
  local header, rows = cells(summary, protocol)
  local widths = {}
  for i, h in ipairs(header) do widths[i] = width(h) end
  for _, r in ipairs(rows) do
    for i, v in ipairs(r) do widths[i] = math.max(widths[i], width(v)) end
  end
  local function line(r)
    local out = {}
    for i, v in ipairs(r) do out[i] = v .. string.rep(" ", widths[i] - width(v)) end
    return table.concat(out, "  ")
  end
  local lines = {line(header)}
  for _, r in ipairs(rows) do lines[#lines + 1] = line(r) end
  return table.concat(lines, "\n")
end

--- The summary as a Markdown table.
function M.markdown(summary, protocol)
  local header, rows = cells(summary, protocol)
  local lines = {"| " .. table.concat(header, " | ") .. " |", "|" .. string.rep(" --- |", #header)}
  for _, r in ipairs(rows) do lines[#lines + 1] = "| " .. table.concat(r, " | ") .. " |" end
  return table.concat(lines, "\n")
end

-- ---- CSV ---------------------------------------------------------------------------------

local csv_field = require("mtfl.csv").field

--- The runs as CSV text: one row per run, a column per number (sorted names after
--- experiment and seed).
function M.runs_csv(runs)
  local keys, seen = {}, {}
  local flat = {}
  for i, run in ipairs(runs) do
    flat[i] = numbers_of(run)
    for key in pairs(flat[i]) do
      if not seen[key] then seen[key] = true keys[#keys + 1] = key end
    end
  end
  table.sort(keys)
  local lines = {"experiment,seed," .. table.concat(keys, ",")}
  for i, run in ipairs(runs) do
    local row = {csv_field(run.experiment), csv_field(run.seed)}
    for _, key in ipairs(keys) do row[#row + 1] = csv_field(flat[i][key]) end
    lines[#lines + 1] = table.concat(row, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

--- The summary as CSV: experiment, runs, then <key>_mean and <key>_std per number.
function M.summary_csv(summary)
  local keys, seen = {}, {}
  for _, e in ipairs(summary) do
    for key in pairs(e.stats) do
      if not seen[key] then seen[key] = true keys[#keys + 1] = key end
    end
  end
  table.sort(keys)
  local header = {"experiment", "runs"}
  for _, key in ipairs(keys) do header[#header + 1] = key .. "_mean" header[#header + 1] = key .. "_std" end
  local lines = {table.concat(header, ",")}
  for _, e in ipairs(summary) do
    local row = {csv_field(e.experiment), csv_field(e.runs)}
    for _, key in ipairs(keys) do
      local st = e.stats[key]
      row[#row + 1] = csv_field(st and st.mean)
      row[#row + 1] = csv_field(st and st.std)
    end
    lines[#lines + 1] = table.concat(row, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

return M
