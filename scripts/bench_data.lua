-- bench_data.lua: how fast the data pipeline is on this machine.
--
--   mtfl-lua scripts/bench_data.lua [--data DIR] [--protocol seed|crop] [--size N]
--                                   [--batches N] [--small N] [--keep-cache DIR]
--
-- 1. first load: annotations, image headers and every image decoded (on all cores),
--    and the cache written, into a fresh cache folder;
-- 2. cached load: the same call again, served by the cache;
-- 3. augmentation: batches of 50 from the loader's background thread, made into
--    tensors, in images/s, for three augment tables (each with the crop protocol's own
--    jitter): "basic" (translation and mirror, what the seed's augmentation did),
--    "geometric" (mirror, rotation, scale and shift: the one affine warp) and "all"
--    (that and colour, grayscale, blur and erasing); at the protocol's size and at
--    40x40 (--small N), on one thread and on one per core.
-- The last line is the summary:
--   first_load_s=X cached_load_s=Y augment_img_per_s=Z augment_all_img_per_s=A
--   augment_all_small_img_per_s=B train_images=N
-- (Z: basic at the protocol's size on one thread; A and B: all, on one thread.)
local mtfl = require "mtfl"
local data = require "mtfl.data"

local opts = require("mtfl.cli").parse(arg, {script = arg[0], about = "how fast the data pipeline is on this machine",
  options = {data = {"string", "the MTFL folder (else MTFL_DATA, ./data/MTFL, ../shared/MTFL)", argname = "DIR"},
             protocol = {"choice", "the seed's whole images, or faces cropped like the test faces",
                         choices = {"seed", "crop"}, default = "seed"},
             size = {"int", "input side in pixels", default = 150},
             batches = {"int", "augmented batches of 50 to time", default = 60},
             small = {"int", "the small input side also timed (TCDCN's)", default = 40},
             ["keep-cache"] = {"string", "the cache folder to use and keep (default: a fresh one, removed after)",
                               argname = "DIR"}}})
if not opts then return end   -- --help
opts.cache = opts.keep_cache

local dir = data.find{dir = opts.data, args = arg}
local cache = opts.cache or (os.tmpname() .. "-bench-cache")
if not opts.cache then os.remove(cache:gsub("%-bench%-cache$", "")) end
local function load()
  local t0 = mtfl.clock()
  local ds = data.load{dir = dir, protocol = opts.protocol, size = opts.size, cache = cache}
  return ds, mtfl.clock() - t0
end

print(string.format("MTFL data in %s, %s protocol at %dx%d, %d cores", dir, opts.protocol, opts.size,
                    opts.size, data.cpu_count()))
local ds, first = load()
print(data.describe(ds))
local bytes = ds.train:info().bytes + ds.val:info().bytes + ds.test:info().bytes
print(string.format("first load %.2f s (decoding and writing the cache), %.0f MB of pixels", first, bytes / 1e6))
local train_images = #ds.train
ds = nil
collectgarbage()
collectgarbage()
local cached
ds, cached = load()
print(string.format("cached load %.2f s (%s)", cached, ds.info.from_cache and "from the cache" or
                    "NOT from the cache: " .. tostring(ds.info.cache_note)))

local AUGMENT = {
  basic = {translate = 10, mirror = true},
  geometric = {mirror = true, rotate = 20, scale = 0.15, shift = 0.08},
  all = {mirror = true, rotate = 20, scale = 0.15, shift = 0.08, color = 0.3, grayscale = 0.1,
         blur = {p = 0.2, sigma = {0.5, 1.5}}, erase = {p = 0.3, area = {0.02, 0.15}}},
}

local function augment_rate(name, workers, size)
  local loader = data.loader(ds.train, {batch = 50, seed = 1, workers = workers, device = "cpu",
                                        augment = AUGMENT[name], size = size})
  loader:get(1, 1)   -- threads started, first batch out of the way
  local t0, n = mtfl.clock(), 0
  for b = 2, math.min(opts.batches + 1, loader:batches()) do n = n + loader:get(1, b).count end
  local rate = n / (mtfl.clock() - t0)
  loader:close()
  return rate
end

local cores = data.cpu_count()
local rates = {}
for _, size in ipairs{opts.size, opts.small} do
  for _, name in ipairs{"basic", "geometric", "all"} do
    local one = augment_rate(name, 1, size)
    rates[name .. size] = one
    print(string.format("augmentation %-9s at %dx%d: %6.0f images/s on one background thread, %6.0f with %d",
                        name, size, size, one, augment_rate(name, cores, size), cores))
  end
end
if not opts.cache then os.execute("rm -rf '" .. cache .. "'") end
print(string.format("first_load_s=%.2f cached_load_s=%.2f augment_img_per_s=%.0f augment_all_img_per_s=%.0f " ..
                    "augment_all_small_img_per_s=%.0f train_images=%d", first, cached, rates["basic" .. opts.size],
                    rates["all" .. opts.size], rates["all" .. opts.small], train_images))
