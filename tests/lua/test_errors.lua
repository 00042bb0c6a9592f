-- Misuse gives a Lua error that names the op and the shapes, at the caller's line;
-- nothing crashes, and out-of-memory is retried after a garbage collection.
local mtfl = require "mtfl"
local T = require "harness"

T.test("wrong shapes name the op and the shapes", function()
  local a, b = mtfl.zeros(2, 3, {device = "cpu"}), mtfl.zeros(3, 2, {device = "cpu"})
  T.raises(function() return a + b end, "add: shapes [2x3] and [3x2] differ")
  T.raises(function() return a:mul(b) end, "mul: shapes [2x3] and [3x2] differ")
  T.raises(function() return mtfl.matmul(a, a) end, "matmul: shapes [2x3] and [2x3] do not multiply")
  T.raises(function() return a:reshape(4, 2) end, "reshape: cannot view [2x3] (6 elements) as [4x2]")
  T.raises(function() return a:narrow(2, 3, 2) end, "narrow: elements 3..4 of dimension 2 are outside shape [2x3]")
  T.raises(function() return a:sum(3) end, "dimension 3 out of range for a tensor of shape [2x3]")
  T.raises(function() return a:copy(mtfl.zeros(7)) end, "copy: shapes [2x3] and [7] differ")
  T.raises(function() return a:transpose(1, 2):reshape(6) end, "not contiguous")
  T.raises(function() return mtfl.zeros(1, 2, 3, 4, 5, 6, 7, 8, 9) end, "more than 8 dimensions")
end)

T.test("errors point at the calling line", function()
  local msg = T.raises(function() return mtfl.zeros(2) + mtfl.zeros(3) end, "add:")
  T.truthy(msg:find("test_errors.lua:%d+:"), "file and line in " .. msg)
end)

T.test("bad arguments", function()
  T.raises(function() return mtfl.zeros(-1) end, "negative")
  T.raises(function() return mtfl.zeros(2.5) end, "integer")
  T.raises(function() return mtfl.tensor({{1, 2}, {3}}) end, "ragged table")
  T.raises(function() return mtfl.tensor({1, "x"}) end, "element [2] is string, not a number")
  T.raises(function() return mtfl.zeros(2):add("x") end, "number expected")
  T.raises(function() return mtfl.zeros(2):item() end, "item: tensor of shape [2] has 2 elements")
  T.raises(function() return mtfl.from_bytes("abc", 2, 2, 3) end, "from_bytes: 2 x 2 x 3 pixels need 12 bytes, got 3")
  T.raises(function() return mtfl.zeros(2):clamp(3, 1) end, "clamp: lower bound 3 above upper bound 1")
  T.raises(function() return mtfl.arange(0, 10, 0) end, "arange: bad range")
  T.raises(function() return mtfl.Tensor.methods.sum(42) end, "mtfl.Tensor expected")
end)

T.test("out-of-range views and sizes are errors, never wrapped arithmetic", function()
  local t = mtfl.zeros(3, 4, {device = "cpu"})
  local min, max = math.mininteger, math.maxinteger
  T.raises(function() return t:narrow(1, min, 1) end, "narrow: index " .. min .. " is before the first element")
  T.raises(function() return t:narrow(1, 2, max) end, "narrow: " .. max .. " elements from element 2 do not fit dimension 1 of shape [3x4]")
  T.raises(function() return t:narrow(1, max, max) end, "do not fit dimension 1")
  T.raises(function() return t:narrow(1, 2, min) end, "do not fit dimension 1")
  T.raises(function() return t:narrow(2, 5, 1) end, "narrow: elements 5..5 of dimension 2 are outside shape [3x4]")
  T.eq(t:narrow(2, 5, 0):numel(), 0, "an empty narrow at the end is a view")
  T.raises(function() return t:select(1, min) end, "select: index " .. min .. " is before the first element")
  T.raises(function() return t:select(1, max) end, "select: index " .. max .. " out of range 1..3")
  T.raises(function() return t:select(1, 0) end, "select: index 0 is before the first element")
  T.raises(function() return t[min] end, "is before the first element")
  T.raises(function() return t[max] end, "out of range 1..3")
  T.raises(function() t[min] = 1 end, "is before the first element")
  T.raises(function() return mtfl.from_bytes("abc", 2^32 + 1, 1, 1) end, "from_bytes: height 4294967297")
  T.raises(function() return mtfl.from_bytes("abc", 1, 2^31, 1) end, "from_bytes: width 2147483648")
  T.raises(function() return mtfl.from_bytes("abc", 2^31 - 1, 2^31 - 1, 2^31 - 1) end, "pixels are too many")
  T.raises(function() return mtfl.from_string("", {2^62, 4}) end, "from_string: 0 bytes cannot hold a tensor of shape")
  T.raises(function() return mtfl.from_string(("\0"):rep(8), {2^31, 2^31, 4}) end, "cannot hold")
  T.raises(function() return mtfl.zeros(2^40, 2^40) end, "is too large")
  local lying = setmetatable({}, {__len = function() return 2^40 end, __index = function() return 1 end})
  T.raises(function() return mtfl.tensor({lying, lying}) end, "too large")
  T.raises(function() return t:reshape(setmetatable({}, {__len = function() return 2^32 + 1 end})) end, "dimensions (at most 8)")
end)

T.test("messages say what was wrong, where, and what is allowed (strings quoted, numbers whole)", function()
  local nn = require "mtfl.nn"
  local data = require "mtfl.data"
  T.raises(function() return nn.Conv2d(3, nil, 3) end, "Conv2d: out_channels must be a positive integer, got nil")
  T.raises(function() return nn.Linear("3", 4) end, "Linear: in_features must be a positive integer, got \"3\"")
  -- a data option: a string that reads as a number, and a size past 2^32 shown in full
  T.raises(function() return data.load{dir = "/nonexistent", size = "16"} end,
           "option 'size' must be a number, got the string \"16\"")
  T.raises(function() return data.load_list("/nonexistent", {size = 4294967300}) end, "option 'size' is 4294967300, out of range")
  -- a safetensors header length of 2^64 - 1
  local path = os.tmpname()
  local f = io.open(path, "wb")
  f:write(string.pack("<I8", -1), "{}")
  f:close()
  T.raises(function() return require("mtfl.safetensors").load(path) end,
           "header length 0xffffffffffffffff (2^63 or more) does not fit a file of 10 bytes")
  -- a list's after_line at or past its last face
  local list = os.tmpname()
  f = io.open(list, "wb")
  f:write("a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3\nb.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3\n")
  f:close()
  T.raises(function() return data.load_list(list, {size = 16, after_line = 2}) end,
           "no faces after line 2: its 2 faces end at line 2")
  os.remove(path)
  os.remove(list)
end)

T.test("unknown devices", function()
  T.raises(function() mtfl.set_device("tpu:3") end, "device 'tpu:3' not found", "cpu")
  T.raises(function() return mtfl.zeros(2, {device = "opencl:42"}) end, "device 'opencl:42' not found")
end)

T.test("mixed devices", function()
  local ids = T.devices()
  if #ids < 2 then print("  (no OpenCL device: skipped)") return end
  local a, b = mtfl.zeros(4, {device = "cpu"}), mtfl.zeros(4, {device = ids[2]})
  T.raises(function() return a + b end, "add: tensors on different devices ([4] on cpu, [4] on " .. ids[2])
  T.raises(function() return mtfl.matmul(a:reshape(2, 2), b:reshape(2, 2)) end, "matmul: operands on cpu and " .. ids[2])
  T.eq((a + b:to("cpu")):device(), "cpu", "explicit copy works")
end)

T.test("use after free", function()
  local t = mtfl.zeros(3)
  t:free()
  T.raises(function() return t:sum() end, "tensor used after free()")
  T.raises(function() return t + 1 end, "tensor used after free()")
  t:free() -- twice is harmless
end)

T.test("out of device memory is an error, retried after a collection", function()
  for _, id in ipairs(T.devices()) do
    collectgarbage()
    local mem = mtfl.memory(id)
    mtfl.set_memory_limit(mem.in_use + 10 * 2^20, id)       -- 10 MiB left
    local ok, err = pcall(function()
      local keep = mtfl.zeros(2 * 2^20, {device = id})      -- 8 MiB, held
      T.raises(function() return mtfl.zeros(2^20, {device = id}) end,
               "out of memory on " .. id, "MiB requested")
      keep = nil
      -- 8 MiB garbage nobody references: the next allocation collects it and succeeds
      for _ = 1, 3 do
        local t = mtfl.zeros(2 * 2^20, {device = id})
        T.eq(t:numel(), 2 * 2^20, "allocation after a retry")
      end
    end)
    mtfl.set_memory_limit(0, id)
    if not ok then error(err, 0) end
  end
end)

T.test("the REPL-style pcall survives every error", function()
  for _ = 1, 100 do pcall(function() return mtfl.zeros(2) + mtfl.zeros(3) end) end
  T.eq((mtfl.ones(2) + 1):sum(), 4, "still working")
end)

T.run_all()
