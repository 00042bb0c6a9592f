-- mtfl.help: help(x) in the REPL, and docs/api.md (scripts/gen-api-docs.lua), both
-- from the `---` comments of the Lua library.
--
--   help()                 -- what there is, grouped
--   help(nn.Linear)        -- a class: its comment, constructor, methods
--   help("matmul")         -- by name: mtfl.matmul and Tensor:matmul
--   help(x)                -- a tensor: the Tensor class
--
-- The comments are read from the library's own text, embedded in mtfl.so
-- (mtfl._lua_sources), so nothing needs the source tree. What is documented is found by
-- walking the public tables (mtfl, Tensor methods, mtfl.nn, .optim, .data, .train), so
-- a new layer exported from mtfl/nn/init.lua shows up with no list to update. The C
-- functions' comments live in mtfl/core_docs.lua, one block per function, named by its
-- first line; tests/lua/test_help.lua fails when one of them has none.
local mtfl = require "mtfl"

local M = {}

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
}
local NAMESPACES = {"nn", "optim", "data", "train"}

-- ---- reading the comments -----------------------------------------------------------

local function lines_of(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\r?\n") do lines[#lines + 1] = line end
  return lines
end

-- What one file documents: its header (the comment it starts with), its blocks of `---`
-- lines by the definition below them ("Linear:forward", "M.load"), the blocks that name
-- themselves (C functions), the locals that hold classes, and the local it returns.
local function parse(text)
  local lines = lines_of(text)
  local file = {header = {}, blocks = {}, named = {}, classes = {}}
  local i = 1
  while lines[i] and lines[i]:match("^%-%-") and not lines[i]:match("^%-%-%-") do
    file.header[#file.header + 1] = lines[i]:gsub("^%-%- ?", "")
    i = i + 1
  end
  for n, line in ipairs(lines) do
    local var, name = line:match("^local%s+([%w_]+)%s*=%s*class%(%s*\"([%w_]+)\"")
    if var then file.classes[var] = name end
    file.returned = line:match("^return%s+([%w_]+)%s*$") or file.returned
    if line:match("^%s*%-%-%-") and not (lines[n - 1] or ""):match("^%s*%-%-%-") then
      local doc, k = {}, n
      while lines[k] and lines[k]:match("^%s*%-%-%-") do
        doc[#doc + 1] = lines[k]:gsub("^%s*%-%-%- ?", "")
        k = k + 1
      end
      while lines[k] and lines[k]:match("^%s*$") do k = k + 1 end
      local def = lines[k] or ""
      local owner, sep, member, args = def:match("^%s*function%s+([%w_]+)([.:])([%w_]+)%s*(%b())")
      if not owner then
        owner, member, args = def:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*function%s*(%b())")
        sep = "."
      end
      local block = {doc = doc, args = args}
      if owner then
        file.blocks[owner .. sep .. member] = block
      elseif not def:match("^%s*local%s") then
        -- blocks that name what they document, one after the other (core_docs.lua): a line
        -- "mtfl.matmul(a, b [, options]) -> ..." starts one, the lines below it belong to it
        local current
        for j, line in ipairs(doc) do
          local named, args, rest = line:match("^([%w_]+[.:][%w_]+)(%b())%s*(.*)$")
          if not named and j == 1 then named, rest = line:match("^(Tensor):%s*(.*)$") end
          if named then
            rest = rest:gsub("^:%s*", "")
            current = {doc = {rest ~= "" and rest or nil}, args = args}
            file.named[named] = current
          elseif current then
            current.doc[#current.doc + 1] = line
          end
        end
      end
    end
  end
  return file
end

local function text_of(doc) return table.concat(doc or {}, "\n") end

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
    if type(value) == "table" then
      for key, block in pairs(file.blocks) do
        local owner, sep, member = key:match("^([%w_]+)([.:])([%w_]+)$")
        local target = (owner == file.returned and value) or (owner == "mtfl" and name == "mtfl" and mtfl)
          or (owner == "Tensor" and name == "mtfl" and mtfl.Tensor.methods) or nil
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
  for name, text in pairs(mtfl._lua_sources()) do files[name] = parse(text) end
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
        elseif type(v) == "function" then
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

-- ---- what help prints ----------------------------------------------------------------

local function summary(entry)
  local first = entry.doc and entry.doc:match("^[^\n]*") or ""
  return first ~= "" and first or "(no documentation)"
end

local function signature(entry)
  return entry.name .. (entry.args or "")
end

local function indent(text, by)
  return (by .. text:gsub("\n", "\n" .. by)):gsub("%s+\n", "\n")
end

local function describe(entry)
  local out = {signature(entry)}
  if entry.doc and entry.doc ~= "" then out[#out + 1] = indent(entry.doc, "  ") end
  if entry.kind == "class" and entry.header and entry.header ~= "" then
    out[#out + 1] = indent(entry.header, "  ")
  end
  if not (entry.doc and entry.doc ~= "") and not (entry.header and entry.header ~= "") then
    out[#out + 1] = "  (no documentation)"
  end
  if entry.kind == "class" and entry.parent then
    out[#out + 1] = "  inherits " .. tostring(rawget(entry.parent, "_class_name")) ..
                    " (help(\"" .. entry.name:match("^[^.]+") .. "." .. tostring(rawget(entry.parent, "_class_name")) .. "\"))"
  end
  if entry.methods and #entry.methods > 0 then
    out[#out + 1] = "  methods:"
    for _, m in ipairs(entry.methods) do
      out[#out + 1] = string.format("    :%-24s %s", m.name:match(":(.*)$") .. (m.args or ""), summary(m))
    end
  end
  if entry.kind == "module" then
    local members, prefix = {}, entry.name:gsub("^mtfl%.", "") .. "."
    for _, e in ipairs(M.index().list) do
      if (e.kind == "function" or e.kind == "class") and e.name:sub(1, #prefix) == prefix then
        members[#members + 1] = e.name
      end
    end
    if #members > 0 then out[#out + 1] = "  " .. table.concat(members, ", ") end
  end
  return table.concat(out, "\n")
end

local function listing()
  local ix = M.index()
  local out = {"help(x) or help(\"name\") for one of these (x: a function, a class, a module, a tensor)"}
  for _, g in ipairs(M.GROUPS) do
    local names = {}
    for _, e in ipairs(ix.list) do
      if e.group == g.key and (e.kind == "function" or e.kind == "class") then names[#names + 1] = e.name end
    end
    if #names > 0 then
      out[#out + 1] = "\n" .. g.title .. ":"
      local line = " "
      for _, name in ipairs(names) do
        if #line + #name > 88 then out[#out + 1] = line; line = " " end
        line = line .. " " .. name
      end
      out[#out + 1] = line
    end
  end
  return table.concat(out, "\n")
end

-- The entries a name means: exact, with or without "mtfl.", or the last part of a name
-- ("Linear", "matmul", "forward").
local function by_name(name)
  local ix = M.index()
  for _, candidate in ipairs{name, (name:gsub("^mtfl%.", "")), name:find("[.:]") and "mtfl." .. name or nil} do
    if ix.entries[candidate] then return {ix.entries[candidate]} end
  end
  local found = {}
  for _, e in ipairs(ix.list) do
    local last = e.name:match("[.:]([%w_]+)$")
    if last == name and e.kind ~= "module" then found[#found + 1] = e end
  end
  return found
end

local function kind_of(x)
  if mtfl.is_tensor(x) then return "a tensor" end
  return "a " .. type(x)
end

--- text(x) -> what help(x) prints (a string); text() with no argument lists what
--- there is.
function M.text(...)
  if select("#", ...) == 0 then return listing() end
  local x = ...
  local ix = M.index()
  if type(x) == "string" then
    local found = by_name(x)
    if #found == 0 then
      return string.format("help: nothing is documented as %q; help() lists what there is", x)
    end
    local parts = {}
    for i, e in ipairs(found) do parts[i] = describe(e) end
    return table.concat(parts, "\n\n")
  end
  if mtfl.is_tensor(x) then return describe(ix.entries.Tensor) end
  if x == mtfl then return listing() end
  local entry = (type(x) == "table" or type(x) == "function") and ix.by_value[x]
  if not entry and type(x) == "table" then
    -- an instance: its class, found through its metatable (a module, an optimizer)
    local mt = getmetatable(x)
    entry = type(mt) == "table" and ix.by_value[mt]
  end
  if entry then return describe(entry) end
  return string.format("help: no documentation for %s (%s); help() lists what there is", tostring(x), kind_of(x))
end

--- help([x]): prints the documentation of x (a function, a class or one of its
--- instances, a tensor, a module table, or a name such as "nn.Linear" or "matmul");
--- with no argument, lists what there is. Never raises for an unknown x.
---   help(nn.Conv2d)
---   help("Tensor:narrow")
function M.help(...)
  print(M.text(...))
end

-- ---- docs/api.md ---------------------------------------------------------------------

-- doc lines as Markdown: lines indented by two spaces or more are code
local function markdown_doc(doc, out)
  local code = false
  for _, line in ipairs(lines_of(doc)) do
    local is_code = line:match("^  ") ~= nil
    if is_code ~= code then out[#out + 1] = is_code and "```lua" or "```"; code = is_code end
    out[#out + 1] = is_code and line:sub(3) or line
  end
  if code then out[#out + 1] = "```" end
end

--- markdown() -> docs/api.md's text: every group of help(), each entry with its
--- signature and comment, each class with its methods.
function M.markdown()
  local ix = M.index()
  local out = {"# mtfl API", "",
               "Generated by `build/mtfl-lua scripts/gen-api-docs.lua` from the `---` comments of the Lua library",
               "(lua/mtfl/core_docs.lua for the C functions); `help(x)` in the REPL shows the same. Do not edit.", ""}
  for _, g in ipairs(M.GROUPS) do
    local entries = {}
    for _, e in ipairs(ix.list) do
      if e.group == g.key and (e.kind == "function" or e.kind == "class") then entries[#entries + 1] = e end
    end
    if #entries > 0 then
      out[#out + 1] = "## " .. g.title
      out[#out + 1] = ""
      for _, e in ipairs(entries) do
        out[#out + 1] = "### `" .. signature(e) .. "`"
        out[#out + 1] = ""
        if e.doc and e.doc ~= "" then markdown_doc(e.doc, out) out[#out + 1] = "" end
        if e.kind == "class" and e.header and e.header ~= "" then
          markdown_doc(e.header, out)
          out[#out + 1] = ""
        end
        for _, m in ipairs(e.kind == "class" and e.group ~= "Tensor" and e.methods or {}) do
          out[#out + 1] = "- `" .. signature(m) .. "`" .. (m.doc and ": " .. m.doc:gsub("\n", " ") or "")
        end
        if e.kind == "class" and e.group ~= "Tensor" and #e.methods > 0 then out[#out + 1] = "" end
      end
    end
  end
  return table.concat(out, "\n"):gsub("\n\n\n+", "\n\n") .. "\n"
end

return M
