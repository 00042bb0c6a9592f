-- mtfl.nn.shape: shapes as Lua tables ({64, 3, 150, 150}) and how errors print them.
local M = {}

--- "[64x3x150x150]" for a shape table, a tensor, or a table of named shapes
--- ("{landmarks = [64x10], pose = [64x5]}").
function M.str(shape)
  if type(shape) == "userdata" then shape = shape:size() end
  if type(shape) ~= "table" then return tostring(shape) end
  if #shape == 0 and next(shape) ~= nil then
    local parts = {}
    for _, name in ipairs(M.sorted_keys(shape)) do
      parts[#parts + 1] = name .. " = " .. M.str(shape[name])
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return "[" .. table.concat(shape, "x") .. "]"
end

--- A shape without its leading (batch) size, as "3x150x150".
function M.str_no_batch(shape)
  return table.concat(shape, "x", 2)
end

function M.numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

function M.equal(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

function M.copy(shape)
  return table.move(shape, 1, #shape, 1, {})
end

--- The keys of a table in a fixed order (strings sorted), so that everything keyed by
--- name (heads, tasks, state dicts) is visited the same way on every run.
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

--- n as "47,316,992".
function M.thousands(n)
  local s = tostring(math.tointeger(n) or n)
  local sign, digits = s:match("^(-?)(%d+)$")
  if not digits then return s end
  return sign .. digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
end

return M
