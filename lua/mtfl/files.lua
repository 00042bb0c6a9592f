-- mtfl.files: the file operations results and checkpoints need, so that nothing is
-- lost or torn (C: src/data/files.c).
--
--   files.write_atomic(path, text)        -- whole or not at all, also with two writers
--   local w <close> = files.writer(path)  -- the same, in pieces: w:write(a, b) ... w:commit()
--   local lock <close> = files.lock(dir .. "/lock", "the run in " .. dir)
--
-- A write goes to a unique temporary file beside the target (mkstemp), is flushed to
-- disk (fsync) and renamed over the target: a killed process or a second process
-- writing the same path never leaves a half-written or mixed file under its name.
--
-- Why not Debian's lua-filesystem: it has mkdir (one level), attributes and locks, but
-- no mkstemp, fsync or rename-over, so the C side would stay for the atomic writes;
-- the folder kind and mkdir -p are a few lines beside it, and lfs is a C module that
-- `require "mtfl"` in a stock lua5.4 would then need beside mtfl.so.
local mtfl = require "mtfl"
local errors = require "mtfl.errors"

local C = mtfl._files
local M = {}

local function strip_position(msg)
  return (tostring(msg):gsub("^[^:]*:%d+: ", "", 1))
end

local function call(fn, ...)
  local results = table.pack(pcall(fn, ...))
  if not results[1] then errors.raise(strip_position(results[2])) end
  return table.unpack(results, 2, results.n)
end

--- "file", "directory", "other", or nil when nothing is at path.
function M.kind(path) return C.kind(path) end

function M.exists(path) return C.kind(path) ~= nil end

function M.read(path)
  local kind = C.kind(path)
  if kind and kind ~= "file" then errors.raisef("cannot read %s: it is a %s, not a file", path, kind) end
  local f, err = io.open(path, "rb")
  if not f then errors.raisef("cannot read %s: %s", path, err) end
  local text, rerr = f:read("a")
  f:close()
  if not text then errors.raisef("cannot read %s: %s", path, rerr) end
  return text
end

--- A writer for path: w:write(s, ...) (returns w), w:commit(). Closed (a <close>
--- variable) or collected without commit, it leaves path as it was.
function M.writer(path) return call(C.create, path) end

function M.write_atomic(path, text)
  local w <close> = call(C.create, path)
  call(w.write, w, text)
  call(w.commit, w)
end

--- The names in a folder, sorted (without "." and "..").
function M.list(dir)
  local names = call(C.list, dir)
  table.sort(names)
  return names
end

--- mkdir -p
function M.mkdir(path) call(C.mkdirs, path) end

--- An exclusive lock on the file path for what (words for the message), released by
--- lock:release(), by closing it (a <close> variable) or when the process ends. When
--- another process holds it, an error naming that process, or with {try = true}
--- nil, the message and its pid.
function M.lock(path, what, options)
  local lock, message, pid = C.lock(path)
  if lock then return lock end
  if options and options.try then return nil, message, pid end
  if pid and pid > 0 then
    errors.raisef("%s is in use by process %d (%s): wait for it to finish, or use another folder", what or path, pid, path)
  end
  errors.raise(message)
end

--- Removes the temporary files (NAME.tmp.PID.XXXXXX, see write_atomic) that processes
--- no longer running left in dir when they were killed mid-write; returns their count.
--- Call it holding the folder's lock: a live writer's file is left alone in any case.
function M.remove_stale_temporaries(dir)
  if M.kind(dir) ~= "directory" or M.kind("/proc/self") ~= "directory" then return 0 end
  local removed = 0
  for _, name in ipairs(M.list(dir)) do
    local pid = name:match("%.tmp%.(%d+)%.[%w_]+$")
    if pid and M.kind("/proc/" .. pid) == nil and os.remove(dir .. "/" .. name) then removed = removed + 1 end
  end
  return removed
end

--- The absolute path of an existing file or folder, without symbolic links, "." or
--- "..": a path that works from any folder. A path that does not exist is an error.
function M.real_path(path)
  local real, message = C.real_path(path)
  if not real then errors.raisef("cannot resolve %s", message) end
  return real
end

--- A string as one word of a POSIX shell command: in single quotes, its own quotes escaped.
function M.shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The folder of a path ("a/b/c.lua" -> "a/b", "c.lua" -> ".").
function M.dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

return M
