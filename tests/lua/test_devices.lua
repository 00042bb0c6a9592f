-- Device listing and selection, from scripts, the environment and the host's flags.
local mtfl = require "mtfl"
local T = require "harness"

local host = os.getenv("MTFL_LUA") or "mtfl-lua"

T.test("devices are listed, cpu first, one default", function()
  local devs = mtfl.devices()
  T.eq(devs[1].id, "cpu", "first device")
  T.eq(devs[1].backend, "cpu", "cpu backend")
  local defaults = 0
  for i, d in ipairs(devs) do
    T.truthy(d.memory > 0 and d.compute_units > 0, d.id .. " has memory and compute units")
    T.truthy(type(d.name) == "string" and #d.name > 0, d.id .. " has a name")
    if d.default then defaults = defaults + 1 end
    if i > 1 then T.eq(d.id, "opencl:" .. (i - 2), "OpenCL ids") end
  end
  T.eq(defaults, 1, "exactly one default")
end)

T.test("set_device changes where new tensors go", function()
  local before = mtfl.device()
  for _, id in ipairs(T.devices()) do
    T.eq(mtfl.set_device(id), id, "set_device returns the id")
    T.eq(mtfl.zeros(2):device(), id, "new tensor device")
  end
  mtfl.set_device(before)
end)

T.test("MTFL_DEVICE and --device select the device", function()
  local code, out = T.run("MTFL_DEVICE=cpu " .. host .. " -e 'print(mtfl.zeros(1):device())'")
  T.eq(code, 0, "exit status: " .. out)
  T.truthy(out:find("cpu"), "MTFL_DEVICE=cpu: " .. out)
  code, out = T.run(host .. " --device cpu -e 'print(mtfl.device())'")
  T.truthy(code == 0 and out:find("cpu"), "--device cpu: " .. out)
  code, out = T.run("MTFL_DEVICE=nonsense " .. host .. " -e 'print(mtfl.zeros(1))'")
  T.truthy(code ~= 0 and out:find("MTFL_DEVICE: device 'nonsense' not found", 1, true), "bad MTFL_DEVICE: " .. out)
  if #T.devices() > 1 then
    code, out = T.run(host .. " --device opencl:0 -e 'print(mtfl.zeros(1):device())'")
    T.truthy(code == 0 and out:find("opencl:0"), "--device opencl:0: " .. out)
  end
end)

T.test("no OpenCL platform: the CPU with a one-line notice", function()
  local code, out = T.run("OCL_ICD_VENDORS=/nonexistent " .. host ..
                          " -e 'print(#mtfl.devices(), mtfl.zeros(2):device())'")
  T.eq(code, 0, "exit status: " .. out)
  T.truthy(out:find("mtfl: no OpenCL platform found", 1, true), "notice: " .. out)
  T.truthy(out:find("1\tcpu"), "cpu only: " .. out)
  local _, notices = out:gsub("no OpenCL platform", "")
  T.eq(notices, 1, "the notice is one line, once")
  code, out = T.run("OCL_ICD_VENDORS=/nonexistent " .. host .. " --device opencl:0 -e 'print(1)'")
  T.truthy(code ~= 0 and out:find("device 'opencl:0' not found", 1, true), "asking for OpenCL: " .. out)
end)

T.test("stats count what each device was asked: reads, writes, launches, allocations", function()
  local function delta(dev, fn)
    local before = mtfl.stats(dev)
    fn()
    local after, d = mtfl.stats(dev), {}
    for k, v in pairs(after) do d[k] = v - before[k] end
    return d
  end
  for _, dev in ipairs(T.devices()) do
    local opencl = dev ~= "cpu"
    local x = mtfl.rand(64, 64, {device = dev})
    local d = delta(dev, function() x:totable() end)
    T.eq(d.blocking_reads, 1, dev .. ": totable is one blocking read")
    T.eq(d.bytes_to_host, 64 * 64 * 4, dev .. ": of the tensor's bytes")
    T.eq(d.launches, 0, dev .. ": a read launches nothing")
    d = delta(dev, function() x:copy(mtfl.ones(64, 64, {device = "cpu"})) end)
    T.eq(d.bytes_to_device, opencl and 64 * 64 * 4 or 0, dev .. ": a copy from the CPU is written to the device")
    T.eq(d.blocking_reads, 0, dev .. ": and reads nothing from it")
    d = delta(dev, function() mtfl.tensor({1, 2, 3}, {device = dev}) end)
    T.eq(d.bytes_to_device, 12, dev .. ": a tensor from a table is written to the device")
    d = delta(dev, function() local y = x * 2 + 1 end)
    T.eq(d.blocking_reads, 0, dev .. ": arithmetic stays on the device")
    if opencl then
      T.truthy(d.launches >= 2, dev .. ": two ops, at least two kernels: " .. d.launches)
    else
      T.eq(d.launches, 0, "the CPU launches no kernels")
    end
    d = delta(dev, function() mtfl.synchronize(dev) end)
    T.eq(d.synchronizations, 1, dev .. ": synchronize waits once")
    -- a large block freed goes to the backend's cache and comes back from it
    local big = mtfl.empty(1024, 1024, {device = dev})
    big = nil
    collectgarbage()
    d = delta(dev, function() local again = mtfl.empty(1024, 1024, {device = dev}) end)
    T.eq(d.cached_allocations, 1, dev .. ": the freed 4 MiB block is handed out again")
    T.eq(d.allocations, 0, dev .. ": nothing fresh")
  end
  T.raises(function() mtfl.stats("opencl:99") end, "opencl:99")
end)

T.test("the cache: small blocks too, counted in memory(), emptied for a lowered limit", function()
  for _, dev in ipairs(T.devices()) do
    collectgarbage()
    local small = mtfl.empty(10, {device = dev})
    small = nil
    collectgarbage()
    local cached = mtfl.memory(dev).cached
    T.truthy(cached >= 40, dev .. ": a freed 40-byte tensor is kept: " .. cached)
    local before = mtfl.stats(dev)
    local again = mtfl.empty(10, {device = dev})
    T.eq(mtfl.stats(dev).allocations - before.allocations, 0, dev .. ": and handed out again")
    T.truthy(mtfl.memory(dev).peak >= mtfl.memory(dev).in_use + mtfl.memory(dev).cached,
             dev .. ": the peak counts cached blocks")
    again = nil
    collectgarbage()
    mtfl.set_memory_limit(mtfl.memory(dev).in_use + 1, dev)   -- no room for anything cached (0 would mean all)
    T.eq(mtfl.memory(dev).cached, 0, dev .. ": a limit below what is held empties the cache")
    mtfl.set_memory_limit(0, dev)
    mtfl.release_cache(dev)
    T.eq(mtfl.memory(dev).cached, 0, dev .. ": release_cache empties it")
  end
end)

T.test("the convolution workspace adapts to the device's memory", function()
  for _, dev in ipairs(T.devices()) do
    local budget = mtfl.memory(dev).budget
    local want = math.max(32 * 2^20, math.min(2^30, budget // 8))
    T.eq(mtfl.workspace_limit(nil, dev), want, dev .. ": an eighth of the budget, 32 MiB to 1 GiB")
    mtfl.set_memory_limit(2 * 2^30, dev)   -- as on a 2 GiB GTX 950M
    T.eq(mtfl.workspace_limit(nil, dev), 256 * 2^20, dev .. ": 256 MiB of a 2 GiB budget")
    mtfl.set_memory_limit(0, dev)
    T.eq(mtfl.workspace_limit(64 * 2^20, dev), 64 * 2^20, dev .. ": a limit set holds for every device")
    T.eq(mtfl.workspace_limit(0, dev), want, dev .. ": 0 goes back to the device's own")
  end
end)

T.run_all()
