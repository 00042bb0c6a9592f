-- mtfl.nn.linear: the fully connected layer, y = x W^T + b, with W [out, in] as in
-- Torch. Inputs [N, in] (or [..., in], taken as rows of in features).
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Module = require "mtfl.nn.module"
local init = require "mtfl.nn.initializers"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local show = require("mtfl.options").show
local options_check = require("mtfl.options").check

local Linear = class("Linear", Module)

local function check_size(n, what)
  if math.type(n) ~= "integer" or n < 1 then
    errors.raisef("Linear: %s must be a positive integer, got %s", what, show(n))
  end
end

local OPTIONS = {bias = {"boolean", true}, init = {{"string", "function"}}, device = {"string"}}

--- Linear(in_features, out_features [, {bias = true, init = "xavier_uniform" |
--- "xavier_normal" | function(w, fan_in, fan_out), device = mtfl.device()}])
function Linear:__init(in_features, out_features, options)
  Module.__init(self)
  check_size(in_features, "in_features")
  check_size(out_features, "out_features")
  options = options_check(options, OPTIONS, "Linear")
  self.in_features, self.out_features = in_features, out_features
  local device = options.device or mtfl.device()
  self:register_parameter("weight", "gradWeight", mtfl.empty(out_features, in_features, {device = device}))
  if options.bias then
    self:register_parameter("bias", "gradBias", mtfl.zeros(out_features, {device = device}))
  end
  self.initializer = init.resolve(options.init, self:describe())
  self:reset()
end

--- Linear.tensor_shapes(in_features, out_features [, options]) -> {weight = {out, in},
--- bias = {out}}: the tensors these arguments make, known without making them (a model
--- file's shapes are compared with them before anything is built); nil for arguments the
--- constructor would refuse.
function Linear.tensor_shapes(in_features, out_features, options)
  if math.type(in_features) ~= "integer" or math.type(out_features) ~= "integer" then return nil end
  local shapes = {weight = {out_features, in_features}}
  if not (type(options) == "table" and options.bias == false) then shapes.bias = {out_features} end
  return shapes
end

--- The constructor's arguments, for the model file (mtfl.nn.architecture).
function Linear:arguments()
  return {self.in_features, self.out_features, {bias = self.bias ~= nil}}
end

--- Draws fresh weights (Xavier by default) and zeroes the bias.
function Linear:reset(initializer)
  local draw = initializer or self.initializer
  draw(self.weight, self.in_features, self.out_features)
  if self.bias then self.bias:zero() end
  return self
end

function Linear:describe()
  return string.format("Linear(%d -> %d%s)", self.in_features, self.out_features,
                       self.bias and "" or ", no bias")
end

function Linear:shape_for(input_shape)
  if #input_shape < 1 or input_shape[#input_shape] ~= self.in_features then
    self:fail("input %s does not end in %d features", shape.str(input_shape), self.in_features)
  end
  local output_shape = shape.copy(input_shape)
  output_shape[#output_shape] = self.out_features
  return output_shape
end

-- [..., features] as a matrix of rows (a view when the tensor is contiguous).
local function as_rows(t, features)
  if t:dim() == 2 then return t end
  return t:contiguous():reshape(-1, features)
end

function Linear:updateOutput(input)
  self:check_tensor_input(input)
  local output_shape = self:shape_for(input:size())
  local y = self:call(mtfl.matmul, as_rows(input, self.in_features), self.weight, {tb = true})
  if self.bias then mtfl.add_channel_bias_(y, self.bias, 2) end
  return #output_shape == 2 and y or y:reshape(output_shape)
end

function Linear:updateGradInput(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  local dx = self:call(mtfl.matmul, as_rows(gradOutput, self.out_features), self.weight)  -- dy W
  return input:dim() == 2 and dx or dx:reshape(input:size())
end

function Linear:accGradParameters(input, gradOutput)
  self:check_grad_output(input, gradOutput)
  local x, dy = as_rows(input, self.in_features), as_rows(gradOutput, self.out_features)
  self:call(mtfl.matmul, dy, x, {ta = true, beta = 1, out = self.gradWeight})   -- += dy^T x
  if self.bias then self.gradBias:add_(dy:sum(1)) end
end

return Linear
