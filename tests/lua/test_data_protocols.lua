-- The seed and crop protocols: counts on the real files, the crop geometry, the disk
-- cache (used, invalidated, rebuilt), bad images (stop or skip), finding the data.
local mtfl = require "mtfl"
local data = require "mtfl.data"
local T = require "harness"
local H = require "data_helpers"

mtfl.set_device("cpu")

T.test("seed protocol on the real files: 7650 (LFW 4151 + net 3499) / 1000 / 1995", function()
  local dir = H.real_data()
  if not dir then return end
  local ds = data.load{dir = dir, protocol = "seed", scan = true}
  T.eq(ds.info.train, 7650, "training images")
  T.eq(ds.info.train_folders.lfw_5590, 4151, "LFW")
  T.eq(ds.info.train_folders.net_7876, 3499, "net")
  T.eq(ds.info.dropped_nonsquare, 2350, "non-square left out")
  T.eq(ds.info.dropped_gray, 0, "no grayscale training image")
  T.eq(ds.info.val, 1000, "validation")
  T.eq(ds.info.test, 1995, "test")
  T.eq(ds.val:sample(1).path, "AFLW/0001-image20056.jpg", "validation starts at line 1")
  T.eq(ds.test:sample(1).line, 1001, "test starts at line 1001")
  local grays = 0
  for i = 1, #ds.test do if ds.test:sample(i).gray then grays = grays + 1 end end
  for i = 1, #ds.val do if ds.val:sample(i).gray then grays = grays + 1 end end
  T.eq(grays, 28, "the 28 grayscale AFLW images are kept for testing")
end)

T.test("crop protocol on the real files: all 10000 training faces", function()
  local dir = H.real_data()
  if not dir then return end
  local ds = data.load{dir = dir, protocol = "crop", scan = true}
  T.eq(ds.info.train, 10000, "training faces")
  T.eq(ds.info.val, 1000, "validation")
  T.eq(ds.info.test, 1995, "test")
end)

-- Eye-mouth distance of rendered landmarks (10 numbers) over the side.
local function eye_mouth(p, side)
  local ex, ey = (p[1] + p[2]) / 2, (p[6] + p[7]) / 2
  local mx, my = (p[4] + p[5]) / 2, (p[9] + p[10]) / 2
  return math.sqrt((ex - mx) ^ 2 + (ey - my) ^ 2) / side, (ex + mx) / 2 / side, (ey + my) / 2 / side
end

T.test("crop: training faces at the test crops' geometry, test images as given", function()
  local dir = H.real_data()
  if not dir then return end
  local cache = H.temp_dir("cache")
  local ds = data.load{dir = dir, protocol = "crop", size = 64, limit = 30, validation = 10, cache = cache}
  T.eq(#ds.train, 30, "limited training set")
  for i = 1, #ds.train do
    local _, p = ds.train:render(i)
    local d, cx, cy = eye_mouth(p, 64)
    T.near(d, 0.316, 1e-3, "eye-mouth distance over the side, face " .. i)
    T.near(cx, 0.5, 1e-3, "centred in x")
    T.near(cy, 0.5, 1e-3, "centred in y")
  end
  local file = data.read_annotations(dir .. "/testing.txt").faces
  local _, p = ds.test:render(1)
  local line = ds.test:sample(1).line
  for k = 1, 10 do T.near(p[k], file[line].points[k] * 64 / 150, 1e-4, "test point " .. k) end
  -- a second load comes from the cache, with the same samples
  local again = data.load{dir = dir, protocol = "crop", size = 64, limit = 30, validation = 10, cache = cache}
  T.truthy(again.info.from_cache, "second load from the cache: " .. tostring(again.info.cache_note))
  T.eq(ds.train:render(7):bytes(), again.train:render(7):bytes(), "cached pixels")
  H.remove(cache)
end)

T.test("the cache: keyed by options, rebuilt when an annotation file changes", function()
  local dir = H.synthetic_mtfl{train = 6, test = 5, size = 32, format = "png"}
  local cache = dir .. "/cache"
  local function load(size) return data.load{dir = dir, size = size, validation = 2, cache = cache} end
  T.truthy(not load(32).info.from_cache, "first load decodes")
  T.truthy(load(32).info.from_cache, "second comes from the cache")
  T.truthy(not load(24).info.from_cache, "another size is another cache file")
  local f = assert(io.open(dir .. "/testing.txt", "ab"))
  f:write("\r\n")
  f:close()
  local ds = load(32)
  T.truthy(not ds.info.from_cache, "testing.txt changed")
  T.truthy(ds.info.cache_note:find("testing.txt changed", 1, true), ds.info.cache_note)
  T.truthy(load(32).info.from_cache, "and the new cache is used next time")
  T.truthy(not data.load{dir = dir, size = 32, cache = false}.info.from_cache, "cache = false")
  H.remove(dir)
end)

T.test("a missing or broken image names its path; skipping counts it", function()
  local dir = H.synthetic_mtfl{train = 6, test = 4, size = 32, format = "jpg"}
  os.remove(dir .. "/synthetic_train/000003.jpg")
  H.write(dir .. "/synthetic_test/000002.jpg", "not a jpeg")
  T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end,
           "training.txt:3: image ", "synthetic_train/000003.jpg: cannot open")
  local ds = data.load{dir = dir, cache = false, on_error = "skip", validation = 1}
  T.eq(#ds.train, 5, "the missing one left out")
  T.eq(#ds.val + #ds.test, 3, "the broken one left out")
  T.eq(ds.info.bad_images.count, 2, "two bad images counted")
  T.truthy(data.describe(ds):find("skipped 2 bad images", 1, true), data.describe(ds))
  H.remove(dir)
end)

T.test("malformed lines in a data folder stop the load, or are skipped", function()
  local dir = H.synthetic_mtfl{train = 4, test = 3, size = 32}
  local text = H.read(dir .. "/training.txt")
  H.write(dir .. "/training.txt", text:gsub("(\r\n [^\r]-) 1 1 (%d) (%d)\r\n", "%1 1 7 %2 %3\r\n", 1))
  T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end, "training.txt:", "smile is 7")
  local ds = data.load{dir = dir, cache = false, on_error = "skip"}
  T.eq(ds.info.bad_lines.count, 1, "one bad line")
  T.eq(#ds.train, 3, "three faces left")
  H.remove(dir)
end)

-- Replaces field `field` (2 = x1 .. 11 = y5) of line `line` of an annotation file.
local function set_field(file, line, field, value)
  local lines = {}
  for l in (H.read(file) .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  local fields = {}
  for f in lines[line]:gmatch("%S+") do fields[#fields + 1] = f end
  fields[field] = value
  lines[line] = (line > 1 and " " or "") .. table.concat(fields, " ") .. "\r"
  H.write(file, table.concat(lines, "\n"))
end

T.test("landmarks outside the image are bad lines, never a crop from nonsense", function()
  for _, x in ipairs{"5000", "-3", "1e12", "32.5"} do
    local dir = H.synthetic_mtfl{train = 5, test = 3, size = 32}
    set_field(dir .. "/training.txt", 2, 4, x)   -- x3: the nose
    for _, protocol in ipairs{"seed", "crop"} do
      T.raises(function() local ds = data.load{dir = dir, cache = false, protocol = protocol} return ds end,
               "training.txt:2: point 3 (x=" .. string.format("%g", tonumber(x)), "outside the 32x32 image")
    end
    local ds = data.load{dir = dir, cache = false, protocol = "crop", on_error = "skip"}
    T.eq(#ds.train, 4, "x3 = " .. x .. ": the face left out")
    T.eq(ds.info.bad_lines.count, 1, "counted as a bad line")
    H.remove(dir)
  end
  local dir = H.synthetic_mtfl{train = 3, test = 3, size = 32}
  set_field(dir .. "/testing.txt", 3, 11, "33")   -- y5 of a test face
  T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end,
           "testing.txt:3: point 5 (x=", "y=33) outside the 32x32 image")
  H.remove(dir)
end)

T.test("image paths stay inside the data folder", function()
  local dir = H.synthetic_mtfl{train = 3, test = 3, size = 32}
  for _, path in ipairs{"../outside.jpg", "/etc/passwd", "synthetic_train/../../x.jpg", "..\\x.jpg"} do
    set_field(dir .. "/training.txt", 2, 1, path)
    T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end,
             "training.txt:2: the image path leaves the data folder")
    local ds = data.load{dir = dir, cache = false, on_error = "skip"}
    T.eq(#ds.train, 2, path .. " skipped")
  end
  T.eq(#data.parse_annotations("a/..b/c..d/x.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3", "t").faces, 1, "dots inside names are fine")
  H.remove(dir)
  -- a symbolic link inside the folder that points out of it
  dir = H.synthetic_mtfl{train = 3, test = 3, size = 32}
  local outside = H.temp_dir("outside")
  local first = data.read_annotations(dir .. "/training.txt").faces[1].path
  os.execute(string.format("cp '%s/%s' '%s/face.png' && ln -s '%s' '%s/escape'", dir, first, outside, outside, dir))
  set_field(dir .. "/training.txt", 2, 1, "escape/face.png")
  T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end,
           "escape/face.png: a symbolic link takes it out of the data folder")
  T.eq(#data.load{dir = dir, cache = false, on_error = "skip"}.train, 2, "the linked image skipped")
  -- a link that stays inside is fine
  os.execute(string.format("ln -s '%s' '%s/inside.png'", first, dir))
  set_field(dir .. "/training.txt", 2, 1, "inside.png")
  T.eq(#data.load{dir = dir, cache = false}.train, 3, "a link within the folder")
  H.remove(dir)
  H.remove(outside)
end)

T.test("annotation files: a missing one named once, a folder, a FIFO or a huge file refused", function()
  local dir = H.synthetic_mtfl{train = 3, test = 3, size = 32}
  local train = dir .. "/training.txt"
  os.remove(train)
  local msg = T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end,
                       "no MTFL data in " .. dir .. ": " .. train .. ": No such file or directory")
  T.truthy(not msg:find("no MTFL data in " .. dir .. ": no MTFL", 1, true), "the message repeats itself: " .. msg)
  os.execute("mkdir '" .. train .. "'")
  T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end, train .. ": not a regular file")
  T.raises(function() return data.read_annotations(train) end, train .. ": not a regular file")
  os.remove(train)
  -- a FIFO nobody writes to: refused at once, not waited on
  os.execute("mkfifo '" .. train .. "'")
  T.raises(function() return data.read_annotations(train) end, train .. ": not a regular file")
  os.remove(train)
  local f = assert(io.open(train, "wb"))   -- 65 MB, sparse: refused without reading it
  f:seek("set", 65 * 2^20)
  f:write("x")
  f:close()
  T.raises(function() return data.read_annotations(train) end, train .. ": 68.2 MB, more than the 67.1 MB allowed")
  T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end, "more than the 67.1 MB allowed")
  H.remove(dir)
end)

T.test("a truncated image names its annotation line", function()
  local dir = H.synthetic_mtfl{train = 4, test = 3, size = 64, format = "jpg"}
  local image = dir .. "/synthetic_train/000002.jpg"
  local bytes = H.read(image)
  H.write(image, bytes:sub(1, #bytes // 3))   -- the header survives, the pixels do not
  T.raises(function() local ds = data.load{dir = dir, cache = false} return ds end,
           "training.txt:2: ", "synthetic_train/000002.jpg")
  local ds = data.load{dir = dir, cache = false, on_error = "skip"}
  T.eq(#ds.train, 3, "skipped")
  T.truthy(ds.info.bad_images[1]:find("training.txt:2: ", 1, true), ds.info.bad_images[1])
  H.remove(dir)
end)

T.test("finding the data: dir, --data, and clear errors", function()
  local dir = H.synthetic_mtfl{train = 2, test = 2, size = 32}
  T.eq(data.find{dir = dir}, dir, "dir option")
  T.eq(data.find{args = {"--data", dir}}, dir, "--data DIR")
  T.eq(data.find{args = {"--data=" .. dir}}, dir, "--data=DIR")
  T.raises(function() local d = data.find{args = {"--data", "/no/such/place"}} return d end,
           "no MTFL data in /no/such/place (from --data)")
  T.raises(function() local d = data.load{dir = "/no/such/place"} return d end, "no MTFL data in /no/such/place")
  local ds = data.load{args = {"--data", dir}, cache = false}
  T.eq(ds.info.dir, dir, "load with --data")
  H.remove(dir)
end)

T.test("bad options are errors naming the option", function()
  local dir = H.synthetic_mtfl{train = 2, test = 2, size = 32}
  T.raises(function() local d = data.load{dir = dir, protocol = "tcdcn"} return d end, "protocol", "tcdcn")
  T.raises(function() local d = data.load{dir = dir, size = 3} return d end, "size 3")
  T.raises(function() local d = data.load{dir = dir, size = "big"} return d end, "option 'size' must be a number")
  T.raises(function() local d = data.load{dir = dir, protocol = "crop", jitter = {scale = 2}} return d end, "jitter scale 2")
  H.remove(dir)
end)

T.run_all()
