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
local index = require "mtfl.help.index"

local M = {}

M.index = index.index
M.GROUPS = index.GROUPS

local function summary(entry)
  local first = entry.doc and entry.doc:match("^[^\n]*") or ""
  return first ~= "" and first or "(no documentation)"
end

local signature = index.signature

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
    for _, e in ipairs(index.index().list) do
      if (e.kind == "function" or e.kind == "class") and e.name:sub(1, #prefix) == prefix then
        members[#members + 1] = e.name
      end
    end
    if #members > 0 then out[#out + 1] = "  " .. table.concat(members, ", ") end
  end
  return table.concat(out, "\n")
end

local function listing()
  local ix = index.index()
  local out = {"help(x) or help(\"name\") for one of these (x: a function, a class, a module, a tensor)"}
  for _, g in ipairs(index.GROUPS) do
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
  local ix = index.index()
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
  local ix = index.index()
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

--- markdown() -> docs/api.md's text (mtfl.help.markdown)
function M.markdown() return require("mtfl.help.markdown").markdown() end

return M
