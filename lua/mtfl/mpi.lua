-- mtfl.mpi: many processes started by mpirun working as one (Open MPI, src/lua/lmpi.c).
--
--   -- mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl self,vader build/mtfl-lua x.lua
--   local mpi = require "mtfl.mpi"
--   print(mpi.rank(), mpi.size())               -- 0 2 and 1 2; a plain run: 0 1
--   mpi.broadcast(params)                       -- rank 0's values everywhere (in place)
--   mpi.allreduce(grads, "mean")                -- the ranks' mean everywhere (in place)
--   local loss = mpi.allreduce_numbers({a, b}, "mean")
--   local all = mpi.gather_strings(json.encode(result))   -- on rank 0: one per rank
--
-- MPI is used only when the process was started by mpirun or mpiexec (mpi.launched()):
-- it starts on the first call that needs it and stops when the Lua state closes (or at
-- mpi.finalize()). A plain run never starts MPI (a singleton start is slow and wants a
-- daemon): it is rank 0 of 1 and every collective is the identity, after the same
-- argument checks. A build without MPI behaves the same and says so in mpi.built();
-- mpi.check_launch refuses to run under mpirun then, rather than let every process
-- believe it is rank 0 of 1.
--
-- Tensors are contiguous float32 tensors on any device; one on an OpenCL device goes
-- through a host copy. A collective whose sizes must agree compares them first (one
-- tiny message): tensors or tables of different sizes raise on every rank instead of
-- hanging. Failing MPI calls are errors naming them, never an abort. Other wrong
-- arguments (not a tensor, an unknown op, a root out of range) are found before any
-- message is sent, by each rank on its own. An error on one rank only, which would leave
-- the others waiting in a collective for ever, ends the whole job: mtfl-lua calls
-- mpi.abort_job when a script fails under mpirun (another program wraps its work in
-- mpi.protect), and mpi.agree compares what every rank was told before work starts, so
-- that ranks given different settings all stop at once with the first difference named.
local mtfl = require "mtfl"
local errors = require "mtfl.errors"

local M = {}
local C = mtfl._mpi   -- nil when mtfl was built without MPI

M.OPS = {sum = true, mean = true, max = true, min = true}

-- The launchers' environment: Open MPI's mpirun (OMPI_), PMIx launchers, MPICH's (PMI_).
M.LAUNCH_VARIABLES = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"}

--- mpi.built() -> true when mtfl was built with MPI.
function M.built() return C ~= nil end

--- mpi.launched() -> true when mpirun or mpiexec started this process (read from the
--- environment; MPI itself is not started by asking).
function M.launched()
  for _, name in ipairs(M.LAUNCH_VARIABLES) do
    if os.getenv(name) then return true end
  end
  return false
end

-- MPI is used: built in and launched.
local function active() return C ~= nil and M.launched() end

local function call(fn, ...) return errors.call("", fn, ...) end

--- mpi.check_launch(what) raises when this process was started by mpirun but mtfl was
--- built without MPI (every process would train alone as rank 0 of 1, writing the same
--- files); what names the caller ("--data-parallel").
function M.check_launch(what)
  if M.launched() and not C then
    errors.raisef("%s: this process was started by mpirun, but mtfl was built without MPI: install " ..
                  "libopenmpi-dev and build again (cmake finds it), or run without mpirun", what)
  end
end

--- mpi.rank() -> this process's rank, 0-based (0 outside mpirun).
function M.rank()
  if not active() then return 0 end
  return call(C.rank)
end

--- mpi.size() -> the number of processes (1 outside mpirun).
function M.size()
  if not active() then return 1 end
  return call(C.size)
end

--- mpi.barrier(): waits until every rank has called it.
function M.barrier()
  if active() then call(C.barrier) end
end

local function check_tensor(fn, t)
  if not mtfl.is_tensor(t) then errors.raisef("mpi.%s: expected a tensor, got a %s", fn, type(t)) end
  if not t:is_contiguous() then
    errors.raisef("mpi.%s: the tensor (%s) must be contiguous (call :contiguous() first)", fn, t:shape_string())
  end
end

local function check_root(fn, root)
  root = root == nil and 0 or root
  if math.type(root) ~= "integer" or root < 0 or root >= M.size() then
    errors.raisef("mpi.%s: root %s is not a rank (0..%d)", fn, tostring(root), M.size() - 1)
  end
  return root
end

local function check_op(fn, op)
  op = op == nil and "sum" or op
  if not M.OPS[op] then
    errors.raisef("mpi.%s: op %s (use \"sum\", \"mean\", \"max\" or \"min\")", fn, tostring(op))
  end
  return op
end

--- mpi.broadcast(tensor [, root = 0]) -> tensor, holding the root's values on every
--- rank (in place).
function M.broadcast(t, root)
  check_tensor("broadcast", t)
  root = check_root("broadcast", root)
  if active() then call(C.broadcast, t, root) end
  return t
end

--- mpi.allreduce(tensor [, op = "sum"]) -> tensor, holding the elementwise "sum",
--- "mean", "max" or "min" over the ranks on every rank (in place).
function M.allreduce(t, op)
  check_tensor("allreduce", t)
  op = check_op("allreduce", op)
  if active() then call(C.allreduce, t, op) end
  return t
end

--- mpi.broadcast_string(s [, root = 0]) -> the root's s on every rank (the others'
--- s is not read and may be nil).
function M.broadcast_string(s, root)
  root = check_root("broadcast_string", root)
  -- under MPI the root tells the others of its mistake (C): all raise, none waits
  if active() then return call(C.broadcast_string, s, root) end
  if type(s) ~= "string" then
    errors.raisef("mpi.broadcast_string: the root's value must be a string, got a %s", type(s))
  end
  return s
end

--- mpi.gather_strings(s [, root = 0]) -> on the root {rank 0's s, rank 1's s, ...},
--- nil on the other ranks.
function M.gather_strings(s, root)
  if type(s) ~= "string" then errors.raisef("mpi.gather_strings: expected a string, got a %s", type(s)) end
  root = check_root("gather_strings", root)
  if not active() then return {s} end
  return call(C.gather_strings, s, root)
end

--- mpi.allreduce_numbers({x, y, ...} [, op = "sum"]) -> {x, y, ...} reduced over the
--- ranks (doubles), the same on every rank: for losses and counts.
function M.allreduce_numbers(xs, op)
  if type(xs) ~= "table" then errors.raisef("mpi.allreduce_numbers: expected a table of numbers, got a %s", type(xs)) end
  op = check_op("allreduce_numbers", op)
  for i = 1, #xs do
    if type(xs[i]) ~= "number" then
      errors.raisef("mpi.allreduce_numbers: element %d is a %s, not a number", i, type(xs[i]))
    end
  end
  if not active() then
    local copy = {}
    for i = 1, #xs do copy[i] = xs[i] + 0.0 end
    return copy
  end
  return call(C.allreduce_numbers, xs, op)
end

--- mpi.abort_job(message [, code = 1]) ends every rank of the job now (MPI_Abort), after
--- writing the message, naming this rank, to stderr; false when there is no job to end
--- (no mpirun, MPI not started, or one rank). For a program's uncaught error only: mtfl-lua
--- calls it when a script fails under mpirun.
function M.abort_job(message, code)
  if type(message) ~= "string" then errors.raisef("mpi.abort_job: the message must be a string, got a %s", type(message)) end
  if not active() or not C.started() then return false end
  return C.abort_job(message, code)
end

--- mpi.protect(fn, ...) -> fn(...)'s results; an error from fn under mpirun ends the
--- whole job with its message (mpi.abort_job) instead of leaving the other ranks waiting.
--- What a program run by a stock lua5.4 under mpirun wraps its work in (mtfl-lua does it
--- for every script).
---   mpi.protect(function() ... training ... end)
function M.protect(fn, ...)
  local results = table.pack(xpcall(fn, debug.traceback, ...))
  if results[1] then return table.unpack(results, 2, results.n) end
  M.abort_job(tostring(results[2]))
  error(results[2], 0)
end

-- A value as canonical text: keys sorted, numbers in full, so equal values read equal.
local function canonical(v)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = tostring(k) .. "=" .. canonical(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return string.format("%q", v)
  elseif math.type(v) == "float" then
    return string.format("%.17g", v)
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  end
  return "a " .. t   -- a function's address is not the same on two ranks
end

-- The first place where a and b differ, as "path: value here, value there", or nil.
local function first_difference(a, b, path)
  if type(a) == "table" and type(b) == "table" then
    local keys, seen = {}, {}
    for k in pairs(a) do keys[#keys + 1] = k seen[k] = true end
    for k in pairs(b) do if not seen[k] then keys[#keys + 1] = k end end
    table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
    for _, k in ipairs(keys) do
      local name = math.type(k) == "integer" and string.format("%s[%d]", path, k)
                   or (path == "" and tostring(k) or path .. "." .. tostring(k))
      local d = first_difference(a[k], b[k], name)
      if d then return d end
    end
    return nil
  end
  if canonical(a) == canonical(b) then return nil end
  local function show(v) return v == nil and "not given" or canonical(v) end
  return {path = path == "" and "the value" or path, here = show(a), there = show(b)}
end

-- Settings travel as Lua table constructors of plain values (strings, numbers, booleans,
-- tables); anything else (a function) as its type's name.
local function encode_settings(v)
  local t = type(v)
  if t == "table" then
    local parts = {}
    for k, x in pairs(v) do
      local key = type(k) == "string" and string.format("[%q]", k) or "[" .. canonical(k) .. "]"
      parts[#parts + 1] = key .. "=" .. encode_settings(x)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return string.format("%q", v)
  elseif t == "number" then
    if v ~= v then return "0/0" elseif v == math.huge then return "1/0" elseif v == -math.huge then return "-1/0" end
    return math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  elseif t == "boolean" then
    return tostring(v)
  end
  return string.format("%q", "a " .. t)
end

local function decode_settings(text)
  local chunk = load("return " .. text, "=settings", "t", {})
  return chunk and chunk() or {}
end

--- mpi.agree(what, value): every rank must hold the same value (a table of settings,
--- compared by their canonical text: a hash first, then the first difference found).
--- Raises on every rank when they differ, naming the lowest rank that differs from rank 0
--- and the first setting: "the runs: ...: settings.epochs is 2 on rank 1, 1 on rank 0".
function M.agree(what, value)
  if not active() then return end
  local text = canonical(value)
  local data = require "mtfl.data"
  local hash = data.hash(text)
  local root_hash = M.broadcast_string(hash, 0)
  local size = M.size()
  -- the lowest rank that differs from rank 0, or size when none does
  local first = math.tointeger(M.allreduce_numbers({hash == root_hash and size or M.rank()}, "min")[1])
  if first == size then return end
  local root_text = M.broadcast_string(M.rank() == 0 and encode_settings(value) or nil, 0)
  local description
  if M.rank() == first then
    local d = first_difference(value, decode_settings(root_text), "")
    description = d and string.format("%s is %s on rank %d, %s on rank 0", d.path, d.here, first, d.there)
                  or string.format("rank %d's settings differ from rank 0's", first)
  end
  description = M.broadcast_string(description, first)
  errors.raisef("%s: the ranks were not given the same settings: %s (start every rank with the same command line)",
                what, description)
end

--- mpi.finalize(): stops MPI (idempotent; also done when the Lua state closes). No
--- collective works afterwards in this process.
function M.finalize()
  if C then C.finalize() end
end

-- The machine's name without MPI: the kernel's, else the shell's.
local function hostname()
  local f = io.open("/proc/sys/kernel/hostname", "r")
  local name = f and f:read("l")
  if f then f:close() end
  return name or os.getenv("HOSTNAME") or "localhost"
end

--- mpi.processor_name() -> the name of the machine this rank runs on.
function M.processor_name()
  if not active() then return hostname() end
  return call(C.processor_name)
end

-- For tests: swaps the C binding (nil: as built without MPI); returns the old one.
function M._use_binding(binding)
  local old = C
  C = binding
  return old
end

return M
