-- scripts/lib/chains.lua: the synthetic task of the embedded default
-- experiment (docs/default-experiment.md), as a pure module: every function
-- returns strings or tables; nothing here reads or writes files, so the same
-- code serves make_default.lua, default.lua, shell drivers (through the
-- standalone lua5.4) and the tests.
--
-- A problem is a set of assignments over single-digit values, mod 10, in
-- an order unrelated to the order of computation, and a question about the
-- last variable of one chain:
--
--   Q: Mod 10: a=f+1,b=3,c=b+5,d=e-2,e=7,f=4. d=?
--   A: d=5
--   #### 5
--
-- The queried chain has `steps` operations (e=7 -> d=e-2: 1 step)
-- and a distractor chain of the same length sits among its statements. The
-- worked solution states only the final value, so every hop of the chain
-- happens inside the network while the answer digit is produced: the number
-- of steps is the serial depth the task asks of one forward pass.
--
-- Variants (options of M.problem, M.split): `copy` (every step "a=b", a pure
-- lookup; the embedded default's task), `chains` (more distractor chains),
-- `ordered` (one chain, statements in chain order).
local M = {}

M.VERSION = 2

-- ---------------------------------------------------------------------------
-- A deterministic generator (splitmix64 on Lua 5.4's 64-bit integers, which
-- wrap around): the same seed gives the same problems on every machine and
-- every Lua 5.4 build, independent of math.random.

local Rng = {}
Rng.__index = Rng

-- seed: an integer; stream: an optional integer naming an independent stream
function M.rng(seed, stream)
  assert(math.type(seed) == "integer", "chains.rng: the seed must be an integer")
  local s = seed ~ ((stream or 0) * -7046029254386353131) -- 0x9E3779B97F4A7C15
  return setmetatable({ s = s }, Rng)
end

function Rng:next64()
  self.s = self.s + -7046029254386353131
  local z = self.s
  z = (z ~ (z >> 30)) * -4658895280553007687 -- 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * -7723592293110705685 -- 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- uniform integer in [0, n): rejection on the top 62 bits, so no value is favoured
function Rng:below(n)
  assert(n >= 1 and n < (1 << 62))
  local limit = (1 << 62) - ((1 << 62) % n)
  while true do
    local x = self:next64() >> 2
    if x < limit then return x % n end
  end
end

-- Fisher-Yates, in place
function Rng:shuffle(t)
  for i = #t, 2, -1 do
    local j = self:below(i) + 1
    t[i], t[j] = t[j], t[i]
  end
  return t
end

-- ---------------------------------------------------------------------------
-- One problem.

local LETTERS = "abcdefghijklmnopqrstuvwxyz"

-- A chain of `steps` operations: a root constant and `steps` assignments
-- v_i = v_{i-1} +/- d (d in 1..9), values mod 10. names: the variables in
-- chain order. Returns the statements (chain order) and the final value.
local function chain(rng, names, steps, copy)
  local value = rng:below(10)
  local stmts = { value .. "=" .. names[1] }
  for i = 1, steps do
    if copy then -- "a=b": b takes a's value (a pure lookup, no arithmetic)
      stmts[#stmts + 1] = names[i] .. "=" .. names[i + 1]
      goto continue
    end
    local d = rng:below(9) + 1
    local op
    if rng:below(2) == 0 then
      op, value = "+", (value + d) % 10
    else
      op, value = "-", (value - d) % 10
    end
    stmts[#stmts + 1] = names[i] .. op .. d .. "=" .. names[i + 1]
    ::continue::
  end
  return stmts, value
end

-- A problem of `steps` steps (0..12; 0: the target is a constant). Returns a table
--   { question = ..., answer = "x=9\n#### 9", gold = "9", steps = steps,
--     target = "x" }
-- in GSM8K's shape (question, worked solution ending in "#### answer").
-- The 2 (steps + 1) variables are the first letters of the alphabet, and the
-- statements are listed in alphabetical order of the variable they assign:
-- the letters are dealt to the two chains' positions at random, so the text
-- order is a random permutation of the chain order, and the assigned names,
-- being predictable, add no noise to the language-modelling loss.
--
-- opts.ordered (the "chain" order of docs/default-experiment.md): one chain,
-- no distractor, its statements in chain order over the letters a, b, c, ...
-- ("Mod 10: 3=a,a+4=b,b-2=c. c=?"): no lookup is needed, only the serial
-- composition of `steps` additions mod 10, each needing the one before.
-- opts.chains (2): the number of chains (the queried one and distractors),
-- so that answering with one of the question's constants at random scores
-- 1 / chains.
-- opts.copy (the "lookup" task): every step is a copy "a=b" (b takes a's
-- value): the answer is the root's digit, found by following `steps`
-- references through the shuffled statements, one lookup after another.
function M.problem(rng, steps, opts)
  assert(math.type(steps) == "integer" and steps >= 0 and steps <= 12,
    "chains.problem: steps must be an integer in 0..12")
  if opts and opts.ordered then
    local names = {}
    for i = 1, steps + 1 do names[i] = LETTERS:sub(i, i) end
    local stmts, value = chain(rng, names, steps, opts.copy)
    local target = names[steps + 1]
    local gold = tostring(value)
    return {
      question = "Mod 10: " .. table.concat(stmts, ",") .. ". " .. target .. "=?",
      answer = target .. "=" .. gold .. "\n#### " .. gold,
      gold = gold,
      steps = steps,
      target = target,
    }
  end
  local n_chains = opts and opts.chains or 2
  assert(math.type(n_chains) == "integer" and n_chains >= 2 and n_chains * (steps + 1) <= 26,
    "chains.problem: chains must be an integer >= 2 with chains x (steps + 1) <= 26 letters")
  local n = n_chains * (steps + 1)
  local pool = {}
  for i = 1, n do pool[i] = LETTERS:sub(i, i) end
  rng:shuffle(pool)
  local names = {}
  for c = 1, n_chains do
    names[c] = {}
    for i = 1, steps + 1 do names[c][i] = pool[(c - 1) * (steps + 1) + i] end
  end
  local a = names[1]
  local copy = opts and opts.copy
  local all, value = {}, nil
  for c = 1, n_chains do -- the first chain is the queried one; the others are distractors
    local sc, v = chain(rng, names[c], steps, copy)
    if c == 1 then value = v end
    for _, st in ipairs(sc) do all[#all + 1] = st end
  end
  table.sort(all, function(x, y) return x:sub(-1) < y:sub(-1) end) -- by the assigned letter
  local target = a[steps + 1]
  local gold = tostring(value)
  return {
    question = "Mod 10: " .. table.concat(all, ",") .. ". " .. target .. "=?",
    answer = target .. "=" .. gold .. "\n#### " .. gold,
    gold = gold,
    steps = steps,
    target = target,
  }
end

-- ---------------------------------------------------------------------------
-- Splits.

-- warmup: easy problems for the start of pretraining (a curriculum), drawn
-- from their own stream.
M.SPLITS = { train = 1, validation = 2, test = 3, warmup = 4 }

-- n problems of the named split, steps drawn uniformly from steps_list
-- (a list of integers) or cycling through it when opts.balanced (each
-- difficulty equally often, in order). Each split is its own stream of the
-- seed, so the splits do not depend on each other's sizes. exclude: an
-- optional set {question = true} of questions not to repeat (another
-- split's), skipped and replaced; ordered: the chain-order variant.
function M.split(seed, name, n, steps_list, opts)
  opts = opts or {}
  local stream = M.SPLITS[name]
  assert(stream, "chains.split: the split must be train, validation, test or warmup, not " .. tostring(name))
  assert(#steps_list >= 1, "chains.split: steps_list is empty")
  local rng = M.rng(seed, stream)
  local out = {}
  local i = 0
  while #out < n do
    local steps
    if opts.balanced then
      steps = steps_list[(#out % #steps_list) + 1]
    else
      steps = steps_list[rng:below(#steps_list) + 1]
    end
    local p = M.problem(rng, steps, opts)
    i = i + 1
    if not (opts.exclude and opts.exclude[p.question]) then out[#out + 1] = p end
    assert(i < 4 * n + 100, "chains.split: too many repeated questions; the task is too small")
  end
  return out
end

-- The questions of a list of problems, as a set (for split's exclude).
function M.question_set(problems)
  local set = {}
  for _, p in ipairs(problems) do set[p.question] = true end
  return set
end

-- ---------------------------------------------------------------------------
-- Text out.

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    if c == "\n" then return "\\n" end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end
M.json_string = json_string

-- One JSON object per line: question, answer (GSM8K's fields), steps.
function M.jsonl(problems)
  local lines = {}
  for i, p in ipairs(problems) do
    lines[i] = '{"question": ' .. json_string(p.question) .. ', "answer": ' .. json_string(p.answer) ..
        ', "steps": ' .. p.steps .. '}'
  end
  return table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
end

-- ---------------------------------------------------------------------------
-- The tokenizer: one id per character of a closed alphabet (newline and the
-- 95 printable ASCII characters), <unk> for anything else, <s> (BOS) and
-- </s> (EOS) as special tokens. A Hugging Face tokenizer.json of type BPE
-- with an explicit vocabulary and no merges, no normalizer and no
-- pre-tokenizer, so every character is one token; the Fuse decoder joins the
-- pieces back into the text; the post-processor puts <s> in front.

function M.alphabet()
  local chars = { "\n" }
  for c = 32, 126 do chars[#chars + 1] = string.char(c) end
  return chars
end

function M.tokenizer_json()
  local pieces = { "<unk>", "<s>", "</s>" }
  for _, c in ipairs(M.alphabet()) do pieces[#pieces + 1] = c end
  local vocab = {}
  for id, p in ipairs(pieces) do vocab[#vocab + 1] = "    " .. json_string(p) .. ": " .. (id - 1) end
  local function added(id, content)
    return '    {"id": ' .. id .. ', "content": ' .. json_string(content) ..
        ', "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}'
  end
  return table.concat({
    "{",
    '  "version": "1.0",',
    '  "truncation": null,',
    '  "padding": null,',
    '  "added_tokens": [',
    added(0, "<unk>") .. ",",
    added(1, "<s>") .. ",",
    added(2, "</s>"),
    "  ],",
    '  "normalizer": null,',
    '  "pre_tokenizer": null,',
    '  "post_processor": {"type": "TemplateProcessing",',
    '    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],',
    '    "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},',
    '             {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],',
    '    "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},',
    '  "decoder": {"type": "Fuse"},',
    '  "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,',
    '    "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,',
    '    "vocab": {',
    table.concat(vocab, ",\n"),
    "    },",
    '    "merges": []',
    "  }",
    "}",
    "",
  }, "\n")
end

return M
