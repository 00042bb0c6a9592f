-- mtfl.errors: errors raised by the Lua library point at the user's line.
--
-- A mistake found three calls deep in mtfl.nn (a Sequential calling a Linear) is the
-- caller's mistake, so the position shown is that of the first stack frame outside
-- the embedded library (chunks named "@lua/mtfl...") rather than a library line.
local M = {}

local function in_library(source)
  return source:sub(1, 10) == "@lua/mtfl/" or source == "@lua/mtfl.lua"
end

--- "script.lua:12: " for the innermost caller outside the library, or "".
function M.caller_position()
  for level = 2, 100 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.what ~= "C" and not in_library(info.source) and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  return ""
end

function M.raise(message)
  error(M.caller_position() .. message, 0)
end

function M.raisef(fmt, ...)
  M.raise(string.format(fmt, ...))
end

--- fn(...), with an error from it (out of device memory, a bad label found in C)
--- re-raised as "<prefix><message>" at the user's line instead of the library's.
function M.call(prefix, fn, ...)
  local results = table.pack(pcall(fn, ...))
  if results[1] then return table.unpack(results, 2, results.n) end
  local message = tostring(results[2]):gsub("^lua/mtfl[%w_/%.]*:%d+: ", "")
  M.raise(prefix .. message)
end

return M
