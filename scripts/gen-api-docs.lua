-- gen-api-docs.lua: writes docs/api.md from the `---` comments of the Lua library (the
-- same text help(x) shows in the REPL; lua/mtfl/help/ reads it).
--
--   build/mtfl-lua scripts/gen-api-docs.lua [--out docs/api.md]
--
-- The comments are read from the library embedded in mtfl.so: build first. ctest's
-- api_docs test fails when the committed docs/api.md differs from what this writes.
local o = require("mtfl.cli").parse(arg, {script = arg[0], about = "writes docs/api.md from the library's doc comments",
  options = {out = {"string", "the file to write", default = "docs/api.md", argname = "FILE"}}})
if not o then return end   -- --help
local files = require "mtfl.files"
local text = require("mtfl.help").markdown()
files.write_atomic(o.out, text)
print(string.format("%s: %d lines", o.out, select(2, text:gsub("\n", ""))))
