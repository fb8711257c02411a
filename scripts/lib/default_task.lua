-- scripts/lib/default_task.lua: the embedded default's task files, shared by
-- scripts/make_default.lua (which writes them with the base model) and
-- scripts/default.lua (which regenerates the training split from the seed
-- recorded in sample-data/default/task.json instead of committing it).
-- The problems themselves come from lib/chains.lua.
local rb = require "retrobench"
local chains = require "lib.chains"

local M = {}

-- "0,1,2" -> {0, 1, 2}
function M.ints(text)
  if type(text) == "table" then return text end
  local list = {}
  for s in tostring(text):gmatch("[^,]+") do
    local v = math.tointeger(tonumber(s))
    if not v then error("expected a comma-separated list of integers, got '" .. tostring(text) .. "'", 2) end
    list[#list + 1] = v
  end
  return list
end

-- The splits of a task description t = {seed, order ("shuffled", the
-- default, or "chain"), ops ("arith": +/-d mod 10, the default, or "copy"), chains (2), train_steps, test_steps, warmup_steps, n_train, n_warmup, n_validation, n_test}: train and warmup
-- draw their difficulties uniformly; validation and test cycle through
-- test_steps (each difficulty equally often) and repeat no training question.
function M.splits(t)
  local s = {}
  local o = {ordered = t.order == "chain", copy = t.ops == "copy", chains = t.chains}
  s.train = chains.split(t.seed, "train", t.n_train, M.ints(t.train_steps), o)
  s.warmup = chains.split(t.seed, "warmup", t.n_warmup or 0, M.ints(t.warmup_steps or "0"), o)
  local seen = chains.question_set(s.train)
  for q in pairs(chains.question_set(s.warmup)) do seen[q] = true end
  local held = {exclude = seen, balanced = true, ordered = o.ordered, copy = o.copy, chains = o.chains}
  s.validation = chains.split(t.seed, "validation", t.n_validation, M.ints(t.test_steps), held)
  s.test = chains.split(t.seed, "test", t.n_test, M.ints(t.test_steps), held)
  return s
end

-- The prompt and the training text: the model reads "Q: {question}\nA:" and
-- writes " x=7\n#### 7" (GSM8K's layout without the few-shot exemplars).
M.TEMPLATE = "Q: {question}\nA: {answer}"
M.QUESTION_TEMPLATE = "Q: {question}\nA:"
-- lm-eval's GSM8K strict rule for answers written as "#### N" (EVAL.md's
-- strict rule looks for "The answer is N.", which this task never writes)
M.STRICT_REGEX = "#### (-?[0-9.,]+)"

-- Write list as dir/name.jsonl and return the path.
function M.write_split(dir, name, list)
  local path = dir .. "/" .. name .. ".jsonl"
  rb.write_text(path, chains.jsonl(list))
  return path
end

-- The number of problems of each difficulty in a list, and the accuracy per
-- difficulty of an evaluation's answers: {[steps] = {n, correct}}.
function M.by_steps(problems, answers, depth, rule)
  local out = {}
  for _, a in ipairs(answers) do
    if a.depth == depth then
      local p = problems[a.id + 1]
      local e = out[p.steps] or {n = 0, correct = 0}
      e.n = e.n + 1
      if a.correct[rule] then e.correct = e.correct + 1 end
      out[p.steps] = e
    end
  end
  return out
end

return M
