-- predict.lua: a model file used on your own images.
--
--   mtfl-lua scripts/predict.lua MODEL IMAGE|FOLDER... [--box x,y,w,h] [--out DIR]
--       [--batch N] [--device D] [--no-drawings] [--skip-bad] [--mirror]
--
-- Each image is taken as the face crop (there is no face detector here): give faces
-- framed like the model's training faces (for a crop-protocol model, the square
-- centred between the eyes and the mouth whose side is about 3.2 times their distance;
-- MTFL's AFLW test images are framed so), or give --box, the square around that box
-- being cut out of the image. A folder stands for the .jpg/.jpeg/.png/.bmp files in
-- it. Writes into --out (default out/predict) predictions.json and predictions.csv:
-- the five points in the image's own pixels and each attribute's probabilities; and
-- (unless --no-drawings) each image with its points drawn, as NNNNN_<name>.png. Images are
-- decoded on all cores and run through the network in batches.
local mtfl = require "mtfl"
local data = require "mtfl.data"
local cli = require "mtfl.cli"
local json = require "mtfl.json"
local csv = require "mtfl.csv"
local files = require "mtfl.files"
local predictor = require "mtfl.predictor"

local o = cli.parse(arg, {
  script = "scripts/predict.lua",
  about = "Landmarks and attributes of your own face images, from a model file.",
  arguments = {{"model", "the model file (runs/.../model.safetensors)"},
               {"images", "image files or folders of them", args = "+"}},
  options = {
    box = {"list", "x,y,width,height: the face box, in every image's pixels (default: the whole image is the face)"},
    out = {"string", "where the predictions and the drawings go", default = "out/predict"},
    batch = {"int", "images per forward pass", default = 100},
    device = {"string", "cpu, opencl:0, ... (default: mtfl's default device)"},
    ["no-drawings"] = {"flag", "write the predictions only, no image per face"},
    ["skip-bad"] = {"flag", "skip images that cannot be read (counted) instead of stopping"},
    mirror = {"flag", "also show the network each face mirrored and average the two answers"},
  },
})
if not o then return end
if o.device then mtfl.set_device(o.device) end

local IMAGE_FILE = {jpg = true, jpeg = true, png = true, bmp = true}
local paths = {}
for _, given in ipairs(o.images) do
  local kind = files.kind(given)
  if kind == "directory" then
    for _, name in ipairs(files.list(given)) do
      local ext = name:match("%.([^.]+)$")
      if ext and IMAGE_FILE[ext:lower()] and files.kind(given .. "/" .. name) == "file" then
        paths[#paths + 1] = given .. "/" .. name
      end
    end
  elseif kind == "file" then
    paths[#paths + 1] = given
  else
    error(string.format("predict: %s: %s", given, kind and "not a file or a folder" or "no such file or folder"), 0)
  end
end
if #paths == 0 then error("predict: no images (.jpg, .jpeg, .png, .bmp) in " .. table.concat(o.images, ", "), 0) end

local boxes
if o.box then
  local b = {}
  for i, v in ipairs(o.box) do b[i] = tonumber(v) end
  if #b ~= 4 or not (b[1] and b[2] and b[3] and b[4]) then
    error("predict: --box wants x,y,width,height (four numbers), got " .. table.concat(o.box, ","), 0)
  end
  boxes = {}
  for i = 1, #paths do boxes[i] = b end
end

local p = predictor.load(o.model, {device = o.device, batch = o.batch, mirror = o.mirror})
local t0 = mtfl.clock()
local set, info = p:load_images(paths, {boxes = boxes, on_error = o.skip_bad and "skip" or "stop"})
local decoded = mtfl.clock() - t0
if #set == 0 then
  error(string.format("predict: none of the %d images could be read (first: %s)", #paths, info.bad_images[1] or "?"), 0)
end
t0 = mtfl.clock()
local r = p:run(set)
local ran = mtfl.clock() - t0

files.mkdir(o.out)
local faces, header, rows = {}, {"image"}, {}
if r.landmarks then
  for _, axis in ipairs{"x", "y"} do for k = 1, 5 do header[#header + 1] = axis .. k end end
end
for _, task in ipairs(p.attributes) do
  header[#header + 1] = task
  for _, name in ipairs(p.card.tasks[task].names or {}) do header[#header + 1] = task .. ":" .. name end
end
local landmarks = r.landmarks and r.landmarks:totable()
local probabilities = {}
for _, task in ipairs(p.attributes) do probabilities[task] = r.probabilities[task]:totable() end
for i = 1, #set do
  local s = set:sample(i)
  local face, row = {image = s.path}, {s.path}
  if landmarks then
    local points = data.to_file_pixels(s, landmarks[i], p.size)
    face.landmarks = {}
    for k = 1, 5 do
      face.landmarks[k] = {name = data.POINTS[k], x = points[k], y = points[k + 5]}
    end
    table.move(points, 1, 10, #row + 1, row)
  end
  face.attributes = {}
  for _, task in ipairs(p.attributes) do
    local names = p.card.tasks[task].names
    local best, probability = predictor.best_class(probabilities[task][i])
    local named = {}
    for c, v in ipairs(probabilities[task][i]) do named[names and names[c] or tostring(c)] = v end
    face.attributes[task] = {class = names and names[best] or best, probability = probability, probabilities = named}
    row[#row + 1] = names and names[best] or best
    table.move(probabilities[task][i], 1, #probabilities[task][i], #row + 1, row)
  end
  faces[i], rows[i] = face, row
end
files.write_atomic(o.out .. "/predictions.json", json.encode({model = o.model, faces = json.array(faces)}))
files.write_atomic(o.out .. "/predictions.csv", csv.text(header, rows))

local drawn = 0
if landmarks and not o.no_drawings then
  for i, face in ipairs(faces) do
    local image = data.image_load(face.image)
    local w = image:size()
    local radius = math.max(2, w // 60)
    for k, pt in ipairs(face.landmarks) do
      image:mark(pt.x, pt.y, {radius = radius, color = data.sheet.COLORS[k]})
    end
    -- numbered in the order of predictions.csv: two images of one name stay apart
    local name = face.image:match("([^/]+)$"):gsub("%.[^.]+$", "")
    image:save(string.format("%s/%05d_%s.png", o.out, i, name))
    drawn = i
  end
end
print(string.format("%d images: decoded in %.2f s, the network took %.2f s (%.0f images/s)%s", #set, decoded, ran,
                    #set / math.max(ran, 1e-9), info.bad_images.count > 0 and
                    string.format("; skipped %d unreadable (first: %s)", info.bad_images.count, info.bad_images[1]) or ""))
print(string.format("%s: predictions.json, predictions.csv%s", o.out,
                    drawn > 0 and string.format(", %d drawings (NNNNN_<image name>.png)", drawn) or ""))
