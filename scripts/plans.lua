-- plans.lua: the paper's surgery plans (METHOD.md section 1), as functions
-- of the base model's layer count, for rb.surgery:
--
--   local plans = require "plans"
--   local s = rb.surgery(base, plans.llama32_4_6_4)
--
-- Each follows the default rule (prelude = the first P layers, coda = the
-- last C, recurrent block = the R layers just before the coda, the layers
-- between prelude and block dropped), so it fits any base with at least
-- P + R + C layers; on a base of the paper's size it gives the paper's
-- layers (TinyLlama-1.1B, 22 layers: 0-3 | 10-17 | 18-21). A base that is
-- too small is refused, saying which plan, what it needs and what to do.
local rb = require "retrobench"

local M = {}

-- rule(label, P, R, C, paper_layers): the plan function
local function rule(label, p, r, c, paper)
  return function(n_layers)
    if n_layers < p + r + c then
      error(("%s needs a base of at least %d layers (P + R + C = %d + %d + %d; the paper's has %d); this base has %d: "
             .. "use a larger model or a smaller plan such as {1, 2, 1}"):format(label, p + r + c, p, r, c, paper, n_layers))
    end
    return rb.plan(n_layers, p, r, c)
  end
end

-- the configurations of METHOD.md's table
M.tinyllama_4_8_4 = rule("the TinyLlama-1.1B plan (4,8,4)", 4, 8, 4, 22)
M.llama32_4_6_4 = rule("the Llama-3.2-1B plan (4,6,4)", 4, 6, 4, 16)
M.llama32_2_4_2 = rule("the Llama-3.2-1B ablation plan (2,4,2)", 2, 4, 2, 16)
M.olmo2_4_6_4 = rule("the OLMo-2-1B plan (4,6,4)", 4, 6, 4, 16)
-- all layers kept (the TinyLlama ablation (7,8,7))
M.tinyllama_7_8_7 = rule("the TinyLlama-1.1B all-layers plan (7,8,7)", 7, 8, 7, 22)

-- The (2,4,2) ablations with the recurrent layers chosen elsewhere
-- (prelude 0-1, coda the last two, as on Llama-3.2-1B): explicit lists,
-- refused when the listed layers run into the coda.
local function placed(label, recur)
  return function(n_layers)
    local last = recur[#recur]
    if n_layers < 4 or last >= n_layers - 2 then
      error(("%s uses layers 0-1, %s and the last two; a base of %d layers cannot hold them (it needs at least %d)")
            :format(label, table.concat(recur, ","), n_layers, math.max(last + 3, 16)))
    end
    return {prelude = {0, 1}, recur = recur, coda = {n_layers - 2, n_layers - 1}}
  end
end
M.llama32_recur_2_5 = placed("the (2,4,2) ablation with recurrent layers 2-5", {2, 3, 4, 5})
M.llama32_recur_2_5_8_11 = placed("the (2,4,2) ablation with recurrent layers 2,5,8,11", {2, 5, 8, 11})
M.llama32_recur_4_7_10_13 = placed("the (2,4,2) ablation with recurrent layers 4,7,10,13", {4, 7, 10, 13})

-- every plan by name, in a fixed order (for sweeps and tests)
M.names = {"tinyllama_4_8_4", "llama32_4_6_4", "llama32_2_4_2", "olmo2_4_6_4", "tinyllama_7_8_7",
           "llama32_recur_2_5", "llama32_recur_2_5_8_11", "llama32_recur_4_7_10_13"}

return M
