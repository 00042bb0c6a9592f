-- mtfl.train.heads: the task heads of a multi-task network.
--
--   nn.Sequential{...trunk..., nn.Linear(32 * 38 * 38, 1024), nn.ReLU()}
--     :add(heads.linear(1024, {landmarks = 10, pose = 5}), "heads")
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local errors = require "mtfl.errors"

local M = {}

--- nn.Heads with one Linear(features -> n) per entry of outputs ({task = n}). The
--- heads are made in the order of their names: each draws its initial weights from
--- the RNG in turn, and pairs() visits string keys in a different order in every
--- process, which would give the same seed different networks.
function M.linear(features, outputs)
  local tasks = {}
  for task in pairs(outputs) do tasks[#tasks + 1] = task end
  table.sort(tasks)
  local heads = {}
  for _, task in ipairs(tasks) do heads[task] = nn.Linear(features, outputs[task]) end
  return nn.Heads(heads)
end

--- The mean landmarks of (at most the first 2000 faces of) a set rendered at size,
--- times scale: a [10] tensor on the CPU.
function M.mean_shape(set, size, scale)
  local n = math.min(#set, 2000)
  if n == 0 then errors.raise("mean_shape: the set has no faces") end
  local sum = mtfl.zeros(10, {device = "cpu"})
  for first = 1, n, 500 do
    local indices = {}
    for i = first, math.min(n, first + 499) do indices[#indices + 1] = i end
    sum:add_(set:batch(indices, {size = size, device = "cpu"}).landmarks:sum(1):reshape(10))
  end
  return sum:mul_(scale / n)
end

--- Sets the bias of the model's landmark head (model:get("heads"):get("landmarks"),
--- a layer with a bias) to the mean shape, so that training starts from the mean face
--- rather than from 0 (the image's top-left corner). Returns false when there is no
--- such head.
function M.start_at_mean_shape(model, set, size, scale)
  local all = model.get and model:get("heads")
  local head = all and all:get("landmarks")
  if not (head and head.bias) then return false end
  head.bias:copy(M.mean_shape(set, size, scale):to(head.bias:device()))
  return true
end

return M
