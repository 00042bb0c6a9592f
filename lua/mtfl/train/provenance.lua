-- mtfl.train.provenance: what made a run, kept in its config.json beside the settings,
-- so that a number in a table can be traced back to the code, machine and libraries
-- that produced it.
--
--   config.provenance = provenance.record(s, script)
--   -- {commit = "2999ad2...", dirty = false, host = "...", device = {id, name, driver},
--   --  libraries = mtfl.build_info(), settings = {every resolved setting}, started = "..."}
--
-- The record is not a setting: a finished run is reused whatever its provenance says
-- (experiment.lua compares configs without it), so a new commit does not throw away
-- results it did not change.
local mtfl = require "mtfl"

local M = {}

local shell_quote = require("mtfl.files").shell_quote

local function first_line(command)
  local p = io.popen(command .. " 2>/dev/null")
  if not p then return nil end
  local line = p:read("l")
  p:close()
  return line ~= "" and line or nil
end

local git_cache = {}

--- The git commit of the checkout holding dir and whether tracked files differ from it
--- (nil when dir is not in a git checkout or git is missing).
function M.git(dir)
  if git_cache[dir] == nil then
    local q = shell_quote(dir)
    local commit = first_line("git -C " .. q .. " rev-parse HEAD")
    git_cache[dir] = commit and {commit = commit,
                                 dirty = first_line("git -C " .. q .. " status --porcelain --untracked-files=no") ~= nil}
                     or false
  end
  return git_cache[dir] or nil
end

local function device_of(s)
  local id = s.device or mtfl.device()
  for _, d in ipairs(mtfl.devices()) do
    if d.id == id or (d.default and not s.device) then
      return {id = d.id, name = d.name, platform = d.platform, driver = d.driver}
    end
  end
  return {id = id}
end

--- The record of a run with settings s started by script (its folder locates the
--- checkout).
function M.record(s, script)
  local settings = {}
  for k, v in pairs(s) do
    if type(v) ~= "function" then settings[k] = v end
  end
  local git = M.git(script and script:match("^(.*)/[^/]*$") or ".")
  return {
    commit = git and git.commit, dirty = git and git.dirty,
    host = require("mtfl.mpi").processor_name(), started = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    device = device_of(s), libraries = mtfl.build_info(), threads = tonumber(os.getenv("OMP_NUM_THREADS") or ""),
    worker = os.getenv("MTFL_WORKER"),
    settings = settings,
  }
end

return M
