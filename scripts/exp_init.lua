-- exp_init.lua: pretrained against random initialisation of the same
-- surgery (METHOD.md: pretrained layers beat random init by a wide margin).
-- The random base has stories260K's exact configuration (rb.model), both
-- are cut to (1,2,1) and healed with the same recipe and data.
--
--   retrobench run scripts/exp_init.lua [-- short] [out=DIR] [steps=N]
-- writes OUT/init.csv and .json.
local rb = require "retrobench"
local toy = require "common"
local cur = require "curricula"

local c = toy.setup("init")
local pre = toy.base(c)
local data = toy.data(c, pre)
local i = pre:info()
local rand = rb.model({vocab_size = i.vocab_size, dim = i.dim, n_layers = i.layers, n_heads = i.n_heads,
                       n_kv_heads = i.n_kv_heads, hidden_dim = i.hidden_dim, max_seq_len = i.max_seq_len,
                       norm_eps = i.norm_eps, rope_theta = i.rope_theta, tied_head = i.tied_head},
                      {tokenizer = pre, seed = 1, std = 0.02})
local rows = {}
for _, b in ipairs{{"pretrained", pre}, {"random", rand}} do
  local model = rb.surgery(b[2], {1, 2, 1})
  local before = model:loss(data, {depths = {4}})
  rb.train(toy.recipe(c, {model = model, data = data, rbar = cur.one_sqrt_4, out = c.out .. "/" .. b[1]}))
  local after = model:loss(data, {depths = {1, 4}})
  rows[#rows + 1] = {init = b[1], loss_r4_before = before[4], loss_r1 = after[1], loss_r4 = after[4]}
end
toy.write(c, "init", rows, {"init", "loss_r4_before", "loss_r1", "loss_r4"})
