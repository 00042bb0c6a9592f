-- mtfl.train: training runs and experiment grids over mtfl.nn and mtfl.data.
--
--   local train = require "mtfl.train"
--   local trainer = train.Trainer.new{model =, criterion =, optimizer =, loader =, val =, size =, epochs =}
--   trainer:fit()                                    -- epochs, progress bar, validation
--   local test = trainer:evaluate(ds.test)           -- metrics and losses on a set
--
-- Each piece lives in its own file; this one gathers them.
return {
  Trainer = require "mtfl.train.trainer",
  EarlyStopping = require "mtfl.train.early_stopping",
  weighting = require "mtfl.train.weighting",
  Progress = require "mtfl.train.progress",
  evaluate = require "mtfl.train.evaluate",
  experiment = require "mtfl.train.experiment",
  grid = require "mtfl.train.grid",
  options = require "mtfl.train.options",
  report = require "mtfl.train.report",
  figures = require "mtfl.train.figures",
  targets = require "mtfl.train.targets",
  heads = require "mtfl.train.heads",
  reference = require "mtfl.train.seed_reference",
}
