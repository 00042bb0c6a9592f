-- data_tour.lua: the data pipeline end to end, without training anything.
--
--   mtfl-lua examples/data_tour.lua [--data DIR] [--protocol seed|crop] [--out DIR]
--
-- Loads MTFL (or, without it, synthetic faces), measures the simplest baseline there
-- is (always answer the training set's mean face shape; always answer the majority
-- class) on the validation and test sets, and writes to --out (default out/data_tour):
-- a contact sheet of test faces with the baseline's points and the truth, and the
-- per-landmark accuracy as a bar chart (PNG and CSV). A network has to beat these.
local mtfl = require "mtfl"
local data = require "mtfl.data"

local opts = require("mtfl.cli").parse(arg, {script = arg[0], about = "the data pipeline end to end, and the mean-shape baseline",
  options = {data = {"string", "the MTFL folder (else MTFL_DATA, ./data/MTFL, ../shared/MTFL)", argname = "DIR"},
             protocol = {"choice", "the seed's whole images, or faces cropped like the test faces",
                         choices = {"seed", "crop"}, default = "seed"},
             out = {"string", "where the pictures go", default = "out/data_tour", argname = "DIR"}}})
if not opts then return end   -- --help
local protocol, out = opts.protocol, opts.out
require("mtfl.files").mkdir(out)

local ds = data.open{protocol = protocol, args = arg}   -- --data, else the usual places
print(data.describe(ds))

local function all(set)
  local t = {}
  for i = 1, #set do t[i] = i end
  return t
end

-- The mean shape of the training faces, as they are rendered (no augmentation).
local mean_shape = mtfl.zeros(1, 10, {device = "cpu"})
for first = 1, #ds.train, 500 do
  local idx = {}
  for i = first, math.min(#ds.train, first + 499) do idx[#idx + 1] = i end
  mean_shape:add_(ds.train:batch(idx, {device = "cpu"}).landmarks:sum(1):reshape(1, 10))
end
mean_shape:mul_(1 / #ds.train)

-- The most frequent class of each attribute among the training faces.
local majority = {}
for task, a in pairs(data.ATTRIBUTES) do
  local counts = {}
  for c = 1, a.classes do counts[c] = 0 end
  for i = 1, #ds.train do
    local c = ds.train:sample(i)[task]
    counts[c] = counts[c] + 1
  end
  majority[task] = 1
  for c = 2, a.classes do if counts[c] > counts[majority[task]] then majority[task] = c end end
end

local function baseline(images)
  local n = images:size(1)
  local out = {landmarks = mean_shape:expand(n, 10):contiguous()}
  for task, a in pairs(data.ATTRIBUTES) do
    out[task] = mtfl.zeros(n, a.classes, {device = "cpu"})
    out[task]:select(2, majority[task]):fill(1)   -- a score of 1 for the training majority
  end
  return out
end

local experiments = {}
for _, part in ipairs{"val", "test"} do
  if #ds[part] > 0 then
    local r = data.metrics.evaluate(ds[part], baseline, {device = "cpu"})
    print(string.format("\nmean shape on %s (%d faces):", part, #ds[part]))
    print(data.metrics.format_landmarks(r.landmarks))
    for task, a in pairs(data.ATTRIBUTES) do print(data.metrics.format_attribute(task, r[task], a.names)) end
    experiments[#experiments + 1] = {name = "mean shape, " .. part, accuracy = r.landmarks.point_accuracy}
  end
end

local faces, test = {}, #ds.test > 0 and ds.test or ds.val
for k = 1, 6 do faces[k] = 1 + (k - 1) * (#test // 6) end
local rows = {}
for k = 1, #faces do rows[k] = mean_shape:totable()[1] end
data.sheet.contact_sheet{file = out .. "/faces.png", set = test, faces = faces, truth = true,
  columns = {{name = "mean shape", landmarks = rows}}}
print("\nwrote " .. out .. "/faces.png")
if data.plot.available() then
  local png, csv = data.plot.landmark_accuracy{file = out .. "/accuracy.png", experiments = experiments,
    title = "Mean-shape baseline, " .. (ds.info.protocol or protocol) .. " protocol"}
  print("wrote " .. png .. " and " .. csv)
else
  print("no gnuplot: " .. select(2, data.plot.available()))
end
