-- Run by the stock lua5.4 interpreter with LUA_CPATH pointing at the build: the
-- framework embeds in any Lua program, embedded Lua library included.
local mtfl = require "mtfl"
assert(type(mtfl.version) == "string", "mtfl.version")
local t = mtfl.tensor({{1, 2}, {3, 4}}, {device = "cpu"})
assert(mtfl.matmul(t, t):sum() == 54, "matmul in stock lua")
assert(mtfl.allclose(t, t:clone()), "the Lua half of the module is there")
assert(t:shape_string() == "2x2")
local ok, err = pcall(function() return t + mtfl.zeros(3) end)
assert(not ok and err:find("add: shapes [2x2] and [3] differ", 1, true), err)
-- help is mtfl.help in any Lua program; only the host makes it a global
assert(type(mtfl.help) == "function" and rawget(_G, "help") == nil, "mtfl.help, and no global help")
assert(require("mtfl.help").text(mtfl.matmul):find("batched 3-D", 1, true), "the docs are in mtfl.so")
print("1 passed, 0 failed")
