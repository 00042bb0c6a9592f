-- mtfl.train.files: the few file operations the experiment scripts need. Writes go to
-- a temporary file renamed over the target, so a killed run never leaves half a
-- result behind (a result file that exists is a finished run).
local errors = require "mtfl.errors"

local M = {}

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then errors.raisef("cannot read %s: %s", path, err) end
  local text = f:read("a")
  f:close()
  return text
end

function M.write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then errors.raisef("cannot write %s: %s", tmp, err) end
  local ok, werr = f:write(text)
  f:close()
  if not ok then errors.raisef("cannot write %s: %s", tmp, werr) end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then errors.raisef("cannot rename %s to %s: %s", tmp, path, rerr) end
end

function M.mkdir(path)
  if not os.execute("mkdir -p " .. quote(path)) then errors.raisef("cannot create the folder %s", path) end
end

--- The folder of a path ("a/b/c.lua" -> "a/b", "c.lua" -> ".").
function M.dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

return M
