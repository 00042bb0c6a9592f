-- quickstart.lua: the main job. Trains a multi-task network (five landmarks with head
-- pose, glasses, gender and smile) on MTFL when it is found, else on synthetic faces,
-- in a few minutes on a CPU; prints the test metrics; writes the test faces annotated
-- by the network, and plots of the training, into out/quickstart/.
--
--   mtfl-lua examples/quickstart.lua [--data DIR] [--out DIR] [--epochs N] [--device D] [--synthetic] [--fresh]
--
-- It uses the project's recipe, examples/best.lua (faces cropped like the test faces,
-- five convolution stages with batch normalisation, strong augmentation, a cosine
-- schedule), shrunk to 48x48 and ten short epochs so that it finishes in about three
-- minutes on 2 CPU cores; best.lua itself trains it at 80x80 for 45 epochs. Running it again
-- shows the finished run's results when the settings and the data are the same
-- (--fresh trains anew; other data or settings are refused, naming the difference);
-- stopped half-way, it resumes from its last epoch.
local mtfl = require "mtfl"
local data = require "mtfl.data"
local train = require "mtfl.train"
local commands = require "mtfl.commands"

local OPTIONS = {data = true, out = true, epochs = true, device = true, synthetic = true, fresh = true}
local given = train.options.parse(arg, OPTIONS, "trains the recipe of examples/best.lua, shrunk, on MTFL " ..
                                  "(or synthetic faces) and writes its results into <out>/quickstart")
if not given then return end   -- --help
local out = (given.out or "out") .. "/quickstart"

local spec = train.experiment.example("best.lua")
-- 10 epochs of 8,000 faces at 48x48: about 3 minutes on 2 cores
local settings = train.options.resolve(given, spec)
settings.protocol, settings.seed, settings.size = "crop", 1, 48
settings.epochs, settings.epoch_size = given.epochs or 10, 8000

print(string.format("mtfl %s on %s: %s, %d epochs of %d faces at %dx%d", mtfl.version, mtfl.device(), spec.title,
                    settings.epochs, settings.epoch_size, settings.size, settings.size))
-- loaded once, kept for the run (with the room its augmentation's rotation needs)
local ds = require("mtfl.train.datasets").get(settings, arg[0], spec.augment)
local result = train.experiment.run(spec, settings, {script = arg[0], dir = out .. "/run"})

-- the test metrics, the way the seed and TCDCN report them
local published = result.config.source == "MTFL"
  and string.format("TCDCN: about 8%%; the seed study: accuracy %.2f", train.reference.landmark_accuracy.multitask.mean)
  or "synthetic faces: the published numbers are for MTFL"
print(string.format("\ntest faces: mean landmark error %.2f%% of the inter-ocular distance (%s)",
                    100 * result.mean_error, published))
local points = {}
for k = 1, 5 do points[k] = string.format("%s %.2f", data.plot.POINTS[k], result.point_accuracy[k]) end
print(string.format("landmark accuracy (error < 10%%): %.3f -- %s", result.mean_accuracy, table.concat(points, ", ")))
for _, task in ipairs{"pose", "glasses", "gender", "smile"} do
  local acc, majority = result[task .. "_accuracy"], result[task .. "_majority_rate"]
  print(string.format("%-8s accuracy %.3f, majority class %.3f%s", task, acc, majority,
                      acc > majority and "" or "  -- no better than always answering it"))
end

-- what the network adds to the simplest answer: the mean training face, every time
local mean_face = train.heads.mean_shape(ds.train, settings.size, 1):totable()
local everyone = {}
for i = 1, #ds.test do everyone[i] = i end
local baseline = data.metrics.landmarks(mtfl.tensor(mean_face, {device = "cpu"}):reshape(1, 10):expand(#ds.test, 10),
                                        ds.test:batch(everyone, {device = "cpu"}).landmarks)
print(string.format("the mean training face, answered for every test face: error %.2f%%, accuracy %.3f",
                    100 * baseline.mean_error, baseline.mean_accuracy))

-- the pictures
local sheet = out .. "/test_faces.png"
local mean_rows = {}
for i = 1, #result.sheet.faces do mean_rows[i] = mean_face end
data.sheet.contact_sheet{file = sheet, set = ds.test, faces = result.sheet.faces, truth = true, tile = 96,
                         columns = {{name = "mean face", landmarks = mean_rows},
                                    {name = spec.short, landmarks = result.sheet.landmarks}}}
print("\n" .. sheet .. ": test faces, the points joined to the truth (white rings)")

-- the network is a file: what to do with it next
local model = out .. "/run/model.safetensors"
local list, after = (ds.info.dir or "") .. "/testing.txt", 1000
if result.config.source ~= "MTFL" then
  -- synthetic faces live in memory: their test part goes to disk for the commands below
  list, after = out .. "/synthetic-test/testing.txt", nil
  data.write_mtfl(out .. "/synthetic-test", {test = ds.test}, {format = "png"})
end
print("\nthe trained network: " .. model .. " (nn.load_model reads it without this script)")
for _, line in ipairs(commands.next_steps(model, arg[0], {list = list, after_line = after})) do print(line) end

local ok, why = data.plot.available()
if not ok then print("plots skipped: " .. why) return end
local val = result.history.val
data.plot.per_epoch{file = out .. "/validation.png", title = "Validation accuracy per epoch", ymin = 0, ymax = 1,
  series = {{name = "landmarks (error < 10%)", values = val.mean_accuracy}, {name = "pose", values = val.pose_accuracy},
            {name = "glasses", values = val.glasses_accuracy}, {name = "gender", values = val.gender_accuracy},
            {name = "smile", values = val.smile_accuracy}}}
data.plot.landmark_accuracy{file = out .. "/landmark_accuracy.png", title = "Test accuracy per landmark",
  experiments = {{name = spec.short .. ", crop protocol", accuracy = result.point_accuracy},
                 {name = "seed study, multi-task", accuracy = train.reference.landmark_accuracy.multitask.points}}}
print(out .. "/validation.png, " .. out .. "/landmark_accuracy.png: the plots (their numbers in .csv beside them)")
