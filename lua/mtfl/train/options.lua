-- mtfl.train.options: the command line of the experiment scripts and of the grid,
-- and the profiles that give its defaults.
--
--   mtfl-lua examples/reproduce.lua [--protocol seed|crop] [--quick] [--epochs N]
--       [--seeds N] [--experiments a,b] [--device D] [--data DIR] [--out DIR] ...
--
-- Defaults come from the seed study (the "full" profile: 30 epochs, 3 seeds, batch 50,
-- Adam 1e-4, 150x150); --quick swaps in a profile sized for a 2-core CPU. An option
-- given on the command line beats both the profile and an experiment's own settings.
local cli = require "mtfl.cli"
local errors = require "mtfl.errors"

local M = {}

M.PROFILES = {
  full = {size = 150, epochs = 30, seeds = 3, batch = 50, lr = 1e-4},
  -- For a 2-core CPU: 48x48 keeps the seed's network shape (two conv + pool stages,
  -- 1024 features) at a tenth of its cost. Ten short epochs of 2,000 faces give early
  -- stopping (window 5) and the per-epoch figures something to work with, and a ten
  -- times larger step makes up for the fewer of them. The whole grid fits in 15
  -- minutes.
  quick = {size = 48, epochs = 10, epoch_size = 2000, seeds = 1, batch = 50, lr = 1e-3},
}

-- name -> {kind, help}; kinds: flag, int, number, string, list, choice (mtfl.cli)
M.SPEC = {
  protocol = {"choice", "seed | crop: the seed's whole images, or faces cropped like the test faces",
              choices = {"seed", "crop"}},
  quick = {"flag", "the CPU profile: 48x48, ten short epochs, Adam 1e-3, one seed"},
  epochs = {"int", "training epochs per run"},
  ["epoch-size"] = {"int", "training images per epoch (default: the whole training set)"},
  seeds = {"int", "runs per experiment, with seeds 1..N"},
  seed = {"int", "the seed of a single run (experiment scripts)"},
  experiments = {"list", "experiments to run, comma-separated (default: all)"},
  device = {"string", "cpu, opencl:0, ... (default: mtfl's default device)", argname = "D"},
  data = {"string", "the MTFL folder (else MTFL_DATA, ./data/MTFL, ../shared/MTFL)", argname = "DIR"},
  out = {"string", "where results, figures and checkpoints go (default: out)", argname = "DIR"},
  batch = {"int", "batch size"},
  lr = {"number", "Adam's learning rate"},
  size = {"int", "input side in pixels (experiments with their own size keep it)"},
  synthetic = {"flag", "train on synthetic faces even when MTFL is there"},
  limit = {"int", "use only the first N faces of each part (train, val, test)"},
  ["es-factor"] = {"choice", "the second factor of eq. (4): validation (the report) or training (the authors' code)",
                   choices = {"validation", "training"}},
  ["stop-after-epochs"] = {"int", "end this invocation after N epochs in all, as an interruption would (resume by running again)"},
  ["keep-models"] = {"flag", "accepted for old command lines: every finished run keeps its model file (runs/.../model.safetensors)"},
  fresh = {"flag", "train every run again from the start, replacing what the output folder holds for it"},
  jobs = {"int", "runs at once on this machine, the cores split between them (results identical to --jobs 1)", argname = "N"},
  ["data-parallel"] = {"flag", "under mpirun: all ranks train the one run, --batch being the global batch (batch / ranks each); without mpirun an ordinary run"},
}

--- parse(args, allowed [, about]) -> {name = value} of the options given (names with
--- dashes become underscores: es_factor), or nil after printing the help for --help.
--- allowed: a set of option names this script takes (default: all); about: the
--- script's one-line description for --help. A bad option is an error naming it
--- (mtfl.cli parses).
function M.parse(args, allowed, about)
  return cli.parse(args, {script = args and args[0], about = about, options = M.SPEC, allowed = allowed})
end

--- check(key, value, where) -> value: the one check of a run's setting (epochs,
--- epoch_size, batch, lr, size, ...), whoever gives it: the command line (its converter
--- applies the same rule, mtfl.cli.check_value), a sweep, an experiment table's settings
--- or a program. A key that is not an option of M.SPEC is returned as it is.
function M.check(key, value, where)
  local spec = M.SPEC[(tostring(key):gsub("_", "-"))]
  if not spec then return value end
  local ok, want = cli.check_value(spec, value)
  if ok == nil then
    errors.raisef("%s: %s must be %s, got %s", where, key, want, require("mtfl.options").show(value))
  end
  return ok
end

--- The settings of a run: the profile, then an experiment's own settings for that
--- profile (experiment.settings.quick or .full), then what the command line gave, each
--- value checked (M.check). An experiment with an input_size of its own keeps it: its
--- architecture depends on it.
function M.resolve(given, experiment)
  local profile = given.quick and "quick" or "full"
  local s = {profile = profile, protocol = "seed", out = "out", es_factor = "validation"}
  for k, v in pairs(M.PROFILES[profile]) do s[k] = v end
  local own = experiment and experiment.settings and experiment.settings[profile] or {}
  local name = experiment and experiment.name or "experiment"
  for k, v in pairs(own) do s[k] = M.check(k, v, string.format("experiment %s: settings.%s", name, profile)) end
  for k, v in pairs(given) do s[k] = M.check(k, v, "option --" .. tostring(k):gsub("_", "-")) end
  if experiment and experiment.input_size then
    s.size = M.check("size", experiment.input_size, string.format("experiment %s: input_size", name))
  end
  return s
end

return M
