-- test_api.lua: every function and method of the retrobench module, with
-- its error paths (wrong argument types, out-of-range values and layer
-- indices, missing and damaged files, errors raised in callbacks); every
-- error message must carry this file's name and a line number. Run by
-- tests/cli/test_lua_api.sh, which prepares the damaged files:
--   retrobench run test_api.lua -- assets=DIR tmp=DIR docs=docs/lua-api.md
local rb = require "retrobench"
local A = assert(arg.assets, "give assets=DIR")
local T = assert(arg.tmp, "give tmp=DIR")
local BIN, TOK = A .. "/stories260K/stories260K.bin", A .. "/stories260K/tok512.bin"
local TEXT = A .. "/tinystories/tinystories_sample.txt"

local checks, fails = 0, 0
local function check(cond, what)
  checks = checks + 1
  if not cond then
    fails = fails + 1
    print("FAIL: " .. what)
  end
end
-- f must fail; the message must match pat and name this file and a line
local function err(f, pat, what)
  local ok, e = pcall(f)
  e = tostring(e)
  check(not ok, what .. ": did not fail")
  if ok then return end
  check(e:find("test_api%.lua:%d+:") ~= nil, what .. ": no file:line in '" .. e:gsub("\n.*", "") .. "'")
  check(e:find(pat) ~= nil, what .. ": '" .. e:gsub("\n.*", "") .. "' lacks '" .. pat .. "'")
end
local function near(a, b, tol) return math.abs(a - b) <= (tol or 1e-9) * math.max(1, math.abs(b)) end

-- ---------------------------------------------------------------- models
local m = rb.load(BIN, {tokenizer = TOK})
local info = m:info()
check(info.layers == 5 and info.dim == 64 and info.n_heads == 8 and info.n_kv_heads == 4, "info: shape")
check(info.params.total == 260032 and info.tokenizer.identity == "ae099c6e72555faf", "info: params, identity")
check(info.recurrent == false and info.plan == nil and info.format ~= nil, "info: plain model")
local g = rb.load(A .. "/stories260K-gguf/stories260K.gguf")
local hf = rb.load(A .. "/stories260K-hf", {tokenizer = TOK})
check(g:info().params.embed == hf:info().params.embed and g:info().params.prelude == hf:info().params.prelude,
      "load: GGUF and HF folder")
check((g:generate("Once", {max_new = 8})) == (m:generate("Once", {max_new = 8})), "load: the formats agree")
err(function() rb.load(T .. "/missing.bin") end, "missing", "load: missing file")
err(function() rb.load(T .. "/empty.gguf") end, "empty", "load: empty file")
err(function() rb.load(T .. "/truncated.safetensors") end, "truncated.safetensors", "load: damaged file")
err(function() rb.load({}) end, "string expected, got table", "load: wrong type")
err(function() rb.load(BIN, {tokenizer = TOK, devise = "cpu"}) end, "unknown option 'devise'", "load: unknown option")
err(function() rb.load(BIN, {tokenizer = TOK, device = "tpu"}) end, "device must be", "load: bad device")
err(function() rb.load(BIN, {tokenizer = 7}) end, "tokenizer must be a string", "load: option type")
local dev = rb.load(BIN, {tokenizer = TOK, device = "auto"}):info().device
check(dev == "cpu" or dev:find("cuda") ~= nil, "load: device auto (" .. dev .. ")")
local okc, ec = pcall(rb.load, BIN, {tokenizer = TOK, device = "cuda"})
check(okc or tostring(ec):find('device "cuda": .*use device = "cpu" or "auto"') ~= nil, "load: device cuda: " .. tostring(ec))

-- flops: METHOD.md's accounting from the parameter counts
local tr, inf = m:flops(1)
check(tr == 6 * info.params.non_embedding, "flops: static 6 x non-embedding")
check(inf > 0 and m:info{depth = 1}.flops.train == tr, "flops: info{depth}")
err(function() m:flops(0) end, "out of range", "flops: depth 0")
err(function() m:info{deep = 1} end, "unknown option 'deep'", "info: option")

-- random models
local cfg = {vocab_size = 512, dim = 16, n_layers = 3, n_heads = 2, hidden_dim = 32, max_seq_len = 64}
local r1 = rb.model(cfg, {seed = 3, tokenizer = m})
local r2 = rb.model(cfg, {seed = 3, tokenizer = TOK})
check(r1:info().layers == 3 and r1:info().tokenizer.identity == info.tokenizer.identity, "model: shape, shared tokenizer")
check((r1:generate("A", {max_new = 6})) == (r2:generate("A", {max_new = 6})), "model: same seed, same weights")
check(rb.model(cfg, {block = nil}):info().block == "llama", "model: default block")
local o2 = rb.model({vocab_size = 512, dim = 16, n_layers = 2, n_heads = 2, hidden_dim = 32, max_seq_len = 64,
                     block = "olmo2"})
check(o2:info().block == "olmo2" and near(o2:info().norm_eps, 1e-6, 1e-6), "model: olmo2 block")
err(function() rb.model{vocab_size = 512, dim = 16, n_heads = 2, hidden_dim = 32, max_seq_len = 64} end,
    "needs n_layers", "model: missing field")
err(function() rb.model{vocab_size = 512, dim = "16", n_layers = 1, n_heads = 2, hidden_dim = 32, max_seq_len = 64} end,
    "dim must be an integer", "model: wrong type")
err(function() rb.model{vocab_size = 512, dim = 15, n_layers = 1, n_heads = 2, hidden_dim = 32, max_seq_len = 64} end,
    "rb.model: ", "model: inconsistent configuration")
err(function() rb.model({vocab_size = 100, dim = 16, n_layers = 1, n_heads = 2, hidden_dim = 32, max_seq_len = 64},
                        {tokenizer = TOK}) end, "more than vocab_size", "model: tokenizer too large")
err(function() rb.model(cfg, {block = "gpt"}) end, "unknown option 'block'", "model: option in the wrong table")
err(function() rb.model({vocab_size = 512, dim = 16, n_layers = 1, n_heads = 2, hidden_dim = 32, max_seq_len = 64,
                         block = "gpt"}) end, "block must be llama or olmo2", "model: bad block")

-- encode, decode
local ids = m:encode("Once upon a time")
check(#ids > 2 and m:decode(ids) == "Once upon a time", "encode/decode round trip")
check(m:encode("x", {bos = true})[1] == 1, "encode: BOS")
err(function() m:decode({1, 9999}) end, "ids%[2%]", "decode: id out of range")
err(function() rb.model(cfg):encode("x") end, "no tokenizer", "encode: model without tokenizer")
err(function() m:encode(nil) end, "string expected", "encode: wrong type")

-- save, convert
m:save(T .. "/m.safetensors")
local m2 = rb.load(T .. "/m.safetensors")
check(m2:info().params.total == info.params.total and (m2:generate("Once", {max_new = 6})) == (m:generate("Once", {max_new = 6})),
      "save: a checkpoint that loads back the same model")
m:save(T .. "/hf")
check(rb.exists(T .. "/hf/config.json") and rb.exists(T .. "/hf/tokenizer.json"), "save: Hugging Face folder")
err(function() m:save(T .. "/x.gguf") end, "write a retrobench .safetensors", "save: unsupported format")
err(function() m:save(T .. "/fifo.safetensors") end, "FIFO", "save: onto a FIFO")
rb.convert(BIN, T .. "/c.safetensors", {tokenizer = TOK})
rb.convert(BIN, T .. "/tok.json", {tokenizer = TOK})
check(rb.load(T .. "/c.safetensors"):info().params.total == info.params.total, "convert: checkpoint")
check(rb.read_json(T .. "/tok.json").model ~= nil, "convert: tokenizer.json")
err(function() rb.convert(T .. "/missing.bin", T .. "/y.safetensors") end, "missing.bin", "convert: missing input")
err(function() rb.convert(BIN, T .. "/y.bin") end, "not supported", "convert: .bin output")

-- close
local tmpm = rb.load(BIN, {tokenizer = TOK})
tmpm:close()
err(function() tmpm:info() end, "closed", "close: use after close")
do
  local scoped <close> = rb.load(BIN, {tokenizer = TOK})
  check(scoped:info().layers == 5, "close: to-be-closed variable")
end
err(function() m.info(42) end, "must be a model", "method on a non-model")

-- ---------------------------------------------------------------- surgery
local s = rb.surgery(m, {1, 2, 1})
local sp = s:info().plan
check(s:info().recurrent and sp.prelude[1] == 0 and sp.recur[1] == 2 and sp.recur[2] == 3 and sp.coda[1] == 4,
      "surgery: counts, default rule")
local s2 = rb.surgery(m, {prelude = {0}, recurrent = {1, 3}, coda = {4}}, {adapter = "identity", state = "zero"})
check(s2:info().plan.recur[2] == 3 and s2:info().plan.adapter_init == "identity" and s2:info().state_init == "zero",
      "surgery: explicit lists and options")
check(rb.surgery(m, "0|2,3|4"):info().plan.recur[1] == 2, "surgery: layer text")
local seen_layers
check(rb.surgery(m, function(n) seen_layers = n; return {0, 1, 1} end):info().recur == 1 and seen_layers == 5,
      "surgery: a plan function gets the layer count")
check(rb.surgery(BIN, {1, 2, 1}, {tokenizer = TOK}):info().plan.base == "stories260K.bin", "surgery: base by path")
rb.surgery(m, {1, 2, 1}, {seed = 1}):save(T .. "/seed1.safetensors")
rb.surgery(m, {1, 2, 1}, {seed = 1}):save(T .. "/seed1b.safetensors")
rb.surgery(m, {1, 2, 1}, {seed = 2}):save(T .. "/seed2.safetensors")
check(rb.read_text(T .. "/seed1.safetensors") == rb.read_text(T .. "/seed1b.safetensors") and
      rb.read_text(T .. "/seed1.safetensors") ~= rb.read_text(T .. "/seed2.safetensors"), "surgery: the adapter seed")
err(function() rb.surgery(m, {prelude = {0}, recur = {2, 9}, coda = {4}}) end, "recurrent layer 9 is not a layer",
    "surgery: layer index out of range")
err(function() rb.surgery(m, {prelude = {-1}, recur = {2}, coda = {4}}) end, "is not a layer index",
    "surgery: negative index")
err(function() rb.surgery(m, {prelude = {0}, recur = {2.5}, coda = {4}}) end, "must be an integer layer index",
    "surgery: non-integer index")
err(function() rb.surgery(m, {4, 8, 4}) end, "needs 16 layers but the base model has 5", "surgery: plan too large")
err(function() rb.surgery(m, {prelude = {0}, coda = {4}}) end, "no recurrent layers", "surgery: no recurrent part")
err(function() rb.surgery(m, function(n) error("not for " .. n) end) end, "refused a base of 5 layers: .*not for 5",
    "surgery: plan function error")
err(function() rb.surgery(m, function() end) end, "returned nil", "surgery: plan function returns nil")
err(function() rb.surgery(m, 3) end, "a plan is", "surgery: wrong plan type")
err(function() rb.surgery(s, {1, 1, 1}) end, "already recurrent", "surgery: recurrent base")
err(function() rb.surgery(m, {1, 2, 1}, {adapter = "zeros"}) end, "adapter must be uniform or identity", "surgery: bad adapter")
err(function() rb.surgery(m, {1, 2, 1}, {static = true}) end, "does not apply", "surgery: static with a plan")
err(function() rb.surgery(m, "0|x|4") end, "surgery layers", "surgery: bad layer text")
err(function() rb.surgery("nowhere.bin", {1, 2, 1}) end, "nowhere.bin", "surgery: missing base file")
local sb = rb.static_baseline(m)
check(sb:info().layers == 5 and not sb:info().recurrent and sb:info().plan.kind == "static-baseline",
      "static_baseline: the whole base model")
check(rb.surgery(m, {1, 2, 1}, {static = "surgery-layers"}):info().layers == 4, "surgery: static ablation")
err(function() rb.static_baseline(s) end, "already recurrent", "static_baseline: recurrent base")
local pl = rb.plan(16, 4, 6, 4)
check(#pl.prelude == 4 and pl.recur[1] == 6 and pl.recur[6] == 11 and pl.coda[4] == 15, "plan: METHOD.md's (4,6,4)")
err(function() rb.plan(5, 4, 8, 4) end, "needs 16 layers but the base model has 5", "plan: too small")
err(function() rb.plan(16, 1, 0, 1) end, "at least one layer", "plan: no recurrent layer")
err(function() rb.plan({}, 1, 2, 1) end, "number expected", "plan: wrong type")

-- ---------------------------------------------------------------- curricula
local v = rb.curriculum_values(rb.curriculum("1-sqrt", {max = 4}), 12)
check(table.concat(v, ",") == "1,1,1,1,2,2,2,3,3,4,4,4", "curriculum: 1-sqrt values")
local lin = rb.curriculum_values(rb.curriculum("linear", {max = 8, warmup = 0.25}), 8)
check(lin[1] == 1 and lin[2] == 4 and lin[3] == 8, "curriculum: linear over 25%")
check(table.concat(rb.curriculum_values(function(st) return st % 3 + 1 end, 5), ",") == "1,2,3,1,2",
      "curriculum: a function of the step")
check(table.concat(rb.curriculum_values(rb.curriculum({2, 2, 5}), 3), ",") == "2,2,5", "curriculum: a list")
local bp = rb.curriculum_values(rb.backprop_schedule(1, 8, 0.1), 100)
check(bp[1] == 2 and bp[100] == 8, "backprop_schedule: the authors' first value 2, then 8")
err(function() rb.curriculum("exp") end, "shape must be", "curriculum: unknown shape")
err(function() rb.curriculum("linear", {max = 0}) end, "max = 0 is out of range", "curriculum: max 0")
err(function() rb.curriculum("linear", {warmp = 0.5}) end, "unknown option 'warmp'", "curriculum: unknown param")
err(function() rb.curriculum_values(function() return 2.5 end, 3) end, "gave 2.5 at step 0", "curriculum: not whole")
err(function() rb.curriculum_values(function(st) if st == 2 then error("bad step") end return 1 end, 3) end,
    "failed at step 2: .*test_api%.lua:%d+: bad step", "curriculum: function error names its line")
err(function() rb.curriculum_values(rb.curriculum({1, 2}), 3) end, "lists 2 values for 3 steps", "curriculum: short list")
err(function() rb.backprop_schedule(9, 8) end, "start", "backprop_schedule: start > max")

-- ---------------------------------------------------------------- settings and recipes
local settings = rb.settings()
local by = {}
for _, st in ipairs(settings) do by[st.name] = st end
check(#settings >= 40 and by["optim.muon_lr"].key == "lr_muon" and near(by["optim.muon_lr"].default, 1e-3, 1e-6),
      "settings: the table, with flags and defaults")
check(by.steps.required and by.sources.required and by["rbar.max"].default == 4, "settings: required ones")
local rec = rb.recipe{steps = 10, data = "x.rbtok", optim = "adamw"}
check(near(rec["optim.adam_eps"], 1e-8, 1e-6) and rec["optim.kind"] == "adamw", "recipe: AdamW-only defaults")
local rec2 = rb.recipe{steps = 10, data = {{"a.rbtok", 3}, {path = "b.rbtok", weight = 1}}, optim = {muon_lr = 0.02},
                       ["lr.warmup_fraction"] = 0.1, wd = 0.5, val_depths = {1, 3}, rbar = {shape = "linear", max = 8}}
check(#rec2.sources == 2 and rec2.sources[1].weight == 3 and near(rec2["optim.muon_lr"], 0.02, 1e-6) and
      near(rec2["lr.warmup_fraction"], 0.1) and near(rec2["optim.adam_wd"], 0.5, 1e-6) and near(rec2["optim.muon_wd"], 0.5, 1e-6) and
      rec2.val_depths[2] == 3 and rec2["rbar.shape"] == "linear" and rec2["rbar.max"] == 8, "recipe: every spelling")
check(rb.recipe{steps = 5, data = "x", rbar = function() return 3 end}["rbar.shape"] == "table", "recipe: tabulated")
err(function() rb.recipe{steps = 10, data = "x", lr_muon = 20} end,
    "training setting optim.muon_lr %(%-%-lr%-muon%) expects a number in %[0, 10%], got '20'", "recipe: out of range")
err(function() rb.recipe{steps = 10, data = "x", batch = 2.5} end, "expects an integer", "recipe: not an integer")
err(function() rb.recipe{steps = 10, data = "x", curriculum = "cubic"} end, "must be 1%-sqrt, linear or constant, not 'cubic'",
    "recipe: bad choice")
err(function() rb.recipe{steps = 10, data = "x", lr_muonn = 1} end, "unknown training setting 'lr_muonn'", "recipe: unknown key")
err(function() rb.recipe{steps = 10, data = "x", batch = {}} end, "takes a number, not a table", "recipe: wrong type")
err(function() rb.recipe{data = "x"} end, "give steps", "recipe: steps missing")
err(function() rb.recipe{steps = 3} end, "give data", "recipe: data missing")
err(function() rb.recipe{steps = 3, data = {{"x", -1}}} end, "weight", "recipe: bad weight")
err(function() rb.recipe{steps = 3, data = "x", rbar = function() return 2 end, curriculum = "linear"} end,
    "does not apply", "recipe: function and shape")

-- ---------------------------------------------------------------- data
local d = rb.pack{tokenizer = m, text = TEXT, seq = 32, out = T .. "/d.rbtok"}
check(d.rows > 10 and d.seq == 32 and d.identity == info.tokenizer.identity, "pack: text")
local di = rb.data_info(d.path)
check(di.rows == d.rows and di.row_len == 33 and di.identity == d.identity, "data_info")
local dj = rb.pack{tokenizer = TOK, jsonl = T .. "/qa.jsonl", template = "Q: {q}\nA: {a}", seq = 8, out = T .. "/qa.rbtok"}
check(dj.docs == 3 and dj.rows >= 1, "pack: JSONL with a template")
err(function() rb.pack{tokenizer = m, text = TEXT, seq = 100000, out = T .. "/no.rbtok"} end, "do not fill one row",
    "pack: no rows")
check(not rb.exists(T .. "/no.rbtok"), "pack: nothing written on failure")
err(function() rb.pack{tokenizer = m, text = T .. "/missing.txt", seq = 8, out = T .. "/x.rbtok"} end, "missing.txt",
    "pack: missing input")
err(function() rb.pack{tokenizer = m, jsonl = T .. "/bad.jsonl", field = "q", seq = 8, out = T .. "/x.rbtok"} end,
    "line 2", "pack: a malformed JSONL line")
err(function() rb.pack{tokenizer = m, jsonl = T .. "/qa.jsonl", template = "Q: {q", seq = 8, out = T .. "/x.rbtok"} end,
    "brace", "pack: bad template")
err(function() rb.pack{tokenizer = m, text = TEXT, jsonl = T .. "/qa.jsonl", seq = 8, out = T .. "/x.rbtok"} end,
    "exactly one of", "pack: text and jsonl")
err(function() rb.pack{tokenizer = m, text = TEXT, seq = 8} end, "give out", "pack: no out")
err(function() rb.pack{tokenizer = 5, text = TEXT, seq = 8, out = T .. "/x.rbtok"} end, "must be a model", "pack: bad tokenizer")
err(function() rb.data_info(T .. "/damaged.rbtok") end, "damaged.rbtok", "data_info: damaged file")
err(function() rb.data_info(T .. "/missing.rbtok") end, "missing.rbtok", "data_info: missing file")

-- ---------------------------------------------------------------- inference
local text, gi = s:generate("Once upon a time", {max_new = 10, depth = 4})
check(type(text) == "string" and gi.tokens == 10 and gi.depth == 4 and gi.stop == "length", "generate")
check(select(2, s:generate("Once", {max_new = 10, exit = "rel:0.5", depth = 8})).mean_depth <= 8, "generate: adaptive exit")
err(function() s:generate("Once", {exit = "fast"}) end, "exit 'fast'", "generate: bad exit")
err(function() s:generate("Once", {depth = 0}) end, "depth = 0 is out of range", "generate: depth 0")
err(function() s:generate("Once", {detph = 4}) end, "unknown option 'detph'", "generate: unknown option")
err(function() s:generate(("story "):rep(400)) end, "longer than the model's context", "generate: prompt too long")
err(function() s:generate("\xff\xfe") end, "UTF%-8", "generate: invalid UTF-8")
local tc = s:trace("Once upon a time", {depth = 6, tokens = 2})
check(#tc == 3 and #tc[1].iters == 6 and tc[1].iters[1].kl == nil and tc[1].iters[2].kl ~= nil and tc[3].generated,
      "trace: per-iteration records")
err(function() m:trace("Once") end, "not recurrent", "trace: plain model")
local ls = s:loss(d, {depths = {1, 2}})
check(ls[1] > 0 and ls[2] > 0, "loss: per depth")
check(near(s:loss(d.path, {depths = {2}})[2], ls[2]), "loss: a path or the pack result")
err(function() s:loss(T .. "/missing.rbtok") end, "missing.rbtok", "loss: missing file")
err(function() s:loss(T .. "/llama.rbtok") end, "another tokenizer", "loss: data of another tokenizer")
err(function() s:loss(d, {depths = {0}}) end, "out of range", "loss: depth 0")

-- ---------------------------------------------------------------- training
local seen = {steps = 0, val = 0, ckpt = 0, phase = 0}
local lr_before, lr_after
local tm = rb.surgery(m, {1, 2, 1})
local function alternate(step) return step % 2 + 1 end
local run = rb.train{model = tm, data = d, steps = 6, batch = 2, out = T .. "/run1", val_depths = {1, 2},
  backprop = alternate,
  on_phase = function(p) seen.phase = seen.phase + 1; check(p.recipe.steps == 6, "on_phase: recipe") end,
  on_step = function(mt, ctl)
    seen.steps = seen.steps + 1
    check(rb.training() == ctl, "training(): the control inside a step")
    check(mt.backprop == (mt.step - 1) % 2 + 1, "a backprop-depth curriculum that is a function of the step")
    if mt.step == 2 then lr_before = mt.lr_mult; ctl:set_lr_scale(0.5); ctl:validate(); ctl:save() end
    if mt.step == 3 then lr_after = mt.lr_mult; check(near(ctl:lr_scale(), 0.5), "control:lr_scale") end
    if mt.step == 4 then ctl:set_rbar(2) end
    if mt.step == 5 then check(mt.rbar == 2, "control:set_rbar applies") end
  end,
  on_validation = function(vv) seen.val = seen.val + 1 end,
  on_checkpoint = function(c) seen.ckpt = seen.ckpt + 1; check(rb.exists(c.path .. "/model.safetensors"), "on_checkpoint: path") end}
check(run.outcome == "done" and run.step == 6 and seen.steps == 6 and seen.phase == 1, "train: done, callbacks")
check(seen.val == 4 and seen.ckpt == 2 and run.final[1] and run.final[2], "train: validations (asked, final), checkpoints")
check(lr_after < lr_before, "control:set_lr_scale lowers the learning rate")
check(rb.training() == nil, "training(): nil outside a run")
local stopped = rb.train{model = rb.surgery(m, {1, 2, 1}), data = d, steps = 20, batch = 2, out = T .. "/run2",
                         on_step = function(mt, ctl) if mt.step == 3 then ctl:stop() end end}
check(stopped.outcome == "stopped" and stopped.step == 3, "control:stop")
local keep
rb.train{model = rb.surgery(m, {1, 2, 1}), data = d, steps = 2, batch = 2, out = T .. "/run3",
         on_step = function(mt, ctl) keep = ctl end}
err(function() keep:stop() end, "valid only inside on_step", "control: used after the run")
-- an error in a callback: training stops, the last checkpoint loads, the message names the callback's line
local cm = rb.surgery(m, {1, 2, 1})
err(function()
  rb.train{model = cm, data = d, steps = 10, batch = 2, out = T .. "/run4", ckpt_every = 2,
           on_step = function(mt) if mt.step == 5 then error("callback trouble") end end}
end, "the on_step callback failed.*test_api%.lua:%d+: callback trouble", "train: error in on_step")
check(rb.read_text(T .. "/run4/latest"):match("step%-00000004") ~= nil, "train: the last checkpoint stays step 4")
check(rb.load(T .. "/run4/step-00000004/model.safetensors"):info().recurrent, "train: the last checkpoint loads")
err(function()
  rb.train{model = cm, data = d, steps = 10, batch = 2, out = T .. "/run5", on_validation = function() local x = nil; return x.y end}
end, "the on_validation callback failed.*attempt to index", "train: error in on_validation")
err(function()
  rb.train{model = cm, data = d, steps = 3, batch = 2, out = T .. "/run6", on_step = function() cm:close() end}
end, "being trained", "train: closing the model inside a callback")
err(function()
  rb.train{model = cm, data = d, steps = 3, batch = 2, out = T .. "/run7",
           on_step = function() rb.train{model = cm, data = d, steps = 1, out = T .. "/x"} end}
end, "in progress", "train: a run inside a run")
err(function() rb.train{model = cm, data = d, steps = 6, batch = 2, out = T .. "/run1"} end, "already holds a run",
    "train: a folder with a run, without resume")
err(function() rb.train{model = cm, data = d, steps = 6, batch = 4, out = T .. "/run1", resume = true, backprop = alternate} end,
    "batch", "train: resume with another recipe")
err(function() rb.train{model = cm, data = d, steps = 6, batch = 2, out = T .. "/run1", resume = true} end,
    "tabulated backprop%-depth curriculum", "train: resume without its curriculum function")
err(function() rb.train{model = cm, data = T .. "/llama.rbtok", steps = 2, out = T .. "/run8"} end,
    "another tokenizer", "train: data of another tokenizer")
err(function() rb.train{model = cm, data = d, out = T .. "/run8"} end, "give steps", "train: steps missing")
err(function() rb.train{model = cm, steps = 2, data = d} end, "give out", "train: out missing")
err(function() rb.train{data = d, steps = 2, out = T .. "/run8"} end, "give model", "train: model missing")
err(function() rb.train{model = cm, data = d, steps = 2, out = T .. "/run8", on_step = 5} end, "on_step must be a function",
    "train: callback type")
err(function() rb.train{model = cm, data = d, steps = 2, out = T .. "/run8", phases = {{steps = 1}, 7}} end,
    "phases%[2%] must be a recipe table", "train: bad phase")
err(function() rb.train{model = cm, data = T .. "/damaged.rbtok", steps = 2, out = T .. "/run8"} end,
    "damaged.rbtok", "train: damaged data")
-- two phases with their own data, steps and curricula; resume of a finished run reads its result
local two = {model = rb.surgery(m, {1, 2, 1}), data = d, batch = 2, out = T .. "/run9",
             phases = {{steps = 3, rbar = rb.curriculum("1-sqrt", {max = 8})},
                       {steps = 2, data = {{d.path, 1}, {d.path, 2}}, rbar = function() return 2 end}}}
local tp = rb.train(two)
check(tp.phase == 2 and rb.exists(T .. "/run9/phase2/latest") and tp.finals[1][1] and tp.finals[2][1], "train: two phases")
two.resume = true
local again = rb.train(two)
check(again.outcome == "done" and near(again.final[1], tp.final[1], 1e-5), "train: resume of a finished run")

-- scripts/curricula.lua: two-phase healing, rbar per METHOD.md's formula ceil(R (1 - sqrt(1 - s / W)))
local cur = require "curricula"
local rbars = {{}, {}}
rb.train{model = rb.surgery(m, {1, 2, 1}), batch = 2, out = T .. "/heal", quiet = true, val_depths = {1},
         phases = cur.two_phase_healing{general = d, mix = {{d.path, 1}, {d.path, 2}}, steps1 = 5, steps2 = 3},
         on_step = function(mt) rbars[mt.phase][mt.step] = mt.rbar end}
local function one_sqrt(R, steps)
  local out, W = {}, math.ceil(0.75 * steps)
  for st = 0, steps - 1 do out[st + 1] = st >= W and R or math.max(1, math.ceil(R * (1 - math.sqrt(1 - st / W)))) end
  return table.concat(out, ",")
end
check(table.concat(rbars[1], ",") == one_sqrt(32, 5) and table.concat(rbars[2], ",") == one_sqrt(4, 3),
      "two_phase_healing: rbar to 32, then to 4 (" .. table.concat(rbars[1], ",") .. " / " .. table.concat(rbars[2], ",") .. ")")
check(table.concat(rb.curriculum_values(cur.one_sqrt_16, 20), ",") == one_sqrt(16, 20), "curricula: one_sqrt_16")
local stairs = rb.curriculum_values(cur.staircase(4, 0.5), 8)
check(table.concat(stairs, ",") == "1,2,3,4,4,4,4,4", "curricula: staircase " .. table.concat(stairs, ","))
local ramp = rb.curriculum_values(cur.backprop_ramp, 8)
check(ramp[1] == 1 and ramp[7] == 8 and ramp[8] == 8, "curricula: backprop_ramp")
check(rb.curriculum_values(cur.backprop_authors, 100)[1] == 2, "curricula: backprop_authors starts at 2")

-- step by step
local st = rb.trainer{model = rb.surgery(m, {1, 2, 1}), data = d, steps = 4, batch = 2, rbar = 2}
local m1 = st:step()
check(m1.step == 1 and st:step_count() == 1 and not st:done() and st:recipe()["rbar.max"] == 2, "trainer: step")
local ck = st:save(T .. "/tck")
check(rb.exists(ck .. "/optim.safetensors"), "trainer: save")
st:step()
check(st:validate(2) > 0, "trainer: validate")
st:set_lr_scale(0.5)
st:set_rbar(1)
check(st:step().rbar == 1, "trainer: set_rbar")
check(st:restore(T .. "/tck") == 1, "trainer: restore")
st:step(); st:step(); st:step()
check(st:done() and st:step() == nil, "trainer: done")
err(function() st:set_lr_scale(-1) end, "must be > 0", "trainer: bad scale")
err(function() st:validate(0) end, "depth 0", "trainer: depth 0")
err(function() st:restore(T .. "/missing") end, "missing", "trainer: restore from nothing")
err(function() rb.trainer{model = rb.surgery(m, {1, 2, 1}), data = d, steps = 2, batch = 4}:restore(T .. "/tck") end,
    "batch", "trainer: restore another recipe")
st:close()
err(function() st:step() end, "closed", "trainer: closed")
err(function() rb.trainer{model = rb.surgery(m, {1, 2, 1}), data = d} end, "give steps", "trainer: steps missing")
err(function() rb.trainer{model = tm, data = d, steps = 2, lr_adam = -1} end, "lr%-adam", "trainer: bad setting")

-- ---------------------------------------------------------------- evaluation
local probs = {{question = "What is 2 + 3?", answer = "2 + 3 = 5\n#### 5"},
               {question = "What is 4 + 4?", answer = "#### 8"}}
local answers = 0
local e = rb.eval(s, {problems = probs, depths = {1, 2}, max_new = 6, batch = 2, answers = true, max_length = 512,
                      on_answer = function(a) answers = answers + 1; check(a.gold == "5" or a.gold == "8", "eval: gold") end})
check(#e.depths == 2 and e.depths[1].n == 2 and e.answered == 4 and answers == 4 and #e.answers == 4 and
      e.accuracy[1] ~= nil, "eval: problems, depths, answers")
local eo = rb.eval(s, {data = A .. "/gsm8k/train.jsonl", limit = 2, depths = {1}, max_new = 4, out = T .. "/ev",
                       max_length = 512})
check(eo.answered == 2 and rb.exists(T .. "/ev/summary.json") and rb.exists(T .. "/ev/answers.jsonl"), "eval: out folder")
check(rb.eval(s, {data = A .. "/gsm8k/train.jsonl", limit = 2, depths = {1}, max_new = 4, out = T .. "/ev",
                  max_length = 512}).answered == 0,
      "eval: resumes (nothing left to answer)")
err(function() rb.eval(s, {problems = probs, data = "x.jsonl"}) end, "exactly one of", "eval: data and problems")
err(function() rb.eval(s, {problems = probs, shots = 9}) end, "shots = 9 but there are 8", "eval: too many shots")
err(function() rb.eval(s, {problems = probs, depths = {1, 1}}) end, "listed twice", "eval: depth twice")
err(function() rb.eval(s, {problems = probs, flex_regex = "(["}) end, "rb.eval: ", "eval: bad pattern")
err(function() rb.eval(s, {data = T .. "/missing.jsonl"}) end, "missing.jsonl", "eval: missing file")
err(function() rb.eval(s, {problems = probs, max_length = 4096}) end, "context", "eval: context too long")
err(function() rb.eval(s, {data = T .. "/bad.jsonl", question_field = "q", answer_field = "a"}) end, "line 2",
    "eval: malformed line")
err(function() rb.eval(s, {problems = probs, max_new = 4, max_length = 512, on_answer = function() error("answer trouble") end}) end,
    "on_answer callback failed.*test_api%.lua:%d+: answer trouble", "eval: error in on_answer")
err(function() rb.eval(s, {problems = {{q = 1}}}) end, "problems%[1%] needs", "eval: bad problem")
err(function() rb.eval(s, {problems = probs, max_new = 2, max_length = 512, on_answer = function() s:close() end}) end,
    "on_answer callback failed.*being evaluated", "eval: closing the model inside on_answer")
err(function() rb.eval(42, {problems = probs}) end, "must be a model", "eval: not a model")

-- ---------------------------------------------------------------- results and files
local val = {name = "x", rows = {{depth = 1, loss = 2.5}, {depth = 4, loss = 0.1 + 0.2}}, ok = true}
rb.write_json(T .. "/r.json", val)
local back = rb.read_json(T .. "/r.json")
check(back.name == "x" and back.rows[2].loss == 0.1 + 0.2 and back.ok == true, "write_json/read_json: exact round trip")
check(rb.json({b = 1, a = 2}) == '{"a":2,"b":1}' and rb.parse_json("[1,2]")[2] == 2, "json: sorted keys; parse_json")
rb.write_csv(T .. "/r.csv", {{depth = 1, loss = 2.5, note = "a,b"}, {depth = 4, loss = 0.25}})
check(rb.read_text(T .. "/r.csv") == 'depth,loss,note\n1,2.5,"a,b"\n4,0.25,\n', "write_csv: sorted columns, quoting")
rb.write_csv(T .. "/r2.csv", {{depth = 1, loss = 2}}, {columns = {"loss", "depth"}})
check(rb.read_text(T .. "/r2.csv") == "loss,depth\n2,1\n", "write_csv: given columns")
rb.append_jsonl(T .. "/r.jsonl", {step = 1})
rb.append_jsonl(T .. "/r.jsonl", {step = 2})
local jl = rb.read_jsonl(T .. "/r.jsonl")
check(#jl == 2 and jl[2].step == 2, "append_jsonl/read_jsonl")
rb.write_text(T .. "/t.txt", "hello\n")
check(rb.read_text(T .. "/t.txt") == "hello\n", "write_text/read_text")
rb.mkdir(T .. "/a/b/c")
check(rb.exists(T .. "/a/b/c") and not rb.exists(T .. "/nope"), "mkdir/exists")
rb.log("a log line from test_api")
check(type(rb.time()) == "number", "time")
rb.poll()
err(function() rb.write_json(T .. "/f.json", {f = print}) end, "a function cannot be written as JSON", "write_json: function")
local cyc = {}
cyc.self = cyc
err(function() rb.write_json(T .. "/f.json", cyc) end, "nested more than 100 deep", "write_json: a cycle")
err(function() rb.write_json(T .. "/fifo.json", {}) end, "FIFO", "write_json: onto a FIFO")
err(function() rb.write_json(T .. "/a", {}) end, "folder", "write_json: onto a folder")
err(function() rb.write_csv(T .. "/f.csv", {{x = {}}}) end, "column x holds a table", "write_csv: a table cell")
err(function() rb.write_csv(T .. "/f.csv", {5}) end, "rows%[1%] must be a table", "write_csv: a bad row")
err(function() rb.read_json(T .. "/missing.json") end, "no such file", "read_json: missing")
err(function() rb.read_json(T .. "/t.txt") end, "is not JSON", "read_json: not JSON")
err(function() rb.read_jsonl(T .. "/bad.jsonl") end, "line 2 is not JSON", "read_jsonl: a bad line")
err(function() rb.append_jsonl(T .. "/fifo.json", {}) end, "FIFO", "append_jsonl: onto a FIFO")
err(function() rb.mkdir(T .. "/t.txt/x") end, "rb.mkdir", "mkdir: under a file")
check(not rb.exists(T .. "/f.json"), "writers leave nothing behind on failure")

-- ---------------------------------------------------------------- the module's names are documented
local docs = rb.read_text(assert(arg.docs, "give docs=docs/lua-api.md"))
local api = rb.api()
local n_names = 0
local function documented(prefix, list)
  for _, name in ipairs(list) do
    n_names = n_names + 1
    check(docs:find(prefix .. name .. "(", 1, true) ~= nil, "docs/lua-api.md lacks " .. prefix .. name .. "(")
  end
end
documented("rb.", api.functions)
documented("model:", api.model)
documented("trainer:", api.trainer)
documented("control:", api.control)
check(n_names >= 50, "api: every function and method listed (" .. n_names .. ")")

print(("test_api: %d checks, %d failed"):format(checks, fails))
if fails > 0 then error(fails .. " checks failed", 0) end
