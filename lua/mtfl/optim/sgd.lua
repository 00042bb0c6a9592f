-- mtfl.optim.sgd: stochastic gradient descent with momentum and L2 weight decay:
--   v <- momentum v + (grad + weight_decay param);  param <- param - lr v
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Optimizer = require "mtfl.optim.optimizer"

local SGD = class("SGD", Optimizer)

local defaults = {lr = 1e-2, momentum = 0, weight_decay = 0}

--- SGD(params, grads [, {lr = 1e-2, momentum = 0, weight_decay = 0}]). The velocity
--- buffers exist only with momentum (a plain SGD step needs no state).
function SGD:__init(params, grads, config)
  local momentum = config and config.momentum or 0
  Optimizer.__init(self, params, grads, config, defaults, momentum > 0 and {"velocity"} or {})
end

function SGD:update(i)
  local c = self.config
  local velocity = self.buffers.velocity and self.buffers.velocity[i]
  if c.momentum > 0 and not velocity then
    require("mtfl.errors").raise("SGD: momentum was 0 when this optimizer was made, so it has no velocity buffers")
  end
  mtfl.sgd_step(self.params[i], self.grads[i], c.momentum > 0 and velocity or nil,
                {lr = c.lr, momentum = c.momentum, weight_decay = c.weight_decay})
end

return SGD
