-- tune.lua: CLBlast's GEMM kernels tuned for one OpenCL device, with the tuners of
-- Debian's clblast-utils, for the GEMM the network multiplies most; the parameters are
-- stored in the cache folder (lua/mtfl/tuning.lua) and applied whenever mtfl loads.
--
--   mtfl-lua scripts/tune.lua [--device D] [--fraction F] [--net seed|tcdcn]
--                             [--size M,N,K] [--kernels xgemm_direct,xgemm] [--runs N]
--
--   --device    an OpenCL device (default: the first one)
--   --fraction  the share of each tuner's configurations to try, 0 < F <= 1 (default 1):
--               0.05 on PoCL takes a minute, 1 on a GPU a few
--   --net       whose GEMM to tune for (default seed): the product of the convolution or
--               linear layer with the most multiply-adds, at the batch size its
--               experiments train with; its long side is shortened until one product is
--               at most --max-gflop (default 0.5 on a CPU device, 20 on a GPU), so that
--               each configuration is timed in a moment
--   --size      M,N,K instead of the network's
--   --kernels   which tuners (default both): xgemm_direct (CLBlast's one-kernel GEMM for
--               small products) and xgemm (the tiled GEMM for large ones)
--   --always-store  store the parameters even when the GEMM measured slower with them
--               (by default they are kept only when they beat what the device had)
--
-- It prints the GEMM's GFLOP/s before and after, measured in this process through
-- mtfl.matmul; `mtfl-lua --devices` says which kernels of a device are tuned. Only the
-- first, exhaustive search of each tuner is run (CLBlast's random searches over their
-- larger spaces take hours on a CPU device).
--
-- CLBlast 1.5's tuners divide by their -fraction argument (the number of configurations
-- tried is the total / fraction), so the share F is passed to them as 1 / F.
local mtfl = require "mtfl"
local nn = require "mtfl.nn"
local json = require "mtfl.json"
local files = require "mtfl.files"
local tuning = require "mtfl.tuning"
local experiment = require "mtfl.train.experiment"

-- what each tuner tunes: the binary, the JSON its first search writes, CLBlast's kernel name
local TUNERS = {
  xgemm_direct = {binary = "clblast_tuner_xgemm_direct", json = "clblast_xgemm_direct_1_32.json", kernel = "XgemmDirect"},
  -- the tiled kernel's tuner wants every size a multiple of its largest tiles (64)
  xgemm = {binary = "clblast_tuner_xgemm", json = "clblast_xgemm_1_32.json", kernel = "Xgemm", round = 64},
}
local NETS = {seed = {example = "multitask.lua", batch = 64, size = 150}, tcdcn = {example = "tcdcn.lua", batch = 50, size = 40}}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

local opts = require("mtfl.cli").parse(arg, {script = arg[0], about = "CLBlast's GEMM kernels tuned for one OpenCL device",
  options = {device = {"string", "an OpenCL device (default: the first one)", argname = "D"},
             fraction = {"number", "the share of each tuner's configurations to try, 0 < F <= 1", default = 1,
                         argname = "F"},
             net = {"choice", "whose GEMM to tune for", choices = {"seed", "tcdcn"}, default = "seed"},
             size = {"string", "M,N,K instead of the network's GEMM", argname = "M,N,K"},
             kernels = {"string", "which tuners, comma-separated", default = "xgemm_direct,xgemm", argname = "A,B"},
             runs = {"int", "runs per configuration, passed to the tuners", default = 2},
             ["max-gflop"] = {"number", "the most GFLOP one product may take (default: 0.5 on a CPU device, 20 on a GPU)",
                              argname = "G"},
             ["always-store"] = {"flag", "store the parameters even when the GEMM measured slower with them"}}})
if not opts then return end   -- --help
if opts.fraction > 1 then fail("--fraction %g: a share of the configurations, 0 < F <= 1", opts.fraction) end

-- the device
local device
for _, d in ipairs(mtfl.devices()) do
  if d.backend == "opencl" and (not opts.device or d.id == opts.device) and not device then device = d end
end
if not device then
  if opts.device and opts.device:match("^cpu") then
    fail("--device %s: the CPU backend multiplies with OpenBLAS, which needs no tuning", opts.device)
  end
  fail("no OpenCL device%s to tune (mtfl-lua --devices lists them)", opts.device and (" " .. opts.device) or "")
end

-- the GEMM: M x N x K, as the convolutions multiply W [F, C*KH*KW] by columns [C*KH*KW, N*OH*OW]
local function network_gemm(net)
  local spec = assert(loadfile(debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") .. "/../examples/" ..
                               net.example))(experiment.AS_SPEC)
  local outputs = {}
  for task in pairs(spec.tasks) do outputs[task] = experiment.OUTPUTS[task] end
  local model = spec.network(net.size, outputs)
  local best, shape = nil, {net.batch, 3, net.size, net.size}
  for _, m in ipairs(model.modules) do
    local out = m:shape_for(shape)
    local g
    if m._class_name == "Conv2d" then
      g = {m = m.out_channels, k = m.in_channels * m.kernel_h * m.kernel_w, n = out[1] * out[3] * out[4],
           layer = m:describe()}
    elseif m._class_name == "Linear" then
      g = {m = shape[1], k = shape[2], n = out[2], layer = m:describe()}
    end
    if g and (not best or g.m * g.n * g.k > best.m * best.n * best.k) then best = g end
    shape = out
  end
  return best
end

local gemm
if opts.size then
  local m, n, k = opts.size:match("^(%d+),(%d+),(%d+)$")
  if not m then fail("--size %s: want M,N,K (three positive integers)", opts.size) end
  gemm = {m = tonumber(m), n = tonumber(n), k = tonumber(k), layer = "--size"}
  if gemm.m < 1 or gemm.n < 1 or gemm.k < 1 then fail("--size %s: sizes must be positive", opts.size) end
else
  gemm = network_gemm(NETS[opts.net])
  local limit = (opts.max_gflop or (device.is_gpu and 20 or 0.5)) * 1e9
  -- the long side shrinks (in steps of 64, the tuners' tile multiples) until it fits
  local long = gemm.n >= gemm.m and "n" or "m"
  while 2 * gemm.m * gemm.n * gemm.k > limit and gemm[long] > 64 do gemm[long] = math.max(64, (gemm[long] // 2) // 64 * 64) end
end

-- GFLOP/s of that product through mtfl: the best run after a warm-up (which compiles),
-- over at least five runs and a third of a second
local function measure()
  mtfl.manual_seed(1)
  local a = mtfl.rand(gemm.m, gemm.k, {device = device.id})
  local b = mtfl.rand(gemm.k, gemm.n, {device = device.id})
  local c = mtfl.empty(gemm.m, gemm.n, {device = device.id})
  local best, runs, start = math.huge, 0, nil
  while runs < 6 or (mtfl.clock() - start < 0.33 and runs < 200) do
    local t0 = mtfl.clock()
    mtfl.matmul(a, b, {out = c})
    mtfl.synchronize(device.id)
    if runs > 0 then best = math.min(best, mtfl.clock() - t0) else start = mtfl.clock() end
    runs = runs + 1
  end
  a:free(); b:free(); c:free()
  return 2 * gemm.m * gemm.n * gemm.k / best / 1e9
end

local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs one tuner until its first search has written its results; returns them.
local function run_tuner(name, t, dir)
  local log = dir .. "/" .. name .. ".log"
  local function sized(v) return t.round and (v + t.round - 1) // t.round * t.round or v end
  local command = string.format("cd %s && exec %s -platform %d -device %d -precision 32 -m %d -n %d -k %d " ..
                                "-fraction %.6g -runs %d >%s 2>&1 </dev/null & echo $!",
                                sh(dir), t.binary, device.platform_index, device.platform_device, sized(gemm.m),
                                sized(gemm.n), sized(gemm.k), 1 / opts.fraction, opts.runs, sh(log))
  local p = assert(io.popen(command))
  local pid = math.tointeger(tonumber(p:read("l")))
  p:close()
  if not pid then fail("%s could not be started", t.binary) end
  local path = dir .. "/" .. t.json
  local found
  while true do
    local f = io.open(path, "rb")
    if f then   -- complete once it parses: the tuner writes it in one go at the search's end
      local ok, result = pcall(json.decode, f:read("a"))
      f:close()
      if ok and type(result) == "table" then found = result; break end
    end
    if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
    os.execute("sleep 0.5")
  end
  os.execute("kill " .. pid .. " 2>/dev/null")   -- its random search would take hours
  if not found then
    local f = io.open(log, "rb")
    local text = f and f:read("a") or ""
    if f then f:close() end
    fail("%s ended without results; its last output:\n%s", t.binary, text:sub(-1500))
  end
  return found
end

-- "KWID=2 MDIMAD=16 ... PRECISION=32" -> {KWID = 2, ...}, without PRECISION (CLBlast's
-- override takes it from its own argument)
local function parameters_of(result)
  local p = {}
  for key, value in tostring(result.best_parameters or ""):gmatch("(%u[%u%d_]*)=(%d+)") do
    if key ~= "PRECISION" then p[key] = math.tointeger(tonumber(value)) end
  end
  if not next(p) then fail("the tuner's results name no best parameters") end
  return p
end

print(string.format("tuning %s (%s, driver %s) for %s: M=%d N=%d K=%d (%.2f GFLOP a product)", device.id,
                    device.name, device.driver, gemm.layer, gemm.m, gemm.n, gemm.k, 2 * gemm.m * gemm.n * gemm.k / 1e9))
local before = measure()
print(string.format("before: %.1f GFLOP/s (%s)", before, device.tuned ~= "" and ("tuned: " .. device.tuned) or "CLBlast's defaults"))

local dir = os.tmpname()
os.remove(dir)
files.mkdir(dir)
local record = {device = device.name, driver = device.driver, kernels = {}, measured = {
  m = gemm.m, n = gemm.n, k = gemm.k, layer = gemm.layer, fraction = opts.fraction, before_gflops = before}}
local ok, err = pcall(function()
  for name in opts.kernels:gmatch("[^,]+") do
    local t = TUNERS[name]
    if not t then fail("--kernels: unknown tuner %s (xgemm_direct, xgemm)", name) end
    if not os.execute("command -v " .. t.binary .. " >/dev/null") then
      fail("%s is not installed (apt-get install clblast-utils; scripts/setup-deps.sh does)", t.binary)
    end
    local t0 = mtfl.clock()
    local result = run_tuner(name, t, dir)
    record.kernels[t.kernel] = parameters_of(result)
    local configs = type(result.results) == "table" and #result.results or 0
    print(string.format("%s: %d configurations in %.0f s, best %.3f ms: %s", t.kernel, configs, mtfl.clock() - t0,
                        tonumber(result.best_time) or 0 / 0, result.best_parameters))
  end
end)
os.execute("rm -rf " .. sh(dir))
if not ok then error(err, 0) end

tuning.apply(mtfl, device, record)
local after = measure()
record.measured.after_gflops = after
print(string.format("after:  %.1f GFLOP/s (%.2fx)", after, after / before))
print(string.format("gemm_gflops_before=%.1f gemm_gflops_after=%.1f", before, after))
-- the tuners time their kernels alone, at their own sizes; what counts is this GEMM
if after < before and not opts.always_store then
  print(string.format("not stored: the tuned parameters are slower here than %s (%.1f < %.1f GFLOP/s); " ..
                      "try a larger --fraction", device.tuned ~= "" and "the stored ones" or "CLBlast's defaults",
                      after, before))
  return
end

-- one file for every device: read, change and replace it under a lock
local path = tuning.path()
if not path then fail("no cache folder to keep the parameters in (set MTFL_CACHE)") end
files.mkdir(files.dirname(path))
do
  local lock <close> = files.lock(path .. ".lock", "the tuning file")
  local stored = tuning.load(path)
  stored.devices[tuning.key(device)] = record
  files.write_atomic(path, json.encode(stored))
end
print("stored in " .. path .. " (applied whenever mtfl loads; mtfl-lua --devices shows it)")
