-- mtfl.mpi in a plain run (no mpirun): rank 0 of 1, every collective the identity after
-- the same argument checks, and MPI never started; a build without MPI says so. The
-- collectives across ranks are tests/mpi/mpi_collectives.lua (ctest mpi_collectives).
local mtfl = require "mtfl"
local mpi = require "mtfl.mpi"
local T = require "harness"

mtfl.set_device("cpu")
local HOST = os.getenv("MTFL_LUA") or "mtfl-lua"

T.test("a plain run: not launched, rank 0 of 1, MPI not started", function()
  T.eq(mpi.launched(), false, "launched")
  T.eq(mpi.rank(), 0, "rank")
  T.eq(mpi.size(), 1, "size")
  mpi.barrier()
  T.truthy(#mpi.processor_name() > 0, "a processor name")
  if mtfl._mpi then T.eq(mtfl._mpi.started(), false, "MPI not started by rank/size/barrier") end
end)

T.test("a plain run: collectives are the identity", function()
  local t = mtfl.tensor({1, -2, 3})
  T.truthy(mpi.allreduce(t, "mean") == t, "allreduce returns the tensor")
  T.eq(table.concat(mpi.allreduce(t, "max"):totable(), ","), "1.0,-2.0,3.0", "values kept")
  T.eq(table.concat(mpi.broadcast(t):totable(), ","), "1.0,-2.0,3.0", "broadcast")
  T.eq(mpi.broadcast_string("abc"), "abc", "broadcast_string")
  local all = mpi.gather_strings("mine")
  T.eq(#all, 1, "gather: one rank")
  T.eq(all[1], "mine", "gather: its string")
  local xs = {1, 2.5}
  local r = mpi.allreduce_numbers(xs, "mean")
  T.eq(r[1], 1.0, "numbers")
  T.eq(math.type(r[1]), "float", "as doubles")
  T.truthy(r ~= xs, "a new table")
  if mtfl._mpi then T.eq(mtfl._mpi.started(), false, "MPI still not started") end
end)

T.test("a plain run: the same argument errors", function()
  T.raises(function() mpi.allreduce(3) end, "mpi.allreduce: expected a tensor, got a number")
  T.raises(function() mpi.allreduce(mtfl.zeros(2, 3):transpose(1, 2)) end, "mpi.allreduce: the tensor (3x2) must be contiguous")
  T.raises(function() mpi.allreduce(mtfl.zeros(2), "median") end, "mpi.allreduce: op median")
  T.raises(function() mpi.broadcast(mtfl.zeros(2), 1) end, "mpi.broadcast: root 1 is not a rank (0..0)")
  T.raises(function() mpi.broadcast_string(nil) end, "mpi.broadcast_string: the root's value must be a string, got a nil")
  T.raises(function() mpi.gather_strings({}) end, "mpi.gather_strings: expected a string, got a table")
  T.raises(function() mpi.allreduce_numbers({true}) end, "mpi.allreduce_numbers: element 1 is a boolean, not a number")
  local msg = T.raises(function() mpi.allreduce(3) end, "test_mpi.lua:")
  T.truthy(not msg:find("lua/mtfl/mpi.lua", 1, true), "the error points at the caller's line")
end)

T.test("a build without MPI: built() false, and under mpirun a clear refusal", function()
  T.eq(mpi.built(), mtfl._mpi ~= nil, "built() says whether the binding is there")
  local saved = mpi._use_binding(nil)
  local ok, err = pcall(function()
    T.eq(mpi.built(), false, "built")
    T.eq(mpi.rank(), 0, "rank")
    T.eq(mpi.size(), 1, "size")
    mpi.check_launch("--data-parallel")   -- not launched: nothing to refuse
    mpi.finalize()
  end)
  mpi._use_binding(saved)
  assert(ok, err)
  -- as mpirun would start it (its environment), in a build without MPI
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
    local mpi = require "mtfl.mpi"
    mpi._use_binding(nil)
    assert(mpi.launched(), "launched from the environment")
    assert(mpi.rank() == 0 and mpi.size() == 1)
    mpi.check_launch("--data-parallel")
  ]])
  f:close()
  local status, out = T.run(string.format("OMPI_COMM_WORLD_SIZE=2 %s %s", HOST, script))
  os.remove(script)
  T.truthy(status ~= 0, "refused")
  T.truthy(out:find("--data-parallel: this process was started by mpirun, but mtfl was built without MPI", 1, true), out)
end)

T.test("loader shards: the slices of every batch put together are the batch", function()
  local data = require "mtfl.data"
  -- 18 faces at batch 8: two full batches and one of 2, which 4 shards cut 0 + 1 + 0 + 1
  local set = data.synthetic{n = 18, size = 16, seed = 4}
  local o = {batch = 8, seed = 6, augment = {mirror = true, rotate = 15}}
  local whole = data.loader(set, o)
  for _, shards in ipairs{2, 4} do
    local loaders = {}
    for r = 0, shards - 1 do
      o.shard = {r, shards}
      loaders[r] = data.loader(set, o)
    end
    for index = 1, 3 do
      local b = whole:get(1, index)
      local rows, at = {}, 0
      for r = 0, shards - 1 do
        local part = loaders[r]:get(1, index)
        T.eq(part.total, b.count, "total: the whole batch's rows")
        -- rows r * B / size + 1 .. (r + 1) * B / size of the batch's B rows
        local want = (r + 1) * b.count // shards - r * b.count // shards
        T.eq(part.count, want, string.format("%d shards, rank %d, batch %d: rows", shards, r, index))
        for k = 1, part.count do
          rows[#rows + 1] = part.indices[k]
          T.truthy(mtfl.allclose(part.images:narrow(1, k, 1), b.images:narrow(1, at + k, 1)), "the same image, the same jitter")
        end
        at = at + part.count
      end
      T.eq(table.concat(rows, ","), table.concat(b.indices, ","), "the batch, in order")
    end
    for r = 0, shards - 1 do loaders[r]:close() end
  end
  T.raises(function() data.loader(set, {batch = 6, shard = {0, 4}}) end, "loader: batch 6 is not divisible by the 4 shards")
  T.raises(function() data.loader(set, {batch = 8, shard = {4, 4}}) end, "loader: shard must be {rank, size} with 0 <= rank < size, got {4, 4}")
  T.raises(function() data.loader(set, {batch = 8, shard = 2}) end, "loader: shard must be {rank, size}")
end)

T.run_all()
