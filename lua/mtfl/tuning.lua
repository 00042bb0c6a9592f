-- mtfl.tuning: CLBlast's GEMM parameters tuned for a device (scripts/tune.lua), kept
-- in the cache folder and applied whenever the module is loaded.
--
-- One file, <cache>/clblast-tuning.json, holds a record per device:
--   {devices = {[key] = {device = name, driver = version, kernels = {Xgemm = {MWG = 64, ...}},
--                        measured = {...what tune.lua measured...}}}}
-- The key is the device's name and driver version: parameters tuned under one driver
-- are not applied under another. Loading the module costs nothing more than looking
-- for that file when there is none.
--
-- This module is loaded while the mtfl module itself is (lua/mtfl.lua), so it takes the
-- module table as an argument instead of requiring it.
local json = require "mtfl.json"
local locate = require "mtfl.data.locate"

local M = {}

M.FILE = "clblast-tuning.json"

--- The file's path in the cache folder (nil when there is no cache folder).
function M.path(cache)
  local dir = locate.cache_dir(cache)
  return dir and (dir .. "/" .. M.FILE)
end

--- The record key of a device entry of mtfl.devices().
function M.key(device)
  return device.name .. " | " .. device.driver
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

--- The stored records ({devices = {}} when there are none); errors name the file.
function M.load(path)
  local text = read_file(path)
  if not text then return {devices = {}} end
  local ok, stored = pcall(json.decode, text)
  if not ok or type(stored) ~= "table" or type(stored.devices) ~= "table" then
    error(string.format("%s: not a tuning file (%s)", path, ok and "no devices table" or tostring(stored)), 0)
  end
  return stored
end

--- Gives a device its record's parameters (mtfl.tune per kernel); errors say what is wrong.
function M.apply(mtfl, device, record)
  if type(record.kernels) ~= "table" then error("the record has no kernels table", 0) end
  for kernel, parameters in pairs(record.kernels) do
    if type(kernel) ~= "string" or type(parameters) ~= "table" then
      error("kernel entries must be NAME = {PARAMETER = value}", 0)
    end
    mtfl.tune(device.id, kernel, parameters)
  end
end

--- Applies the stored parameters of every OpenCL device that has a record. Returns the
--- problems met (a damaged file, parameters CLBlast refuses), as messages: a tuning
--- that cannot be applied leaves the device untuned, it never stops a program.
function M.apply_saved(mtfl, cache)
  local path = M.path(cache)
  if not path or not read_file(path) then return {} end
  local ok, stored = pcall(M.load, path)
  if not ok then return {stored .. "; ignored (run scripts/tune.lua again)"} end
  local problems = {}
  for _, device in ipairs(mtfl.devices()) do
    local record = device.backend == "opencl" and stored.devices[M.key(device)]
    if type(record) == "table" then
      local applied, err = pcall(M.apply, mtfl, device, record)
      if not applied then
        problems[#problems + 1] = string.format("%s: the parameters for %s (%s) were not applied: %s",
                                                path, device.id, device.name, tostring(err))
      end
    end
  end
  return problems
end

return M
