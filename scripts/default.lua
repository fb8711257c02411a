-- default.lua: the experiment `retrobench` runs when started with no
-- arguments (docs/default-experiment.md). From the committed base model of
-- sample-data/default/ (built by scripts/make_default.lua) it
--   1. cuts the base into prelude / recurrent block / coda (surgery),
--   2. heals each retrofit with the paper's 1-sqrt curriculum to its train rbar,
--   3. trains the paper's static baseline (the whole base model, head
--      untied) with the same recipe for the same training FLOPs,
--   4. evaluates every model on the test split (GSM8K protocol, 0-shot) at
--      each test depth,
--   5. traces the latent state of one answer (per iteration: relative change,
--      KL, top token),
-- and writes OUT/results.csv, OUT/results.json, OUT/trace.json and the run
-- and evaluation folders. No network; a few minutes on 2 cores.
--
--   retrobench run scripts/default.lua [-- KEY=VALUE ...]
-- KEY=VALUE: out (results/default-DATE), base (sample-data/default), rbars
-- (4,8), steps (heal steps), depths (1,2,4,8,16), limit (test problems),
-- split (test), prc (1,2,1), batch (16), lr_muon / lr_adam (the
-- pretraining's, from task.json), static (1; 0 skips
-- the baseline), adapter (uniform: the paper's init; identity: [0 | I]),
-- seed, n_train (training problems regenerated from the task's seed), quiet
-- (1: no progress lines).
local rb = require "retrobench"
local task = require "lib.default_task"

local a = rb.args
local function num(k, d) return a[k] and tonumber(a[k]) or d end
local function int(k, d)
  local v = math.tointeger(num(k, d))
  if not v then error(("default.lua: %s must be an integer, got '%s'"):format(k, tostring(a[k])), 0) end
  return v
end

-- the project's sample-data/, found from this script's own path (scripts/..)
local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local base_dir = a.base or (script_dir .. "/../sample-data/default")
local base_path = base_dir .. "/base.safetensors"
if not rb.exists(base_path) or not rb.exists(base_dir .. "/task.json") then
  error(("default.lua: %s is missing; build it with `retrobench run scripts/make_default.lua` " ..
         "(about 10 minutes on 2 cores), or give base=DIR"):format(base_path), 0)
end
local meta = rb.read_json(base_dir .. "/task.json")
local c = {
  out = a.out or os.date("results/default-%Y%m%d-%H%M%S"),
  rbars = task.ints(a.rbars or "4,8"), steps = int("steps", 100), depths = task.ints(a.depths or "1,2,4,8,16"),
  limit = int("limit", 200), split = a.split or "test", prc = task.ints(a.prc or "1,2,1"),
  batch = int("batch", 16),
  lr_muon = num("lr_muon", meta.recipe.lr_muon), lr_adam = num("lr_adam", meta.recipe.lr_adam),
  adapter = a.adapter or "uniform",
  static = a.static ~= "0", seed = int("seed", 1), n_train = int("n_train", 20000), quiet = a.quiet ~= nil,
}
if c.split ~= "test" and c.split ~= "validation" then error("default.lua: split must be test or validation", 0) end
rb.mkdir(c.out)
local t0 = rb.time()

-- the training problems, regenerated from the task's seed (not committed)
local tdesc = {}
for k, v in pairs(meta.task) do tdesc[k] = v end
tdesc.n_train = math.min(c.n_train, meta.task.n_train)
local splits = task.splits(tdesc)
local train_path = c.out .. "/train.rbtok"
if not rb.exists(train_path) then
  local j = task.write_split(c.out, "train", splits.train)
  rb.pack{tokenizer = base_dir .. "/tokenizer.json", jsonl = j, template = task.TEMPLATE, seq = meta.model.seq,
          out = train_path}
end
local eval_path = base_dir .. "/" .. c.split .. ".jsonl"
local problems = rb.read_jsonl(eval_path)

local base = rb.load(base_path)
-- in the workbench: the first problem, answered at every test depth on the
-- model being trained (refreshed at each validation); headless, nothing
do
  local p1 = problems[1]
  local q = task.QUESTION_TEMPLATE:gsub("{question}", function() return p1.question end)
  rb.workbench_prompt(q, "#### " .. p1.answer:match("####%s*(%S+)"))
end
local function recipe(t)
  local r = {data = train_path, batch = c.batch, lr_muon = c.lr_muon, lr_adam = c.lr_adam, seed = c.seed,
             val_rows = 32, val_depths = {1, 4}, val_every = 25, resume = true, quiet = c.quiet,
             on_step = function(m)
               if m.step % 50 == 0 then rb.log(("step %d: loss %.4f, rbar %d"):format(m.step, m.loss, m.rbar)) end
             end}
  for k, v in pairs(t) do r[k] = v end
  return r
end

-- a run's training FLOPs; a run that a resume found finished reports none,
-- so they are read from its metrics.jsonl (the "flops" field is cumulative)
local function train_flops(run)
  if run.flops_total and run.flops_total > 0 then return run.flops_total end
  local last = 0
  for _, m in ipairs(rb.read_jsonl(run.out .. "/metrics.jsonl")) do
    if m.flops and m.step then last = m.flops end
  end
  run.flops_total = last
  return last
end

local rows = {}
local function evaluate(name, model, rbar, train, depths)
  local e = rb.eval(model, {data = eval_path, limit = c.limit, shots = 0, depths = depths, max_new = 16,
                            max_length = meta.model.seq, question_template = task.QUESTION_TEMPLATE,
                            strict_regex = task.STRICT_REGEX, batch = 32, out = c.out .. "/eval-" .. name,
                            quiet = c.quiet})
  -- every answer, also those a resumed evaluation found already written
  local answers = rb.read_jsonl(c.out .. "/eval-" .. name .. "/answers.jsonl")
  for _, d in ipairs(e.depths) do
    local row = {model = name, train_rbar = rbar, depth = d.depth, n = d.n,
                 accuracy = d.accuracy["flexible-extract"], se = d.se["flexible-extract"],
                 strict = d.accuracy["strict-match"], strict_se = d.se["strict-match"], mean_flops = d.mean_flops,
                 train_steps = train.step, train_flops = train_flops(train)}
    for k, v in pairs(task.by_steps(problems, answers, d.depth, "flexible-extract")) do
      row["acc_steps" .. k] = v.correct / v.n
    end
    rows[#rows + 1] = row
  end
end

-- 1-4: each train rbar, its matched static baseline
local traced
for _, rbar in ipairs(c.rbars) do
  local name = "heal-r" .. rbar
  local m = rb.surgery(base, c.prc, {seed = c.seed, adapter = c.adapter})
  local run = rb.train(recipe{model = m, steps = c.steps, out = c.out .. "/" .. name,
                              rbar = rb.curriculum("1-sqrt", {max = rbar})})
  evaluate(name, m, rbar, run, c.depths)
  traced = traced or m
  if c.static then
    local s = rb.static_baseline(base)
    local tokens_per_step = c.batch * meta.model.seq
    local steps = math.max(1, math.floor(train_flops(run) / (s:flops(1) * tokens_per_step) + 0.5))
    local srun = rb.train(recipe{model = s, steps = steps, out = c.out .. "/static-r" .. rbar, val_depths = {1}})
    evaluate("static-r" .. rbar, s, rbar, srun, {1})
    s:close()
  end
end

-- 5: the latent trace of one answer: the first test problem, from the
-- answer's digit (after " x=") on, at the deepest test depth
local p1 = problems[1]
local prompt = task.QUESTION_TEMPLATE:gsub("{question}", function() return p1.question end) ..
               " " .. p1.answer:match("^(%a+=)")
local tr = traced:trace(prompt, {depth = c.depths[#c.depths], tokens = 2})
rb.write_json(c.out .. "/trace.json", {model = "heal-r" .. c.rbars[1], prompt = prompt, gold = p1.answer,
                                       steps = p1.steps, depth = c.depths[#c.depths], tokens = tr}, {pretty = true})

-- the table
local columns = {"model", "train_rbar", "depth", "n", "accuracy", "se", "strict", "strict_se", "mean_flops",
                 "train_steps", "train_flops"}
for _, k in ipairs(task.ints(meta.task.test_steps)) do columns[#columns + 1] = "acc_steps" .. k end
rb.write_csv(c.out .. "/results.csv", rows, {columns = columns})
rb.write_json(c.out .. "/results.json", {settings = c, base = base_path, task = meta.task, seconds = rb.time() - t0,
                                         rows = rows}, {pretty = true})
print(("default experiment: %s split, %d problems, base %s, (P,R,C) = (%s)"):format(c.split, rows[1].n, base_path,
      table.concat(c.prc, ",")))
print(("%-12s %5s  %-16s %s"):format("model", "depth", "accuracy (se)", "by steps"))
for _, r in ipairs(rows) do
  local per = {}
  for _, k in ipairs(task.ints(meta.task.test_steps)) do
    per[#per + 1] = r["acc_steps" .. k] and ("%.2f"):format(r["acc_steps" .. k]) or "-"
  end
  print(("%-12s %5d  %.3f (%.3f)    %s"):format(r.model, r.depth, r.accuracy, r.se, table.concat(per, " ")))
end
local first = tr[1]
local tops = {}
for _, it in ipairs(first.iters) do tops[#tops + 1] = ("%s(%.2f)"):format(it.piece, it.prob) end
print(("latent trace of heal-r%d's answer digit (gold %s, %d steps), top token per iteration:"):format(c.rbars[1],
      p1.answer:match("#### (%d+)"), p1.steps))
print("  " .. table.concat(tops, " "))
print(("results in %s (%.0f s)"):format(c.out, rb.time() - t0))
