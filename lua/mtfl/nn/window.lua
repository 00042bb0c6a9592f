-- mtfl.nn.window: the sizes shared by convolution and pooling layers: a number or a
-- {height, width} pair, and how they print ("5x5", "stride 2", "padding 2x1").
local errors = require "mtfl.errors"

local M = {}

--- h, w from n or {h, w}, each an integer >= minimum.
function M.pair(value, what, who, minimum)
  local h, w = value, value
  if type(value) == "table" then h, w = value[1], value[2] end
  for _, v in ipairs({h, w}) do
    if math.type(v) ~= "integer" or v < minimum then
      errors.raisef("%s: %s must be an integer >= %d or a pair of them, got %s", who, what,
                    minimum, type(value) == "table" and "{" .. table.concat(value, ", ") .. "}"
                                                     or tostring(value))
    end
  end
  return h, w
end

function M.pair_str(h, w)
  return h == w and tostring(h) or (h .. "x" .. w)
end

--- "5x5" for a square kernel too: a kernel is always shown as an area.
function M.kernel_str(h, w) return h .. "x" .. w end

return M
