-- mtfl.data.loader: batches of a set, assembled and augmented on background threads.
--
--   local loader = data.loader(ds.train, {batch = 50, seed = 1, augment = {mirror = true}})
--   for epoch = 1, 30 do
--     for batch in loader:epoch() do   -- batch.images [N,3,S,S], batch.landmarks [N,10],
--       ...                            -- batch.gender / smile / glasses / pose [N] (1-based)
--     end
--   end
--
-- Epoch e's order and every sample's augmentation are functions of (seed, e): a run
-- can be repeated exactly, and resumed at any epoch with loader:epoch(e).
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

--- loader(set, {batch = 50, shuffle = true, drop_last = false, seed = 1, augment =
--- {translate, mirror, scale, shift, fill} or false, landmarks = "pixels" | "unit",
--- size = the set's, device = the default, workers = 1, prefetch = 2})
local function new(set, options)
  options = options or {}
  local size = options.size or set:info().size
  local units = options.landmarks or "pixels"
  if units ~= "pixels" and units ~= "unit" then
    errors.raisef("loader: landmarks %q (use \"pixels\" or \"unit\")", tostring(units))
  end
  local c = call(C.loader, set, {
    batch = options.batch, shuffle = options.shuffle, drop_last = options.drop_last,
    seed = options.seed, augment = merged_augment(set, options.augment), size = options.size,
    workers = options.workers, prefetch = options.prefetch,
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
