-- Every function of mtfl.mpi across the ranks of one mpirun (ctest mpi_collectives):
--   mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl self,vader build/mtfl-lua mpi_collectives.lua
-- Expected values are computed here from the ranks; every rank runs every test in the
-- same order (a collective needs them all), and bad arguments are errors on every rank
-- that leave the ranks in step for the next collective.
package.path = "../lua/?.lua;" .. package.path
local mtfl = require "mtfl"
local mpi = require "mtfl.mpi"
local T = require "harness"

mtfl.set_device("cpu")
local rank, size = mpi.rank(), mpi.size()

T.test("launched under mpirun: rank and size", function()
  T.truthy(mpi.built(), "built with MPI")
  T.truthy(mpi.launched(), "launched")
  T.truthy(size >= 2, "at least two ranks (got " .. size .. ")")
  T.truthy(rank >= 0 and rank < size, "rank in 0..size-1")
  -- every rank is there exactly once: the ranks sum to 0 + 1 + ... + size-1
  local sum = mpi.allreduce_numbers({rank, 1}, "sum")
  T.eq(sum[1], size * (size - 1) / 2, "sum of the ranks")
  T.eq(sum[2], size, "one per process")
  local name = mpi.processor_name()
  T.truthy(type(name) == "string" and #name > 0, "a processor name")
end)

T.test("barrier: nobody passes before everybody has arrived", function()
  -- rank 0 writes a file, late, between two barriers: after the second one every rank
  -- must see it
  local marker = mpi.broadcast_string(rank == 0 and os.tmpname() or nil)
  os.remove(marker)
  mpi.barrier()
  if rank == 0 then
    local t0 = mtfl.clock()
    while mtfl.clock() - t0 < 0.2 do end   -- late: a barrier that did not wait is seen
    local f = assert(io.open(marker, "w"))
    f:write("here")
    f:close()
  end
  mpi.barrier()
  local f = io.open(marker, "r")
  T.truthy(f, "rank " .. rank .. " sees what rank 0 wrote before the barrier")
  f:close()
  mpi.barrier()
  if rank == 0 then os.remove(marker) end
end)

T.test("broadcast of a tensor, from rank 0 and from the last rank", function()
  local t = mtfl.arange(5):add(10 * rank)
  T.truthy(mpi.broadcast(t) == t, "returns the tensor")
  T.eq(table.concat(t:totable(), ","), "0.0,1.0,2.0,3.0,4.0", "rank 0's values")
  local u = mtfl.full({2, 3}, rank + 0.5)
  mpi.broadcast(u, size - 1)
  for _, v in ipairs(u:reshape(6):totable()) do T.eq(v, size - 1 + 0.5, "the last rank's values") end
  T.eq(u:shape_string(), "2x3", "shape kept")
end)

T.test("broadcast_string", function()
  local long = string.rep("0123456789", 100000) .. "\0end"   -- 1 MB with a zero byte
  local s = mpi.broadcast_string(rank == 0 and long or nil)
  T.eq(#s, #long, "length")
  T.truthy(s == long, "the root's bytes")
  local from_last = mpi.broadcast_string(rank == size - 1 and "last" or "not me", size - 1)
  T.eq(from_last, "last", "root = size - 1")
  T.eq(mpi.broadcast_string(rank == 0 and "" or "x"), "", "an empty string")
end)

T.test("allreduce of tensors: sum, mean, max, min", function()
  -- rank r holds (r + 1) * (i - 3) at i = 1..7: negative, zero and positive values
  local function mine() return (mtfl.arange(1, 8) - 3):mul(rank + 1) end
  local k = size * (size + 1) / 2   -- sum of (r + 1)
  local sum = mpi.allreduce(mine(), "sum"):totable()
  local mean = mpi.allreduce(mine(), "mean"):totable()
  local max = mpi.allreduce(mine(), "max"):totable()
  local min = mpi.allreduce(mine(), "min"):totable()
  local default = mpi.allreduce(mine()):totable()
  for i = 1, 7 do
    local x = i - 3
    T.near(sum[i], k * x, 1e-6, "sum " .. i)
    T.near(default[i], k * x, 1e-6, "the default op is sum " .. i)
    T.near(mean[i], k * x / size, 1e-6, "mean " .. i)
    T.eq(max[i], x >= 0 and size * x or x, "max " .. i)
    T.eq(min[i], x >= 0 and x or size * x, "min " .. i)
  end
  -- a large buffer (4 MiB): element j of rank r is r + j / 2^20
  local n = 1 << 20
  local big = mtfl.arange(n):mul(1 / n):add(rank)
  mpi.allreduce(big, "sum")
  local values = big:totable()
  for _, j in ipairs{1, 2, n // 2, n} do
    T.near(values[j], size * (size - 1) / 2 + size * (j - 1) / n, 1e-5, "big sum " .. j)
  end
end)

T.test("allreduce_numbers: doubles, every op", function()
  local xs = {rank, 2.0 ^ -(rank + 1), 1e300 * (rank + 1), -rank}
  local sum = mpi.allreduce_numbers(xs, "sum")
  local mean = mpi.allreduce_numbers(xs, "mean")
  local max = mpi.allreduce_numbers(xs, "max")
  local min = mpi.allreduce_numbers(xs, "min")
  local geometric = 1 - 2.0 ^ -size   -- sum of 2^-(r+1)
  T.eq(sum[1], size * (size - 1) / 2, "sum of ranks")
  T.eq(sum[2], geometric, "sum of powers of 2 (exact in doubles)")
  T.near(sum[3], 1e300 * size * (size + 1) / 2, 1e-12, "doubles, not floats")
  T.eq(mean[2], geometric / size, "mean")
  T.eq(max[1], size - 1, "max")
  T.eq(max[4], 0, "max of -rank")
  T.eq(min[1], 0, "min")
  T.eq(min[4], -(size - 1), "min of -rank")
  T.eq(#mpi.allreduce_numbers({}), 0, "an empty table")
end)

T.test("gather_strings: the root gets one per rank, in rank order", function()
  local mine = "rank " .. rank .. string.rep("y", 1000 * rank)
  local all = mpi.gather_strings(mine)
  if rank == 0 then
    T.eq(#all, size, "one per rank")
    for r = 0, size - 1 do T.eq(all[r + 1], "rank " .. r .. string.rep("y", 1000 * r), "rank " .. r .. "'s") end
  else
    T.eq(all, nil, "nil off the root")
  end
  local at_last = mpi.gather_strings(tostring(rank * 7), size - 1)
  if rank == size - 1 then
    for r = 0, size - 1 do T.eq(at_last[r + 1], tostring(r * 7), "root = size - 1") end
  else
    T.eq(at_last, nil, "nil off the root")
  end
end)

T.test("bad arguments are errors on every rank, and the ranks stay in step", function()
  T.raises(function() mpi.allreduce({1, 2}) end, "mpi.allreduce: expected a tensor, got a table")
  T.raises(function() mpi.allreduce(mtfl.zeros(2, 3):transpose(1, 2)) end, "mpi.allreduce: the tensor (3x2) must be contiguous")
  T.raises(function() mpi.allreduce(mtfl.zeros(2), "prod") end, "mpi.allreduce: op prod (use \"sum\", \"mean\", \"max\" or \"min\")")
  T.raises(function() mpi.broadcast(mtfl.zeros(2), size) end, string.format("mpi.broadcast: root %d is not a rank (0..%d)", size, size - 1))
  T.raises(function() mpi.broadcast(mtfl.zeros(2), 0.5) end, "mpi.broadcast: root 0.5 is not a rank")
  T.raises(function() mpi.broadcast("x") end, "mpi.broadcast: expected a tensor, got a string")
  -- only the root's value is read: its mistake is an error on every rank
  T.raises(function() mpi.broadcast_string(rank == 0 and 5 or "fine") end, "mpi.broadcast_string: the root's value must be a string, got a")
  T.raises(function() mpi.gather_strings(5) end, "mpi.gather_strings: expected a string, got a number")
  T.raises(function() mpi.allreduce_numbers({1, "x"}) end, "mpi.allreduce_numbers: element 2 is a string, not a number")
  T.raises(function() mpi.allreduce_numbers({1}, "avg") end, "mpi.allreduce_numbers: op avg")
  -- sizes that differ across ranks: found by every rank, nothing hangs
  T.raises(function() mpi.allreduce(mtfl.zeros(rank + 2)) end,
           "mpi.allreduce: the tensors' element counts differ across ranks (2 to " .. (size + 1) .. "; rank " .. rank)
  T.raises(function() mpi.broadcast(mtfl.zeros(3 - (rank == 0 and 1 or 0))) end,
           "mpi.broadcast: the tensors' element counts differ across ranks (2 to 3")
  local xs = {}
  for i = 1, rank + 1 do xs[i] = i end
  T.raises(function() mpi.allreduce_numbers(xs) end, "mpi.allreduce_numbers: the tables' lengths differ across ranks (1 to " .. size)
  -- and the next collective is right
  T.eq(mpi.allreduce_numbers({1})[1], size, "in step afterwards")
end)

T.test("a tensor on an OpenCL device goes through the host", function()
  local device
  for _, d in ipairs(mtfl.devices()) do
    if d.backend == "opencl" then device = d.id break end
  end
  -- every rank must agree whether to run the collectives below
  local everyone = mpi.allreduce_numbers({device and 1 or 0}, "min")[1] == 1
  if not everyone then
    print("  (no OpenCL device on every rank: skipped)")
    return
  end
  local t = mtfl.full({1000}, rank + 1, {device = device})
  mpi.allreduce(t, "mean")
  T.eq(t:device(), device, "stays on its device")
  T.near(t:sum(), 1000 * (size + 1) / 2, 1e-5, "the mean on the device")
  local u = mtfl.arange(4):add(rank):to(device)
  mpi.broadcast(u, size - 1)
  T.eq(table.concat(u:totable(), ","), table.concat(mtfl.arange(4):add(size - 1):totable(), ","), "broadcast on the device")
end)

T.test("finalize: idempotent, and nothing works after it", function()
  mpi.barrier()
  mpi.finalize()
  mpi.finalize()
  T.raises(function() mpi.barrier() end, "mpi.barrier: MPI was finalized (mpi.finalize) and cannot start again")
end)

T.run_all()
