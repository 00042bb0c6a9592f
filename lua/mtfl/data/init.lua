-- mtfl.data: the MTFL dataset (or a synthetic stand-in), fed fast to the device, and
-- measured the way the seed study and TCDCN measure.
--
--   local data = require "mtfl.data"
--   local ds = data.load{protocol = "seed", args = arg}   -- --data DIR, MTFL_DATA, ...
--   print(data.describe(ds))           -- train 7650 (lfw_5590 4151, net_7876 3499) ...
--   local loader = data.loader(ds.train, {batch = 50, augment = {translate = 10, mirror = true}})
--   for batch in loader:epoch() do ... end
--   local m = data.metrics.landmarks(predicted, batch.landmarks)   -- errors / IOD
--
-- Sets are C objects (mtfl.data.Set): #set, set:sample(i), set:render(i, {jitter}),
-- set:batch(indices, {augment}), set:subset(indices), set:info().
local mtfl = require "mtfl"
local C = mtfl._data
local call = require "mtfl.data.call"
local locate = require "mtfl.data.locate"
local errors = require "mtfl.errors"

local data = {}

data.POINTS = {"left eye", "right eye", "nose", "left mouth corner", "right mouth corner"}
data.ATTRIBUTES = {
  gender = {classes = 2, names = {"male", "female"}},
  smile = {classes = 2, names = {"smiling", "not smiling"}},
  glasses = {classes = 2, names = {"glasses", "no glasses"}},
  pose = {classes = 5, names = {"left profile", "left", "frontal", "right", "right profile"}},
}

data.find = locate.find
data.cache_dir = locate.cache_dir
data.loader = require "mtfl.data.loader"
data.metrics = require "mtfl.data.metrics"
data.plot = require "mtfl.data.plot"
data.sheet = require "mtfl.data.sheet"
data.write_mtfl = require "mtfl.data.writer"

--- read_annotations(path [, {on_error = "stop" | "skip"}]) -> an annotation file's
--- faces: {file, count, faces = {{path, line, points, gender, smile, glasses, pose}, ...},
--- skipped = {count = n, messages...}}.
---   local a = data.read_annotations("../shared/MTFL/testing.txt")
function data.read_annotations(path, options) return call(C.read_annotations, path, options) end

--- parse_annotations(text, name [, options]) -> the same as read_annotations, from the
--- text of a file (name: what messages call it).
---   data.parse_annotations("a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3", "mine.txt").faces[1].pose
function data.parse_annotations(text, name, options) return call(C.parse_annotations, text, name, options) end

-- Counts of a set's samples by the folder of their path (lfw_5590, net_7876, AFLW).
local function by_folder(set)
  local counts = {}
  for i = 1, #set do
    local folder = set:sample(i).path:match("^([^/]+)/") or "."
    counts[folder] = (counts[folder] or 0) + 1
  end
  return counts
end

--- load{protocol = "seed" | "crop", size = 150, dir =, args = arg, cache = true | false
--- | folder, on_error = "stop" | "skip", validation = 1000, jitter = {scale = 0.1,
--- shift = 0.05, rotate = 0} (crop: the training set's own augmentation, and the room
--- of real surroundings stored around each face for it), eye_mouth = 0.316 (crop),
--- limit =, scan = false, threads =} -> {train, val, test, info}
function data.load(options)
  options = options or {}
  local dir = options.dir
  if not dir or options.args then dir = locate.find{dir = options.dir, args = options.args} end
  local t0 = mtfl.clock()
  local c = {}
  for k, v in pairs(options) do c[k] = v end
  c.dir, c.args, c.cache = nil, nil, (not options.scan) and locate.cache_dir(options.cache) or nil
  local train, val, test, info = call(C.load, dir, c)
  info.dir, info.seconds = dir, mtfl.clock() - t0
  info.train, info.val, info.test = #train, #val, #test
  info.train_folders = by_folder(train)
  return {train = train, val = val, test = test, info = info}
end

--- synthetic{n = 1000, size = 150, seed = 1, threads =} -> a set of synthetic faces.
function data.synthetic(options)
  options = options or {}
  return call(C.synthetic, options.n or 1000, options.size or 150, options.seed or 1, options.threads)
end

--- A synthetic stand-in for the dataset: {train, val, test, info}, each part drawn with
--- its own seed. {train = 2000, val = 300, test = 500, size = 150, seed = 1}
function data.synthetic_dataset(options)
  options = options or {}
  local seed, size = options.seed or 1, options.size or 150
  local parts = {}
  for k, name in ipairs{"train", "val", "test"} do
    local n = options[name] or ({2000, 300, 500})[k]
    parts[name] = data.synthetic{n = n, size = size, seed = seed * 1000 + k}
  end
  parts.info = {protocol = "synthetic", size = size, synthetic = true,
                train = #parts.train, val = #parts.val, test = #parts.test}
  return parts
end

--- The real data when it can be found, else the synthetic stand-in (the embedded
--- default) with info.note saying so. Options as for load and synthetic_dataset.
function data.open(options)
  options = options or {}
  local ok, dir = pcall(locate.find, {dir = options.dir, args = options.args})
  if ok then
    local o = {}
    for k, v in pairs(options) do o[k] = v end
    o.dir, o.args = dir, nil
    return data.load(o)
  end
  local explicit = options.dir or locate.data_argument(options.args) or os.getenv("MTFL_DATA")
  if explicit and explicit ~= "" then errors.raise(tostring(dir):gsub("^[^:]*:%d+: ", "")) end
  local ds = data.synthetic_dataset(options.synthetic or {size = options.size, seed = options.seed})
  ds.info.note = "no MTFL data found: using synthetic faces (scripts/get-mtfl.sh, installed mtfl-get-mtfl, fetches the real data)"
  return ds
end

--- load_list(file [, {frame = "none" | "points" | "box", size = 150, eye_mouth = 0.316,
--- after_line = 0, limit, on_error = "stop" | "skip", threads}]) -> set, info: the faces
--- on the lines after after_line (MTFL's test faces: testing.txt after 1000) of any
--- annotation file in MTFL's format (image paths relative to its folder; attributes
--- may be 0, unknown; a face box may follow in four columns x y width height).
--- frame: "none" resizes whole images (as MTFL's test faces are used), "points" cuts
--- each face around its annotated points with the crop protocol's geometry, "box" the
--- square around its face box. info = {lines, bad_lines, bad_images, bytes, hash}.
function data.load_list(file, options)
  if type(file) ~= "string" then errors.raisef("data.load_list: the file is a %s, not a path", type(file)) end
  return call(C.load_list, file, options or {})
end

--- load_images({path, ...} [, {boxes = {[i] = {x, y, width, height}}, size = 150,
--- on_error, threads}]) -> set, info: images given by path, each taken whole as the
--- face (resized to size x size) or, with boxes, the square around its box. The
--- samples' points are 0 (unknown).
function data.load_images(paths, options)
  if type(paths) ~= "table" then errors.raisef("data.load_images: expects a list of paths, got a %s", type(paths)) end
  return call(C.load_images, paths, options or {})
end

--- Points in the pixels of a size x size rendering of set:sample(i) (x1..x5, y1..y5)
--- taken back to the pixels of the image file it came from.
function data.to_file_pixels(sample, points, size)
  local out = {}
  for axis = 0, 1 do
    local box_at, box_side = sample.box[1 + axis], sample.box[3 + axis]
    for k = 1, 5 do
      local v = points[axis * 5 + k]
      out[axis * 5 + k] = (box_at + v * box_side / size + sample.origin[1 + axis]) / sample.scale[1 + axis]
    end
  end
  return out
end

--- One line per part: counts, where from, how long it took.
function data.describe(ds)
  local info = ds.info
  local lines = {}
  local folders = {}
  for name, n in pairs(info.train_folders or {}) do folders[#folders + 1] = string.format("%s %d", name, n) end
  table.sort(folders)
  lines[#lines + 1] = string.format("%s protocol at %dx%d: train %d%s, val %d, test %d",
    info.protocol, info.size, info.size, info.train,
    #folders > 0 and " (" .. table.concat(folders, ", ") .. ")" or "", info.val, info.test)
  if info.dir then
    lines[#lines + 1] = string.format("  from %s in %.2f s%s", info.dir, info.seconds,
      info.from_cache and " (cache)" or "")
  end
  if (info.dropped_nonsquare or 0) + (info.dropped_gray or 0) > 0 then
    lines[#lines + 1] = string.format("  left out of training: %d non-square, %d grayscale",
      info.dropped_nonsquare, info.dropped_gray)
  end
  for _, kind in ipairs{"bad_lines", "bad_images"} do
    local p = info[kind]
    if p and p.count > 0 then
      lines[#lines + 1] = string.format("  skipped %d %s, first: %s", p.count, kind:gsub("_", " "), p[1])
    end
  end
  if info.note then lines[#lines + 1] = "  " .. info.note end
  return table.concat(lines, "\n")
end

--- image(w, h [, colour]) -> a new RGB image w x h, filled with colour ({r, g, b}, 0..255;
--- black by default), to draw on and save.
---   local img = data.image(64, 64, {255, 255, 255})
function data.image(w, h, color) return call(C.image, w, h, color) end

--- image_load(path) -> the JPEG, PNG or BMP file as an RGB image (img.width, img.height).
---   local img = data.image_load("face.jpg")
function data.image_load(path) return call(C.image_load, path) end

--- image_from_tensor(t) -> an image of a [3, H, W] tensor of values in [0, 1] (a
--- network's input as the network sees it).
---   data.image_from_tensor(batch.images[1]):save("seen.png")
function data.image_from_tensor(t) return call(C.image_from_tensor, t) end

--- mirror_points(points, width) -> the ten coordinates mirrored in an image `width` wide,
--- the left and right eye (and mouth corner) swapped.
function data.mirror_points(points, width) return call(C.mirror_points, points, width) end

--- mirror_pose(pose) -> the head pose class under a mirror (1 <-> 5, 2 <-> 4, 3 stays).
function data.mirror_pose(pose) return call(C.mirror_pose, pose) end

--- cpu_count() -> the number of online CPU cores.
function data.cpu_count() return C.cpu_count() end
--- check_augment(table) -> the loader's augment table with every field filled in (its
--- defaults), or an error naming the bad field.
function data.check_augment(augment) return call(C.check_augment, augment) end
--- hash(text) -> 16 hex digits (64-bit FNV-1a): a fingerprint of settings, not a secret.
---   print(data.hash("lr=0.001"))
function data.hash(text) return C.hash(text) end

return data
