-- mtfl.data.call: runs a C function of the data pipeline so that its error points at
-- the user's line, not at the library line that called it.
local errors = require "mtfl.errors"

local function strip_position(msg)
  -- luaL_error put the library's own position in front: drop it
  return (tostring(msg):gsub("^lua/mtfl[%w_/%.]*:%d+: ", "", 1))
end

return function(fn, ...)
  local results = table.pack(pcall(fn, ...))
  if not results[1] then errors.raise(strip_position(results[2])) end
  return table.unpack(results, 2, results.n)
end
