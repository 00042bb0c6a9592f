-- mtfl.onnx.compare: an exported file run by runtimes independent of mtfl-lua (ONNX's
-- checker and OpenCV's dnn module, through scripts/onnx_check.py) on the very images
-- the predictor runs on, and how far their outputs lie from the predictor's.
--
--   local p = predictor.load("face.safetensors", {device = "cpu"})
--   local r = compare.compare{predictor = p, onnx = "face.onnx", set = p:load_list(list),
--                             checker = "scripts/onnx_check.py"}
--   r.max, r.outputs[1].name, r.outputs[1].max, r.runtime    -- "opencv 4.6.0"
local mtfl = require "mtfl"
local files = require "mtfl.files"
local errors = require "mtfl.errors"
local predictor = require "mtfl.predictor"

local M = {}

-- The python3 that has Debian's modules: /usr/bin's, unless PATH is all there is.
local function default_python()
  return files.kind("/usr/bin/python3") == "file" and "/usr/bin/python3" or "python3"
end

local function temp_dir()
  local base = os.tmpname()   -- a unique name, made as a file: its folder goes beside it
  local dir = base .. ".onnx"
  files.mkdir(dir)
  return dir, base
end

local function read_tensor(path, size)
  return mtfl.from_string(files.read(path), size, {device = "cpu"})
end

-- The predictor's outputs in the order of the checker's command line.
local function output_names(p, r)
  local names = {}
  if r.landmarks then names[1] = "landmarks" end
  for _, task in ipairs(p.attributes) do names[#names + 1] = task end
  return names
end

--- compare{predictor, onnx, set, checker [, python]} -> {outputs = {{name, max,
--- probabilities}}, max, faces, runtime, checker}: each output's largest absolute
--- difference from the predictor's on the set's faces (landmarks in input pixels,
--- attributes as scores and as probabilities). checker is the path of onnx_check.py;
--- python defaults to Debian's python3. A runtime that fails is an error with its words.
function M.compare(o)
  local p, set = o.predictor, o.set
  if #set == 0 then errors.raise("onnx compare: no faces to compare on") end
  local r = p:run(set)
  local names = output_names(p, r)
  local dir, base = temp_dir()
  local ok, result = pcall(function()
    -- the images batch by batch, rendered as p:run rendered them
    local w <close> = files.writer(dir .. "/images.f32")
    for first = 1, #set, p.batch do
      local indices = {}
      for i = first, math.min(#set, first + p.batch - 1) do indices[#indices + 1] = i end
      w:write(set:batch(indices, {size = p.size, device = "cpu"}).images:to_string())
    end
    w:commit()
    local command = string.format("%s %s %s %s %s %s %s 2>&1", files.shell_quote(o.python or default_python()),
                                  files.shell_quote(o.checker), files.shell_quote(o.onnx),
                                  files.shell_quote(dir .. "/images.f32"),
                                  table.concat({#set, 3, p.size, p.size}, ","), files.shell_quote(dir), table.concat(names, " "))
    local pipe = assert(io.popen(command))
    local text = pipe:read("a")
    if not pipe:close() then errors.raisef("onnx compare: %s failed:\n%s", o.checker, text) end
    local out = {outputs = {}, max = 0, faces = #set, runtime = text:match("(opencv %S+)"),
                 checker = text:match("onnx checker ([^\n]*)")}
    for _, name in ipairs(names) do
      local want = name == "landmarks" and r.landmarks or r.scores[name]
      local got = read_tensor(dir .. "/" .. name .. ".f32", want:size())
      local entry = {name = name, max = got:sub(want):abs():max()}
      if name ~= "landmarks" then
        entry.probabilities = predictor.softmax_rows(got):sub(r.probabilities[name]):abs():max()
      end
      out.outputs[#out.outputs + 1] = entry
      out.max = math.max(out.max, entry.max, entry.probabilities or 0)
    end
    return out
  end)
  for _, name in ipairs(files.kind(dir) and files.list(dir) or {}) do os.remove(dir .. "/" .. name) end
  os.remove(dir)
  os.remove(base)
  if not ok then error(result, 0) end
  return result
end

return M
