-- mtfl.predictor: a model file put to use on faces, the way it was trained.
--
--   local predictor = require "mtfl.predictor"
--   local p = predictor.load("out/quickstart/model.safetensors")
--   local set = p:load_list("faces.txt", {frame = "points"})   -- or p:load_images{...}
--   local r = p:run(set)    -- r.landmarks [N, 10] in the faces' input pixels,
--                           -- r.probabilities.pose [N, 5], ...
--
-- The card of the file (mtfl.nn.model_file) says the input size, how training framed
-- the faces (eye_mouth of the crop protocol) and the landmarks' units; this module is
-- the one place that applies them.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local data = require "mtfl.data"
local errors = require "mtfl.errors"

local M = {}
local Predictor = {}
Predictor.__index = Predictor
M.Predictor = Predictor   -- the methods of what load returns

--- landmark_scale(card) -> the landmark head's units per input pixel: its outputs are
--- in the pixels of a reference_size image (the card's tasks.landmarks), divided by
--- this to give the input's pixels (1 without a landmark task or a reference size).
function M.landmark_scale(card)
  local t = card.tasks and card.tasks.landmarks
  return (t and t.reference_size or card.input.size) / card.input.size
end

--- load(path [, {device, batch = 100, mirror = false}]) -> a predictor: p.model, p.card,
--- p.size, the sorted p.attributes and p.has_landmarks. mirror: every face is also
--- seen mirrored and the two answers averaged (test-time augmentation).
function M.load(path, options)
  options = options or {}
  local model, card = nn.load_model(path, {device = options.device})
  local p = setmetatable({path = path, model = model, card = card, size = card.input.size,
                          batch = options.batch or 100, device = options.device or model:device(),
                          mirror = options.mirror or false, attributes = {}}, Predictor)
  p.landmark_scale = M.landmark_scale(card)
  for task, t in pairs(card.tasks) do
    if task == "landmarks" then
      p.has_landmarks = true
    elseif t.classes then
      p.attributes[#p.attributes + 1] = task
    end
  end
  table.sort(p.attributes)
  return p
end

--- The framing the model was trained with: "points" for the crop protocol (whose test
--- faces are already crops, used whole), "none" for the seed's whole images.
function Predictor:trained_frame()
  return self.card.protocol and self.card.protocol.name == "crop" and "points" or "none"
end

local function with_geometry(self, options)
  local o = {size = self.size, eye_mouth = self.card.protocol and self.card.protocol.eye_mouth or 0.316}
  for k, v in pairs(options or {}) do o[k] = v end
  return o
end

--- load_list(file [, {frame = "none" | "points" | "box", limit, on_error}]) -> set, info:
--- an annotation file's faces at the model's input size and crop geometry.
function Predictor:load_list(file, options)
  return data.load_list(file, with_geometry(self, options))
end

--- load_images({path, ...} [, {boxes, on_error}]) -> set, info (see data.load_images).
function Predictor:load_images(paths, options)
  return data.load_images(paths, with_geometry(self, options))
end

--- forward(images [N, 3, size, size]) -> {landmarks = [N, 10] input pixels, <attribute>
--- = [N, K] scores}: the network's outputs in the units evaluation uses.
function Predictor:forward(images)
  local s = images:size()
  if #s ~= 4 or s[2] ~= 3 or s[3] ~= self.size or s[4] ~= self.size then
    errors.raisef("predictor %s: images are %s, the model takes [N x 3 x %d x %d]", self.path,
                  table.concat(s, "x"), self.size, self.size)
  end
  local out = self.model:forward(images)
  if mtfl.is_tensor(out) then errors.raisef("predictor %s: the network gives one tensor, not a table of tasks", self.path) end
  local result = {}
  for task, t in pairs(out) do
    result[task] = task == "landmarks" and t:mul(1 / self.landmark_scale) or t
  end
  return result
end

--- The answers for a mirrored face, mapped back to the face: points mirrored with the
-- sides swapped, the pose's left and right classes swapped.
local function unmirror(self, out)
  local back = {}
  for task, t in pairs(out) do
    local rows = t:to("cpu"):totable()
    for i, row in ipairs(rows) do
      if task == "landmarks" then
        rows[i] = data.mirror_points(row, self.size)
      elseif task == "pose" then
        local swapped = {}
        for c = 1, #row do swapped[data.mirror_pose(c)] = row[c] end
        rows[i] = swapped
      end
    end
    back[task] = mtfl.tensor(rows, {device = t:device()})
  end
  return back
end

--- predict(set, indices [, images]) -> forward's outputs for those samples (images: the
--- batch already rendered for them, so it is not rendered twice); with p.mirror, the
--- mean of each face's answers and its mirror image's.
function Predictor:predict(set, indices, images)
  images = images or set:batch(indices, {size = self.size, device = self.device}).images
  local out = self:forward(images)
  if not self.mirror then return out end
  local mirrored = set:batch(indices, {size = self.size, device = self.device, augment = {mirror = 1}})
  local back = unmirror(self, self:forward(mirrored.images))
  for task, t in pairs(out) do out[task] = t:add(back[task]):mul_(0.5) end
  return out
end

--- Softmax of each row of an [N, K] tensor of scores: a new CPU tensor of probabilities.
function M.softmax_rows(scores)
  local rows = scores:to("cpu"):totable()
  for _, row in ipairs(rows) do
    local top = math.max(table.unpack(row))
    local sum = 0
    for k, v in ipairs(row) do row[k] = math.exp(v - top) sum = sum + row[k] end
    for k in ipairs(row) do row[k] = row[k] / sum end
  end
  return mtfl.tensor(rows, {device = "cpu"})
end

--- run(set) -> {landmarks = [N, 10] CPU tensor in input pixels (nil without a landmark
--- head), scores = {task = [N, K]}, probabilities = {task = [N, K]}}, in batches.
function Predictor:run(set)
  local chunks = {}
  for first = 1, #set, self.batch do
    local indices = {}
    for i = first, math.min(#set, first + self.batch - 1) do indices[#indices + 1] = i end
    for task, t in pairs(self:predict(set, indices)) do
      chunks[task] = chunks[task] or {}
      table.insert(chunks[task], t:to("cpu"))
    end
  end
  local result = {scores = {}, probabilities = {}}
  for task, list in pairs(chunks) do
    local all = mtfl.cat(list, 1)
    if task == "landmarks" then
      result.landmarks = all
    else
      result.scores[task], result.probabilities[task] = all, M.softmax_rows(all)
    end
  end
  return result
end

--- The most probable class of a row of probabilities (a table), and its probability.
function M.best_class(row)
  local best = 1
  for c = 2, #row do if row[c] > row[best] then best = c end end
  return best, row[best]
end

return M
