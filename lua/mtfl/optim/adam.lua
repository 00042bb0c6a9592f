-- mtfl.optim.adam: Adam (Kingma & Ba 2015) with bias correction and optional L2 weight
-- decay; each parameter tensor (or the one flat buffer) is one fused C update.
local mtfl = require "mtfl"
local class = require("mtfl.nn.class").class
local Optimizer = require "mtfl.optim.optimizer"

local Adam = class("Adam", Optimizer)

-- A subclass (AdamW) brings its own defaults; its update reads the same names.
Adam.DEFAULTS = {lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0}

--- Adam(params, grads [, {lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
--- weight_decay = 0}]): params/grads are tensors or lists of tensors.
function Adam:__init(params, grads, config)
  Optimizer.__init(self, params, grads, config, self.DEFAULTS, {"m", "v"})
  if self.config.beta1 >= 1 or self.config.beta2 >= 1 then
    require("mtfl.errors").raisef("%s: beta1 and beta2 must be below 1, got %g and %g", self._class_name,
                                  self.config.beta1, self.config.beta2)
  end
end

function Adam:update(i)
  local c = self.config
  mtfl.adam_step(self.params[i], self.grads[i], self.buffers.m[i], self.buffers.v[i], {
    lr = c.lr, beta1 = c.beta1, beta2 = c.beta2, eps = c.eps, weight_decay = c.weight_decay,
    step = self.step_count})
end

return Adam
