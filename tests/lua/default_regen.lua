-- default_regen.lua: regenerates the validation and test splits of a
-- default-experiment folder (sample-data/default) from the task description
-- its task.json records, and writes them to OUT, so that the CLI test can
-- compare them byte for byte with the committed files.
--   retrobench run tests/lua/default_regen.lua -- dir=DIR out=OUT
local rb = require "retrobench"
local task = require "lib.default_task"
local a = rb.args
local meta = rb.read_json(a.dir .. "/task.json")
local s = task.splits(meta.task)
rb.mkdir(a.out)
task.write_split(a.out, "validation", s.validation)
task.write_split(a.out, "test", s.test)
