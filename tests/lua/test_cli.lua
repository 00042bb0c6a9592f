-- The one command line of every script (mtfl.cli over lua-argparse): typed values,
-- defaults, an error naming the option, and --help that prints and returns instead of
-- ending the process.
local cli = require "mtfl.cli"
local T = require "harness"

local COMMAND = {script = "x.lua", about = "a test command", options = {
  epochs = {"int", "training epochs", default = 10},
  train = {"int", "faces", min = 0},
  lr = {"number", "a rate"},
  shift = {"number", "an offset", min = -1},
  tasks = {"list", "tasks"},
  protocol = {"choice", "the protocol", choices = {"seed", "crop"}, default = "seed"},
  ["keep-models"] = {"flag", "keep them"},
  out = {"string", "a folder", argname = "DIR"},
}}

-- print, captured, while fn runs
local function printed(fn)
  local lines, saved = {}, print
  print = function(...) lines[#lines + 1] = table.concat({...}, "\t") end
  local ok, result = pcall(fn)
  print = saved
  if not ok then error(result, 0) end
  return table.concat(lines, "\n"), result
end

T.test("cli: typed values, dashes to underscores, defaults for what was not given", function()
  local o = cli.parse({"--train", "0", "--lr=0.5", "--shift=-1", "--tasks", "pose, smile", "--keep-models",
                       "--out", "a b"}, COMMAND)
  T.eq(o.train, 0, "--train 0 (min 0)")
  T.eq(math.type(o.train), "integer", "an int is an integer")
  T.eq(o.lr, 0.5, "--lr=0.5")
  T.eq(o.shift, -1, "a negative value, written --shift=-1 (argparse takes a lone -1 for an option)")
  T.eq(#o.tasks, 2, "a list")
  T.eq(o.tasks[2], "smile", "its second item")
  T.eq(o.keep_models, true, "a flag, with its dash an underscore")
  T.eq(o.out, "a b", "a string as given")
  T.eq(o.epochs, 10, "a default")
  T.eq(o.protocol, "seed", "a choice's default")
  o = cli.parse({}, COMMAND)
  T.eq(o.keep_models, nil, "a flag not given is absent")
  T.eq(o.lr, nil, "an option without a default, not given, is absent")
end)

T.test("cli: a bad option or value is an error naming it", function()
  T.raises(function() cli.parse({"--epochs", "0"}, COMMAND) end, "option --epochs wants a positive integer, got \"0\"")
  T.raises(function() cli.parse({"--epochs", "2.5"}, COMMAND) end, "option --epochs wants a positive integer")
  T.raises(function() cli.parse({"--train=-1"}, COMMAND) end, "option --train wants an integer >= 0, got \"-1\"")
  T.raises(function() cli.parse({"--lr", "0"}, COMMAND) end, "option --lr wants a positive number, got \"0\"")
  T.raises(function() cli.parse({"--lr", "nan"}, COMMAND) end, "option --lr wants a positive number")
  T.raises(function() cli.parse({"--shift=-2"}, COMMAND) end, "option --shift wants a number >= -1")
  T.raises(function() cli.parse({"--tasks", ","}, COMMAND) end, "option --tasks wants a comma-separated list")
  T.raises(function() cli.parse({"--protocol", "box"}, COMMAND) end, "option --protocol is \"box\" (use seed or crop)")
  T.raises(function() cli.parse({"--out"}, COMMAND) end, "option '--out' requires an argument")
  T.raises(function() cli.parse({"--keep-models=yes"}, COMMAND) end, "--keep-models")
  local msg = T.raises(function() cli.parse({"--epoch", "3"}, COMMAND) end,
                       "unknown option '--epoch'; did you mean '--epochs'? (--help lists the options)")
  T.truthy(not msg:find("\n"), "the message is one line")
  T.raises(function() cli.parse({"stray"}, COMMAND) end, "too many arguments: the script takes only options")
  T.raises(function() cli.parse({}, {options = {n = {"integer", "a count"}}}) end, "cli: option --n has an unknown kind integer")
end)

T.test("cli: --help prints every option and returns nil, -h too", function()
  for _, flag in ipairs{"--help", "-h"} do
    local text, result = printed(function() return cli.parse({"--epochs", "3", flag}, COMMAND) end)
    T.eq(result, nil, flag .. " returns nil")
    T.truthy(text:find("Usage: mtfl-lua x.lua", 1, true), "the usage line names the script")
    T.truthy(text:find("a test command", 1, true), "the description")
    T.truthy(text:find("--epochs N", 1, true) and text:find("training epochs (default: 10)", 1, true), "an int, its default")
    T.truthy(text:find("--protocol seed|crop", 1, true), "a choice shows its choices")
    T.truthy(text:find("--out DIR", 1, true), "an argname")
  end
end)

T.run_all()
