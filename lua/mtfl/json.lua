-- mtfl.json: a compact JSON encoder and decoder, enough for file headers (safetensors)
-- and small configuration records.
--
-- Lua tables are arrays when their keys are exactly 1..n (n >= 1) and objects
-- otherwise; json.array(t) marks a table, empty or not, as an array. Objects are written
-- with sorted keys, so equal values encode to equal text. Numbers that are integers in
-- Lua are written as integers and decoded back to integers. Decoding errors name the
-- byte where the text went wrong.
--
-- Why not Debian's lua-cjson (2.1.0, checked): it writes at most 14 significant digits
-- (encode_number_precision refuses 17), so 0.1 + 0.2 comes back as 0.3 and a stored
-- learning rate or metric would not read back equal; it decodes every number, "3"
-- too, as a float, where safetensors offsets and shapes must be integers; and it is a C
-- module, which `require "mtfl"` in a stock lua5.4 would then need beside mtfl.so.
local json = {}

local array_mark = setmetatable({}, {__mode = "k"})

--- Marks t as a JSON array (needed for an empty one); returns t.
function json.array(t)
  array_mark[t] = true
  return t
end

--- True for tables marked with json.array (every array json.decode returns is).
function json.is_array(t) return array_mark[t] == true end

-- ---- encoding ---------------------------------------------------------------------------

local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                 ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t"}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  if array_mark[t] then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local encode_value

-- path: where the value sits ("result.history.val_loss[3]"), for the errors
local function encode_table(t, seen, path)
  if seen[t] then error("json.encode: " .. path .. " contains itself", 0) end
  seen[t] = true
  local parts = {}
  if is_array(t) then
    for i = 1, #t do parts[i] = encode_value(t[i], seen, path .. "[" .. i .. "]") end
    seen[t] = nil
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      error(string.format("json.encode: %s has a key that is a %s (%s), not a string", path, type(k), tostring(k)), 0)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = encode_string(k) .. ":" .. encode_value(t[k], seen, path .. "." .. k) end
  seen[t] = nil
  return "{" .. table.concat(parts, ",") .. "}"
end

function encode_value(v, seen, path)
  local kind = type(v)
  if kind == "string" then return encode_string(v) end
  if kind == "boolean" then return tostring(v) end
  if v == nil or v == json.null then return "null" end
  if kind == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v ~= v or v == math.huge or v == -math.huge then
      error(string.format("json.encode: %s is %s, which JSON cannot hold (only finite numbers)", path,
                          v ~= v and "NaN" or tostring(v)), 0)
    end
    return string.format("%.17g", v)
  end
  if kind == "table" then return encode_table(v, seen, path) end
  error(string.format("json.encode: %s is a %s, which JSON cannot hold", path, kind), 0)
end

--- The JSON text of a value (tables, strings, numbers, booleans, json.null). A value
--- JSON cannot hold (NaN, an infinity, a function) is an error naming where it sits:
--- "json.encode: value.history.loss[3] is NaN, ...".
function json.encode(value)
  return encode_value(value, {}, "value")
end

-- ---- decoding ---------------------------------------------------------------------------

json.null = setmetatable({}, {__tostring = function() return "null" end})

local function fail(text, pos, what)
  local near = text:sub(pos, pos + 15):gsub("%c", " ")
  error(string.format("bad JSON at byte %d: %s (near %q)", pos, what, near), 0)
end

local function skip_space(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local decode_value

local function decode_string(text, pos)
  -- pos is at the opening quote
  local parts, i = {}, pos + 1
  while true do
    local stop = text:find('["\\%c]', i)
    if not stop then fail(text, pos, "unterminated string") end
    parts[#parts + 1] = text:sub(i, stop - 1)
    local c = text:sub(stop, stop)
    if c == '"' then return table.concat(parts), stop + 1 end
    if c ~= "\\" then fail(text, stop, "control character in a string") end
    local e = text:sub(stop + 1, stop + 1)
    local simple = ({['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
                     n = "\n", r = "\r", t = "\t"})[e]
    if simple then
      parts[#parts + 1], i = simple, stop + 2
    elseif e == "u" then
      local hex = text:match("^%x%x%x%x", stop + 2)
      if not hex then fail(text, stop, "bad \\u escape") end
      local code = tonumber(hex, 16)
      i = stop + 6
      if code >= 0xD800 and code <= 0xDBFF then   -- a surrogate pair: two escapes, one character
        local low = text:match("^\\u(%x%x%x%x)", i)
        local low_code = low and tonumber(low, 16)
        if not low_code or low_code < 0xDC00 or low_code > 0xDFFF then
          fail(text, stop, "unpaired surrogate in a \\u escape")
        end
        code = 0x10000 + (code - 0xD800) * 0x400 + (low_code - 0xDC00)
        i = i + 6
      end
      parts[#parts + 1] = utf8.char(code)
    else
      fail(text, stop, "bad escape")
    end
  end
end

local function decode_number(text, pos)
  local s = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if not s or not s:match("^-?%d") then fail(text, pos, "bad number") end
  if s:match("^-?0%d") then fail(text, pos, "leading zero in a number") end
  local value = (s:find("[.eE]") and tonumber(s)) or math.tointeger(tonumber(s)) or tonumber(s)
  if value == nil then fail(text, pos, "bad number") end
  return value, pos + #s
end

local function decode_array(text, pos, depth)
  local out, i = json.array({}), skip_space(text, pos + 1)
  if text:sub(i, i) == "]" then return out, i + 1 end
  while true do
    local v
    v, i = decode_value(text, i, depth)
    out[#out + 1] = v
    i = skip_space(text, i)
    local c = text:sub(i, i)
    if c == "]" then return out, i + 1 end
    if c ~= "," then fail(text, i, "expected ',' or ']' in an array") end
    i = skip_space(text, i + 1)
  end
end

local function decode_object(text, pos, depth)
  local out, i = {}, skip_space(text, pos + 1)
  if text:sub(i, i) == "}" then return out, i + 1 end
  while true do
    if text:sub(i, i) ~= '"' then fail(text, i, "expected a string key") end
    local key
    key, i = decode_string(text, i)
    i = skip_space(text, i)
    if text:sub(i, i) ~= ":" then fail(text, i, "expected ':' after a key") end
    local v
    v, i = decode_value(text, skip_space(text, i + 1), depth)
    out[key] = v
    i = skip_space(text, i)
    local c = text:sub(i, i)
    if c == "}" then return out, i + 1 end
    if c ~= "," then fail(text, i, "expected ',' or '}' in an object") end
    i = skip_space(text, i + 1)
  end
end

local literals = {["true"] = true, ["false"] = false, null = json.null}

function decode_value(text, pos, depth)
  if depth > 200 then fail(text, pos, "nested too deeply") end
  local c = text:sub(pos, pos)
  if c == "{" then return decode_object(text, pos, depth + 1) end
  if c == "[" then return decode_array(text, pos, depth + 1) end
  if c == '"' then return decode_string(text, pos) end
  if c == "-" or c:match("%d") then return decode_number(text, pos) end
  for word, value in pairs(literals) do
    if text:sub(pos, pos + #word - 1) == word then return value, pos + #word end
  end
  if c == "" then fail(text, pos, "unexpected end of text") end
  fail(text, pos, "unexpected character")
end

--- The value of a JSON text. null decodes to json.null (so that it survives in tables).
function json.decode(text)
  if type(text) ~= "string" then error("json.decode: expects a string, got a " .. type(text), 0) end
  local value, pos = decode_value(text, skip_space(text, 1), 0)
  pos = skip_space(text, pos)
  if pos <= #text then fail(text, pos, "text after the value") end
  return value
end

return json
