-- mtfl.lua: the Lua half of the `mtfl` module. The C side (src/lua) provides tensors
-- and devices; this file adds what is easier to say in Lua. It receives the module
-- table and extends it in place.
local mtfl = ...

local Tensor = mtfl.Tensor.methods

--- Largest absolute elementwise difference between two tensors of the same shape
--- (on any devices).
function mtfl.max_abs_diff(a, b)
  if a:device() ~= b:device() then b = b:to(a:device()) end
  return (a - b):abs():max()
end

--- True when |a - b| <= atol + rtol * |b| everywhere.
function mtfl.allclose(a, b, rtol, atol)
  rtol, atol = rtol or 1e-5, atol or 1e-8
  if a:device() ~= b:device() then b = b:to(a:device()) end
  local slack = b:abs():mul_(rtol):add_(atol)
  return (a - b):abs():sub_(slack):max() <= 0
end

--- t:shape_string() -> "2x3x4"
function Tensor:shape_string()
  return table.concat(self:size(), "x")
end

--- help([x]): the documentation of x (a function, a class, a layer, a tensor, or a
--- name such as "nn.Conv2d"), from the library's `---` comments; help() lists what
--- there is. In mtfl-lua it is also the global help.
---   help(mtfl.matmul)
---   help("nn.Linear")
function mtfl.help(...)
  return require("mtfl.help").help(...)
end

-- CLBlast parameters tuned for this machine's OpenCL devices (scripts/tune.lua); what
-- could not be applied is listed here, never raised.
mtfl.tuning_problems = require("mtfl.tuning").apply_saved(mtfl)

return mtfl
