-- make_default.lua: builds the embedded default (docs/default-experiment.md):
-- the synthetic chain task (lib/chains.lua) with its splits, and a small
-- plain Llama-architecture base model pretrained from scratch on it, written
-- to sample-data/default/ (committed; scripts/default.lua starts from it).
--
--   retrobench run scripts/make_default.lua [-- KEY=VALUE ...]
--
-- KEY=VALUE (defaults below): seed, order (shuffled: two chains, statements
-- by assigned letter; chain: one chain, statements in chain order), ops
-- (copy: every step "a=b"; arith: "a+3=b" mod 10), chains (2: the
-- queried one and a distractor), train_steps / test_steps / warmup_steps
-- (difficulty lists: the number of chain steps), n_train, n_warmup,
-- n_validation, n_test, layers, dim, heads, mlp, seq, batch, warm (steps of
-- the warm-up phase on easy problems), pre (steps of the main phase),
-- lr_muon, lr_adam, out (sample-data/default), work (results/make_default:
-- the run folders), limit (validation problems scored at the end).
-- Deterministic for its arguments (same seed: same task, same model bytes
-- on the same machine and thread count).
local rb = require "retrobench"
local task = require "lib.default_task"
local chains = require "lib.chains"

local a = rb.args
local function num(k, d) return a[k] and tonumber(a[k]) or d end
local function int(k, d) return math.tointeger(num(k, d)) or error(k .. " must be an integer", 0) end

local t = {
  generator = "scripts/lib/chains.lua", generator_version = chains.VERSION,
  seed = int("seed", 1), order = a.order or "shuffled", ops = a.ops or "copy",
  chains = int("chains", 2),
  train_steps = a.train_steps or "0,1,2,3,4", test_steps = a.test_steps or "2,3,4",
  warmup_steps = a.warmup_steps or "0,1",
  n_train = int("n_train", 60000), n_warmup = int("n_warmup", 10000),
  n_validation = int("n_validation", 400), n_test = int("n_test", 400),
}
local cfg = {layers = int("layers", 4), dim = int("dim", 64), heads = int("heads", 4), mlp = int("mlp", 192),
             seq = int("seq", 128)}
local rec = {batch = int("batch", 32), warm = int("warm", 300), pre = int("pre", 2000),
             lr_muon = num("lr_muon", 1e-2), lr_adam = num("lr_adam", 3e-3)}
local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local out = a.out or (script_dir .. "/../sample-data/default")
local work = a.work or "results/make_default"
rb.mkdir(out)
rb.mkdir(work)

-- the task: tokenizer, splits (train and warmup stay in the work folder:
-- default.lua regenerates them from the seed)
local t0 = rb.time()
local s = task.splits(t)
rb.write_text(out .. "/tokenizer.json", chains.tokenizer_json())
task.write_split(out, "validation", s.validation)
task.write_split(out, "test", s.test)
local packed = {}
for _, name in ipairs{"warmup", "train"} do
  local path = work .. "/" .. name .. ".rbtok"
  if not rb.exists(path) then
    local j = task.write_split(work, name, s[name])
    rb.pack{tokenizer = out .. "/tokenizer.json", jsonl = j, template = task.TEMPLATE, seq = cfg.seq, out = path}
  end
  packed[name] = path
end
rb.log(("make_default: task seed %d, %d train / %d warm-up / %d validation / %d test problems (%.1f s)")
       :format(t.seed, #s.train, #s.warmup, #s.validation, #s.test, rb.time() - t0))

-- the base model: random, then pretrained in two phases (easy problems, then the mix)
local model = rb.model({vocab_size = 99, dim = cfg.dim, n_layers = cfg.layers, n_heads = cfg.heads,
                        hidden_dim = cfg.mlp, max_seq_len = cfg.seq},
                       {tokenizer = out .. "/tokenizer.json", seed = t.seed})
local phases = {}
if rec.warm > 0 then phases[#phases + 1] = {data = packed.warmup, steps = rec.warm} end
phases[#phases + 1] = {data = packed.train, steps = rec.pre}
local run = rb.train{model = model, phases = phases, data = packed.train, steps = rec.pre, batch = rec.batch,
                     lr_muon = rec.lr_muon, lr_adam = rec.lr_adam, seed = t.seed, warmup_frac = 0.01,
                     decay_frac = 0.2, val_rows = 32, val_depths = {1}, out = work .. "/pretrain", resume = true,
                     ckpt_every = 500}
model:save(out .. "/base.safetensors")

-- final figures: held-out loss and the validation split's accuracy per difficulty
local limit = int("limit", #s.validation)
local e = rb.eval(model, {data = out .. "/validation.jsonl", limit = limit, shots = 0, depths = {1}, max_new = 16,
                          max_length = cfg.seq, question_template = task.QUESTION_TEMPLATE,
                          strict_regex = task.STRICT_REGEX, answers = true, quiet = true})
local per = task.by_steps(s.validation, e.answers, 1, "flexible-extract")
local per_steps = {}
for k, v in pairs(per) do per_steps[tostring(k)] = v.correct / v.n end
local info = model:info()
local figures = {
  task = t, model = cfg, recipe = rec, params = info.params.total, non_embedding = info.params.non_embedding,
  pretrain_seconds = rb.time() - t0, final_loss = run.final[1], train_flops = run.flops_total,
  validation = {n = e.depths[1].n, accuracy = e.depths[1].accuracy["flexible-extract"],
                se = e.depths[1].se["flexible-extract"], strict = e.depths[1].accuracy["strict-match"],
                by_steps = per_steps},
}
rb.write_json(out .. "/task.json", figures, {pretty = true})
print(("make_default: %s/base.safetensors: %d parameters, held-out loss %.4f, validation accuracy %.3f +- %.3f (%d problems)")
      :format(out, figures.params, figures.final_loss or 0 / 0, figures.validation.accuracy, figures.validation.se,
              figures.validation.n))
for _, k in ipairs(task.ints(t.test_steps)) do
  if per[k] then print(("  steps %d: %.3f (%d)"):format(k, per[k].correct / per[k].n, per[k].n)) end
end
