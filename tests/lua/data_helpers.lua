-- data_helpers.lua: what the data tests share: temporary folders, the real MTFL data
-- when it is beside the repository, and small synthetic MTFL folders on disk.
local data = require "mtfl.data"

local M = {}

--- A fresh empty folder under /tmp; removed by M.remove.
function M.temp_dir(tag)
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. "-" .. (tag or "data")
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  return dir
end

function M.remove(dir)
  assert(dir:match("^/tmp/"), "refusing to remove " .. dir)
  os.execute("rm -rf '" .. dir .. "'")
end

--- The real MTFL folder ($MTFL_DATA, else ../shared/MTFL beside the repository: the
--- tests run in tests/lua), or nil with a message printed once.
function M.real_data()
  for _, dir in ipairs{os.getenv("MTFL_DATA") or "", "../../../shared/MTFL", "../../data/MTFL"} do
    if dir ~= "" and data.find and require("mtfl.data.locate").is_data_dir(dir) then return dir end
  end
  if not M.warned then
    print("  (MTFL data not found at ../shared/MTFL or MTFL_DATA: real-data checks skipped)")
    M.warned = true
  end
end

--- A synthetic MTFL folder: {train = n, test = m, size = s, format = "png", ...} ->
--- dir, the sets written
function M.synthetic_mtfl(options)
  local dir = M.temp_dir("mtfl")
  local train = data.synthetic{n = options.train or 8, size = options.size or 32, seed = 1}
  local test = data.synthetic{n = options.test or 6, size = options.size or 32, seed = 2}
  data.write_mtfl(dir, {train = train, test = test}, options)
  return dir, train, test
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- A finished run's result as JSON for comparing two ways of training it: without its
--- timings and its provenance (which process, when, where), which differ by design.
function M.comparable_run(run)
  local json = require "mtfl.json"
  local c = {}
  for k, v in pairs(run) do
    if k ~= "train_seconds" and k ~= "history" and k ~= "config" then c[k] = v end
  end
  c.history = {train_loss = run.history.train_loss, val_loss = run.history.val_loss, val = run.history.val}
  c.config = {}
  for k, v in pairs(run.config) do
    if k ~= "provenance" then c.config[k] = v end
  end
  return json.encode(c)
end

return M
