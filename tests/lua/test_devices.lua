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

T.run_all()
