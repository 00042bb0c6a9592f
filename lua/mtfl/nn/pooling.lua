-- mtfl.nn.pooling: 2-D max pooling over [N, C, H, W]. Forward keeps the position of
-- each maximum; backward routes the gradient back to exactly those positions.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local window = require "mtfl.nn.window"
local errors = require "mtfl.errors"
local options_check = require("mtfl.options").check

local MaxPool2d = class("MaxPool2d", Module)
MaxPool2d.tensor_shapes = Module.no_tensors

-- kernel: the geometry arguments() gives back repeats the first argument (it must agree);
-- kept so that the network's description, which identifies a run, stays what it was
local OPTIONS = {stride = {"any"}, padding = {"any", 0}, ceil = {"boolean", false}, kernel = {"any"}}

--- MaxPool2d(kernel [, {stride = kernel, padding = 0, ceil = false}]): kernel, stride
--- and padding are a number or {h, w}. ceil rounds the output size up, so the last
--- window may hang over the edge (the seed network pools 75 -> 38 this way).
function MaxPool2d:__init(kernel, options)
  Module.__init(self)
  options = options_check(options, OPTIONS, "MaxPool2d")
  window.set_pooling(self, "MaxPool2d", kernel, options.stride, options.padding, options.ceil)
  if options.kernel ~= nil then
    local h, w = window.pair(options.kernel, "kernel", "MaxPool2d", 1)
    if h ~= self.kernel_h or w ~= self.kernel_w then
      errors.raisef("MaxPool2d: option 'kernel' (%dx%d) differs from the kernel argument (%dx%d)", h, w,
                    self.kernel_h, self.kernel_w)
    end
  end
end

--- The constructor's arguments, for the model file (mtfl.nn.architecture).
function MaxPool2d:arguments()
  return {{self.kernel_h, self.kernel_w}, self.geometry}
end

function MaxPool2d:describe() return window.pooling_str(self, "MaxPool2d") end

-- the core's own rule (mtfl_maxpool2d_shape), the one maxpool2d allocates with
function MaxPool2d:shape_for(s)
  return self:call(mtfl.maxpool2d_shape, s, self.geometry)
end

function MaxPool2d:updateOutput(input)
  self:check_tensor_input(input)
  local y, indices = self:call(mtfl.maxpool2d, input, self.geometry)
  self.cache = {indices = indices}
  return y
end

function MaxPool2d:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  return self:call(mtfl.maxpool2d_backward, gradOutput, self:cached("indices"), input:size(), self.geometry)
end

return MaxPool2d
