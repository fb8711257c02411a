-- exp_plans.lua: every surgery plan of plans.lua applied to a model it
-- fits and refused on one that is too small. The models are tiny random
-- ones with the paper's layer counts (16 for Llama-3.2-1B and OLMo-2-1B,
-- the latter with OLMo-2 blocks; 22 for TinyLlama-1.1B) and a narrow
-- width, so surgery takes milliseconds; stories260K (5 layers) is too
-- small for every plan.
--
--   retrobench run scripts/exp_plans.lua [-- out=DIR]
-- writes OUT/plans.csv and .json: each plan's layers on its model, and
-- the message it gives on stories260K.
local rb = require "retrobench"
local toy = require "common"
local plans = require "plans"

local c = toy.setup("plans")
local small = toy.base(c)
local function tiny(layers, block)
  return rb.model({vocab_size = 512, dim = 16, n_layers = layers, n_heads = 2, hidden_dim = 32, max_seq_len = 64,
                   block = block}, {tokenizer = small, seed = layers})
end
local models = {[16] = tiny(16), [22] = tiny(22), olmo = tiny(16, "olmo2")}
local fits = {tinyllama_4_8_4 = 22, tinyllama_7_8_7 = 22, olmo2_4_6_4 = "olmo"}

local rows = {}
for _, name in ipairs(plans.names) do
  local key = fits[name] or 16
  local s = rb.surgery(models[key], plans[name])
  local p = s:info().plan
  local ok, err = pcall(rb.surgery, small, plans[name])
  assert(not ok, name .. " was not refused on stories260K")
  rows[#rows + 1] = {plan = name, base_layers = models[key]:info().layers, block = models[key]:info().block,
                     prelude = table.concat(p.prelude, ","), recur = table.concat(p.recur, ","),
                     coda = table.concat(p.coda, ","), params = s:info().params.total,
                     refused_on_stories260K = (tostring(err):gsub("\n.*", ""))}
end
toy.write(c, "plans", rows, {"plan", "base_layers", "block", "prelude", "recur", "coda", "params",
                             "refused_on_stories260K"})
