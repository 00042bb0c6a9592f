-- export-onnx.lua: a model file's network as an ONNX file (opset 13), for other runtimes
-- (OpenCV's cv2.dnn.readNetFromONNX, ONNX Runtime, ...).
--
--   mtfl-lua scripts/export-onnx.lua MODEL OUT.onnx      (installed: mtfl-export-onnx)
--
-- The graph takes "images" [N, 3, size, size] (RGB, pixel / 255, NCHW, the faces framed
-- as the card says) and gives one output per task: "landmarks" [N, 10] (x1..x5, y1..y5)
-- in the input's pixels and each attribute's scores [N, K], as mtfl.predictor gives
-- them; the model card is in the file's metadata (mtfl.card). Dropout is the identity
-- and batch normalisation uses its running statistics. A layer with no ONNX form is an
-- error naming it. The file is written atomically (its folder made if need be).
local nn = require "mtfl.nn"
local cli = require "mtfl.cli"
local onnx = require "mtfl.onnx"
local files = require "mtfl.files"

local o = cli.parse(arg, {
  script = "scripts/export-onnx.lua",
  about = "Write a model file's network as ONNX (opset " .. onnx.OPSET .. "): input images [N, 3, size, size] " ..
          "(pixel / 255), one output per task (landmarks in input pixels, attribute scores).",
  arguments = {{"model", "the model file (runs/.../model.safetensors)"},
               {"out", "the ONNX file to write (OUT.onnx)"}},
  options = {},
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
