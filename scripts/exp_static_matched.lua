-- exp_static_matched.lua: the recurrent model against the paper's static
-- baseline (the whole base model, every layer, head untied, Muon on
-- separate matrices) at matched training FLOPs (METHOD.md section 3's
-- accounting): the baseline gets as many steps as the recurrent run's
-- FLOPs buy it at 6 x non-embedding parameters per token.
--
--   retrobench run scripts/exp_static_matched.lua [-- short] [out=DIR] [steps=N]
-- writes OUT/static_matched.csv and .json.
local rb = require "retrobench"
local toy = require "common"
local cur = require "curricula"

local c = toy.setup("static_matched")
local base = toy.base(c)
local data = toy.data(c, base)

local rec = rb.surgery(base, {1, 2, 1})
local run = rb.train(toy.recipe(c, {model = rec, data = data, rbar = cur.one_sqrt_4, out = c.out .. "/recurrent"}))
local rec_loss = rec:loss(data, {depths = c.depths})

local static = rb.static_baseline(base)
local per_token = static:flops(1)
local tokens_per_step = c.batch * c.seq
local steps = math.max(1, math.floor(run.flops_total / (per_token * tokens_per_step) + 0.5))
local srun = rb.train(toy.recipe(c, {model = static, data = data, steps = steps, out = c.out .. "/static"}))
local st_loss = static:loss(data, {depths = {1}})

local rows = {}
for _, r in ipairs(c.depths) do
  rows[#rows + 1] = {model = "recurrent (1,2,1)", depth = r, steps = run.step, train_flops = run.flops_total,
                     loss = rec_loss[r]}
end
rows[#rows + 1] = {model = "static baseline (5 layers)", depth = 1, steps = srun.step, train_flops = srun.flops_total,
                   loss = st_loss[1]}
toy.write(c, "static_matched", rows, {"model", "depth", "steps", "train_flops", "loss"},
          {static_flops_per_token = per_token, tokens_per_step = tokens_per_step})
