-- mtfl.nn: Torch7-style neural networks on mtfl tensors.
--
--   local nn = require "mtfl.nn"
--   local model = nn.Sequential{
--     nn.Conv2d(3, 16, 5, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2),
--     nn.Flatten(), nn.Linear(16 * 75 * 75, 10)}
--   local loss = criterion:forward(model:forward(x), y)
--   model:zeroGrad()
--   model:backward(x, criterion:backward(model.output, y))
--
-- Each piece lives in its own file (mtfl.nn.linear, mtfl.nn.conv, ...); this one
-- gathers them.
local activations = require "mtfl.nn.activations"
local checkpoint = require "mtfl.nn.checkpoint"
local architecture = require "mtfl.nn.architecture"
local model_file = require "mtfl.nn.model_file"
local batchnorm = require "mtfl.nn.batchnorm"
local avgpool = require "mtfl.nn.avgpool"

return {
  Module = require "mtfl.nn.module",
  Sequential = require "mtfl.nn.sequential",
  Heads = require "mtfl.nn.heads",
  Residual = require "mtfl.nn.residual",
  Concat = require "mtfl.nn.concat",
  Linear = require "mtfl.nn.linear",
  Conv2d = require "mtfl.nn.conv",
  MaxPool2d = require "mtfl.nn.pooling",
  AvgPool2d = avgpool.AvgPool2d,
  GlobalAvgPool2d = avgpool.GlobalAvgPool2d,
  BatchNorm2d = batchnorm.BatchNorm2d,
  BatchNorm1d = batchnorm.BatchNorm1d,
  ReLU = activations.ReLU,
  Tanh = activations.Tanh,
  Sigmoid = activations.Sigmoid,
  LeakyReLU = require "mtfl.nn.leaky_relu",
  PReLU = require "mtfl.nn.prelu",
  AbsTanh = require "mtfl.nn.abs_tanh",
  Dropout = require "mtfl.nn.dropout",
  Flatten = require "mtfl.nn.flatten",

  Criterion = require "mtfl.nn.criterion",
  LandmarkLoss = require "mtfl.nn.landmark_loss",
  CrossEntropy = require "mtfl.nn.cross_entropy",
  MultiTask = require "mtfl.nn.multitask",

  init = require "mtfl.nn.initializers",
  -- for layers of your own: local Scale = nn.class("Scale", nn.Module)
  class = require("mtfl.nn.class").class,
  flatten_parameters = require("mtfl.nn.flat_parameters").flatten,
  is_module = require("mtfl.nn.module").is_module,
  save = checkpoint.save,
  load = checkpoint.load,
  -- a trained network as a file that says how to use it (model_file.lua)
  save_model = model_file.save_model,
  load_model = model_file.load_model,
  architecture = architecture.architecture,
  build = architecture.build,
  register = architecture.register,
}
