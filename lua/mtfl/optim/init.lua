-- mtfl.optim: optimizers over a model's parameters, gradient clipping and learning-rate
-- schedules.
--
--   local params, grads = nn.flatten_parameters(model)   -- or model:parameters()
--   local opt = optim.AdamW(params, grads, {lr = 1e-4, weight_decay = 0.01})
--   opt:zeroGrad(); ...forward, backward...; optim.clip_grad_norm(opt, 5); opt:step()
--   opt:set_lr(optim.schedules.cosine{epochs = 30}(epoch, 1e-4))
return {
  Optimizer = require "mtfl.optim.optimizer",
  Adam = require "mtfl.optim.adam",
  AdamW = require "mtfl.optim.adamw",
  SGD = require "mtfl.optim.sgd",
  clip_grad_norm = require("mtfl.optim.clip").clip_grad_norm,
  schedules = require "mtfl.optim.schedules",
}
