-- mtfl.data.writer: sets written to disk in the MTFL format, exactly as the dataset is
-- distributed, so that the same reader loads them:
--
--   DIR/training.txt, DIR/testing.txt   CRLF line ends, a space before every line but
--                                       the first, a lone space after the last line
--                                       break; paths with backslashes
--   DIR/<folder>/NNNNNN.jpg (or .png)   the images
--
--   data.write_mtfl("data/synthetic", {train = set1, test = set2},
--                   {format = "jpg", gray_every = 50, nonsquare_every = 4})
--
-- gray_every = k saves every k-th training image in grayscale, nonsquare_every = m
-- every m-th one stretched to 160x216 (with its landmarks): what the seed protocol
-- leaves out, so that its filter can be checked on a synthetic set too.
local call = require "mtfl.data.call"
local errors = require "mtfl.errors"
local files = require "mtfl.files"

local NONSQUARE = {160, 216}   -- MTFL's own non-square size

local mkdir = files.mkdir

local function annotation_line(path, points, labels)
  local fields = {path}
  for k = 1, 10 do fields[#fields + 1] = string.format("%.6f", points[k]) end
  for _, a in ipairs{"gender", "smile", "glasses", "pose"} do fields[#fields + 1] = tostring(labels[a]) end
  return table.concat(fields, " ")
end

-- Writes one image and returns its line of the annotation file.
local function write_face(set, i, dir, folder, name, o, variant)
  local image, points, labels = set:render(i)
  if variant == "nonsquare" then
    local w, h = image:size()
    image = image:resize(NONSQUARE[1], NONSQUARE[2])
    for k = 1, 5 do
      points[k] = points[k] * NONSQUARE[1] / w
      points[k + 5] = points[k + 5] * NONSQUARE[2] / h
    end
  end
  call(image.save, image, dir .. "/" .. folder .. "/" .. name, {quality = o.quality, gray = variant == "gray"})
  return annotation_line(folder .. "\\" .. name, points, labels)
end

local function variant(o, i, part)
  if part ~= "train" then return nil end
  if o.nonsquare_every and i % o.nonsquare_every == 0 then return "nonsquare" end
  if o.gray_every and i % o.gray_every == 0 then return "gray" end
end

local function write_part(set, dir, part, o)
  local folder = (o.folders or {})[part] or ("synthetic_" .. part)
  mkdir(dir .. "/" .. folder)
  local lines = {}
  for i = 1, #set do
    local v = variant(o, i, part)
    -- stb writes every JPEG with three components: a grayscale file must be a PNG
    local ext = v == "gray" and "png" or o.format or "jpg"
    lines[i] = write_face(set, i, dir, folder, string.format("%06d.%s", i, ext), o, v)
  end
  local file = dir .. "/" .. (part == "train" and "training.txt" or "testing.txt")
  files.write_atomic(file, table.concat(lines, "\r\n ") .. "\r\n ")
  return #lines
end

--- write_mtfl(dir, {train = set, test = set}, {format = "jpg" | "png", quality = 95,
--- folders = {train =, test =}, gray_every =, nonsquare_every =}) -> counts. One of
--- the two parts alone writes only its file (a test list to evaluate a model on).
return function(dir, sets, options)
  options = options or {}
  if type(dir) ~= "string" or type(sets) ~= "table" or not (sets.train or sets.test) then
    errors.raise("write_mtfl(dir, {train = set, test = set} [, options])")
  end
  if options.format and options.format ~= "jpg" and options.format ~= "png" then
    errors.raisef("write_mtfl: format %q (use \"jpg\" or \"png\")", options.format)
  end
  mkdir(dir)
  return {train = sets.train and write_part(sets.train, dir, "train", options),
          test = sets.test and write_part(sets.test, dir, "test", options)}
end
