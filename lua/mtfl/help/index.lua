-- mtfl.help.index: what is documented, found by walking the public tables (mtfl, Tensor
-- methods, mtfl.nn, .optim, .data, .train, .predictor, .onnx, .mpi) and matched to the comments of the embedded
-- library (mtfl._lua_sources) by the values themselves, so that a function exported
-- under another name (nn.flatten_parameters) or a class made by a factory (nn.ReLU)
-- finds its comment, and a new layer exported from mtfl/nn/init.lua appears unlisted.
local mtfl = require "mtfl"
local comments = require "mtfl.help.comments"

local M = {}
local text_of = comments.text_of

-- The groups of help() and of docs/api.md, in order.
M.GROUPS = {
  {key = "mtfl", title = "mtfl: tensors, devices and ops"},
  {key = "Tensor", title = "Tensor methods (t:name(...))"},
  {key = "nn.layers", title = "mtfl.nn: layers and containers"},
  {key = "nn.criteria", title = "mtfl.nn: criteria"},
  {key = "nn", title = "mtfl.nn: functions"},
  {key = "optim", title = "mtfl.optim: optimizers"},
  {key = "data", title = "mtfl.data: the MTFL data pipeline"},
  {key = "train", title = "mtfl.train: training runs and experiments"},
  {key = "predictor", title = "mtfl.predictor: a model file used on faces"},
  {key = "onnx", title = "mtfl.onnx: a model file's network as ONNX, for other runtimes"},
  {key = "mpi", title = "mtfl.mpi: processes of one mpirun working as one"},
}
local NAMESPACES = {"nn", "optim", "data", "train", "predictor", "onnx", "mpi"}

-- The parameters of a Lua function, from the function itself: "(a, b, options)".
local function lua_args(fn, drop_self)
  local info = debug.getinfo(fn, "Su")
  if not info or info.what == "C" then return nil end
  local names = {}
  for k = 1, info.nparams do
    local name = debug.getlocal(fn, k)
    if not (drop_self and k == 1 and name == "self") then names[#names + 1] = name end
  end
  if info.isvararg then names[#names + 1] = "..." end
  return "(" .. table.concat(names, ", ") .. ")"
end

local function without_self(args)
  if not args then return nil end
  return (args:gsub("^%(%s*self%s*,?%s*", "("))
end

-- ---- the index ----------------------------------------------------------------------

local index   -- built once: {entries = {name -> entry}, list = {...}, by_value = {value -> entry}}

local function loaded_modules(files)
  local list = {}
  for name in pairs(files) do
    if package.loaded[name] ~= nil then list[#list + 1] = name end
  end
  table.sort(list)
  return list
end

-- The documentation of each Lua function of the library, by the function itself: a block
-- "R.f" or "R:f" of a file that returns its local R documents require(file).f.
local function function_docs(files)
  local docs = {}
  for _, name in ipairs(loaded_modules(files)) do
    local file, value = files[name], package.loaded[name]
    if type(value) == "function" then
      -- the module is one function (mtfl.data.loader): the block above it
      local block = file.blocks[file.returned or ""] or file.blocks["<returned>"]
      if block then docs[value] = {block = block, sep = ".", module = name} end
    elseif type(value) == "table" then
      for key, block in pairs(file.blocks) do
        local owner, sep, member = key:match("^([%w_]+)([.:])([%w_]+)$")
        local target = (owner == file.returned and value) or (owner == "mtfl" and name == "mtfl" and mtfl)
          or (owner == "Tensor" and name == "mtfl" and mtfl.Tensor.methods)
          -- a class the module hands out as a field (predictor.Predictor)
          or (type(rawget(value, owner)) == "table" and rawget(value, owner)) or nil
        local fn = target and rawget(target, member)
        if type(fn) == "function" then docs[fn] = {block = block, sep = sep, module = name} end
      end
    end
  end
  return docs
end

-- The file that defines a class: the one whose value is the class or holds it (not the
-- namespace's own init, which holds every class), and the local the class has there.
local function defining_file(files, cls, key, namespace_module)
  for _, name in ipairs(loaded_modules(files)) do
    local value = package.loaded[name]
    if name ~= namespace_module and (value == cls or type(value) == "table" and rawget(value, key) == cls) then
      local file = files[name]
      for var, class_name in pairs(file.classes) do
        if class_name == rawget(cls, "_class_name") then return name, file, var end
      end
      -- classes made by a factory (nn.activations): the local there is the factory's
      for block in pairs(file.blocks) do
        local owner = block:match("^([%w_]+):__init$")
        if owner and not file.classes[owner] then return name, file, owner end
      end
      return name, file, nil
    end
  end
end

local function is_class(v) return type(v) == "table" and rawget(v, "_class_name") ~= nil end

local function is_criterion(cls)
  local c = cls
  while c do
    if rawget(c, "_class_name") == "Criterion" then return true end
    c = rawget(c, "_parent")
  end
  return false
end

local function build()
  local files = {}
  for name, text in pairs(mtfl._lua_sources()) do files[name] = comments.parse(text) end
  local namespaces = {}
  for _, ns in ipairs(NAMESPACES) do
    local ok, value = pcall(require, "mtfl." .. ns)
    if ok then namespaces[ns] = value end
  end
  local docs = function_docs(files)
  local named = {}
  for _, file in pairs(files) do for k, block in pairs(file.named) do named[k] = block end end

  local ix = {entries = {}, list = {}, by_value = {}}
  local function add(entry, value)
    if ix.entries[entry.name] then return ix.entries[entry.name] end
    ix.entries[entry.name] = entry
    ix.list[#ix.list + 1] = entry
    if value ~= nil and ix.by_value[value] == nil then ix.by_value[value] = entry end
    return entry
  end
  local function add_function(name, fn, group, sep)
    local d = docs[fn]
    local block = d and d.block or named[name]
    local args = block and block.args or lua_args(fn, sep == ":")
    if sep == ":" then args = without_self(args) end
    return add({name = name, kind = "function", group = group, args = args,
                doc = block and text_of(block.doc) or nil, module = d and d.module}, fn)
  end
  local function add_class(name, cls, group, namespace_module, short)
    local module, file, var = defining_file(files, cls, short, namespace_module)
    local ctor = file and var and file.blocks[var .. ":__init"]
    local entry = add({name = name, kind = "class", group = group, module = module, methods = {},
                       args = ctor and without_self(ctor.args) or nil, doc = ctor and text_of(ctor.doc) or nil,
                       header = file and text_of(file.header) or nil, parent = rawget(cls, "_parent")}, cls)
    local keys = {}
    for key, fn in pairs(cls) do
      if type(fn) == "function" and not key:match("^_") then keys[#keys + 1] = key end
    end
    table.sort(keys)
    for _, key in ipairs(keys) do
      local fn = rawget(cls, key)
      local block = file and var and file.blocks[var .. ":" .. key] or (docs[fn] and docs[fn].block)
      local method = add({name = name .. ":" .. key, kind = "method", group = group,
                          args = block and without_self(block.args) or lua_args(fn, true),
                          doc = block and text_of(block.doc) or nil, module = module}, fn)
      entry.methods[#entry.methods + 1] = method
    end
    return entry
  end

  -- mtfl itself: its functions (C and Lua) and the Tensor class
  for key, v in pairs(mtfl) do
    if type(v) == "function" and not key:match("^_") then add_function("mtfl." .. key, v, "mtfl", ".") end
  end
  local tensor = add({name = "Tensor", kind = "class", group = "Tensor", methods = {},
                      doc = named.Tensor and text_of(named.Tensor.doc) or nil, module = "mtfl"}, mtfl.Tensor)
  local methods = {}
  for key in pairs(mtfl.Tensor.methods) do methods[#methods + 1] = key end
  table.sort(methods)
  for _, key in ipairs(methods) do
    tensor.methods[#tensor.methods + 1] = add_function("Tensor:" .. key, mtfl.Tensor.methods[key], "Tensor", ":")
  end
  -- the namespaces: classes, functions, and one level of tables of functions (nn.init)
  for _, ns in ipairs(NAMESPACES) do
    local value = namespaces[ns]
    if type(value) == "table" then
      local init = files["mtfl." .. ns]
      add({name = "mtfl." .. ns, kind = "module", group = ns, doc = init and text_of(init.header)}, value)
      local keys = {}
      for key in pairs(value) do keys[#keys + 1] = key end
      table.sort(keys)
      for _, key in ipairs(keys) do
        local v, name = value[key], ns .. "." .. key
        if is_class(v) then
          local group = ns == "nn" and (is_criterion(v) and "nn.criteria" or "nn.layers") or ns
          add_class(name, v, group, "mtfl." .. ns, key)
        elseif type(v) == "function" and not key:match("^_") then   -- _name: private, as in mtfl
          add_function(name, v, ns, ".")
        elseif type(v) == "table" then
          local inner = {}
          for k2, f in pairs(v) do
            if type(f) == "function" and not k2:match("^_") then inner[#inner + 1] = k2 end
          end
          table.sort(inner)
          for _, k2 in ipairs(inner) do
            -- Trainer's functions documented as Trainer:fit are methods of what Trainer.new makes
            local sep = docs[v[k2]] and docs[v[k2]].sep or "."
            add_function(name .. sep .. k2, v[k2], ns, sep)
          end
        end
      end
    end
  end
  -- a method a class overrides without a comment of its own does what the ancestor's
  -- documented one says (Linear:updateOutput is Module:updateOutput's protocol)
  for _, entry in ipairs(ix.list) do
    if entry.kind == "class" then
      for _, m in ipairs(entry.methods) do
        if not (m.doc and m.doc ~= "") then
          local key = m.name:match(":(.*)$")
          local c = entry.parent
          while c and not (m.doc and m.doc ~= "") do
            local owner = ix.by_value[c]
            local inherited = owner and ix.entries[owner.name .. ":" .. key]
            local protocol = named[tostring(rawget(c, "_class_name")) .. ":" .. key]   -- documented, not defined
            if inherited and inherited.doc and inherited.doc ~= "" then
              m.doc, m.args = inherited.doc, m.args or inherited.args
              m.inherited = inherited.name
            elseif protocol then
              m.doc, m.args = text_of(protocol.doc), m.args or protocol.args
              m.inherited = tostring(rawget(c, "_class_name")) .. ":" .. key
            end
            c = rawget(c, "_parent")
          end
        end
      end
    end
  end
  -- every file of the library, by its module name, for its header
  local names = {}
  for name in pairs(files) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    if not ix.entries[name] then
      add({name = name, kind = "module", group = "modules", doc = text_of(files[name].header)}, package.loaded[name])
    end
  end
  table.sort(ix.list, function(a, b) return a.name < b.name end)
  return ix
end

--- help's index of what is documented: {entries = {name -> entry}, list = {entry...}
--- sorted by name, by_value = {value -> entry}}. An entry: {name, kind = "function" |
--- "class" | "method" | "module", group, args, doc, header, methods, module}.
function M.index()
  index = index or build()
  return index
end

--- "nn.Linear(in_features, out_features, options)": an entry's name and parameters.
function M.signature(entry)
  return entry.name .. (entry.args or "")
end

return M
