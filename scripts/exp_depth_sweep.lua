-- exp_depth_sweep.lua: the healed model at every test depth (METHOD.md
-- section 4: loss improves with depth up to about the training rbar, then
-- plateaus). stories260K is cut to (1,2,1), healed on TinyStories with the
-- 1-sqrt curriculum to rbar 4, and measured before and after healing:
-- held-out loss and a greedy sample at depths 1..16.
--
--   retrobench run scripts/exp_depth_sweep.lua [-- short] [out=DIR] [steps=N]
-- writes OUT/depth_sweep.csv and .json (columns below).
local rb = require "retrobench"
local toy = require "common"
local cur = require "curricula"

local c = toy.setup("depth_sweep")
local base = toy.base(c)
local data = toy.data(c, base)
local model = rb.surgery(base, {1, 2, 1})
local before = model:loss(data, {depths = c.depths})
local run = rb.train(toy.recipe(c, {model = model, data = data, rbar = cur.one_sqrt_4, out = c.out .. "/run"}))
local after = model:loss(data, {depths = c.depths})

local rows = {}
for _, r in ipairs(c.depths) do
  local text = model:generate("Once upon a time", {depth = r, max_new = c.short and 12 or 40})
  rows[#rows + 1] = {depth = r, loss_before = before[r], loss_after = after[r], sample = text}
end
toy.write(c, "depth_sweep", rows, {"depth", "loss_before", "loss_after", "sample"},
          {run = run.out, checkpoint = run.checkpoint, train_flops = run.flops_total, train_rbar = 4})
