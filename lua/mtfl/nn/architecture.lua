-- mtfl.nn.architecture: a module tree as plain data, and the tree built again from it,
-- so that a model file can be used without the script that made the network.
--
--   local arch = nn.architecture(model)   -- {type = "Sequential", children = {...}}
--   local copy = nn.build(arch)           -- the same structure, fresh weights
--
-- A class takes part by giving its constructor's arguments back (Module:arguments());
-- a container also builds itself from its children (Class.from_parts). Classes are
-- found by name in mtfl.nn, or in those given to nn.register.

local errors = require "mtfl.errors"
local mtfl = require "mtfl"

local M = {}

-- name -> class, beyond mtfl.nn's own: layers a user wrote (nn.register)
local registered = {}

--- register(cls): a class of your own (nn.class("Scale", nn.Module)) that nn.build and
--- nn.load_model can make; it needs arguments() (and from_parts for a container).
function M.register(cls)
  if type(cls) ~= "table" or type(cls._class_name) ~= "string" then
    errors.raise("nn.register: expects a class made with nn.class")
  end
  registered[cls._class_name] = cls
  return cls
end

local function find_class(name)
  local cls = registered[name] or require("mtfl.nn")[name]
  if type(cls) ~= "table" or cls._class_name ~= name then return nil end
  return cls
end

-- JSON can hold these: numbers, strings, booleans and tables of them
local function check_plain(value, where)
  local t = type(value)
  if t == "number" or t == "string" or t == "boolean" then return end
  if t ~= "table" or mtfl.is_tensor(value) or getmetatable(value) then
    errors.raisef("nn.architecture: %s holds a %s, which a model file cannot describe", where,
                  mtfl.is_tensor(value) and "tensor" or t)
  end
  for k, v in pairs(value) do check_plain(v, where .. "." .. tostring(k)) end
end

--- architecture(model) -> {type =, args = {...}, children = {{name =, <architecture>}, ...}}
function M.architecture(model, path)
  path = path or "model"
  local name = model._class_name
  if not find_class(name) then
    errors.raisef("nn.architecture: %s is a %s, not a class of mtfl.nn: nn.register it first", path, name)
  end
  if not model.arguments then
    errors.raisef("nn.architecture: %s (%s) cannot describe itself: its class has no arguments()", path, name)
  end
  local args = model:arguments()
  check_plain(args, path .. " (" .. name .. ") arguments")
  local node = {type = name, args = args}
  local modules, names = model:children()
  if #modules > 0 then
    if not getmetatable(model).from_parts then
      errors.raisef("nn.architecture: %s (%s) holds modules but its class has no from_parts", path, name)
    end
    node.children = {}
    for i, m in ipairs(modules) do
      local child = M.architecture(m, path .. "." .. names[i])
      child.name = names[i]
      node.children[i] = child
    end
  end
  return node
end

local function build(node, path)
  if type(node) ~= "table" or type(node.type) ~= "string" then
    errors.raisef("nn.build: %s is not a module description {type =, args =}", path)
  end
  local cls = find_class(node.type)
  if not cls then
    errors.raisef("nn.build: %s is a %s, which is neither in mtfl.nn nor registered (nn.register)", path, node.type)
  end
  local args = node.args or {}
  if type(args) ~= "table" then errors.raisef("nn.build: %s (%s): args is not a list", path, node.type) end
  local ok, module
  if node.children then
    local modules, names = {}, {}
    for i, child in ipairs(node.children) do
      modules[i] = build(child, path .. "." .. tostring(child.name))
      names[i] = child.name
    end
    if not cls.from_parts then errors.raisef("nn.build: %s (%s) has children but no from_parts", path, node.type) end
    ok, module = pcall(cls.from_parts, args, modules, names)
  else
    ok, module = pcall(cls, table.unpack(args, 1, args.n or #args))
  end
  if not ok then errors.raisef("nn.build: %s (%s): %s", path, node.type, tostring(module):gsub("^[^:]*:%d+: ", "")) end
  return module
end

--- declared_tensors(architecture) -> {name = shape}, {prefix, ...}: the parameters and
--- buffers the description's layers would make (each class's tensor_shapes, from its
--- arguments alone), by state_dict name, and the prefixes of the layers whose class
--- cannot say (their tensors are known only once built). What nn.load_model compares a
--- file's tensors with before it builds anything.
function M.declared_tensors(node)
  local shapes, open = {}, {}
  local function walk(n, prefix, depth)
    if depth > 200 then errors.raisef("nn.build: %s is nested more than 200 deep", prefix) end
    if type(n) ~= "table" then return end   -- build names what is wrong with it
    if type(n.children) == "table" then
      for _, child in ipairs(n.children) do
        walk(child, prefix .. tostring(type(child) == "table" and child.name) .. ".", depth + 1)
      end
      return
    end
    local cls = type(n.type) == "string" and find_class(n.type)
    local args = type(n.args) == "table" and n.args or {}
    local ok, own = false, nil
    if cls and cls.tensor_shapes then ok, own = pcall(cls.tensor_shapes, table.unpack(args, 1, args.n or #args)) end
    if not (ok and type(own) == "table") then
      open[#open + 1] = prefix
      return
    end
    for name, s in pairs(own) do shapes[prefix .. name] = s end
  end
  walk(node, "", 0)
  return shapes, open
end

--- build(architecture) -> a module with that structure. Its weights are freshly
--- initialised (a model file then loads its own), drawn without moving the caller's
--- random stream.
function M.build(node)
  local seed, counter = mtfl.rng_state()
  local ok, result = pcall(build, node, "model")
  mtfl.set_rng_state(seed, counter)
  if not ok then error(result, 0) end
  return result
end

return M
