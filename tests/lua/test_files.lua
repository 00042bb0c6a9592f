-- Nothing is lost or torn: files are written whole or not at all, also when two
-- processes write the same path at once, and locks keep two processes out of one
-- run's folder (mtfl.files, src/data/files.c).
local mtfl = require "mtfl"
local files = require "mtfl.files"
local safetensors = require "mtfl.safetensors"
local T = require "harness"
local H = require "data_helpers"

mtfl.set_device("cpu")
local HOST = os.getenv("MTFL_LUA") or "mtfl-lua"

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Starts `code` in a background mtfl-lua (CPU only); returns the file it writes "done" to.
local function spawn(dir, name, code)
  local script, done = dir .. "/" .. name .. ".lua", dir .. "/" .. name .. ".done"
  H.write(script, code .. string.format("\nlocal f = io.open(%q, 'w') f:write('done') f:close()\n", done))
  os.execute(string.format("MTFL_DEVICE=cpu %s %s > %s 2>&1 &", shell_quote(HOST), shell_quote(script),
                           shell_quote(dir .. "/" .. name .. ".log")))
  return done
end

local function wait_for(path, seconds)
  local t0 = mtfl.clock()
  while not files.exists(path) do
    if mtfl.clock() - t0 > seconds then error("timed out waiting for " .. path, 2) end
    os.execute("sleep 0.05")
  end
end

local function listing(dir)
  local p = io.popen("ls -A " .. shell_quote(dir))
  local names = {}
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  return names
end

T.test("write_atomic: the whole text, no temporary file left, the old file kept on failure", function()
  local dir = H.temp_dir("files")
  local path = dir .. "/result.json"
  files.write_atomic(path, "first")
  files.write_atomic(path, "second")
  T.eq(files.read(path), "second", "replaced")
  T.eq(#listing(dir), 1, "only the file: " .. table.concat(listing(dir), " "))
  do
    local w <close> = files.writer(path)
    w:write("half of a")
    -- closed without commit, as an error would leave it
  end
  T.eq(files.read(path), "second", "an uncommitted writer leaves the file alone")
  T.eq(#listing(dir), 1, "and removes its temporary file")
  T.raises(function() files.write_atomic(dir .. "/no/such/dir/x", "y") end, "cannot create a temporary file beside it")
  T.raises(function() files.read(dir) end, "is a directory, not a file")
  H.remove(dir)
end)

T.test("remove_stale_temporaries: a dead writer's temporary files go, a live one's and other files stay", function()
  local dir = H.temp_dir("stale")
  local p = io.popen("sh -c 'echo $$'")
  local dead = p:read("l")
  p:close()
  local f = io.open("/proc/self/stat")
  local own = f:read("l"):match("^(%d+)")
  f:close()
  H.write(dir .. "/result.json.tmp." .. dead .. ".x1Y2z3", "torn")
  H.write(dir .. "/result.json.tmp." .. own .. ".q9W8e7", "being written")
  H.write(dir .. "/result.json", "{}")
  H.write(dir .. "/notes.tmp.txt", "not ours")
  T.eq(files.remove_stale_temporaries(dir), 1, "one removed")
  local names = files.list(dir)
  T.eq(#names, 3, "the rest stay: " .. table.concat(names, ", "))
  T.truthy(not files.exists(dir .. "/result.json.tmp." .. dead .. ".x1Y2z3"), "the dead one's")
  T.eq(files.remove_stale_temporaries(dir .. "/none"), 0, "no folder, nothing")
  H.remove(dir)
end)

T.test("two processes saving one path: the file is always one of theirs, whole", function()
  local dir = H.temp_dir("race")
  local path = dir .. "/model.safetensors"
  local writer = [[
    local mtfl, safetensors = require "mtfl", require "mtfl.safetensors"
    local t = mtfl.full({%d}, %d, {device = "cpu"})
    for _ = 1, 40 do safetensors.save(%q, {w = t}, {writer = "%d"}) end
  ]]
  local a = spawn(dir, "a", string.format(writer, 600000, 1, path, 1))
  local b = spawn(dir, "b", string.format(writer, 900000, 2, path, 2))
  local loads, t0 = 0, mtfl.clock()
  -- read while they write: every load that finds the file sees one writer's whole tensor
  while not (files.exists(a) and files.exists(b)) do
    if mtfl.clock() - t0 > 120 then
      error("the writers did not finish: " .. H.read(dir .. "/a.log") .. H.read(dir .. "/b.log"))
    end
    if files.exists(path) then
      local ok, tensors, meta = pcall(safetensors.load, path, {device = "cpu"})
      T.truthy(ok, "a load while writing failed: " .. tostring(tensors))
      local value = tonumber(meta.writer)
      T.eq(tensors.w:numel(), value == 1 and 600000 or 900000, "size of writer " .. meta.writer .. "'s tensor")
      T.eq(tensors.w:min(), value, "min of writer " .. meta.writer .. "'s values")
      T.eq(tensors.w:max(), value, "max of writer " .. meta.writer .. "'s values")
      loads = loads + 1
    end
    os.execute("sleep 0.02")
  end
  T.truthy(loads > 0, "the file was read while being written")
  local tensors, meta = safetensors.load(path, {device = "cpu"})
  T.eq(tensors.w:max(), tonumber(meta.writer), "the last file is whole")
  T.eq(H.read(dir .. "/a.log") .. H.read(dir .. "/b.log"), "", "the writers ran without errors")
  for _, name in ipairs(listing(dir)) do
    T.truthy(not name:find("%.tmp"), "temporary file left behind: " .. name)
  end
  H.remove(dir)
end)

T.test("a lock keeps a second process out and dies with its holder", function()
  local dir = H.temp_dir("lock")
  local path, ready = dir .. "/lock", dir .. "/ready"
  local done = spawn(dir, "holder", string.format([[
    local lock = require("mtfl.files").lock(%q, "the test run")
    io.open(%q, "w"):close()
    os.execute("sleep 1.5")
  ]], path, ready))
  wait_for(ready, 30)
  local msg = T.raises(function() return files.lock(path, "the run in " .. dir) end,
                       "the run in " .. dir .. " is in use by process ", "wait for it to finish, or use another folder")
  local lock, why, pid = files.lock(path, "x", {try = true})
  T.eq(lock, nil, "not acquired")
  T.truthy(pid and pid > 0 and msg:find(tostring(pid), 1, true), "the holder's pid is named: " .. tostring(why))
  wait_for(done, 30)
  os.execute("sleep 0.3")   -- the process exits after writing done
  lock = files.lock(path, "the run")
  T.truthy(lock, "acquired once the holder is gone")
  T.raises(function() return files.lock(path, "the same run again") end, "is in use by process")  -- one process, two locks
  lock:release()
  T.truthy(not files.exists(path), "released: the lock file is gone")
  local again <close> = files.lock(path, "the run")
  T.truthy(again, "acquired again")
  H.remove(dir)
end)

T.run_all()
