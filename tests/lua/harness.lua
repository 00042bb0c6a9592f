-- harness.lua: a small test runner for the Lua tests. Each test is a function; an
-- error inside it is a failure. The run ends with the line "N passed, M failed" and
-- a non-zero exit status when anything failed.
local M = {}
local tests = {}

function M.test(name, fn) tests[#tests + 1] = {name = name, fn = fn} end

function M.eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
  end
end

function M.near(got, want, tol, what)
  if math.abs(got - want) > tol * math.max(1, math.abs(want)) then
    error(string.format("%s: got %.9g, want %.9g (tolerance %g)", what or "value", got, want, tol), 2)
  end
end

function M.truthy(v, what)
  if not v then error((what or "condition") .. " is false", 2) end
end

--- Calls fn, which must raise an error whose text contains every pattern (plain
--- text, not Lua patterns). Returns the message.
function M.raises(fn, ...)
  local ok, msg = pcall(fn)
  if ok then error("expected an error, got none", 2) end
  msg = tostring(msg)
  for _, want in ipairs({...}) do
    if not msg:find(want, 1, true) then
      error(string.format("error %q does not mention %q", msg, want), 2)
    end
  end
  return msg
end

--- Every device, CPU first: the ones the cross-backend checks run on.
function M.devices()
  local mtfl = require "mtfl"
  local ids = {}
  for _, d in ipairs(mtfl.devices()) do ids[#ids + 1] = d.id end
  return ids
end

--- Runs a command, returns its exit status and what it printed (stdout and stderr).
function M.run(cmd)
  local f = io.popen(cmd .. " 2>&1")
  local out = f:read("a")
  local ok, _, code = f:close()
  return ok and 0 or code, out
end

function M.run_all()
  local passed, failed = 0, 0
  for _, t in ipairs(tests) do
    local ok, err = xpcall(t.fn, debug.traceback)
    if ok then
      passed = passed + 1
      print("PASS " .. t.name)
    else
      failed = failed + 1
      print("FAIL " .. t.name .. "\n  " .. tostring(err):gsub("\n", "\n  "))
    end
    collectgarbage()
  end
  print(string.format("%d passed, %d failed", passed, failed))
  if failed > 0 then os.exit(1) end
end

return M
