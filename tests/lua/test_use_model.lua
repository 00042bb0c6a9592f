-- A trained run used as a user would: the model file its run leaves, evaluate.lua on
-- the test list giving the run's own test numbers exactly, predict.lua on a folder of
-- images and on a box, and the errors of files and images that do not fit.
local json = require "mtfl.json"
local T = require "harness"
local H = require "data_helpers"

local HOST = os.getenv("MTFL_LUA") or "mtfl-lua"
local TCDCN = "../../examples/tcdcn.lua"
local EVALUATE = "../../scripts/evaluate.lua"
local PREDICT = "../../scripts/predict.lua"

local function script(path, args) return T.run(string.format("%s %s %s", HOST, path, args)) end

local function csv_rows(path)
  local rows = {}
  for line in H.read(path):gmatch("[^\n]+") do
    local row = {}
    for field in line:gmatch("[^,]+") do row[#row + 1] = field end
    rows[#rows + 1] = row
  end
  return rows
end

-- one short run on an MTFL-format folder (1,030 test lines: 1,000 validation, 30 test)
local dir = H.synthetic_mtfl{train = 60, test = 1030, size = 32}
local out = H.temp_dir("use")
local run = out .. "/crop-quick/runs/tcdcn/seed1"
local model = run .. "/model.safetensors"

T.test("a finished run keeps its model file", function()
  local rc, text = script(TCDCN, "--quick --protocol crop --limit 40 --epoch-size 80 --epochs 1 --device cpu --data " ..
                                 dir .. " --out " .. out)
  T.eq(rc, 0, text)
  T.truthy(io.open(model, "rb"), "no model file in " .. run .. "\n" .. text)
end)

T.test("evaluate.lua on the test lines reproduces the run's test numbers exactly", function()
  local result = json.decode(H.read(run .. "/result.json"))
  local rc, text = script(EVALUATE, model .. " " .. dir .. "/testing.txt --after-line 1000 --limit 40 --device cpu --out " .. out .. "/ev")
  T.eq(rc, 0, text)
  local metrics = json.decode(H.read(out .. "/ev/metrics.json"))
  T.eq(metrics.faces, 30, "the test faces")
  T.eq(metrics.mean_error, result.mean_error, "mean error")
  T.eq(metrics.mean_failure, result.mean_failure, "failure")
  for k = 1, 5 do T.eq(metrics.point_error[k], result.point_error[k], "point " .. k) end
  for _, task in ipairs{"pose", "glasses", "gender", "smile"} do
    T.eq(metrics[task .. "_accuracy"], result[task .. "_accuracy"], task)
  end
  local last = text:gsub("%s+$", ""):match("[^\n]*$")
  T.eq(last, string.format("mean_error=%.4f failure=%.4f faces=30", result.mean_error, result.mean_failure), "the last line")
  local rows = csv_rows(out .. "/ev/predictions.csv")
  T.eq(#rows, 31, "a header and a row per face")
  T.eq(rows[1][3], "x1")
  for _, file in ipairs{"worst_faces.png", "best_faces.png", "cumulative_error.csv"} do
    T.truthy(io.open(out .. "/ev/" .. file, "rb"), file)
  end
  -- cut around the points instead: other numbers, the same faces
  rc, text = script(EVALUATE, model .. " " .. dir .. "/testing.txt --after-line 1000 --limit 40 --crop points --device cpu --out " .. out .. "/ev2")
  T.eq(rc, 0, text)
  T.eq(json.decode(H.read(out .. "/ev2/metrics.json")).faces, 30)
  -- mirrored test-time averaging, and an offset fitted on the validation lines, labelled
  rc, text = script(EVALUATE, model .. " " .. dir .. "/testing.txt --after-line 1000 --limit 40 --mirror --fit-offset 1000 --device cpu --out " .. out .. "/ev3")
  T.eq(rc, 0, text)
  local m3 = json.decode(H.read(out .. "/ev3/metrics.json"))
  T.eq(m3.mirror, true)
  T.eq(m3.offset_fitted.faces, 1000, "fitted on the validation faces")
  T.truthy(m3.mean_error ~= metrics.mean_error, "the mirror changes the answers")
  T.truthy(text:find("fitted on the 1000 faces of lines 1..1000 (not the raw result)", 1, true), text)
  rc, text = script(EVALUATE, model .. " " .. dir .. "/testing.txt --after-line 1000 --fit-offset 1001 --device cpu --out " .. out .. "/ev4")
  T.truthy(rc ~= 0 and text:find("--fit-offset 1001 overlaps the faces measured", 1, true), text)
end)

T.test("predict.lua: a folder of images, the points in each image's own pixels", function()
  local rc, text = script(PREDICT, model .. " " .. dir .. "/synthetic_test --device cpu --out " .. out .. "/pr")
  T.eq(rc, 0, text)
  local faces = json.decode(H.read(out .. "/pr/predictions.json")).faces
  T.eq(#faces, 1030, "every image of the folder")
  T.eq(#faces[1].landmarks, 5)
  T.eq(faces[1].landmarks[1].name, "left eye")
  local p = faces[1].attributes.pose.probabilities
  local sum = 0
  for _, v in pairs(p) do sum = sum + v end
  T.truthy(math.abs(sum - 1) < 1e-4, "probabilities sum to 1")
  -- the same image through evaluate.lua (whole images, both): the same points
  local ev = csv_rows(out .. "/ev/predictions.csv")[2]
  local face
  for _, f in ipairs(faces) do if f.image:match(ev[1]:gsub("\\", "/"):match("[^/]+$") .. "$") then face = f end end
  T.truthy(face, "the first test face among the predictions")
  for k = 1, 5 do
    T.truthy(math.abs(face.landmarks[k].x - tonumber(ev[2 + k])) < 1e-3 and
             math.abs(face.landmarks[k].y - tonumber(ev[7 + k])) < 1e-3, "point " .. k .. " as evaluate.lua gives it")
  end
  T.truthy(io.open(out .. "/pr/00001_000001.png", "rb"), "the drawing of the first image")
  rc, text = script(PREDICT, model .. " " .. dir .. "/synthetic_test/000001.jpg --box 4,4,24,24 --no-drawings --device cpu --out " .. out .. "/pr2")
  T.eq(rc, 0, text)
  T.eq(#json.decode(H.read(out .. "/pr2/predictions.json")).faces, 1)
end)

T.test("files and images that do not fit are errors naming them", function()
  local rc, text = script(EVALUATE, run .. "/result.json " .. dir .. "/testing.txt")
  T.truthy(rc ~= 0 and text:find("result.json", 1, true), text)
  rc, text = script(PREDICT, model .. " " .. out .. "/nothing.png")
  T.truthy(rc ~= 0 and text:find("nothing.png: no such file or folder", 1, true), text)
  rc, text = script(PREDICT, model .. " " .. dir .. "/testing.txt")
  T.truthy(rc ~= 0 and text:find("testing.txt", 1, true), text)
  rc, text = script(PREDICT, model .. " " .. dir .. "/synthetic_test --box 1,2,3")
  T.truthy(rc ~= 0 and text:find("--box wants x,y,width,height", 1, true), text)
  H.write(out .. "/junk.jpg", "not an image")
  rc, text = script(PREDICT, model .. " " .. out .. "/junk.jpg --device cpu --out " .. out .. "/pr3")
  T.truthy(rc ~= 0 and text:find("junk.jpg: not a readable JPEG or PNG", 1, true), text)
  rc, text = script(PREDICT, model .. " " .. out .. "/junk.jpg --skip-bad --device cpu --out " .. out .. "/pr3")
  T.truthy(rc ~= 0 and text:find("none of the 1 images could be read", 1, true), text)
  rc, text = script(EVALUATE, model .. " " .. dir .. "/testing.txt --crop box")
  T.truthy(rc ~= 0 and text:find("no face box", 1, true), text)
end)

T.run_all()
H.remove(dir)
H.remove(out)
