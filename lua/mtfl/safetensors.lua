-- mtfl.safetensors: tensors to and from files in the safetensors format
-- (https://huggingface.co/docs/safetensors), readable by PyTorch, NumPy and others:
--
--   8 bytes     N, the header's length, unsigned little-endian
--   N bytes     JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
--               "__metadata__": {"key": "string value"}}, padded with spaces
--   the data    each tensor's float32 values, little-endian, row-major, at [b, e)
--
-- Only F32 is read and written (mtfl's one type). Files are written atomically
-- (mtfl.files: a unique temporary file, fsync, rename), so neither a crash nor a
-- second process saving the same path leaves a half-written or mixed file under it.
local mtfl = require "mtfl"
local json = require "mtfl.json"
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local files = require "mtfl.files"

local M = {}

local HEADER_LIMIT = 100 * 2^20   -- the reference implementation's cap on header size
local MAX_DIMS = 8                -- mtfl's tensors have at most 8 dimensions

local function metadata_strings(metadata, path)
  if metadata == nil then return nil end
  if type(metadata) ~= "table" then
    errors.raisef("safetensors.save %s: metadata must be a table of strings, got a %s", path, type(metadata))
  end
  local out = {}
  for k, v in pairs(metadata) do
    if type(k) ~= "string" then errors.raisef("safetensors.save %s: metadata key %s is not a string", path, tostring(k)) end
    if type(v) == "number" then
      v = math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
    elseif type(v) == "boolean" then
      v = tostring(v)
    elseif type(v) ~= "string" then
      errors.raisef("safetensors.save %s: metadata %q is a %s (values are strings)", path, k, type(v))
    end
    out[k] = v
  end
  return out
end

--- save(path, {name = tensor}, metadata): metadata values are strings (numbers and
--- booleans are converted). Tensors may live on any device.
function M.save(path, tensors, metadata)
  if type(tensors) ~= "table" then
    errors.raisef("safetensors.save %s: expects a table {name = tensor}, got a %s", tostring(path), type(tensors))
  end
  local header, names, offset = {}, shape.sorted_keys(tensors), 0
  for _, name in ipairs(names) do
    local t = tensors[name]
    if type(name) ~= "string" then errors.raisef("safetensors.save %s: tensor name %s is not a string", path, tostring(name)) end
    if name == "__metadata__" then errors.raisef("safetensors.save %s: \"__metadata__\" is not a tensor name", path) end
    if not mtfl.is_tensor(t) then errors.raisef("safetensors.save %s: %q is a %s, not a tensor", path, name, type(t)) end
    local bytes = t:numel() * 4
    header[name] = {dtype = "F32", shape = json.array(t:size()), data_offsets = {offset, offset + bytes}}
    offset = offset + bytes
  end
  header.__metadata__ = metadata_strings(metadata, path)
  local text = json.encode(header)
  text = text .. string.rep(" ", (8 - #text % 8) % 8)   -- the data starts 8-byte aligned

  local ok, werr = pcall(function()
    local w <close> = files.writer(path)
    w:write(string.pack("<I8", #text), text)
    for _, name in ipairs(names) do w:write(tensors[name]:to_string()) end
    w:commit()
  end)
  if not ok then errors.raise("safetensors.save: " .. tostring(werr):gsub("^[^:]*:%d+: ", "")) end
end

-- ---- loading ------------------------------------------------------------------------------

local function check_entry(fail, name, e, data_size)
  if type(e) ~= "table" then fail("entry %q is not an object", name) end
  if e.dtype ~= "F32" then
    fail("tensor %q has dtype %s (only F32 is supported)", name, tostring(e.dtype))
  end
  if type(e.shape) ~= "table" or not json.is_array(e.shape) then fail("tensor %q has no shape", name) end
  if #e.shape > MAX_DIMS then fail("tensor %q has %d dimensions (at most %d)", name, #e.shape, MAX_DIMS) end
  local numel, fits = 1, true
  for i, s in ipairs(e.shape) do
    if math.type(s) ~= "integer" or s < 0 then fail("tensor %q: shape entry %d is %s", name, i, tostring(s)) end
    if s == 0 then numel = 0 end
  end
  -- counted without overflow: a hostile shape must not wrap around to the data's size
  for _, s in ipairs(e.shape) do
    if numel > 0 and numel > (math.maxinteger // 4) // s then fits = false break end
    if numel > 0 then numel = numel * s end
  end
  local o = e.data_offsets
  if type(o) ~= "table" or math.type(o[1]) ~= "integer" or math.type(o[2]) ~= "integer" then
    fail("tensor %q has no valid data_offsets", name)
  end
  if o[1] < 0 or o[2] < o[1] or o[2] > data_size then
    fail("tensor %q: data_offsets [%d, %d] lie outside the %d bytes of data", name, o[1], o[2], data_size)
  end
  if not fits then fail("tensor %q: shape %s has more values than any file can hold", name, shape.str(e.shape)) end
  if o[2] - o[1] ~= numel * 4 then
    fail("tensor %q: shape %s needs %d bytes but data_offsets [%d, %d] span %d", name,
         shape.str(e.shape), numel * 4, o[1], o[2], o[2] - o[1])
  end
end

-- The tensors must tile the data exactly: no overlaps, no gaps, nothing left over.
local function check_tiling(fail, header, names, data_size)
  local sorted = table.move(names, 1, #names, 1, {})
  table.sort(sorted, function(a, b) return header[a].data_offsets[1] < header[b].data_offsets[1] end)
  local at = 0
  for _, name in ipairs(sorted) do
    local o = header[name].data_offsets
    if o[1] ~= at then
      fail("tensor %q starts at byte %d of the data, expected %d (overlap or gap)", name, o[1], at)
    end
    at = o[2]
  end
  if at ~= data_size then fail("%d bytes of data after the last tensor", data_size - at) end
end

--- load(path [, {device = mtfl.device()}]) -> {name = tensor}, metadata (a table of
--- strings, empty when the file has none).
function M.load(path, options)
  local device = options and options.device or mtfl.device()
  local kind = files.kind(tostring(path))
  if kind and kind ~= "file" then errors.raisef("safetensors.load: %s is a %s, not a safetensors file", tostring(path), kind) end
  local f, err = io.open(path, "rb")
  if not f then errors.raisef("safetensors.load: cannot open %s: %s", tostring(path), tostring(err)) end
  local function fail(fmt, ...)
    f:close()
    errors.raise("safetensors.load " .. path .. ": " .. string.format(fmt, ...))
  end
  local file_size = f:seek("end")
  f:seek("set", 0)
  if file_size < 8 then fail("file is %d bytes, too short for a header", file_size) end
  local header_size = string.unpack("<I8", f:read(8))
  if header_size < 2 or header_size > HEADER_LIMIT or header_size > file_size - 8 then
    -- the 8 bytes are unsigned: 2^63 and above read as negative Lua integers
    fail("header length %s does not fit a file of %d bytes", header_size < 0 and
         string.format("0x%x (2^63 or more)", header_size) or tostring(header_size), file_size)
  end
  local ok, header = pcall(json.decode, f:read(header_size))
  if not ok then fail("header is not valid JSON: %s", header) end
  if type(header) ~= "table" or json.is_array(header) then fail("header is not a JSON object") end

  local metadata = header.__metadata__ or {}
  header.__metadata__ = nil
  if type(metadata) ~= "table" or (next(metadata) ~= nil and json.is_array(metadata)) then
    fail("__metadata__ is not an object")
  end
  for k, v in pairs(metadata) do
    if type(v) ~= "string" then fail("metadata %q is not a string", tostring(k)) end
  end

  local data_start, data_size = 8 + header_size, file_size - 8 - header_size
  local names = shape.sorted_keys(header)
  for _, name in ipairs(names) do check_entry(fail, name, header[name], data_size) end
  check_tiling(fail, header, names, data_size)

  local tensors = {}
  for _, name in ipairs(names) do
    local e = header[name]
    f:seek("set", data_start + e.data_offsets[1])
    local bytes = e.data_offsets[2] - e.data_offsets[1]
    local data = bytes > 0 and f:read(bytes) or ""
    if #data ~= bytes then fail("tensor %q: file ends inside its data", name) end
    tensors[name] = mtfl.from_string(data, e.shape, {device = device})
  end
  f:close()
  return tensors, metadata
end

return M
