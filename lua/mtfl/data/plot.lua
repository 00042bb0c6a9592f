-- mtfl.data.plot: figures as PNG through gnuplot (Debian's gnuplot-nox, pngcairo),
-- run as a separate program. The data behind every figure is written as CSV first,
-- beside the PNG, so that a missing gnuplot costs the picture, not the numbers.
--
--   data.plot.landmark_accuracy{file = "fig2.png", experiments = {
--     {name = "single-task", accuracy = {0.16, 0.15, 0.23, 0.20, 0.23}}, ...}}
--   data.plot.per_epoch{file = "fig4.png", ylabel = "validation accuracy",
--     series = {{name = "pose", values = {...}}, {name = "glasses", values = {...}}}}
--
-- Both take gnuplot = "program" to run another gnuplot than the one on the PATH.
local errors = require "mtfl.errors"
local csv = require "mtfl.csv"

local M = {}

M.POINTS = {"left eye", "right eye", "nose", "left mouth", "right mouth"}

local shell_quote = require("mtfl.files").shell_quote

--- True when gnuplot (or the program given) can be run, else false and why.
function M.available(program)
  program = program or "gnuplot"
  local ok = os.execute("command -v " .. shell_quote(program) .. " >/dev/null 2>&1")
  if ok then return true end
  return false, program .. " was not found: install gnuplot-nox (bash scripts/setup-deps.sh)"
end

local function csv_path(o)
  return o.csv or (o.file:gsub("%.[Pp][Nn][Gg]$", "") .. ".csv")
end

local function write_csv(path, header, rows)
  require("mtfl.files").write_atomic(path, csv.text(header, rows))
end

-- A string as gnuplot reads it: single quotes, doubled inside.
local function quote(s) return "'" .. tostring(s):gsub("'", "''") .. "'" end

-- Runs a gnuplot script; an error carries gnuplot's own message.
local function run_gnuplot(script, what, program)
  program = program or "gnuplot"
  local ok, why = M.available(program)
  if not ok then errors.raisef("plot %s: %s", what, why) end
  local base = os.tmpname()
  local script_file, log = base .. ".gp", base .. ".log"
  local f = assert(io.open(script_file, "w"))
  f:write(script)
  f:close()
  local status = os.execute(shell_quote(program) .. " " .. shell_quote(script_file) .. " >" .. shell_quote(log) .. " 2>&1")
  local lf = io.open(log, "r")
  local output = lf and lf:read("a") or ""
  if lf then lf:close() end
  os.remove(script_file)
  os.remove(log)
  os.remove(base)
  if not status then errors.raisef("plot %s: gnuplot failed: %s", what, output:gsub("%s+$", "")) end
end

local function header(o, default_title, key)
  return table.concat({
    "set terminal pngcairo size " .. (o.width or 900) .. "," .. (o.height or 520) .. " noenhanced font 'Sans,11'",
    "set output " .. quote(o.file),
    "set datafile separator ','",
    "set title " .. quote(o.title or default_title),
    "set key " .. key,
    "set grid ytics lc rgb '#dddddd'",
  }, "\n") .. "\n"
end

local function check_file(o, what)
  if type(o) ~= "table" or type(o.file) ~= "string" then errors.raisef("plot %s: needs {file = \"x.png\", ...}", what) end
end

--- landmark_accuracy{file, csv, title, ylabel, experiments = {{name, accuracy = {5}}}}:
--- grouped bars, one group per landmark and one for their mean, a bar per experiment.
function M.landmark_accuracy(o)
  check_file(o, "landmark_accuracy")
  local ex = o.experiments or {}
  if #ex == 0 then errors.raise("plot landmark_accuracy: no experiments") end
  local header_row, rows = {"landmark"}, {}
  for e, x in ipairs(ex) do
    if type(x.accuracy) ~= "table" or #x.accuracy ~= 5 then
      errors.raisef("plot landmark_accuracy: experiment %d (%s) needs accuracy = {5 numbers}", e, tostring(x.name))
    end
    header_row[e + 1] = x.name or ("experiment " .. e)
  end
  for k = 1, 6 do
    local r = {M.POINTS[k] or "mean of 5"}
    for e, x in ipairs(ex) do
      local v = x.accuracy[k]
      if not v then v = 0 for j = 1, 5 do v = v + x.accuracy[j] / 5 end end
      r[e + 1] = string.format("%.4f", v)
    end
    rows[k] = r
  end
  local csv = csv_path(o)
  write_csv(csv, header_row, rows)
  local plots = {}
  -- titles given here, not read from the CSV header: gnuplot splits a quoted "a, b"
  for e = 1, #ex do plots[e] = quote(csv) .. " skip 1 using " .. (e + 1) .. ":xtic(1) title " .. quote(header_row[e + 1]) end
  run_gnuplot(header(o, "Accuracy per landmark (error < 10% of the inter-ocular distance)",
                     "outside below center horizontal") .. table.concat({
    "set style data histograms", "set style histogram clustered gap 1", "set style fill solid 0.85 border -1",
    "set boxwidth 0.9", "set yrange [0:" .. (o.ymax or 1) .. "]", "set ylabel " .. quote(o.ylabel or "accuracy"),
    "plot " .. table.concat(plots, ", ")}, "\n") .. "\n", o.file, o.gnuplot)
  return o.file, csv
end

--- per_epoch{file, csv, title, xlabel, ylabel, series = {{name, values = {...}}}}: a line
--- per series over epochs 1, 2, ...; series may differ in length.
function M.per_epoch(o)
  check_file(o, "per_epoch")
  local series = o.series or {}
  if #series == 0 then errors.raise("plot per_epoch: no series") end
  local longest, header_row = 0, {"epoch"}
  for s, x in ipairs(series) do
    if type(x.values) ~= "table" then errors.raisef("plot per_epoch: series %d needs values = {...}", s) end
    longest = math.max(longest, #x.values)
    header_row[s + 1] = x.name or ("series " .. s)
  end
  local rows = {}
  for epoch = 1, longest do
    local r = {epoch}
    for s, x in ipairs(series) do r[s + 1] = x.values[epoch] and string.format("%.6g", x.values[epoch]) or "" end
    rows[epoch] = r
  end
  local csv = csv_path(o)
  write_csv(csv, header_row, rows)
  local plots = {}
  for s = 1, #series do
    plots[s] = quote(csv) .. " skip 1 using 1:" .. (s + 1) .. " with linespoints pt 7 ps 0.6 lw 2 title " .. quote(header_row[s + 1])
  end
  local yrange = o.ymax and ("set yrange [" .. (o.ymin or 0) .. ":" .. o.ymax .. "]") or "set autoscale y"
  run_gnuplot(header(o, "Per epoch", "outside right top") .. table.concat({
    "set xlabel " .. quote(o.xlabel or "epoch"), "set ylabel " .. quote(o.ylabel or "accuracy"),
    yrange, "set xrange [1:" .. math.max(2, longest) .. "]", "set xtics " .. (longest > 20 and 10 or 1),
    "plot " .. table.concat(plots, ", ")}, "\n") .. "\n", o.file, o.gnuplot)
  return o.file, csv
end

--- cumulative_error{file, csv, title, max = 0.2, series = {{name, errors = {...}}}}: the
--- share of faces (y) whose error is at most x, per series (errors in inter-ocular
--- units, as data.metrics gives them; the curve ends at max).
function M.cumulative_error(o)
  check_file(o, "cumulative_error")
  local series = o.series or {}
  if #series == 0 then errors.raise("plot cumulative_error: no series") end
  local top, steps = o.max or 0.2, 200
  local header_row, sorted = {"error"}, {}
  for s, x in ipairs(series) do
    if type(x.errors) ~= "table" or #x.errors == 0 then errors.raisef("plot cumulative_error: series %d needs errors = {...}", s) end
    header_row[s + 1] = x.name or ("series " .. s)
    sorted[s] = table.move(x.errors, 1, #x.errors, 1, {})
    table.sort(sorted[s])
  end
  local rows, at = {}, {}
  for s = 1, #series do at[s] = 0 end
  for i = 0, steps do
    local e = top * i / steps
    local r = {string.format("%.5f", e)}
    for s, list in ipairs(sorted) do
      while at[s] < #list and list[at[s] + 1] <= e do at[s] = at[s] + 1 end
      r[s + 1] = string.format("%.5f", at[s] / #list)
    end
    rows[#rows + 1] = r
  end
  local csv = csv_path(o)
  write_csv(csv, header_row, rows)
  local plots = {}
  for s = 1, #series do
    plots[s] = quote(csv) .. " skip 1 using ($1*100):" .. (s + 1) .. " with lines lw 2 title " .. quote(header_row[s + 1])
  end
  run_gnuplot(header(o, "Cumulative error distribution", "right bottom") .. table.concat({
    "set xlabel 'mean error of the five points (% of the inter-ocular distance)'",
    "set ylabel 'share of faces'", "set yrange [0:1]", "set xrange [0:" .. 100 * top .. "]",
    "plot " .. table.concat(plots, ", ")}, "\n") .. "\n", o.file, o.gnuplot)
  return o.file, csv
end

--- sweep{file, csv, title, xlabel, ylabel, labels = {...} (x as words) | nil (x as
--- numbers), series = {{name, x = {...}, mean = {...}, std = {...}}}, baseline = {name,
--- mean, std}}: a line per series through each x with error bars of +-std; the
--- baseline a horizontal line with its band. With labels, x are positions 1..#labels.
function M.sweep(o)
  check_file(o, "sweep")
  local series = o.series or {}
  if #series == 0 then errors.raise("plot sweep: no series") end
  local header_row, rows = {"x"}, {}
  for s, x in ipairs(series) do
    if type(x.x) ~= "table" or type(x.mean) ~= "table" or #x.x ~= #x.mean then
      errors.raisef("plot sweep: series %d needs x = {...} and mean = {...} of the same length", s)
    end
    header_row[#header_row + 1] = (x.name or ("series " .. s)) .. " mean"
    header_row[#header_row + 1] = (x.name or ("series " .. s)) .. " std"
  end
  -- one row per point of each series, the other series' columns empty
  for s, x in ipairs(series) do
    for i = 1, #x.x do
      local r = {x.x[i]}   -- with labels, the label's position
      for t = 1, #series do
        r[2 * t], r[2 * t + 1] = "", ""
      end
      r[2 * s], r[2 * s + 1] = string.format("%.6g", x.mean[i]), string.format("%.6g", (x.std or {})[i] or 0)
      rows[#rows + 1] = r
    end
  end
  local csv = csv_path(o)
  write_csv(csv, header_row, rows)
  local plots = {}
  for s = 1, #series do
    local name = quote(series[s].name or ("series " .. s))
    plots[#plots + 1] = quote(csv) .. " skip 1 using 1:" .. (2 * s) .. ":" .. (2 * s + 1)
      .. " with yerrorlines pt 7 ps 0.8 lw 2 title " .. name
  end
  local extra = {}
  if o.baseline then
    local b = o.baseline
    extra[#extra + 1] = string.format("b_mean = %.9g; b_std = %.9g", b.mean, b.std or 0)
    plots[#plots + 1] = "b_mean with lines lw 2 dt 2 lc rgb '#444444' title " .. quote((b.name or "baseline") .. " (dashed: mean, band: +-std)")
    plots[#plots + 1] = "'+' using 1:(b_mean - b_std):(b_mean + b_std) with filledcurves fs transparent solid 0.12 lc rgb '#444444' notitle"
  end
  local xaxis
  if o.labels then
    local tics = {}
    for i, label in ipairs(o.labels) do tics[i] = quote(label) .. " " .. i end
    xaxis = "set xtics (" .. table.concat(tics, ", ") .. ")\nset xrange [0.5:" .. (#o.labels + 0.5) .. "]"
  else
    xaxis = "set autoscale x\nset offsets graph 0.05, graph 0.05, 0, 0"
  end
  run_gnuplot(header(o, "Landmark error per setting", "outside below center horizontal") .. table.concat({
    "set xlabel " .. quote(o.xlabel or "setting"), "set ylabel " .. quote(o.ylabel or "mean error (%)"),
    xaxis, "set autoscale y", table.concat(extra, "\n"),
    "plot " .. table.concat(plots, ", ")}, "\n") .. "\n", o.file, o.gnuplot)
  return o.file, csv
end

return M
