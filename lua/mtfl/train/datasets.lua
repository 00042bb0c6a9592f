-- mtfl.train.datasets: the data a run's settings ask for, loaded once per process.
--
-- The grid trains many runs on the same protocol and size: each (source, protocol,
-- size, limit) is loaded (or generated) once and kept. MTFL is looked for as
-- mtfl.data does it (--data, MTFL_DATA, ./data/MTFL, ../shared/MTFL); without it, or
-- with --synthetic, the synthetic faces stand in and the results say so.
local data = require "mtfl.data"
local errors = require "mtfl.errors"

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

local function open(s, script, jitter)
  if s.synthetic then
    local n = s.limit
    return data.synthetic_dataset{size = s.size, seed = 1, train = n or SYNTHETIC.train,
                                  val = n or SYNTHETIC.val, test = n or SYNTHETIC.test}
  end
  return data.open{protocol = s.protocol, size = s.size, dir = s.data, args = {[0] = script}, jitter = jitter,
                   synthetic = {size = s.size, seed = 1, train = SYNTHETIC.train, val = SYNTHETIC.val,
                                test = SYNTHETIC.test}}
end

-- What a run's data is, as one line a finished run's result is checked against: the
-- folder and the size and hash of both annotation files, or the synthetic set's
-- parameters; and the parts' sizes.
local function identity(ds)
  local info, parts = ds.info, string.format("train %d, val %d, test %d", #ds.train, #ds.val, #ds.test)
  if info.synthetic then
    return string.format("synthetic faces (seed 1, %dx%d; %s)", info.size, info.size, parts)
  end
  local a = info.annotations
  return string.format("MTFL in %s (training.txt %d bytes, hash %s; testing.txt %d bytes, hash %s; %s)",
                       info.real_dir, a.training.bytes, a.training.hash, a.testing.bytes, a.testing.hash, parts)
end

-- A run cannot train, validate or be tested on nothing: say which file came up empty.
local function check_parts(ds)
  local where = ds.info.synthetic and "the synthetic set" or nil
  local dir = ds.info.real_dir or ds.info.dir
  local files = {train = "training.txt", val = "testing.txt (its first lines)", test = "testing.txt (after the validation lines)"}
  for _, part in ipairs{"train", "val", "test"} do
    if #ds[part] == 0 then
      errors.raisef("no %s faces in %s: nothing to %s", part == "val" and "validation" or part == "train" and "training" or "test",
                    where or (dir .. "/" .. files[part]), part == "train" and "train on" or part == "val" and "validate on" or "test on")
    end
  end
end

--- The crop protocol's jitter (data.load's jitter: the room stored around each face,
--- and the training set's own augmentation) that an augment table needs: nil when the
--- protocol's default room (scale 0.1, shift 0.05, no rotation) holds it, else the
--- larger of each. Fields that are not numbers are left to the loader to reject.
function M.crop_jitter(augment)
  if type(augment) ~= "table" then return nil end
  local function num(v) return type(v) == "number" and v or 0 end
  local scale, shift, rotate = num(augment.scale), num(augment.shift), num(augment.rotate)
  if scale <= 0.1 and shift <= 0.05 and rotate <= 0 then return nil end
  return {scale = math.max(0.1, scale), shift = math.max(0.05, shift), rotate = math.max(0, rotate)}
end

--- get(settings [, script path [, augment]]) -> {train, val, test, info}; info.source is
--- "MTFL" or "synthetic", info.identity says what exactly (see identity above). The
--- script path helps find ../shared/MTFL beside the repository; under the crop protocol
--- the faces are stored with the room the augment table's rotation, scale and shift
--- need (crop_jitter), so that the warp reads the faces' real surroundings.
function M.get(s, script, augment)
  local jitter = s.protocol == "crop" and not s.synthetic and M.crop_jitter(augment) or nil
  local room = jitter and string.format("scale %g shift %g rotate %g", jitter.scale, jitter.shift, jitter.rotate) or "room"
  local key = table.concat({s.synthetic and "synthetic" or (s.data or "found"), s.protocol, s.size, s.limit or "all", room}, "|")
  if not loaded[key] then
    local ds = open(s, script, jitter)
    ds.info.source = ds.info.synthetic and "synthetic" or "MTFL"
    if s.limit then
      ds.train, ds.val, ds.test = first(ds.train, s.limit), first(ds.val, s.limit), first(ds.test, s.limit)
      ds.info.train, ds.info.val, ds.info.test = #ds.train, #ds.val, #ds.test
      ds.info.note = ((ds.info.note and ds.info.note .. "; ") or "") .. "limited to the first " .. s.limit .. " faces of each part"
    end
    print(data.describe(ds))
    check_parts(ds)
    ds.info.identity = identity(ds)
    loaded[key] = ds
  end
  return loaded[key]
end

return M
