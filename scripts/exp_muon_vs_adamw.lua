-- exp_muon_vs_adamw.lua: Muon (+ AdamW on embeddings, head and norms)
-- against AdamW alone on the same surgery and data (METHOD.md: Muon trains
-- more stably and to lower loss). Both with the learning rates this scale
-- needs (Muon 1e-2 / AdamW 3e-3; AdamW-only 3e-3), identical otherwise.
--
--   retrobench run scripts/exp_muon_vs_adamw.lua [-- short] [out=DIR] [steps=N]
-- writes OUT/muon_vs_adamw.csv and .json; the JSON also holds each run's
-- training-loss curve.
local rb = require "retrobench"
local toy = require "common"
local cur = require "curricula"

local c = toy.setup("muon_vs_adamw")
local base = toy.base(c)
local data = toy.data(c, base)
local rows, curves = {}, {}
for _, opt in ipairs{"muon", "adamw"} do
  local model = rb.surgery(base, {1, 2, 1})
  local curve = {}
  local run = rb.train(toy.recipe(c, {model = model, data = data, rbar = cur.one_sqrt_4, optim = opt,
                                      out = c.out .. "/" .. opt,
                                      on_step = function(m) curve[#curve + 1] = m.loss end}))
  local loss = model:loss(data, {depths = {1, 4}})
  rows[#rows + 1] = {optimizer = opt, steps = run.step, loss_r1 = loss[1], loss_r4 = loss[4],
                     last_train_loss = curve[#curve]}
  curves[opt] = curve
end
toy.write(c, "muon_vs_adamw", rows, {"optimizer", "steps", "loss_r1", "loss_r4", "last_train_loss"},
          {curves = curves})
