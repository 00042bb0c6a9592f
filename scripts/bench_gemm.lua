-- bench_gemm.lua: GFLOP/s of matmul on each device for the seed network's GEMM shapes.
--
--   mtfl-lua scripts/bench_gemm.lua [--device D] [--repeat N]
--
-- Shapes are M x N x K as the seed network at batch 64 uses them: the fully connected
-- layer (64 x 1024 x 46208, weights transposed), the two convolutions as one GEMM
-- over the whole batch (16 x 1440000 x 75 and 32 x 360000 x 400), and a square
-- reference. Each figure is the best of N timed runs after one warm-up run (which
-- also compiles OpenCL kernels).
local mtfl = require "mtfl"

local opts = require("mtfl.cli").parse(arg, {script = arg[0], about = "GFLOP/s of matmul for the seed network's GEMM shapes",
  options = {device = {"string", "one device (default: every device)", argname = "D"},
             ["repeat"] = {"int", "timed runs of each shape (the best counts)", default = 3}}})
if not opts then return end   -- --help

local shapes = {
  {name = "fc 64x1024x46208",    m = 64,   n = 1024,    k = 46208, tb = true},
  {name = "conv1 16x1440000x75", m = 16,   n = 1440000, k = 75},
  {name = "conv2 32x360000x400", m = 32,   n = 360000,  k = 400},
  {name = "square 1024^3",       m = 1024, n = 1024,    k = 1024},
}

local function bench(device, s)
  mtfl.manual_seed(1)
  local a = mtfl.rand(s.m, s.k, {device = device})
  local b = s.tb and mtfl.rand(s.n, s.k, {device = device}) or mtfl.rand(s.k, s.n, {device = device})
  local c = mtfl.empty(s.m, s.n, {device = device})
  local run = function()
    mtfl.matmul(a, b, {tb = s.tb, out = c})
    mtfl.synchronize(device)
  end
  run()
  local best = math.huge
  for _ = 1, opts["repeat"] do
    local t0 = mtfl.clock()
    run()
    best = math.min(best, mtfl.clock() - t0)
  end
  a:free(); b:free(); c:free()
  return 2 * s.m * s.n * s.k / best / 1e9, best
end

local devices = {}
if opts.device then devices = {opts.device}
else for _, d in ipairs(mtfl.devices()) do devices[#devices + 1] = d.id end end

for _, id in ipairs(devices) do
  local name
  for _, d in ipairs(mtfl.devices()) do if d.id == id then name = d.name end end
  print(string.format("%s (%s)", id, name or "?"))
  local line = {}
  for _, s in ipairs(shapes) do
    local gflops, secs = bench(id, s)
    print(string.format("  %-22s %9.1f GFLOP/s  (%.4f s)", s.name, gflops, secs))
    line[#line + 1] = string.format("%s=%.1f", s.name:match("^(%S+)"), gflops)
  end
  print(string.format("gemm_gflops device=%s %s", id, table.concat(line, " ")))
end
