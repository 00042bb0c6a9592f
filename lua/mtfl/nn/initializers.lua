-- mtfl.nn.initializers (nn.init): weight initialisation, drawn in place from mtfl's
-- seeded RNG (so the same seed gives the same network on every device).
--
-- Xavier/Glorot (Glorot & Bengio 2010) keeps the variance of activations and of
-- gradients roughly constant from layer to layer: Var(w) = 2 / (fan_in + fan_out).
local errors = require "mtfl.errors"

local init = {}

--- fan_in, fan_out of a weight: [out, in] for Linear, [F, C, KH, KW] for Conv2d (each
--- output sees C*KH*KW inputs; each input reaches F*KH*KW outputs).
function init.fans(t)
  local size = t:size()
  if #size < 2 then errors.raisef("nn.init: cannot infer fans of a %d-D tensor", #size) end
  local receptive = 1
  for i = 3, #size do receptive = receptive * size[i] end
  return size[2] * receptive, size[1] * receptive
end

local function fans_or_inferred(t, fan_in, fan_out)
  if fan_in and fan_out then return fan_in, fan_out end
  return init.fans(t)
end

--- Uniform on [-a, a] with a = gain * sqrt(6 / (fan_in + fan_out)) (the default).
function init.xavier_uniform(t, fan_in, fan_out, gain)
  fan_in, fan_out = fans_or_inferred(t, fan_in, fan_out)
  local bound = (gain or 1) * math.sqrt(6 / (fan_in + fan_out))
  return t:uniform(-bound, bound)
end

--- Normal with mean 0 and std = gain * sqrt(2 / (fan_in + fan_out)).
function init.xavier_normal(t, fan_in, fan_out, gain)
  fan_in, fan_out = fans_or_inferred(t, fan_in, fan_out)
  return t:normal(0, (gain or 1) * math.sqrt(2 / (fan_in + fan_out)))
end

--- All zeros (an initialiser for a bias, or a head that starts silent).
---   nn.Linear(8, 2, {init = nn.init.zeros})
function init.zeros(t) return t:zero() end

--- The initialiser a layer option names: nil or "xavier_uniform", "xavier_normal",
--- or a function(weight, fan_in, fan_out).
function init.resolve(choice, who)
  if choice == nil then return init.xavier_uniform end
  if type(choice) == "function" then return choice end
  if choice == "xavier_uniform" or choice == "xavier_normal" then return init[choice] end
  errors.raisef("%s: unknown init %q (use \"xavier_uniform\", \"xavier_normal\" or a function)",
                who, tostring(choice))
end

return init
