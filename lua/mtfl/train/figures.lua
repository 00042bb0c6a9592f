-- mtfl.train.figures: the equivalents of the seed report's Figures 2-6, from a grid's
-- runs (averaged over seeds where there are several):
--
--   fig2_landmark_accuracy.png   accuracy per landmark, a bar per experiment (and the
--                                seed's published multi-task bars)
--   fig3_early_stopping.png      attribute accuracy with and without early stopping,
--                                beside the majority-class rate; the stop epochs
--   fig4_validation_accuracy.png validation accuracy per epoch, single- vs multi-task
--   fig5_augmentation.png        accuracy per landmark with and without augmentation
--   fig6_test_faces.png          test faces annotated by each network (first seed)
--   validation_error.png         validation mean landmark error per epoch
--
-- Each figure's numbers are written as CSV beside it. A figure that cannot be drawn
-- (gnuplot missing, an experiment not in the grid) is reported and skipped.
local data = require "mtfl.data"
local bar_chart = require "mtfl.train.bar_chart"
local reference = require "mtfl.train.seed_reference"

local M = {}

local function by_experiment(summary)
  local t = {}
  for _, e in ipairs(summary) do t[e.experiment] = e end
  return t
end

local function runs_of(runs, name)
  local out = {}
  for _, r in ipairs(runs) do if r.experiment == name then out[#out + 1] = r end end
  return out
end

local function point_accuracy(e)
  if not (e and e.stats["point_accuracy.1"]) then return nil end
  local acc = {}
  for k = 1, 5 do acc[k] = e.stats["point_accuracy." .. k].mean end
  return acc
end

-- A validation history averaged over the runs of one experiment, epoch by epoch.
local function mean_history(runs, key)
  local sums, counts = {}, {}
  for _, r in ipairs(runs) do
    for epoch, v in ipairs(r.history and r.history.val and r.history.val[key] or {}) do
      sums[epoch] = (sums[epoch] or 0) + v
      counts[epoch] = (counts[epoch] or 0) + 1
    end
  end
  local out = {}
  for epoch = 1, #sums do out[epoch] = sums[epoch] / counts[epoch] end
  return #out > 0 and out or nil
end

local function fig2(o, ex)
  local series = {}
  for _, e in ipairs(o.summary) do
    local acc = point_accuracy(e)
    if acc then series[#series + 1] = {name = e.title, accuracy = acc} end
  end
  if #series == 0 then return nil, "no experiment with landmarks" end
  local ref = reference.landmark_accuracy.multitask
  series[#series + 1] = {name = "seed study: multi-task", accuracy = ref.points}
  return data.plot.landmark_accuracy{file = o.dir .. "/fig2_landmark_accuracy.png", experiments = series,
    title = "Test accuracy per landmark (error < 10% of the inter-ocular distance), " .. o.protocol .. " protocol",
    width = 1000}
end

local function fig3(o, ex)
  local plain, stopped = ex.multitask, ex.multitask_early_stopping
  if not (plain and stopped) then return nil, "needs multitask and multitask_early_stopping" end
  local groups, majority, without, with, stops = {}, {}, {}, {}, {}
  for _, task in ipairs{"pose", "glasses", "gender", "smile"} do
    local a, b = plain.stats[task .. "_accuracy"], stopped.stats[task .. "_accuracy"]
    if a and b then
      groups[#groups + 1] = task
      majority[#groups] = plain.stats[task .. "_majority_rate"].mean
      without[#groups], with[#groups] = a.mean, b.mean
      local st = stopped.stats["stop_epoch." .. task]
      stops[#stops + 1] = st and string.format("%s after epoch %.1f (%d/%d runs)", task, st.mean, st.n, stopped.runs)
                          or (task .. " never")
    end
  end
  if #groups == 0 then return nil, "no attribute in both" end
  return bar_chart.draw{file = o.dir .. "/fig3_early_stopping.png", groups = groups, ymin = 0.4,
    title = "Test accuracy with and without early stopping; stopped: " .. table.concat(stops, ", "),
    width = 1000,
    series = {{name = "majority class", values = majority}, {name = plain.title, values = without},
              {name = stopped.title, values = with}}}
end

local function fig4(o)
  local series = {}
  local pairs_of = {{"landmarks", "single_task_landmarks", "mean_accuracy"}, {"pose", "single_task_pose", "pose_accuracy"},
                    {"glasses", "single_task_glasses", "glasses_accuracy"}}
  for _, p in ipairs(pairs_of) do
    local what, single, key = p[1], p[2], p[3]
    for _, exp in ipairs{{single, "single-task"}, {"multitask", "multi-task"}} do
      local values = mean_history(runs_of(o.runs, exp[1]), key)
      if values then series[#series + 1] = {name = what .. ", " .. exp[2], values = values} end
    end
  end
  if #series == 0 then return nil, "no validation histories" end
  return data.plot.per_epoch{file = o.dir .. "/fig4_validation_accuracy.png", series = series, ymin = 0, ymax = 1,
    title = "Validation accuracy per epoch", ylabel = "accuracy", width = 1000}
end

local function fig5(o, ex)
  local plain, augmented = ex.multitask, ex.multitask_augmentation
  if not (point_accuracy(plain) and point_accuracy(augmented)) then
    return nil, "needs multitask and multitask_augmentation"
  end
  return data.plot.landmark_accuracy{file = o.dir .. "/fig5_augmentation.png",
    title = "Test accuracy per landmark with and without augmentation",
    experiments = {{name = plain.title, accuracy = point_accuracy(plain)},
                   {name = augmented.title, accuracy = point_accuracy(augmented)}}}
end

local function fig6(o)
  if not o.test_set then return nil, "no test set" end
  local size = o.test_set:info().size
  local columns, faces = {}, nil
  for _, e in ipairs(o.summary) do
    local run = runs_of(o.runs, e.experiment)[1]
    if run and run.sheet then
      faces = faces or run.sheet.faces
      local scale = size / run.sheet.size   -- every network's points in the sheet set's pixels
      local rows = {}
      for i, p in ipairs(run.sheet.landmarks) do
        rows[i] = {}
        for k = 1, 10 do rows[i][k] = p[k] * scale end
      end
      columns[#columns + 1] = {name = run.short or e.experiment, landmarks = rows}
    end
  end
  if #columns == 0 then return nil, "no predictions" end
  local file = o.dir .. "/fig6_test_faces.png"
  data.sheet.contact_sheet{file = file, set = o.test_set, faces = faces, columns = columns, truth = true,
                           tile = o.tile or 72}
  return file
end

local function validation_error(o)
  local series = {}
  for _, e in ipairs(o.summary) do
    local values = mean_history(runs_of(o.runs, e.experiment), "mean_error")
    if values then series[#series + 1] = {name = e.title, values = values} end
  end
  if #series == 0 then return nil, "no landmark histories" end
  return data.plot.per_epoch{file = o.dir .. "/validation_error.png", series = series,
    title = "Validation mean landmark error per epoch (fraction of the inter-ocular distance)",
    ylabel = "mean error", width = 1000}
end

--- draw{dir, protocol, runs, summary, test_set} -> list of files written; prints why
--- any figure was skipped.
function M.draw(o)
  local ex = by_experiment(o.summary)
  local written = {}
  for _, fig in ipairs{{"fig2", fig2}, {"fig3", fig3}, {"fig4", fig4}, {"fig5", fig5}, {"fig6", fig6},
                       {"validation_error", validation_error}} do
    local ok, file, why = pcall(fig[2], o, ex)
    if ok and file then
      written[#written + 1] = file
    else
      print(string.format("  %s skipped: %s", fig[1], ok and why or tostring(file)))
    end
  end
  return written
end

return M
