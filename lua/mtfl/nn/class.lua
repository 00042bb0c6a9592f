-- mtfl.nn.class: the small class system behind modules, criteria and optimizers.
--
--   local Linear = class("Linear", Module)   -- Linear inherits Module's methods
--   function Linear:__init(a, b) ... end     -- the constructor
--   local layer = Linear(4, 2)               -- calling the class makes an instance
--
-- Metamethods (__tostring) are copied down at definition time, because Lua looks
-- them up in the instance's metatable itself, never through __index.
local M = {}

--- nn.class(name [, parent]) -> a class: calling it makes an instance and runs its
--- __init; methods of parent are inherited. How a layer of your own starts (register it
--- with nn.register to save it in a model file).
---   local Scale = nn.class("Scale", nn.Module)
---   function Scale:__init(k) nn.Module.__init(self) self.k = k end
---   function Scale:updateOutput(x) return x:mul(self.k) end
function M.class(name, parent)
  local cls = {__name = name, _class_name = name, _parent = parent}
  cls.__index = cls
  if parent then
    for _, meta in ipairs({"__tostring", "__len", "__concat"}) do cls[meta] = parent[meta] end
  end
  return setmetatable(cls, {
    __index = parent,
    __call = function(c, ...)
      local object = setmetatable({}, c)
      if c.__init then object:__init(...) end
      return object
    end,
  })
end

--- is_instance(object, cls) -> true when object is an instance of cls or of a class
--- derived from it.
function M.is_instance(object, cls)
  if type(object) ~= "table" then return false end
  local c = getmetatable(object)
  while c do
    if c == cls then return true end
    c = rawget(c, "_parent")
  end
  return false
end

return M
