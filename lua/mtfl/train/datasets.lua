-- mtfl.train.datasets: the data a run's settings ask for, loaded once per process.
--
-- The grid trains many runs on the same protocol and size: each (source, protocol,
-- size, limit) is loaded (or generated) once and kept. MTFL is looked for as
-- mtfl.data does it (--data, MTFL_DATA, ./data/MTFL, ../shared/MTFL); without it, or
-- with --synthetic, the synthetic faces stand in and the results say so.
local data = require "mtfl.data"

local M = {}

local loaded = {}

-- The first n samples of a set (all of them when n is nil or larger).
local function first(set, n)
  if not n or n >= #set then return set end
  local indices = {}
  for i = 1, n do indices[i] = i end
  return set:subset(indices)
end

-- Sizes of the synthetic stand-in: enough faces to learn something in a few minutes.
local SYNTHETIC = {train = 3000, val = 300, test = 600}

local function open(s, script)
  if s.synthetic then
    local n = s.limit
    return data.synthetic_dataset{size = s.size, seed = 1, train = n or SYNTHETIC.train,
                                  val = n or SYNTHETIC.val, test = n or SYNTHETIC.test}
  end
  return data.open{protocol = s.protocol, size = s.size, dir = s.data, args = {[0] = script},
                   synthetic = {size = s.size, seed = 1, train = SYNTHETIC.train, val = SYNTHETIC.val,
                                test = SYNTHETIC.test}}
end

--- get(settings [, script path]) -> {train, val, test, info}; info.source is "MTFL"
--- or "synthetic". The script path helps find ../shared/MTFL beside the repository.
function M.get(s, script)
  local key = table.concat({s.synthetic and "synthetic" or (s.data or "found"), s.protocol, s.size, s.limit or "all"}, "|")
  if not loaded[key] then
    local ds = open(s, script)
    ds.info.source = ds.info.synthetic and "synthetic" or "MTFL"
    if s.limit then
      ds.train, ds.val, ds.test = first(ds.train, s.limit), first(ds.val, s.limit), first(ds.test, s.limit)
      ds.info.train, ds.info.val, ds.info.test = #ds.train, #ds.val, #ds.test
      ds.info.note = ((ds.info.note and ds.info.note .. "; ") or "") .. "limited to the first " .. s.limit .. " faces of each part"
    end
    print(data.describe(ds))
    loaded[key] = ds
  end
  return loaded[key]
end

return M
