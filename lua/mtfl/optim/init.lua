-- mtfl.optim: optimizers over a model's parameters.
--
--   local params, grads = nn.flatten_parameters(model)   -- or model:parameters()
--   local opt = optim.Adam(params, grads, {lr = 1e-4})
--   opt:zeroGrad(); ...forward, backward...; opt:step()
return {
  Optimizer = require "mtfl.optim.optimizer",
  Adam = require "mtfl.optim.adam",
  SGD = require "mtfl.optim.sgd",
}
