-- evaluate.lua: a model file measured on any list of faces.
--
--   mtfl-lua scripts/evaluate.lua MODEL LIST [--crop none|points|box] [--after-line N]
--       [--limit N] [--out DIR] [--batch N] [--device D] [--skip-bad] [--mirror] [--fit-offset N]
--
-- LIST is an annotation file in MTFL's format (image paths relative to its folder;
-- attribute 0 = unknown, left out of that attribute's accuracy; a face box in four more
-- columns for --crop box). --crop none (the default) gives the network whole images
-- resized, which is how MTFL's AFLW test faces are used: on testing.txt with
-- --after-line 1000 (its 1,995 test faces) it gives the training run's test numbers.
-- --crop points cuts each face around its annotated points the way the crop protocol
-- cut the training faces; box cuts the square around the face box. --mirror also
-- shows the network each face mirrored and averages the two answers. --fit-offset N
-- adds, labelled apart, the errors once a constant offset per point (fitted on lines
-- 1..N, MTFL's validation faces for N = 1000) is taken off.
--
-- Prints the landmark table (mean error, failure at 10%, per point, the mean signed
-- x/y error per point, the median and 90th percentile of the faces' errors), each
-- attribute's accuracy beside its majority rate with its confusion matrix; writes into
-- --out (default out/evaluate) predictions.csv (one row per face), metrics.json, the
-- cumulative error curve (cumulative_error.png and .csv) and worst_faces.png /
-- best_faces.png. The last line is `mean_error=X failure=Y faces=N`.
local mtfl = require "mtfl"
local data = require "mtfl.data"
local cli = require "mtfl.cli"
local json = require "mtfl.json"
local csv = require "mtfl.csv"
local files = require "mtfl.files"
local predictor = require "mtfl.predictor"

local o = cli.parse(arg, {
  script = "scripts/evaluate.lua",
  about = "Measure a model file on a list of faces in MTFL's annotation format.",
  arguments = {{"model", "the model file (runs/.../model.safetensors)"},
               {"list", "an annotation file (paths relative to its folder)"}},
  options = {
    crop = {"choice", "how faces are framed: none (whole images, as MTFL's test faces), points (cut around the annotated points like the training crops), box (the face box in 4 extra columns)",
            choices = {"none", "points", "box"}, default = "none"},
    ["after-line"] = {"int", "only the faces on lines after N (MTFL's test faces: testing.txt after 1000)", min = 0, default = 0},
    limit = {"int", "only the first N faces"},
    out = {"string", "where the predictions, the curve and the pictures go", default = "out/evaluate"},
    batch = {"int", "faces per forward pass", default = 100},
    device = {"string", "cpu, opencl:0, ... (default: mtfl's default device)"},
    ["skip-bad"] = {"flag", "skip malformed lines and unreadable images (counted) instead of stopping"},
    mirror = {"flag", "also show the network each face mirrored and average the two answers"},
    ["fit-offset"] = {"int", "also report the errors after removing a constant offset per point fitted on the faces of lines 1..N of the list (MTFL: 1000, the validation faces); labelled, never the raw result"},
  },
})
if not o then return end
if o.device then mtfl.set_device(o.device) end

local p = predictor.load(o.model, {device = o.device, batch = o.batch, mirror = o.mirror})
local t0 = mtfl.clock()
local set, info = p:load_list(o.list, {frame = o.crop, after_line = o.after_line,
                                        limit = o.limit, on_error = o.skip_bad and "skip" or "stop"})
print(string.format("%s: %d faces of %s at %dx%d (crop %s) in %.1f s%s", o.model, #set, o.list, p.size, p.size,
                    o.crop, mtfl.clock() - t0, (info.bad_lines.count + info.bad_images.count) > 0 and
                    string.format("; skipped %d bad lines, %d bad images (first: %s)", info.bad_lines.count,
                                  info.bad_images.count, info.bad_lines[1] or info.bad_images[1]) or ""))

t0 = mtfl.clock()
local result = data.metrics.evaluate(set, function(images, _, indices) return p:predict(set, indices, images) end,
                                     {size = p.size, batch = o.batch, device = p.device})
local seconds = mtfl.clock() - t0
files.mkdir(o.out)

local metrics = {faces = #set, list = o.list, model = o.model, crop = o.crop, after_line = o.after_line, mirror = o.mirror,
                 list_bytes = info.bytes, list_hash = info.hash, seconds = seconds}
local lm = result.landmarks
local pred, truth, face_errors
if lm then
  print(data.metrics.format_landmarks(lm))
  pred, truth = result.predictions.landmarks:totable(), result.truth.landmarks:totable()
  local off = data.metrics.offsets(pred, truth)
  print(string.format("  %-12s %9s %9s   mean signed error in inter-ocular distances (+: right, down)", "point", "dx", "dy"))
  for k = 1, 5 do print(string.format("  %-12s %+9.4f %+9.4f", data.metrics.POINTS[k], off.x[k], off.y[k])) end
  face_errors = data.metrics.face_errors(lm)
  local median, p90 = data.metrics.quantile(face_errors, 0.5), data.metrics.quantile(face_errors, 0.9)
  print(string.format("  the faces' mean errors: median %.2f%%, 90th percentile %.2f%%", 100 * median, 100 * p90))
  for _, key in ipairs{"mean_error", "mean_failure", "image_failure", "point_error", "point_failure"} do metrics[key] = lm[key] end
  metrics.offset_x, metrics.offset_y, metrics.median_error, metrics.p90_error = off.x, off.y, median, p90
  if o.fit_offset then
    -- A constant shift per point is a difference of annotation convention between the
    -- training and the test set, not of skill. It is fitted on other faces than those
    -- measured, and applied in each face's predicted inter-ocular units (the truth is
    -- not known at prediction time).
    if o.fit_offset > o.after_line then
      error(string.format("--fit-offset %d overlaps the faces measured (after line %d)", o.fit_offset, o.after_line), 0)
    end
    local fit_set = p:load_list(o.list, {frame = o.crop, limit = o.fit_offset, on_error = o.skip_bad and "skip" or "stop"})
    local fit = data.metrics.evaluate(fit_set, function(images, _, indices) return p:predict(fit_set, indices, images) end,
                                      {size = p.size, batch = o.batch, device = p.device})
    local shift = data.metrics.offsets(fit.predictions.landmarks, fit.truth.landmarks)
    local corrected = {}
    for i, row in ipairs(pred) do
      local iod = math.sqrt((row[1] - row[2]) ^ 2 + (row[6] - row[7]) ^ 2)
      corrected[i] = {}
      for k = 1, 5 do
        corrected[i][k] = row[k] - shift.x[k] * iod
        corrected[i][k + 5] = row[k + 5] - shift.y[k] * iod
      end
    end
    local c = data.metrics.landmarks(corrected, truth)
    print(string.format("  with a constant offset per point fitted on the %d faces of lines 1..%d (not the raw result): " ..
                        "mean error %.2f%%, failure %.3f", #fit_set, o.fit_offset, 100 * c.mean_error, c.mean_failure))
    metrics.offset_fitted = {faces = #fit_set, x = shift.x, y = shift.y, mean_error = c.mean_error,
                             mean_failure = c.mean_failure, point_error = c.point_error}
  end
  local ok, why = data.plot.available()
  if ok then
    data.plot.cumulative_error{file = o.out .. "/cumulative_error.png", title = "Cumulative error: " .. o.list,
                               series = {{name = p.card.name or o.model, errors = face_errors}}}
  else
    print("plot skipped: " .. why)
  end
end
local probabilities = {}
for _, task in ipairs(p.attributes) do
  local s = result[task]
  print(data.metrics.format_attribute(task, s, p.card.tasks[task].names))
  metrics[task .. "_accuracy"], metrics[task .. "_majority_rate"] = s.accuracy, s.majority_rate
  metrics[task .. "_known"], metrics[task .. "_unknown"], metrics[task .. "_confusion"] = s.count, s.unknown, s.confusion
  probabilities[task] = predictor.softmax_rows(result.predictions[task]):totable()
end

-- one row per face: the points in the image file's pixels, the errors, the attributes
local header = {"path", "line"}
if lm then
  for _, name in ipairs{"x", "y", "true_x", "true_y", "error"} do
    for k = 1, 5 do header[#header + 1] = name .. k end
  end
  header[#header + 1] = "mean_error"
end
for _, task in ipairs(p.attributes) do
  table.move({task, task .. "_probability", "true_" .. task}, 1, 3, #header + 1, header)
end
local rows, errs = {}, lm and lm.errors:totable()
for i = 1, #set do
  local s = set:sample(i)
  local row = {s.path, s.line}
  if lm then
    table.move(data.to_file_pixels(s, pred[i], p.size), 1, 10, #row + 1, row)
    table.move(data.to_file_pixels(s, truth[i], p.size), 1, 10, #row + 1, row)
    table.move(errs[i], 1, 5, #row + 1, row)
    row[#row + 1] = face_errors[i]
  end
  for _, task in ipairs(p.attributes) do
    local class, probability = predictor.best_class(probabilities[task][i])
    local names = p.card.tasks[task].names
    table.move({names and names[class] or class, probability, s[task] == 0 and "" or (names and names[s[task]] or s[task])},
               1, 3, #row + 1, row)
  end
  rows[i] = row
end
files.write_atomic(o.out .. "/predictions.csv", csv.text(header, rows))
files.write_atomic(o.out .. "/metrics.json", json.encode(metrics))

if lm then
  -- the faces the network got most and least right, with their truth
  local order = {}
  for i = 1, #set do order[i] = i end
  table.sort(order, function(a, b) return face_errors[a] > face_errors[b] end)
  for _, which in ipairs{"worst", "best"} do
    local faces, landmarks = {}, {}
    for k = 1, math.min(8, #set) do
      local i = which == "worst" and order[k] or order[#set + 1 - k]
      faces[k], landmarks[k] = i, pred[i]
    end
    data.sheet.contact_sheet{file = o.out .. "/" .. which .. "_faces.png", set = set, faces = faces, truth = true,
                             tile = math.max(96, p.size), columns = {{name = which .. " faces", landmarks = landmarks}}}
  end
end
print(string.format("%s: predictions.csv, metrics.json%s (%.0f faces/s)", o.out,
                    lm and ", cumulative_error.png, worst_faces.png, best_faces.png" or "", #set / seconds))
if lm then
  print(string.format("mean_error=%.4f failure=%.4f faces=%d", lm.mean_error, lm.mean_failure, #set))
else
  print(string.format("mean_error=nan failure=nan faces=%d", #set))
end
