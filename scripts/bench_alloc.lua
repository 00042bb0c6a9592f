-- bench_alloc.lua: what fresh memory costs an op. The same 92 MB copy (64x16x150x150
-- floats, the seed network's first activation) three ways: into a new tensor each time
-- while the last one is garbage not yet collected (what an op that allocates its output
-- does in a training loop), into a new tensor after a full collection (the freed block
-- comes back from the CPU backend's cache), and into one existing tensor.
--
--   mtfl-lua scripts/bench_alloc.lua [--device D] [--rounds 10]
local mtfl = require "mtfl"

local opts = require("mtfl.cli").parse(arg, {script = arg[0], about = "what fresh memory costs an op: a 92 MB copy three ways",
  options = {device = {"string", "the device (default: mtfl's default device)", argname = "D"},
             rounds = {"int", "timed copies of each kind", default = 10}}})
if not opts then return end   -- --help
local device = opts.device or mtfl.device()
mtfl.set_device(device)
local x = mtfl.rand(64, 16, 150, 150)

local function ms(fn)
  fn()
  mtfl.synchronize(device)
  local t0 = mtfl.clock()
  for _ = 1, opts.rounds do fn() end
  mtfl.synchronize(device)
  return (mtfl.clock() - t0) / opts.rounds * 1e3
end

local target = x:clone()
local fresh = ms(function() local c = x:clone() end)
local collected = ms(function() collectgarbage() local c = x:clone() end)
local existing = ms(function() target:copy(x) end)
print(string.format("on %s, %d rounds, 92 MB each:", device, opts.rounds))
print(string.format("  clone, the last copy still garbage   %7.2f ms", fresh))
print(string.format("  clone after a full collection        %7.2f ms", collected))
print(string.format("  copy into an existing tensor         %7.2f ms", existing))
print(string.format("fresh_ms=%.2f collected_ms=%.2f existing_ms=%.2f", fresh, collected, existing))
