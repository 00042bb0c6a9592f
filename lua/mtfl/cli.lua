-- mtfl.cli: the one way every script (examples/, scripts/) reads its command line.
--
-- Debian's lua-argparse parses (--name value, --name=value, -h/--help, a "did you
-- mean" for a misspelt option); this module adds the project's typed values and turns
-- what argparse would do to the process into what a library may do. argparse prints
-- and calls os.exit on --help and on every error, which would end the REPL or the test
-- that ran the script: here --help prints and parse returns nil, and a bad option is a
-- Lua error naming it. argparse is required when a script parses, not when mtfl loads,
-- so `require "mtfl"` in a stock lua5.4 still needs nothing but mtfl.so.
local errors = require "mtfl.errors"

local M = {}

-- what each kind's value looks like in the help text
local ARGNAME = {int = "N", number = "X", string = "VALUE", list = "A,B"}

local function is_finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

--- check_value(spec, value) -> value, or nil and what it should have been ("a positive
--- integer"): the one rule of an option of kind spec[1], for a value already typed. The
--- command line's converter applies it after reading the text; a sweep, an experiment
--- table and any program setting a run's options directly apply it too
--- (mtfl.train.options.check). Kinds: int (an integer >= spec.min, default 1), number
--- (finite, > 0, or >= spec.min), string, list (a table of at least one item), choice
--- (one of spec.choices), flag (a boolean).
function M.check_value(spec, value)
  local kind = spec[1]
  if kind == "int" then
    local min = spec.min or 1
    if math.type(value) == "integer" and value >= min then return value end
    return nil, min == 1 and "a positive integer" or "an integer >= " .. min
  elseif kind == "number" then
    if type(value) == "number" and is_finite(value) and (spec.min and value >= spec.min or not spec.min and value > 0) then
      return value
    end
    return nil, spec.min and "a number >= " .. spec.min or "a positive number"
  elseif kind == "choice" then
    for _, c in ipairs(spec.choices) do if c == value then return value end end
    return nil, "one of " .. table.concat(spec.choices, ", ")
  elseif kind == "string" then
    if type(value) == "string" then return value end
    return nil, "a string"
  elseif kind == "list" then
    if type(value) == "table" and #value > 0 then return value end
    return nil, "a list of at least one item"
  elseif kind == "flag" then
    if type(value) == "boolean" then return value end
    return nil, "true or false"
  end
  errors.raisef("cli: an option has an unknown kind %s", tostring(kind))
end

--- The converter argparse calls for option `name` of kind spec[1]: value -> typed
--- value, or nil and the message (which names the option); the rule is check_value's.
function M.converter(name, spec)
  local kind = spec[1]
  if not (kind == "int" or kind == "number" or kind == "list" or kind == "choice" or kind == "string") then
    errors.raisef("cli: option --%s has an unknown kind %s", name, tostring(kind))
  end
  return function(text)
    local value = text
    if kind == "int" then
      local n = tonumber(text)
      value = n and math.tointeger(n) or n
    elseif kind == "number" then
      value = tonumber(text)
    elseif kind == "list" then
      value = {}
      for item in text:gmatch("[^,%s]+") do value[#value + 1] = item end
    end
    local ok, want = M.check_value(spec, value)
    if ok ~= nil then return ok end
    if kind == "choice" then
      return nil, string.format("option --%s is %q (use %s)", name, text, table.concat(spec.choices, " or "))
    elseif kind == "list" then
      return nil, string.format("option --%s wants a comma-separated list, got %q", name, text)
    end
    return nil, string.format("option --%s wants %s, got %q", name, want, text)
  end
end

local function load_argparse()
  local ok, argparse = pcall(require, "argparse")
  if not ok then
    errors.raise("cli: the Lua module argparse is missing (apt-get install lua-argparse; scripts/setup-deps.sh does)")
  end
  return argparse
end

local function sorted_names(options, allowed)
  local names = {}
  for name in pairs(options) do
    if name ~= "help" and (not allowed or allowed[name]) then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

--- The argparse parser for a command line described by `command` (see M.parse).
function M.parser(command)
  local argparse = load_argparse()
  local script = command.script or "script.lua"
  -- "mtfl-lua scripts/x.lua", or "mtfl-x" when its installed command started it
  local parser = argparse(require("mtfl.commands").usage_name(script), command.about, command.epilog)
  -- argparse's own --help action exits the process; ours only marks the result
  parser:add_help(false)
  parser:flag("-h --help", "Show this help and return.")
  for _, a in ipairs(command.arguments or {}) do
    parser:argument(a[1], a[2]):args(a.args or 1)
  end
  for _, name in ipairs(sorted_names(command.options, command.allowed)) do
    local spec = command.options[name]
    local help = spec[2] or ""
    if spec.default ~= nil then help = help .. string.format(" (default: %s)", tostring(spec.default)) end
    if spec[1] == "flag" then
      parser:flag("--" .. name, help)
    else
      local option = parser:option("--" .. name, help):argname(spec.argname or spec.choices and table.concat(spec.choices, "|")
                                                    or ARGNAME[spec[1]] or "VALUE")
        :convert(M.converter(name, spec))
      -- args = "+": the values up to the next option, as a list
      if spec.args then option:args(spec.args) end
    end
  end
  return parser
end

--- parse(args, command) -> {name = value} (dashes in names become underscores:
--- epoch_size), or nil after printing the help for -h/--help.
--- command = {script = "examples/x.lua", about = "one line", options = {name = {kind,
--- help, default =, choices =, min =, argname =, args = "+" (a list of the values up to the
--- next option)}}, allowed = a set of the names this
--- script takes (default: all), arguments = {{name, help [, args = "+" | "?" | "*"]},
--- ...}: positional arguments, in order (result[name]; a list with args)}. Kinds:
--- flag, int, number, string, list, choice (see M.converter). The result holds the options given, and the defaults of those not
--- given that have one. A bad option is an error naming it, never an exit.
---   local o = cli.parse(arg, {script = "scripts/bench_gemm.lua",
---                             options = {["repeat"] = {"int", "timed runs", default = 3}}})
---   if not o then return end   -- --help
function M.parse(args, command)
  local parser = M.parser(command)
  local list = {}
  for i = 1, #(args or {}) do list[i] = tostring(args[i]) end
  -- before parsing: a script's required arguments must not hide its help
  for _, a in ipairs(list) do
    if a == "--" then break end
    if a == "-h" or a == "--help" then
      print(parser:get_help())
      return nil
    end
  end
  local ok, result = parser:pparse(list)
  if not ok then
    -- one line: argparse puts its "Did you mean" guess on a line of its own
    result = result:gsub("\nDid you mean", "; did you mean")
    if result:match("^missing argument") then result = result .. " (--help shows the usage)" end
    if result:match("^unknown option") then result = result .. " (--help lists the options)" end
    if result == "too many arguments" then
      result = result .. (command.arguments and ": --help shows what the script takes" or ": the script takes only options (--help lists them)")
    end
    errors.raise(result)
  end
  if result.help then
    print(parser:get_help())
    return nil
  end
  local given = {}
  for _, name in ipairs(sorted_names(command.options, command.allowed)) do
    local key = name:gsub("%-", "_")
    local value = result[key]
    if value == nil or value == false then value = command.options[name].default end
    if value ~= nil then given[key] = value end
  end
  for _, a in ipairs(command.arguments or {}) do given[a[1]] = result[a[1]] end
  return given
end

return M
