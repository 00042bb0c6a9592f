-- mtfl.onnx.protobuf: the protocol-buffer wire format, the writing half, as far as ONNX
-- needs it (ONNX files are protobuf messages; there is no protobuf module in Debian's Lua).
--
--   local m = protobuf.message()
--   m:int(1, 7):string(2, "mtfl-lua"):message(7, graph)   -- field number, value
--   local bytes = m:encode()
--
-- A message is its fields one after another, each a key (field number << 3 | wire type)
-- then the value: a varint (wire type 0: integers, enums, booleans), 4 little-endian
-- bytes (5: float) or a length and that many bytes (2: strings, bytes, messages).
-- Repeated fields are written one key per value, the unpacked form every proto2 reader
-- (onnx.proto is proto2) accepts.
local errors = require "mtfl.errors"

local M = {}

local VARINT, FIXED32, BYTES = 0, 5, 2

--- varint(n) -> the bytes of the integer n as a base-128 varint. A negative int64 is
--- its two's complement, ten bytes, as protobuf writes it.
function M.varint(n)
  if math.type(n) ~= "integer" then
    errors.raisef("protobuf: a varint must be an integer, got %s", tostring(n))
  end
  local out = {}
  -- unsigned comparison and >> (a logical shift in Lua): a negative n is 2^64 + n
  while math.ult(0x7f, n) do
    out[#out + 1] = string.char(n & 0x7f | 0x80)
    n = n >> 7
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end

local function key(field, wire) return M.varint(field << 3 | wire) end

local Message = {}
Message.__index = Message

--- message() -> an empty message to add fields to; each adder returns the message.
function M.message() return setmetatable({parts = {}}, Message) end

function Message:int(field, n)
  local parts = self.parts
  parts[#parts + 1] = key(field, VARINT)
  parts[#parts + 1] = M.varint(n)
  return self
end

function Message:float(field, x)
  local parts = self.parts
  parts[#parts + 1] = key(field, FIXED32)
  parts[#parts + 1] = string.pack("<f", x)
  return self
end

--- bytes or a string (protobuf's string is UTF-8 bytes, written the same way)
function Message:string(field, s)
  if type(s) ~= "string" then errors.raisef("protobuf: field %d wants a string, got a %s", field, type(s)) end
  local parts = self.parts
  parts[#parts + 1] = key(field, BYTES)
  parts[#parts + 1] = M.varint(#s)
  parts[#parts + 1] = s
  return self
end

--- a nested message (a message object or its encoded bytes)
function Message:message(field, m)
  return self:string(field, getmetatable(m) == Message and m:encode() or m)
end

function Message:ints(field, list)
  for _, n in ipairs(list) do self:int(field, n) end
  return self
end

function Message:floats(field, list)
  for _, x in ipairs(list) do self:float(field, x) end
  return self
end

function Message:strings(field, list)
  for _, s in ipairs(list) do self:string(field, s) end
  return self
end

function Message:messages(field, list)
  for _, m in ipairs(list) do self:message(field, m) end
  return self
end

--- The message's bytes.
function Message:encode() return table.concat(self.parts) end

return M
