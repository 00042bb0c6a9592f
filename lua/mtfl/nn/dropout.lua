-- mtfl.nn.dropout: in training, zeroes each element with probability p and scales the
-- rest by 1 / (1 - p) ("inverted" dropout: evaluation is then the identity). The mask
-- comes from mtfl's seeded RNG, so a seed (or mtfl.set_rng_state) reproduces it on
-- every device.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show

local Dropout = class("Dropout", Module)
Dropout.tensor_shapes = Module.no_tensors

--- Dropout([p = 0.5])
function Dropout:__init(p)
  Module.__init(self)
  p = p or 0.5
  if type(p) ~= "number" or p < 0 or p >= 1 then
    errors.raisef("Dropout: p must be in [0, 1), got %s", show(p))
  end
  self.p = p
end

function Dropout:arguments() return {self.p} end

function Dropout:describe() return string.format("Dropout(%g)", self.p) end

local function active(self) return self.train and self.p > 0 end

function Dropout:updateOutput(input)
  self:check_tensor_input(input)
  if not active(self) then return input end
  -- uniform u >= p keeps the element: probability 1 - p
  local mask = mtfl.rand(input:size(), {device = input:device()}):step_(self.p, 1 / (1 - self.p))
  self.cache = {mask = mask}
  return input:mul(mask)
end

function Dropout:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  if not active(self) then return gradOutput end
  return gradOutput:mul(self:cached("mask"))
end

return Dropout
