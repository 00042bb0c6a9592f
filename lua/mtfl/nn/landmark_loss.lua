-- mtfl.nn.landmark_loss: the landmark regression loss.
--
--   least_squares (the seed report's eq. 2, the default):  L = 1/(2N) sum_n ||y_n - f_n||^2
--   euclidean (what the authors' code used):  L = 1/N sum_n sum_k ||p_nk - q_nk||,
--     the distance between each predicted and true point, summed over the points.
--   kind = "l1" | "smooth_l1" | "wing" (or "l2"): L = 1/N sum_n r_n sum_c f(d_nc), a
--     penalty of each coordinate's difference d = f - y, computed with its gradient in
--     one C op (mtfl.landmark_loss) on the prediction's device:
--       l2         f = d^2 / 2                          (least_squares again)
--       l1         f = |d|
--       smooth_l1  f = d^2 / (2 beta) below beta, |d| - beta / 2 above (beta = 1)
--       wing       f = w ln(1 + |d| / epsilon) below w, |d| - C above, with
--                  C = w - w ln(1 + w / epsilon) (Feng et al., CVPR 2018; w = 10, epsilon = 2)
--     w, epsilon and beta are in the units of the targets: the trainer's targets are
--     reference pixels, those of a 150x150 image (mtfl.train.targets), at every input size.
--   normalize = "iod": each face's loss weighs r_n = 1 / its true inter-ocular distance
--     (points 1 and 2, the eyes, in the dataset's order), so that small faces count as
--     much as large ones: with l1 the loss is the dataset's error measure, in inter-ocular
--     distances. Without it every r_n is 1. The penalty's w, epsilon, beta stay in the
--     targets' units: the weight scales each face's loss, not its differences.
--
-- Inputs and targets are [N, 2K] for K points. The euclidean variant and the
-- inter-ocular distance need to know which columns pair up: layout "mtfl" (the
-- dataset's order, x1..xK y1..yK, default) or "interleaved" (x1 y1 x2 y2 ...).
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Criterion = require "mtfl.nn.criterion"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show

local LandmarkLoss = class("LandmarkLoss", Criterion)

-- Inside the square root, so that a point predicted exactly gets gradient 0, not NaN.
local DISTANCE_EPS = 1e-12

local KINDS = {l2 = true, l1 = true, smooth_l1 = true, wing = true}

-- An inter-ocular distance below this (eyes that coincide) is taken as this: the
-- weight stays finite, and such a face's loss, a million times its size, shows.
local IOD_FLOOR = 1e-6

local function check_positive(name, value)
  if type(value) ~= "number" or not (value > 0) or value == math.huge then
    errors.raisef("LandmarkLoss: %s must be a positive number, got %s", name, show(value))
  end
  return value
end

local OPTIONS = {}
for _, key in ipairs{"variant", "layout", "kind", "w", "epsilon", "beta", "normalize"} do OPTIONS[key] = {"any"} end

--- LandmarkLoss([{variant = "least_squares" | "euclidean", layout = "mtfl" | "interleaved",
--- kind = "l2" | "l1" | "smooth_l1" | "wing", w = 10, epsilon = 2, beta = 1,
--- normalize = "iod" | nil}]): variant and kind are two ways of choosing the penalty
--- (kind "l2" is variant "least_squares"); a kind or normalize uses the fused C op.
function LandmarkLoss:__init(options)
  options = options or {}
  if type(options) ~= "table" then errors.raisef("LandmarkLoss: the options must be a table, got a %s", type(options)) end
  require("mtfl.options").check_keys(options, OPTIONS, "LandmarkLoss")
  self.options = options
  self.variant = options.variant or "least_squares"
  self.layout = options.layout or "mtfl"
  if self.variant ~= "least_squares" and self.variant ~= "euclidean" then
    errors.raisef("LandmarkLoss: variant %q (use \"least_squares\" or \"euclidean\")", tostring(self.variant))
  end
  if self.layout ~= "mtfl" and self.layout ~= "interleaved" then
    errors.raisef("LandmarkLoss: layout %q (use \"mtfl\" or \"interleaved\")", tostring(self.layout))
  end
  if options.kind ~= nil and not KINDS[options.kind] then
    errors.raisef("LandmarkLoss: kind %q (use \"l2\", \"l1\", \"smooth_l1\" or \"wing\")", tostring(options.kind))
  end
  if options.kind ~= nil and options.variant ~= nil then
    errors.raise("LandmarkLoss: give either variant or kind, not both")
  end
  if options.normalize ~= nil and options.normalize ~= "iod" then
    errors.raisef("LandmarkLoss: normalize %q (use \"iod\" or leave it out)", tostring(options.normalize))
  end
  if options.normalize and self.variant == "euclidean" then
    errors.raise("LandmarkLoss: normalize needs a kind (l2, l1, smooth_l1, wing), not the euclidean variant")
  end
  self.kind = options.kind or (self.variant == "least_squares" and "l2" or nil)
  self.normalize = options.normalize
  self.w = check_positive("w", options.w or 10)
  self.epsilon = check_positive("epsilon", options.epsilon or 2)
  self.beta = check_positive("beta", options.beta or 1)
  -- least squares without weights keeps its tensor-op path: the seed's results, bit for bit
  self.fused = self.kind ~= nil and (self.kind ~= "l2" or self.normalize ~= nil)
end

--- The constructor's argument, for rebuilding this criterion from a description.
function LandmarkLoss:arguments() return {self.options} end

function LandmarkLoss:describe()
  if self.fused then
    local parts = {self.kind}
    if self.kind == "wing" then parts[#parts + 1] = string.format("w %g, epsilon %g", self.w, self.epsilon) end
    if self.kind == "smooth_l1" then parts[#parts + 1] = string.format("beta %g", self.beta) end
    if self.normalize then parts[#parts + 1] = "per inter-ocular distance" end
    return "LandmarkLoss(" .. table.concat(parts, ", ") .. ")"
  end
  if self.variant == "least_squares" then return "LandmarkLoss(least_squares)" end
  return string.format("LandmarkLoss(euclidean, %s layout)", self.layout)
end

--- The target as a tensor on the input's device, both checked: [N, 2K] each.
function LandmarkLoss:checked_target(input, target)
  self:check_input(input, 2, "[N x 2K] (K points)")
  target = self:target_tensor(target, input)
  if not shape.equal(input:size(), target:size()) then
    self:fail("prediction %s and target %s differ in shape", shape.str(input), shape.str(target))
  end
  if input:size(2) % 2 ~= 0 then
    self:fail("input %s has an odd number of coordinates", shape.str(input))
  end
  return target
end

--- prediction - target, checked.
function LandmarkLoss:difference(input, target)
  return input - self:checked_target(input, target)
end

--- The difference as points, and each point's distance (a size-1 coordinate dimension,
--- so that it broadcasts back over the coordinates).
function LandmarkLoss:points(d)
  local n, k = d:size(1), d:size(2) // 2
  local points = self.layout == "mtfl" and d:reshape(n, 2, k) or d:reshape(n, k, 2)
  local coordinate_dim = self.layout == "mtfl" and 2 or 3
  local distance = points:pow(2):sum(coordinate_dim, true):add_(DISTANCE_EPS):sqrt_()
  return points, distance
end

-- the sum of all elements as a one-element tensor, left on the device
local function total(t) return t:reshape(t:numel()):sum(1) end

--- Each face's weight [N] on the target's device: 1 / the distance between the first two
--- points (the eyes) of the target, computed there (no transfer).
function LandmarkLoss:face_weights(target)
  local k = target:size(2) // 2
  local x1, y1, x2, y2
  if self.layout == "mtfl" then
    x1, x2, y1, y2 = target:narrow(2, 1, 1), target:narrow(2, 2, 1), target:narrow(2, k + 1, 1), target:narrow(2, k + 2, 1)
  else
    x1, y1, x2, y2 = target:narrow(2, 1, 1), target:narrow(2, 2, 1), target:narrow(2, 3, 1), target:narrow(2, 4, 1)
  end
  local iod = (x1 - x2):pow(2):add_((y1 - y2):pow(2)):sqrt_():clamp_(IOD_FLOOR, math.huge)
  return iod:reshape(target:size(1)):pow_(-1)
end

--- The fused op's per-face losses and gradient (scaled by 1/N: the mean's).
function LandmarkLoss:fused_loss(input, target)
  local y = self:checked_target(input, target)
  if self.normalize and input:size(2) < 4 then
    self:fail("input %s has fewer than two points: no inter-ocular distance", shape.str(input))
  end
  local weight = self.normalize and self:face_weights(y) or nil
  return self:call(mtfl.landmark_loss, input, y, {kind = self.kind, w = self.w, epsilon = self.epsilon,
    beta = self.beta, weight = weight, scale = 1 / input:size(1)})
end

--- The loss makes the gradient too; backward with the same input and target takes it
--- (Torch7's contract, as in CrossEntropy: forward, then backward of that same input).
function LandmarkLoss:loss(input, target)
  if self.fused then
    local per_face, grad = self:fused_loss(input, target)
    self.cache = {input = input, target = target, grad = grad}
    return per_face:mean(1)
  end
  local d = self:difference(input, target)
  local n = d:size(1)
  if self.variant == "least_squares" then return total(d:pow(2)):mul_(1 / (2 * n)) end
  local _, distance = self:points(d)
  return total(distance):mul_(1 / n)
end

--- ll:updateGradInput(input, target) -> dLoss/dPrediction: the fused op's gradient made by
--- loss() for this same input and target, else computed from the difference.
function LandmarkLoss:updateGradInput(input, target)
  if self.fused then
    local made = self.cache
    self.cache = nil   -- handed out once: the caller may scale it in place
    if made and rawequal(made.input, input) and rawequal(made.target, target) then return made.grad end
    local _, grad = self:fused_loss(input, target)
    return grad
  end
  local d = self:difference(input, target)
  local n = d:size(1)
  if self.variant == "least_squares" then return d:mul_(1 / n) end   -- (f - y) / N
  local points, distance = self:points(d)
  return points:div(distance):mul_(1 / n):reshape(d:size())          -- unit vectors / N
end

return LandmarkLoss
