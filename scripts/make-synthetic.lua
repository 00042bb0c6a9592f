-- make-synthetic.lua: a synthetic face set on disk in the MTFL file format, for a
-- machine without the real data (or to test a pipeline on known answers).
--
--   mtfl-lua scripts/make-synthetic.lua [--out data/synthetic] [--train 4000]
--       [--test 1500] [--size 150] [--seed 1] [--format jpg|png]
--       [--nonsquare-every 4] [--gray-every 25]
--
-- Writes OUT/training.txt and OUT/testing.txt exactly as MTFL's (CRLF, backslash paths,
-- leading spaces) and the images beside them; every 4th training image is stretched to
-- 160x216 and every 25th (unless stretched) saved in grayscale, as the real training
-- set has images the seed protocol leaves out. The first 1000 test faces are the
-- validation set, as in MTFL. Then load it like the real thing:
--
--   mtfl-lua scripts/bench_data.lua --data data/synthetic
local data = require "mtfl.data"

local o = require("mtfl.cli").parse(arg, {script = arg[0], about = "a synthetic face set on disk in the MTFL file format",
  options = {out = {"string", "the folder to write", default = "data/synthetic", argname = "DIR"},
             train = {"int", "training faces", default = 4000, min = 0},
             test = {"int", "test faces (the first 1000 are the validation set)", default = 1500, min = 0},
             size = {"int", "image side in pixels", default = 150},
             seed = {"int", "the seed of the faces", default = 1, min = 0},
             format = {"choice", "image files", choices = {"jpg", "png"}, default = "jpg"},
             ["nonsquare-every"] = {"int", "stretch every Nth training image to 160x216 (0: none)", default = 4, min = 0},
             ["gray-every"] = {"int", "save every Nth training image in grayscale (0: none)", default = 25, min = 0}}})
if not o then return end   -- --help

local t0 = mtfl.clock()
local train = data.synthetic{n = o.train, size = o.size, seed = o.seed * 2}
local test = data.synthetic{n = o.test, size = o.size, seed = o.seed * 2 + 1}
local counts = data.write_mtfl(o.out, {train = train, test = test}, {
  format = o.format, nonsquare_every = o.nonsquare_every > 0 and o.nonsquare_every or nil,
  gray_every = o.gray_every > 0 and o.gray_every or nil, folders = {train = "synth_train", test = "synth_test"}})
local nonsquare = o.nonsquare_every > 0 and o.train // o.nonsquare_every or 0
local gray = 0
for k = 1, o.train do
  if o.gray_every > 0 and k % o.gray_every == 0 and not (o.nonsquare_every > 0 and k % o.nonsquare_every == 0) then
    gray = gray + 1
  end
end
print(string.format("%s: %d training and %d test faces at %dx%d (%s) in %.1f s", o.out, counts.train,
                    counts.test, o.size, o.size, o.format, mtfl.clock() - t0))
print(string.format("the seed protocol keeps %d training faces (%d non-square and %d grayscale left out)",
                    counts.train - nonsquare - gray, nonsquare, gray))
