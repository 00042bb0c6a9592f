-- mtfl.train.bar_chart: grouped bars of any labels (mtfl.data.plot draws bars only for
-- the five landmarks). Same habits as mtfl.data.plot: the CSV is written first, beside
-- the PNG, so a missing gnuplot costs the picture and not the numbers.
--
--   bar_chart.draw{file = "fig3.png", title = "...", groups = {"pose", "glasses"},
--     series = {{name = "majority class", values = {0.61, 0.92}}, {name = ..., values = ...}}}
local plot = require("mtfl.data").plot
local errors = require "mtfl.errors"

local M = {}

local shell_quote = require("mtfl.files").shell_quote
local function gp_quote(s) return "'" .. tostring(s):gsub("'", "''") .. "'" end
local function csv_field(v)
  v = tostring(v)
  if v:find('[,"\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

--- draw{file, csv, title, ylabel, ymax = 1, groups = {labels}, series = {{name, values}}}
--- -> png path, csv path. Raises when gnuplot is missing or fails (after the CSV).
function M.draw(o)
  if type(o) ~= "table" or type(o.file) ~= "string" or type(o.groups) ~= "table" or type(o.series) ~= "table" then
    errors.raise("bar_chart.draw: needs {file =, groups = {...}, series = {{name =, values =}, ...}}")
  end
  local csv = o.csv or o.file:gsub("%.png$", "") .. ".csv"
  local f, err = io.open(csv, "w")
  if not f then errors.raisef("bar_chart: cannot write %s: %s", csv, err) end
  local header = {"group"}
  for i, s in ipairs(o.series) do header[i + 1] = csv_field(s.name) end
  f:write(table.concat(header, ","), "\n")
  for g, label in ipairs(o.groups) do
    local row = {csv_field(label)}
    for i, s in ipairs(o.series) do row[i + 1] = s.values[g] and string.format("%.4f", s.values[g]) or "" end
    f:write(table.concat(row, ","), "\n")
  end
  f:close()

  local ok, why = plot.available(o.gnuplot)
  if not ok then errors.raisef("bar_chart %s: %s", o.file, why) end
  local plots = {}
  for i = 1, #o.series do
    -- the title given here, not read from the header: gnuplot splits a quoted "a, b"
    plots[i] = gp_quote(csv) .. " skip 1 using " .. (i + 1) .. ":xtic(1) title " .. gp_quote(o.series[i].name)
  end
  local script = table.concat({
    "set terminal pngcairo size " .. (o.width or 800) .. "," .. (o.height or 480) .. " noenhanced font 'Sans,11'",
    "set output " .. gp_quote(o.file), "set datafile separator ','", "set title " .. gp_quote(o.title or ""),
    "set key outside below center horizontal", "set grid ytics lc rgb '#dddddd'",
    "set style data histograms", "set style histogram clustered gap 1", "set style fill solid 0.85 border -1",
    "set boxwidth 0.9", "set yrange [" .. (o.ymin or 0) .. ":" .. (o.ymax or 1) .. "]",
    "set ylabel " .. gp_quote(o.ylabel or "accuracy"),
    "plot " .. table.concat(plots, ", "),
  }, "\n") .. "\n"
  local base = os.tmpname()
  local gp = io.open(base, "w")
  gp:write(script)
  gp:close()
  local log = base .. ".log"
  local ran = os.execute((o.gnuplot or "gnuplot") .. " " .. shell_quote(base) .. " >" .. shell_quote(log) .. " 2>&1")
  local lf = io.open(log)
  local output = lf and lf:read("a") or ""
  if lf then lf:close() end
  os.remove(base)
  os.remove(log)
  if not ran then errors.raisef("bar_chart %s: gnuplot failed: %s", o.file, output) end
  return o.file, csv
end

return M
