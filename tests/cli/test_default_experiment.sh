#!/usr/bin/env bash
# test_default_experiment.sh: the embedded default experiment end to end, in
# a tiny variant (docs/default-experiment.md):
#  - scripts/make_default.lua is deterministic for a seed: two runs with the
#    same seed write the same task files and the same base model bytes,
#    another seed other problems; the committed sample-data/default splits
#    are what their recorded task description regenerates; every gold
#    answer equals Python's resolution of its question, in as many hops as
#    its recorded steps;
#  - scripts/default.lua on that tiny base (3 heal steps, 8 test problems,
#    depths 1,2) writes results.csv / results.json / trace.json, and an
#    independent reading in Python finds them well formed: one row per
#    (model, depth), accuracies in [0, 1] that equal the per-answer files,
#    static baselines at depth 1 with at least the heal's training FLOPs
#    (matched within one step), a trace with one entry per iteration;
#  - a missing base model gives the one-line error naming make_default.lua.
# usage: test_default_experiment.sh RETROBENCH
set -u
rb="${1:?usage: test_default_experiment.sh RETROBENCH}"
src="${RB_SOURCE_DIR:?}"
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
export OMP_NUM_THREADS=1

tiny=(train_steps=0,1,2 test_steps=2,3 warmup_steps=0 n_train=400 n_warmup=100 n_validation=16 n_test=16 warm=2 pre=3 limit=4 layers=4 dim=16 heads=2 mlp=32 seq=96)
mk() { "$rb" run --quiet "$src/scripts/make_default.lua" -- out="$1" work="$1-work" "${@:2}" "${tiny[@]}" > "$1.log" 2>&1; }
mk "$tmp/a" seed=3 || { fail "make_default.lua: $(tail -3 "$tmp/a.log")"; }
mk "$tmp/b" seed=3 || { fail "make_default.lua again: $(tail -3 "$tmp/b.log")"; }
mk "$tmp/c" seed=4 || { fail "make_default.lua seed 4: $(tail -3 "$tmp/c.log")"; }
same=1
for f in tokenizer.json validation.jsonl test.jsonl base.safetensors; do
  [ -s "$tmp/a/$f" ] || { fail "make_default.lua wrote no $f"; same=0; continue; }
  cmp -s "$tmp/a/$f" "$tmp/b/$f" || { fail "seed 3 twice: $f differs"; same=0; }
done
cmp -s "$tmp/a-work/train.jsonl" "$tmp/b-work/train.jsonl" || { fail "seed 3 twice: train.jsonl differs"; same=0; }
[ $same = 1 ] && pass "make_default.lua seed 3 twice: the same task files and base model bytes"
cmp -s "$tmp/a/test.jsonl" "$tmp/c/test.jsonl" && fail "seeds 3 and 4 gave the same test split" ||
  pass "another seed, another test split"
"$py" - "$tmp/a" <<'PY' && pass "task files well formed, gold values and hop counts resolved independently (steps 2-3 balanced)" || fail "task files"
import json, sys, re
d = sys.argv[1]
meta = json.load(open(d + "/task.json"))
assert meta["task"]["seed"] == 3, meta["task"]
t = [json.loads(l) for l in open(d + "/test.jsonl")]
assert len(t) == 16, len(t)
assert sorted(p["steps"] for p in t) == sorted([2, 3] * 8)
for p in t + [json.loads(l) for l in open(d + "/validation.jsonl")]:
    assert re.fullmatch(r"[a-z]=\d\n#### \d", p["answer"]), p["answer"]
    m = re.fullmatch(r"Mod 10: (.*)\. ([a-z])=\?", p["question"])
    assert m, p["question"]
    # resolve the statements ("7=a", "a=b": b is a, "a+3=b": b is a + 3 mod 10)
    stmts = m.group(1).split(",")
    rhs = {}
    for st in stmts:
        c = re.fullmatch(r"(\d|[a-z](?:[+-][1-9])?)=([a-z])", st)
        assert c and c.group(2) not in rhs, st
        rhs[c.group(2)] = c.group(1)
    # the shuffled layout: chains x (steps + 1) statements over the first letters, listed by assigned letter
    assert len(stmts) == meta["task"]["chains"] * (p["steps"] + 1), (stmts, p["steps"])
    assert list(rhs) == sorted(rhs) == list("abcdefghijklmnopqrstuvwxyz"[:len(stmts)])
    def value(v, depth=0):
        assert depth < 30
        e = rhs[v]
        if e.isdigit(): return int(e), 0
        x, hops = value(e[0], depth + 1)
        if len(e) > 1: x = (x + int(e[1:])) % 10
        return x, hops + 1
    v, hops = value(m.group(2))
    assert hops == p["steps"], (p, hops)
    assert p["answer"] == f"{m.group(2)}={v}\n#### {v}", (p, v)
PY

sd="$src/sample-data/default"
if [ -s "$sd/base.safetensors" ]; then
  "$rb" run --quiet "$src/tests/lua/default_regen.lua" -- dir="$sd" out="$tmp/regen" > "$tmp/regen.log" 2>&1 &&
    cmp -s "$tmp/regen/test.jsonl" "$sd/test.jsonl" && cmp -s "$tmp/regen/validation.jsonl" "$sd/validation.jsonl" &&
    pass "the committed splits are what sample-data/default/task.json regenerates" ||
    fail "committed splits differ from their regeneration: $(tail -2 "$tmp/regen.log")"
  "$rb" info -m "$sd/base.safetensors" > "$tmp/info.txt" 2>&1 && pass "the committed base model loads" ||
    fail "retrobench info on the committed base: $(tail -2 "$tmp/info.txt")"
else
  echo "note: $sd/base.safetensors is absent (retrobench run scripts/make_default.lua builds it)"
fi

# default.lua in a tiny variant
if "$rb" run --quiet "$src/scripts/default.lua" -- base="$tmp/a" out="$tmp/run" steps=3 limit=8 depths=1,2 \
     n_train=200 > "$tmp/run.log" 2>&1; then
  pass "default.lua tiny variant ran"
else
  fail "default.lua: $(tail -5 "$tmp/run.log")"
fi
"$py" - "$tmp/run" <<'PY' && pass "results.csv, results.json, trace.json well formed and consistent with the answers" || fail "default.lua outputs"
import csv, json, sys, math
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/results.csv")))
keys = [(r["model"], int(r["depth"])) for r in rows]
want = [("heal-r4", 1), ("heal-r4", 2), ("static-r4", 1), ("heal-r8", 1), ("heal-r8", 2), ("static-r8", 1)]
assert keys == want, keys
js = json.load(open(d + "/results.json"))
assert len(js["rows"]) == len(rows)
for r, j in zip(rows, js["rows"]):
    acc, se, n = float(r["accuracy"]), float(r["se"]), int(r["n"])
    assert n == 8 and 0 <= acc <= 1 and se >= 0, r
    assert abs(acc - j["accuracy"]) < 1e-9
    # the accuracy equals the per-answer file's flexible-extract marks
    ans = [json.loads(l) for l in open(f"{d}/eval-{r['model']}/answers.jsonl")]
    mine = [a for a in ans if a["depth"] == int(r["depth"])]
    assert len(mine) == 8, len(mine)
    got = sum(a["correct"]["flexible-extract"] for a in mine) / 8
    assert abs(got - acc) < 1e-9, (got, acc)
    assert abs(se - math.sqrt(acc * (1 - acc) / (n - 1))) < 1e-6 or abs(se - math.sqrt(acc * (1 - acc) / n)) < 1e-6, (se, acc)
for rb in ("4", "8"):
    h = [r for r in rows if r["model"] == "heal-r" + rb][0]
    s = [r for r in rows if r["model"] == "static-r" + rb][0]
    hf, sf, ss = float(h["train_flops"]), float(s["train_flops"]), int(s["train_steps"])
    per_step = sf / ss
    assert abs(sf - hf) <= per_step / 2 + 1, (hf, sf, per_step)
tr = json.load(open(d + "/trace.json"))
assert tr["depth"] == 2 and len(tr["tokens"]) >= 1
for t in tr["tokens"]:
    assert [i["iter"] for i in t["iters"]] == [1, 2], t
PY

if "$rb" run --quiet "$src/scripts/default.lua" -- base="$tmp/nothing" out="$tmp/run2" > "$tmp/miss.log" 2>&1; then
  fail "default.lua without a base model succeeded"
else
  grep -q "make_default.lua" "$tmp/miss.log" && pass "a missing base model names scripts/make_default.lua" ||
    fail "missing-base message: $(head -2 "$tmp/miss.log")"
fi

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all ok"
