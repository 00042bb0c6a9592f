-- mtfl.csv: CSV text as spreadsheets and gnuplot read it (RFC 4180 quoting).
local M = {}

--- One field: nil is empty, integers as they are, other numbers with 6 significant
--- digits (precision = n for more), text quoted when it holds a comma, quote or newline.
function M.field(v, precision)
  if v == nil then return "" end
  if type(v) == "number" then
    return math.type(v) == "integer" and tostring(v) or string.format("%." .. (precision or 6) .. "g", v)
  end
  v = tostring(v)
  if v:find('[,"\r\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

--- One line (no line break) of a list of values.
function M.line(values, precision)
  local out = {}
  for i = 1, #values do out[i] = M.field(values[i], precision) end
  return table.concat(out, ",")
end

--- The whole text: a header line, then a line per row.
function M.text(header, rows, precision)
  local lines = {M.line(header)}
  for _, r in ipairs(rows) do lines[#lines + 1] = M.line(r, precision) end
  return table.concat(lines, "\n") .. "\n"
end

return M
