-- mtfl.data.loader: batches of a set, assembled and augmented on background threads.
--
--   local loader = data.loader(ds.train, {batch = 50, seed = 1, augment = {mirror = true}})
--   for epoch = 1, 30 do
--     for batch in loader:epoch() do   -- batch.images [N,3,S,S], batch.landmarks [N,10],
--       ...                            -- batch.gender / smile / glasses / pose [N] (1-based)
--                                      -- batch.count rows (batch.total without shard)
--     end
--   end
--
-- Epoch e's order and every sample's augmentation are functions of (seed, e): a run
-- can be repeated exactly, and resumed at any epoch with loader:epoch(e).
--
-- augment: drawn afresh for every sample every epoch, in C on the loader's thread.
-- Every field is optional (absent: off); an unknown field, a value of the wrong type
-- or out of range is an error naming it.
--   mirror = true | p        horizontal mirror with probability p (true: 0.5); left and
--                            right points and poses (1 <-> 5, 2 <-> 4) swapped
--   rotate = degrees         uniform in [-rotate, rotate] about the face box's centre (0..180)
--   scale = s                the box's side times [1 - s, 1 + s] (0 <= s < 1)
--   shift = f                the box's centre moved by up to f x its side, in x and y (0..1)
--   translate = px           horizontal shift of the output by up to px pixels
--   fill = "edge" | "black"  outside the stored pixels (the crop protocol stores the
--                            face's real surroundings, as much as its jitter asked for)
--   color = c | {brightness =, contrast =, saturation =}
--                            factors in [1 - c, 1 + c] (each 0..1), as ColorJitter
--   grayscale = p            all three channels the BT.601 luma, with probability p
--   blur = {p =, sigma = {lo, hi} | s}        Gaussian, sigma in pixels (0.5..1.5)
--   erase = {p =, area = {lo, hi}, aspect = {lo, hi}, fill = "noise" | "mean"}
--                            a rectangle of that fraction of the image (0.02..0.2),
--                            height / width log-uniform in aspect (0.3..3.3), filled
--                            with uniform noise or the image's mean colour
-- The geometric fields form one affine map with one bilinear pass; landmarks go
-- through the same map. The photometric ones follow on the rendered image, in the
-- order listed; they do not move the landmarks.
local C = require("mtfl")._data
local call = require "mtfl.data.call"
local errors = require "mtfl.errors"

local Loader = {}
Loader.__index = Loader

-- The set's own jitter (the crop protocol's) unless augment says otherwise; false
-- turns everything off.
local function merged_augment(set, augment)
  if augment == false then return false end
  if augment ~= nil and type(augment) ~= "table" then
    errors.raisef("loader: augment must be a table or false, got %s", type(augment))
  end
  local a = {}
  for k, v in pairs(set:info().jitter) do a[k] = v end
  for k, v in pairs(augment or {}) do a[k] = v end
  return a
end

-- shard = {rank, size}: data-parallel training (mtfl.mpi). Every batch is the one the
-- loader gives without shard, of the same global batch size, but this process renders
-- only its slice: rows rank * B / size + 1 .. (rank + 1) * B / size of the batch's B
-- rows (batch.count of them; batch.total is B). The batch size must be divisible by
-- size. The last short batch is split as evenly as it goes (a slice may then be empty,
-- count 0): the trainer weights each rank's gradient by its rows.
local function check_shard(shard)
  if shard == nil then return 0, 0 end
  local rank, size = type(shard) == "table" and shard[1], type(shard) == "table" and shard[2]
  if math.type(rank) ~= "integer" or math.type(size) ~= "integer" or size < 1 or rank < 0 or rank >= size then
    errors.raisef("loader: shard must be {rank, size} with 0 <= rank < size, got %s",
                  type(shard) == "table" and string.format("{%s, %s}", tostring(shard[1]), tostring(shard[2])) or type(shard))
  end
  return rank, size
end

--- loader(set, {batch = 50, shuffle = true, drop_last = false, seed = 1, augment =
--- {mirror, rotate, scale, shift, translate, fill, color, grayscale, blur, erase} (see
--- above; merged over the set's own jitter) or false, landmarks = "pixels" | "unit",
--- size = the set's, device = the default, workers = 1, prefetch = 2, shard = {rank,
--- size} (this process's slice of every batch, see above)})
local function new(set, options)
  options = options or {}
  local shard_rank, shard_size = check_shard(options.shard)
  local size = options.size or set:info().size
  local units = options.landmarks or "pixels"
  if units ~= "pixels" and units ~= "unit" then
    errors.raisef("loader: landmarks %q (use \"pixels\" or \"unit\")", tostring(units))
  end
  local c = call(C.loader, set, {
    batch = options.batch, shuffle = options.shuffle, drop_last = options.drop_last,
    seed = options.seed, augment = merged_augment(set, options.augment), size = options.size,
    workers = options.workers, prefetch = options.prefetch, shard_rank = shard_rank, shard_size = shard_size,
    point_scale = units == "unit" and 1 / size or 1})
  return setmetatable({c = c, set = set, device = options.device, next_epoch = 1, size = size}, Loader)
end

--- Batches in one epoch.
function Loader:batches() return self.c:batches() end

--- Batch `index` of epoch `epoch` (1-based).
function Loader:get(epoch, index)
  return call(self.c.get, self.c, epoch, index, self.device)
end

--- An iterator over the batches of epoch e (by default the one after the last).
--- Breaking out early is fine: the next epoch starts cleanly.
function Loader:epoch(e)
  e = e or self.next_epoch
  self.next_epoch = e + 1
  local n, i = self:batches(), 0
  return function()
    i = i + 1
    if i > n then return nil end
    return self:get(e, i), i
  end
end

--- Stops the background threads (also done by the garbage collector).
function Loader:close() self.c:close() end
Loader.__close = Loader.close

return new
