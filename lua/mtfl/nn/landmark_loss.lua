-- mtfl.nn.landmark_loss: the landmark regression loss, in two variants.
--
--   least_squares (the seed report's eq. 2):  L = 1/(2N) sum_n ||y_n - f_n||^2
--   euclidean (what the authors' code used):  L = 1/N sum_n sum_k ||p_nk - q_nk||,
--     the distance between each predicted and true point, summed over the points.
--
-- Inputs and targets are [N, 2K] for K points. The euclidean variant needs to know
-- which columns pair up: layout "mtfl" (the dataset's order, x1..xK y1..yK, default)
-- or "interleaved" (x1 y1 x2 y2 ...). The least-squares loss does not care.
local class = require("mtfl.nn.class").class
local Criterion = require "mtfl.nn.criterion"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"

local LandmarkLoss = class("LandmarkLoss", Criterion)

-- Inside the square root, so that a point predicted exactly gets gradient 0, not NaN.
local DISTANCE_EPS = 1e-12

--- LandmarkLoss([{variant = "least_squares" | "euclidean", layout = "mtfl" | "interleaved"}])
function LandmarkLoss:__init(options)
  options = options or {}
  self.variant = options.variant or "least_squares"
  self.layout = options.layout or "mtfl"
  if self.variant ~= "least_squares" and self.variant ~= "euclidean" then
    errors.raisef("LandmarkLoss: variant %q (use \"least_squares\" or \"euclidean\")", tostring(self.variant))
  end
  if self.layout ~= "mtfl" and self.layout ~= "interleaved" then
    errors.raisef("LandmarkLoss: layout %q (use \"mtfl\" or \"interleaved\")", tostring(self.layout))
  end
end

function LandmarkLoss:describe()
  if self.variant == "least_squares" then return "LandmarkLoss(least_squares)" end
  return string.format("LandmarkLoss(euclidean, %s layout)", self.layout)
end

-- prediction - target, checked: [N, 2K] each.
function LandmarkLoss:difference(input, target)
  self:check_input(input, 2, "[N x 2K] (K points)")
  target = self:target_tensor(target, input)
  if not shape.equal(input:size(), target:size()) then
    self:fail("prediction %s and target %s differ in shape", shape.str(input), shape.str(target))
  end
  if input:size(2) % 2 ~= 0 then
    self:fail("input %s has an odd number of coordinates", shape.str(input))
  end
  return input - target
end

-- The difference as points, and each point's distance (a size-1 coordinate dimension,
-- so that it broadcasts back over the coordinates).
function LandmarkLoss:points(d)
  local n, k = d:size(1), d:size(2) // 2
  local points = self.layout == "mtfl" and d:reshape(n, 2, k) or d:reshape(n, k, 2)
  local coordinate_dim = self.layout == "mtfl" and 2 or 3
  local distance = points:pow(2):sum(coordinate_dim, true):add_(DISTANCE_EPS):sqrt_()
  return points, distance
end

-- the sum of all elements as a one-element tensor, left on the device
local function total(t) return t:reshape(t:numel()):sum(1) end

function LandmarkLoss:loss(input, target)
  local d = self:difference(input, target)
  local n = d:size(1)
  if self.variant == "least_squares" then return total(d:pow(2)):mul_(1 / (2 * n)) end
  local _, distance = self:points(d)
  return total(distance):mul_(1 / n)
end

function LandmarkLoss:updateGradInput(input, target)
  local d = self:difference(input, target)
  local n = d:size(1)
  if self.variant == "least_squares" then return d:mul_(1 / n) end   -- (f - y) / N
  local points, distance = self:points(d)
  return points:div(distance):mul_(1 / n):reshape(d:size())          -- unit vectors / N
end

return LandmarkLoss
