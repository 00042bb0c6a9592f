-- mtfl.train.options: the command line of the experiment scripts and of the grid,
-- and the profiles that give its defaults.
--
--   mtfl-lua examples/reproduce.lua [--protocol seed|crop] [--quick] [--epochs N]
--       [--seeds N] [--experiments a,b] [--device D] [--data DIR] [--out DIR] ...
--
-- Defaults come from the seed study (the "full" profile: 30 epochs, 3 seeds, batch 50,
-- Adam 1e-4, 150x150); --quick swaps in a profile sized for a 2-core CPU. An option
-- given on the command line beats both the profile and an experiment's own settings.
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

-- name -> {kind, help}; kinds: flag, int, number, string, list, choice
M.SPEC = {
  protocol = {"choice", "seed | crop: the seed's whole images, or faces cropped like the test faces",
              choices = {"seed", "crop"}},
  quick = {"flag", "the CPU profile: 48x48, ten short epochs, Adam 1e-3, one seed"},
  epochs = {"int", "training epochs per run"},
  ["epoch-size"] = {"int", "training images per epoch (default: the whole training set)"},
  seeds = {"int", "runs per experiment, with seeds 1..N"},
  seed = {"int", "the seed of a single run (experiment scripts)"},
  experiments = {"list", "experiments to run, comma-separated (default: all)"},
  device = {"string", "cpu, opencl:0, ... (default: mtfl's default device)"},
  data = {"string", "the MTFL folder (else MTFL_DATA, ./data/MTFL, ../shared/MTFL)"},
  out = {"string", "where results, figures and checkpoints go (default: out)"},
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
  help = {"flag", "show the options"},
}

--- The options as help text (those in `allowed`, a set of names, when given).
function M.usage(script, allowed)
  local names = {}
  for name in pairs(M.SPEC) do
    if not allowed or allowed[name] or name == "help" then names[#names + 1] = name end
  end
  table.sort(names)
  local lines = {"usage: mtfl-lua " .. (script or "script.lua") .. " [options]"}
  for _, name in ipairs(names) do
    local kind, help = M.SPEC[name][1], M.SPEC[name][2]
    local value = ({int = " N", number = " X", string = " VALUE", list = " A,B", choice = " CHOICE"})[kind] or ""
    lines[#lines + 1] = string.format("  --%-22s %s", name .. value, help)
  end
  return table.concat(lines, "\n")
end

local function convert(name, kind, value, spec)
  if value == nil then errors.raisef("option --%s needs a value", name) end
  if kind == "int" then
    local n = math.tointeger(tonumber(value))
    if not n or n < 1 then errors.raisef("option --%s wants a positive integer, got %q", name, value) end
    return n
  elseif kind == "number" then
    local x = tonumber(value)
    if not x or x <= 0 then errors.raisef("option --%s wants a positive number, got %q", name, value) end
    return x
  elseif kind == "list" then
    local items = {}
    for item in value:gmatch("[^,%s]+") do items[#items + 1] = item end
    if #items == 0 then errors.raisef("option --%s wants a comma-separated list, got %q", name, value) end
    return items
  elseif kind == "choice" then
    for _, c in ipairs(spec.choices) do if c == value then return value end end
    errors.raisef("option --%s is %q (use %s)", name, value, table.concat(spec.choices, " or "))
  end
  return value
end

--- parse(args, allowed) -> {name = value} of the options given (names with dashes
--- become underscores: es_factor). allowed: a set of option names this script takes
--- (default: all). --name=value works too.
function M.parse(args, allowed)
  local given, i = {}, 1
  while i <= #(args or {}) do
    local a = args[i]
    local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    local spec = name and M.SPEC[name]
    if not spec or (allowed and not allowed[name] and name ~= "help") then
      errors.raisef("unknown argument %q (--help lists the options)", a)
    end
    local kind = spec[1]
    local key = name:gsub("%-", "_")
    if kind == "flag" then
      if inline then errors.raisef("option --%s takes no value", name) end
      given[key] = true
    elseif inline then
      given[key] = convert(name, kind, inline, spec)
    else
      given[key] = convert(name, kind, args[i + 1], spec)
      i = i + 1
    end
    i = i + 1
  end
  return given
end

--- The settings of a run: the profile, then an experiment's own settings for that
--- profile (experiment.settings.quick or .full), then what the command line gave. An
--- experiment with an input_size of its own keeps it: its architecture depends on it.
function M.resolve(given, experiment)
  local profile = given.quick and "quick" or "full"
  local s = {profile = profile, protocol = "seed", out = "out", es_factor = "validation"}
  for k, v in pairs(M.PROFILES[profile]) do s[k] = v end
  local own = experiment and experiment.settings and experiment.settings[profile] or {}
  for k, v in pairs(own) do s[k] = v end
  for k, v in pairs(given) do s[k] = v end
  if experiment and experiment.input_size then s.size = experiment.input_size end
  return s
end

return M
