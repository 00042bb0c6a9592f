-- mtfl.data.locate: where the MTFL data and the cache live.
--
-- The data folder is, in order: an explicit dir, `--data DIR` among the script's
-- arguments, $MTFL_DATA, then ./data/MTFL and ../shared/MTFL from the current folder,
-- then the same two beside the repository the running script lives in. An explicit
-- choice that holds no data is an error, never silently replaced by another.
local errors = require "mtfl.errors"

local M = {}

local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- True when dir holds training.txt and testing.txt.
function M.is_data_dir(dir)
  return dir ~= nil and readable(dir .. "/training.txt") and readable(dir .. "/testing.txt")
end

--- The value of --data (or --data=DIR) in an argument list, or nil.
function M.data_argument(args)
  for i, a in ipairs(args or {}) do
    if a == "--data" then return args[i + 1] or errors.raise("--data needs a folder") end
    local v = a:match("^%-%-data=(.+)$")
    if v then return v end
  end
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- The folders above the running script: scripts/x.lua -> scripts, ., ..
local function script_roots(args)
  local script = args and args[0]
  if type(script) ~= "string" then return {} end
  local roots, dir = {}, dirname(script)
  for _ = 1, 3 do
    roots[#roots + 1] = dir
    dir = dir == "." and ".." or dir .. "/.."
  end
  return roots
end

--- find{dir =, args = arg} -> dir, how it was chosen. Raises when there is none, with
--- every place tried.
function M.find(options)
  options = options or {}
  local explicit = {
    {options.dir, "the dir option"},
    {M.data_argument(options.args), "--data"},
    {os.getenv("MTFL_DATA") ~= "" and os.getenv("MTFL_DATA") or nil, "MTFL_DATA"},
  }
  for _, c in ipairs(explicit) do
    if c[1] then
      if M.is_data_dir(c[1]) then return c[1], c[2] end
      errors.raisef("no MTFL data in %s (from %s): training.txt and testing.txt are not both there", c[1], c[2])
    end
  end
  local tried = {}
  local candidates = {"data/MTFL", "../shared/MTFL"}
  for _, root in ipairs(script_roots(options.args)) do
    candidates[#candidates + 1] = root .. "/data/MTFL"
    candidates[#candidates + 1] = root .. "/../shared/MTFL"
  end
  for _, dir in ipairs(candidates) do
    if M.is_data_dir(dir) then return dir, "found" end
    tried[#tried + 1] = dir
  end
  errors.raisef("no MTFL data found (tried --data, MTFL_DATA, %s); get it with scripts/get-mtfl.sh (installed: " ..
                "mtfl-get-mtfl), or write a synthetic set with scripts/make-synthetic.lua (mtfl-make-synthetic) " ..
                "and pass --data", table.concat(tried, ", "))
end

--- The cache folder: an explicit string, false (no cache), else $MTFL_CACHE, else
--- $XDG_CACHE_HOME/mtfl-lua, else ~/.cache/mtfl-lua; nil when none can be named.
function M.cache_dir(option)
  if option == false then return nil end
  if type(option) == "string" then return option end
  if option ~= nil and option ~= true then errors.raisef("cache: a folder, true or false, got %s", type(option)) end
  local env = os.getenv("MTFL_CACHE")
  if env and env ~= "" then return env end
  local xdg = os.getenv("XDG_CACHE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/mtfl-lua" end
  local home = os.getenv("HOME")
  if home and home ~= "" then return home .. "/.cache/mtfl-lua" end
end

return M
