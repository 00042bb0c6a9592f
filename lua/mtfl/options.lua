-- mtfl.options: the one check of an options table, for layers, criteria, policies and
-- settings alike: an unknown key is refused with a "did you mean", and each value is
-- checked against its rule.
--
--   local options = require "mtfl.options"
--   local o = options.check(given, {
--     stride = {"any"},                          -- checked by its reader (window.pair)
--     bias = {"boolean", true},                  -- kind, default
--     eps = {"number", 1e-5, above = 0},         -- bounds: min, max, above (strict)
--     mode = {"string", "fast", values = {"fast", "exact"}},
--     k = {"integer", 5, min = 1},
--   }, "Conv2d")                                 -- names the errors
--
-- Kinds: "integer", "number" (finite unless rule.infinite), "boolean", "string",
-- "table", "function", "any"; a list of kinds ({"number", "table"}) takes any of
-- them. check returns a new table: the given values, then the defaults of the rest.
-- Errors read "Conv2d: option 'stride' must be ..., got ..." and "Conv2d: unknown
-- option 'strid' (did you mean 'stride'? options: bias, init, padding, stride)".
local errors = require "mtfl.errors"

local M = {}

-- The edit distance of two short words: insertions, deletions, substitutions and swaps
-- of neighbours ("bais" is one step from "bias").
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = {[0] = i} end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:sub(i, i) == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == b:sub(j, j) then
        d[i][j] = math.min(d[i][j], d[i - 2][j - 2] + 1)
      end
    end
  end
  return d[#a][#b]
end

--- The closest of names to word, or nil when none is close (at most a third of its
--- letters changed).
function M.closest(word, names)
  local best, best_d = nil, math.huge
  for _, name in ipairs(names) do
    local d = distance(word:lower(), name:lower())
    if d < best_d then best, best_d = name, d end
  end
  if best and best_d <= math.max(1, #word // 3) then return best end
  return nil
end

--- How a value reads in an error: strings quoted, so that "3" is not taken for 3.
function M.show(value)
  if type(value) == "string" then return string.format("%q", value) end
  if math.type(value) == "float" then
    if value ~= value then return "nan" end
    return string.format("%.17g", value):gsub("^(%-?%d+)$", "%1.0")
  end
  if type(value) == "table" or type(value) == "function" or type(value) == "userdata" then
    return "a " .. type(value)
  end
  return tostring(value)
end

local function kind_ok(kind, value)
  if kind == "any" then return true end
  if kind == "integer" then return math.type(value) == "integer" end
  return type(value) == kind
end

local function kinds_text(kinds)
  local words = {}
  for i, kind in ipairs(kinds) do
    words[i] = kind == "integer" and "an integer" or kind == "any" and "anything" or "a " .. kind
  end
  return table.concat(words, " or ")
end

--- Raises unless value follows rule ({kind or {kinds}, default, min =, max =, above =,
--- values =, infinite =}); where and key name the error.
function M.check_value(value, rule, where, key)
  local kinds = type(rule[1]) == "table" and rule[1] or {rule[1] or "any"}
  local fits = false
  for _, kind in ipairs(kinds) do fits = fits or kind_ok(kind, value) end
  if not fits then
    errors.raisef("%s: option '%s' must be %s, got %s", where, key, kinds_text(kinds), M.show(value))
  end
  if type(value) == "number" then
    if value ~= value or (not rule.infinite and (value == math.huge or value == -math.huge)) then
      errors.raisef("%s: option '%s' must be a finite number, got %s", where, key, M.show(value))
    end
    local bounds = {}
    if rule.min then bounds[#bounds + 1] = ">= " .. tostring(rule.min) end
    if rule.above then bounds[#bounds + 1] = "> " .. tostring(rule.above) end
    if rule.max then bounds[#bounds + 1] = "<= " .. tostring(rule.max) end
    if (rule.min and value < rule.min) or (rule.max and value > rule.max) or (rule.above and not (value > rule.above)) then
      errors.raisef("%s: option '%s' must be %s, got %s", where, key, table.concat(bounds, " and "), M.show(value))
    end
  end
  if rule.values then
    for _, allowed in ipairs(rule.values) do if value == allowed then return value end end
    local shown = {}
    for i, allowed in ipairs(rule.values) do shown[i] = M.show(allowed) end
    errors.raisef("%s: option '%s' is %s (use %s)", where, key, M.show(value), table.concat(shown, " or "))
  end
  return value
end

local function sorted_names(rules)
  local names = {}
  for name in pairs(rules) do names[#names + 1] = name end
  table.sort(names)
  return names
end

--- Raises for a key of given that rules does not name, with the closest one.
function M.check_keys(given, rules, where)
  for key in pairs(given) do
    if type(key) ~= "string" then
      errors.raisef("%s: the options table has a positional value (key %s): options are name = value",
                    where, tostring(key))
    end
    if rules[key] == nil then
      local names = sorted_names(rules)
      local guess = M.closest(key, names)
      errors.raisef("%s: unknown option '%s' (%soptions: %s)", where, key,
                    guess and string.format("did you mean '%s'? ", guess) or "",
                    #names > 0 and table.concat(names, ", ") or "none")
    end
  end
end

--- check(given, rules, where) -> the options resolved: each given value checked, each
--- missing one its rule's default. given may be nil (all defaults).
function M.check(given, rules, where)
  if given == nil then given = {} end
  if type(given) ~= "table" then
    errors.raisef("%s: the options must be a table, got %s", where, M.show(given))
  end
  M.check_keys(given, rules, where)
  local resolved = {}
  for key, value in pairs(given) do resolved[key] = M.check_value(value, rules[key], where, key) end
  for key, rule in pairs(rules) do
    if resolved[key] == nil then resolved[key] = rule[2] end
  end
  return resolved
end

return M
