-- export-onnx.lua: a model file's network as an ONNX file (opset 13), for other runtimes
-- (OpenCV's cv2.dnn.readNetFromONNX, ONNX Runtime, ...).
--
--   mtfl-lua scripts/export-onnx.lua MODEL OUT.onnx [--compare LIST [--after-line N]
--       [--limit N] [--tolerance X] [--python PATH]]          (installed: mtfl-export-onnx)
--
-- The graph takes "images" [N, 3, size, size] (RGB, pixel / 255, NCHW, the faces framed
-- as the card says) and gives one output per task: "landmarks" [N, 10] (x1..x5, y1..y5)
-- in the input's pixels and each attribute's scores [N, K], as mtfl.predictor gives
-- them; the model card is in the file's metadata (mtfl.card). Dropout is the identity
-- and batch normalisation uses its running statistics. A layer with no ONNX form is an
-- error naming it. The file is written atomically (its folder made if need be).
--
-- --compare LIST runs the written file in OpenCV's dnn module (and ONNX's checker, when
-- python3-onnx is installed), through onnx_check.py beside this script, on the faces of
-- an annotation file, and prints each output's largest difference from the predictor's;
-- above --tolerance the script fails, naming the output.
local nn = require "mtfl.nn"
local cli = require "mtfl.cli"
local files = require "mtfl.files"
local onnx = require "mtfl.onnx"

local o = cli.parse(arg, {
  script = "scripts/export-onnx.lua",
  about = "Write a model file's network as ONNX (opset " .. onnx.OPSET .. "): input images [N, 3, size, size] " ..
          "(pixel / 255), one output per task (landmarks in input pixels, attribute scores).",
  arguments = {{"model", "the model file (runs/.../model.safetensors)"},
               {"out", "the ONNX file to write (OUT.onnx)"}},
  options = {
    compare = {"string", "then run the file in OpenCV (python3-opencv) on the faces of this annotation file and compare with the predictor", argname = "LIST"},
    ["after-line"] = {"int", "--compare: only the faces on lines after N (MTFL's test faces: testing.txt after 1000)", min = 0, default = 0},
    limit = {"int", "--compare: only the first N faces"},
    tolerance = {"number", "--compare: the largest difference allowed", default = 1e-4},
    python = {"string", "--compare: the python3 with OpenCV (default: /usr/bin/python3, Debian's)", argname = "PATH"},
  },
})
if not o then return end

-- on the CPU: exporting reads the weights and computes nothing
local model, card = nn.load_model(o.model, {device = "cpu"})
files.mkdir(files.dirname(o.out))
local info = onnx.save(o.out, model, card)
local ops = {}
for op, n in pairs(info.ops) do ops[#ops + 1] = string.format("%s %d", op, n) end
table.sort(ops)
print(string.format("%s: %d bytes, ONNX opset %d, %d nodes (%s)", o.out, info.bytes, onnx.OPSET, info.nodes,
                    table.concat(ops, ", ")))
print(string.format("  input  %s [%s]", info.input.name, table.concat(info.input.dims, ", ")))
for _, out in ipairs(info.outputs) do
  print(string.format("  output %s [%s]", out.name, table.concat(out.dims, ", ")))
end
if not o.compare then return end

local predictor = require "mtfl.predictor"
local p = predictor.load(o.model, {device = "cpu"})
local set = p:load_list(o.compare, {after_line = o.after_line, limit = o.limit})
local r = require("mtfl.onnx.compare").compare{predictor = p, onnx = o.out, set = set, python = o.python,
                                                checker = files.dirname(arg[0]) .. "/onnx_check.py"}
print(string.format("compared on %d faces of %s: %s vs mtfl's predictor; onnx checker %s", r.faces, o.compare,
                    r.runtime or "?", r.checker or "?"))
local worst
for _, out in ipairs(r.outputs) do
  print(string.format("  %-10s max abs difference %.3g%s", out.name, out.max,
                      out.probabilities and string.format(" (probabilities %.3g)", out.probabilities) or " (input pixels)"))
  if math.max(out.max, out.probabilities or 0) > o.tolerance and not worst then worst = out end
end
print(string.format("max_abs_difference=%.3g faces=%d", r.max, r.faces))
if worst then
  error(string.format("export-onnx: %s's output %s differs from the predictor's by %.3g, more than --tolerance %g",
                      o.out, worst.name, math.max(worst.max, worst.probabilities or 0), o.tolerance), 0)
end
