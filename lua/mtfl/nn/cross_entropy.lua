-- mtfl.nn.cross_entropy: softmax cross-entropy of logits [N, K] against class labels
-- 1..K (the seed report's eq. 1), averaged over the batch. The softmax is part of the
-- loss (computed stably in C), so the network's head outputs raw logits.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Criterion = require "mtfl.nn.criterion"
local shape = require "mtfl.nn.shape"

local CrossEntropy = class("CrossEntropy", Criterion)

function CrossEntropy:__init() end

--- Labels as a [N] tensor on the logits' device (a Lua list of numbers also works).
function CrossEntropy:labels(input, target)
  self:check_input(input, 2, "[N x K] logits")
  local labels = self:target_tensor(target, input)
  if labels:dim() ~= 1 or labels:size(1) ~= input:size(1) then
    self:fail("labels %s do not match logits %s (want [%d] class numbers 1..%d)",
              shape.str(labels), shape.str(input), input:size(1), input:size(2))
  end
  return labels
end

--- The loss makes the gradient too, from the same softmax; backward with that same input
--- and target takes it instead of computing both again. The contract is Torch7's:
--- backward follows the forward of its input, and a tensor changed in place in between
--- must go through forward again. The labels are never read: a label that is not a
--- class number turns the loss into NaN, and explain names the sample.
function CrossEntropy:loss(input, target)
  local per_sample, grad = self:call(mtfl.cross_entropy, input, self:labels(input, target),
                                     {grad = true, scale = 1 / input:size(1)})
  self.cache = {input = input, target = target, grad = grad}
  return per_sample:mean(1)
end

function CrossEntropy:explain(input, target)
  self:call(mtfl.check_labels, self:labels(input, target), input:size(2))
end

--- ce:updateGradInput(input, target) -> dLoss/dScores: the one loss() made for this same
--- input and target (handed out once), else computed afresh.
function CrossEntropy:updateGradInput(input, target)
  local made = self.cache
  self.cache = nil   -- handed out once: the caller may scale it in place
  if made and rawequal(made.input, input) and rawequal(made.target, target) then return made.grad end
  local labels = self:labels(input, target)
  local _, grad = self:call(mtfl.cross_entropy, input, labels, {grad = true, scale = 1 / input:size(1)})
  return grad
end

return CrossEntropy
