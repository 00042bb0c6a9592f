-- mtfl.optim.adamw: AdamW (Loshchilov & Hutter 2019), Adam with decoupled weight decay:
--   param <- param - lr * weight_decay * param - (Adam's step, from the gradient alone)
-- The decay never enters the moments, so it shrinks every weight by the same factor
-- whatever its gradient's scale, which L2 decay through Adam does not. The decay is a
-- parameter of the same fused C update as Adam's, not a second pass. Frozen parameters
-- are neither updated nor decayed (mtfl.optim.optimizer); state and checkpoints are
-- Adam's (m and v), under the type "AdamW".
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Adam = require "mtfl.optim.adam"

local AdamW = class("AdamW", Adam)

AdamW.DEFAULTS = {lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01}

--- AdamW(params, grads [, {lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
--- weight_decay = 0.01}]): weight_decay is the decoupled decay per unit of lr.
function AdamW:__init(params, grads, config)
  Adam.__init(self, params, grads, config)
end

function AdamW:update(i)
  local c = self.config
  mtfl.adam_step(self.params[i], self.grads[i], self.buffers.m[i], self.buffers.v[i], {
    lr = c.lr, beta1 = c.beta1, beta2 = c.beta2, eps = c.eps, weight_decay = 0,
    decoupled_weight_decay = c.weight_decay, step = self.step_count})
end

return AdamW
