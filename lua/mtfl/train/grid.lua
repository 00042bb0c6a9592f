-- mtfl.train.grid: experiments x seeds, each run trained (or resumed, or skipped when
-- already finished), then the results written, tabulated and drawn.
--
--   DIR = <out>/<protocol>[-quick]
--   DIR/runs/<experiment>/seed<k>/   config.json, checkpoint.safetensors while it
--                                    trains, result.json once it is done
--   DIR/results.json                 every run's test metrics and histories, the summary
--   DIR/results.csv                  a row per run
--   DIR/summary.csv, DIR/summary.md  mean and standard deviation per experiment
--   DIR/fig*.png (+ .csv)            the figures (mtfl.train.figures)
--
-- Runs go seed by seed (every experiment's seed 1 first), so an interrupted grid
-- already has one run of each experiment to show. --jobs N trains N runs at once,
-- and under mpirun the ranks share them (mtfl.train.workers); the results are the same.
local json = require "mtfl.json"
local experiment = require "mtfl.train.experiment"
local workers = require "mtfl.train.workers"
local options = require "mtfl.train.options"
local datasets = require "mtfl.train.datasets"
local report = require "mtfl.train.report"
local figures = require "mtfl.train.figures"
local files = require "mtfl.files"
local Progress = require "mtfl.train.progress"
local mtfl = require "mtfl"
local errors = require "mtfl.errors"

local M = {}

--- The grid's options: all of them but --seed (a single run's).
M.OPTIONS = {}
-- (under mpirun the grid's ranks share its runs: a run is never split across them)
for name in pairs(options.SPEC) do if name ~= "seed" and name ~= "data-parallel" then M.OPTIONS[name] = true end end

--- The experiments named by --experiments, in catalogue order; an unknown name is an
--- error listing the known ones.
function M.select(catalogue, names)
  if not names then return catalogue end
  local by_name, known = {}, {}
  for _, spec in ipairs(catalogue) do by_name[spec.name] = spec known[#known + 1] = spec.name end
  local wanted = {}
  for _, name in ipairs(names) do
    if not by_name[name] then
      errors.raisef("option --experiments: no experiment %q (known: %s)", name, table.concat(known, ", "))
    end
    wanted[name] = true
  end
  local out = {}
  for _, spec in ipairs(catalogue) do if wanted[spec.name] then out[#out + 1] = spec end end
  return out
end

--- train(given, specs, script) -> runs (all finished), or nil and why: "stopped" when
--- --stop-after-epochs ended this invocation first, "worker" in a process that only
--- trains (a --jobs worker, an MPI rank but the first: mtfl.train.workers).
function M.train(given, specs, script)
  local base = options.resolve(given)
  local items = {}
  for seed = 1, base.seeds do
    for _, spec in ipairs(specs) do
      local s = options.resolve(given, spec)
      s.seed = seed
      items[#items + 1] = {spec = spec, settings = s}
    end
  end
  local t0 = mtfl.clock()
  return workers.run_all(items, {jobs = given.jobs, budget = given.stop_after_epochs, script = script,
                                 dir = experiment.results_dir(base), announce = function(i, item)
    local s = item.settings
    print(string.format("== run %d/%d: %s, seed %d (%s protocol, %dx%d, %d epochs) -- %s so far",
                        i, #items, item.spec.name, s.seed, s.protocol, s.size, s.size, s.epochs,
                        Progress.duration(mtfl.clock() - t0)))
  end})
end

--- Writes results.json, results.csv, summary.csv and summary.md, draws the figures,
--- and prints the table. Returns the summary.
function M.write(given, runs, script)
  local base = options.resolve(given)
  local dir = experiment.results_dir(base)
  files.mkdir(dir)
  local summary = report.summarize(runs)
  local reference = require "mtfl.train.seed_reference"
  files.write_atomic(dir .. "/results.json", json.encode({
    protocol = base.protocol, profile = base.profile, runs = runs, reference = reference,
    summary = summary,
  }))
  files.write_atomic(dir .. "/results.csv", report.runs_csv(runs))
  files.write_atomic(dir .. "/summary.csv", report.summary_csv(summary))
  local md = report.markdown(summary, base.protocol)
  files.write_atomic(dir .. "/summary.md", md .. "\n")
  print(string.format("\nTest results, %s protocol, %s profile (mean ± std over seeds; accuracy = 1 - failure rate at 10%% of the inter-ocular distance):",
                      base.protocol, base.profile))
  print(report.text(summary, base.protocol))
  print("\nfigures:")
  local ds = datasets.get(base, script)
  for _, file in ipairs(figures.draw{dir = dir, protocol = base.protocol, runs = runs, summary = summary,
                                      test_set = ds.test}) do
    print("  " .. file)
  end
  print("results: " .. dir .. "/results.json, results.csv, summary.csv, summary.md")
  return summary
end

--- The whole command: parse arg, run the grid, write everything. Exit status 3 when
--- --stop-after-epochs ended it early (run it again to go on).
function M.main(args, catalogue)
  local given = options.parse(args, M.OPTIONS, "the seed study's grid: experiments x seeds x epochs, then its tables and figures")
  if not given then return end   -- --help
  if given.device then mtfl.set_device(given.device) end
  local specs = M.select(catalogue, given.experiments)
  local t0 = mtfl.clock()
  local runs, why = M.train(given, specs, args[0])
  if why == "worker" then return end   -- the first process writes the tables
  if not runs then
    print("stopped as asked (--stop-after-epochs): run the same command again to resume")
    os.exit(3)
  end
  local summary = M.write(given, runs, args[0])
  print(string.format("grid done in %s", Progress.duration(mtfl.clock() - t0)))
  return summary
end

return M
