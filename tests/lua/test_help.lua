-- help(x) and docs/api.md come from the library's `---` comments (mtfl.help): what
-- they show, that nothing the user can pass makes them fail, and that every C function
-- and every exported class is documented.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local optim = require "mtfl.optim"
local help = require "mtfl.help"
local T = require "harness"

mtfl.set_device("cpu")

-- what mtfl.help(...) printed
local function printed(...)
  local lines, saved = {}, print
  print = function(...) lines[#lines + 1] = table.concat({...}, "\t") end
  local ok, err = pcall(mtfl.help, ...)
  print = saved
  if not ok then error(err, 0) end
  return table.concat(lines, "\n")
end

local function has(text, want, what)
  if not text:find(want, 1, true) then error(string.format("%s: %q lacks %q", what, text, want), 2) end
end

T.test("help of a known function or class prints its comment, signature and example", function()
  local text = printed(mtfl.max_abs_diff)
  has(text, "mtfl.max_abs_diff(a, b)", "the signature of a Lua function")
  has(text, "Largest absolute elementwise difference", "its comment")
  text = printed(mtfl.matmul)
  has(text, "mtfl.matmul(a, b [, {ta =, tb =", "a C function's signature, from core_docs.lua")
  has(text, "local y = mtfl.matmul(x, w, {tb = true})", "its example")
  text = printed(nn.Linear)
  has(text, "nn.Linear(in_features, out_features, options)", "the constructor")
  has(text, "the fully connected layer", "the file's comment")
  has(text, ":reset(initializer)", "its methods")
  has(text, "inherits Module", "its parent")
  T.eq(printed(nn.Linear(2, 3)), text, "an instance shows its class")
  has(printed(nn.flatten_parameters), "flat parameters, flat gradients", "a function exported under another name")
  has(printed(nn.Linear.forward), "nn.Module:forward", "an inherited method, found as Module's")
  has(printed("nn.Conv2d"), "nn.Conv2d(", "by name")
  has(printed("mtfl.nn.Conv2d"), "nn.Conv2d(", "by name with mtfl.")
  local both = printed("matmul")
  has(both, "Tensor:matmul", "a bare name: the method")
  has(both, "mtfl.matmul", "and the function")
  has(printed(optim.Adam), "optim.Adam", "an optimizer")
  has(printed(mtfl.ones(2, 2)), "1-based", "a tensor shows the Tensor class")
  has(printed(nn), "nn.Sequential", "a namespace lists what it holds")
end)

T.test("help of anything else says so without an error", function()
  has(printed("no_such_thing"), "nothing is documented as \"no_such_thing\"", "an unknown name")
  has(printed(nil), "no documentation for nil", "nil")
  has(printed(3), "no documentation for 3 (a number)", "a number")
  has(printed(true), "(a boolean)", "a boolean")
  has(printed({}), "(a table)", "a plain table")
  has(printed(print), "(a function)", "a function outside the library")
  has(printed(coroutine.create(function() end)), "(a thread)", "a thread")
  has(printed(setmetatable({}, {__index = function() error("boom") end})), "(a table)", "a table that raises on index")
end)

T.test("help() lists what there is, grouped", function()
  local text = printed()
  for _, want in ipairs{"mtfl: tensors, devices and ops", "mtfl.matmul", "Tensor:narrow", "mtfl.nn: layers and containers",
                        "nn.Conv2d", "nn.Sequential", "mtfl.nn: criteria", "nn.CrossEntropy", "optim.Adam", "data.load",
                        "train.Trainer:fit"} do
    has(text, want, "help()")
  end
  local layers = text:match("mtfl.nn: layers and containers:(.-)\n\n")
  T.truthy(layers and not layers:find("CrossEntropy"), "criteria are not among the layers")
end)

T.test("every C function, Tensor method and exported class is documented", function()
  local ix = help.index()
  local missing = {}
  for _, e in ipairs(ix.list) do
    if (e.group == "mtfl" or e.group == "Tensor") and (e.kind == "function" or e.kind == "class") and
       not (e.doc and e.doc ~= "") then
      missing[#missing + 1] = e.name
    end
  end
  T.eq(table.concat(missing, ", "), "", "C functions without a block in lua/mtfl/core_docs.lua")
  for _, ns in ipairs{{"nn", nn}, {"optim", optim}} do
    for key, v in pairs(ns[2]) do
      if type(v) == "table" and rawget(v, "_class_name") then
        local e = ix.entries[ns[1] .. "." .. key]
        T.truthy(e and ((e.doc or "") ~= "" or (e.header or "") ~= ""), ns[1] .. "." .. key .. " has a comment")
      end
    end
  end
end)

T.test("nothing public shows \"(no documentation)\": functions, classes and every method", function()
  local missing = {}
  for _, e in ipairs(help.index().list) do
    if e.kind ~= "module" and not ((e.doc or "") ~= "" or (e.kind == "class" and (e.header or "") ~= "")) then
      missing[#missing + 1] = e.name
    end
  end
  T.eq(table.concat(missing, ", "), "", "entries without a comment of their own or their ancestor's")
  local text = printed(nn.Conv2d)
  T.truthy(not text:find("(no documentation)", 1, true), "help(nn.Conv2d) documents every method:\n" .. text)
  -- a method a layer overrides without a comment says what its ancestor's says
  T.truthy(printed("nn.Linear:updateOutput"):find("called by forward", 1, true), "inherited from Module")
end)

T.test("docs/api.md holds the same entries, examples as code", function()
  local md = help.markdown()
  has(md, "### `nn.Linear(in_features, out_features, options)`", "a class heading")
  has(md, "- `nn.Linear:reset(initializer)`: Draws fresh weights", "a method line")
  has(md, "```lua\nlocal y = mtfl.matmul(x, w, {tb = true})", "an example as Lua code")
  T.eq(md, help.markdown(), "the same text every time")
end)

T.run_all()
