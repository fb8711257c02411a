#!/usr/bin/env bash
# test_default_task.sh: the synthetic task of the embedded default
# (scripts/lib/chains.lua), checked by an independent reading in Python:
#  - every problem's gold is the value Python computes by resolving the
#    question's assignments (mod 10), the answer is "x=V\n#### V" and EVAL.md's
#    gold rule (text after the last ####, stripped) gives V;
#  - the structure the difficulty argument rests on: 2 (steps + 1)
#    statements ("a+3=b": b is a + 3), each variable assigned once, the
#    assigned names the first letters in order, two chains of exactly `steps`
#    operations, the target the end of one of them, the chain order unrelated
#    to the text order;
#  - the generator is splitmix64 (its first outputs equal a Python
#    restatement), seeded runs repeat byte for byte, other seeds and splits
#    differ, a split does not depend on the sizes asked for;
#  - validation and test share no question with train; the gold digits and
#    the drawn difficulties are uniform (chi-square).
# usage: test_default_task.sh RETROBENCH   (the binary is not needed)
set -u
src="${RB_SOURCE_DIR:?}"
command -v lua5.4 > /dev/null || { echo "SKIP: needs lua5.4 (tools/setup.sh installs it)"; exit 77; }
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
L() { lua5.4 -e "package.path='$src/scripts/?.lua;'..package.path; local c=require('lib.chains'); $1"; }

# 1. the generator's numbers: splitmix64
L 'local r=c.rng(5); for i=1,4 do print(r:next64()) end; local q=c.rng(5, 3); print(q:next64())' > "$tmp/rng.txt"
"$py" - "$tmp/rng.txt" <<'PY' && pass "rng = splitmix64 (Python restatement), streams mixed by the golden ratio" || fail "rng"
import sys
M = (1 << 64) - 1
def sm(state):
    state = (state + 0x9E3779B97F4A7C15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return state, z ^ (z >> 31)
def signed(x): return x - (1 << 64) if x >> 63 else x
want, s = [], 5
for _ in range(4):
    s, z = sm(s); want.append(signed(z))
s = 5 ^ ((3 * 0x9E3779B97F4A7C15) & M)
s, z = sm(s); want.append(signed(z))
got = [int(x) for x in open(sys.argv[1]).read().split()]
if got != want:
    print("got", got, "want", want); sys.exit(1)
PY

# 2. splits
L 'local tr=c.split(11,"train",3000,{1,2,3,4,5,6,7,8}); io.write(c.jsonl(tr))' > "$tmp/train.jsonl"
L 'local tr=c.split(11,"train",3000,{1,2,3,4,5,6,7,8}); io.write(c.jsonl(tr))' > "$tmp/train2.jsonl"
L 'local tr=c.split(12,"train",3000,{1,2,3,4,5,6,7,8}); io.write(c.jsonl(tr))' > "$tmp/train12.jsonl"
L 'local tr=c.split(11,"train",3000,{1,2,3,4,5,6,7,8}); local s=c.question_set(tr)
   io.write(c.jsonl(c.split(11,"test",800,{1,2,3,4,5,6,7,8},{exclude=s,balanced=true})))' > "$tmp/test.jsonl"
L 'local tr=c.split(11,"train",100,{1,2,3,4,5,6,7,8}); local s=c.question_set(tr)
   io.write(c.jsonl(c.split(11,"test",400,{1,2,3,4,5,6,7,8},{exclude=s,balanced=true})))' > "$tmp/test400.jsonl"
L 'io.write(c.jsonl(c.split(11,"validation",800,{1,2,3,4,5,6,7,8},{balanced=true})))' > "$tmp/val.jsonl"
cmp -s "$tmp/train.jsonl" "$tmp/train2.jsonl" && pass "seed 11 twice: the same bytes" || fail "seeded runs differ"
cmp -s "$tmp/train.jsonl" "$tmp/train12.jsonl" && fail "seeds 11 and 12 give the same train split" ||
  pass "seed 12 gives another split"
head -400 "$tmp/test.jsonl" | cmp -s - "$tmp/test400.jsonl" &&
  pass "the test split does not depend on its size or the train split's" || fail "test split depends on sizes"

"$py" - "$tmp/train.jsonl" "$tmp/val.jsonl" "$tmp/test.jsonl" > "$tmp/py.out" 2>&1 <<'PY'
import json, re, sys
train, val, test = [[json.loads(l) for l in open(p)] for p in sys.argv[1:]]
bad = []
def check(p, where):
    q = p["question"]
    m = re.fullmatch(r"Mod 10: ([a-z0-9=+\-,]+)\. ([a-z])=\?", q)
    if not m:
        return "question shape: %r" % q
    stmts, target = m.group(1).split(","), m.group(2)
    k = p["steps"]
    if len(stmts) != 2 * (k + 1):
        return "%d statements for %d steps" % (len(stmts), k)
    defs = {}
    for s in stmts:
        mm = re.fullmatch(r"(?:([0-9])|([a-z])([+-])([1-9]))=([a-z])", s)
        if not mm:
            return "statement %r" % s
        name = mm.group(5)
        if name in defs:
            return "%s assigned twice" % name
        defs[name] = mm.groups()[:4]
    lhs = [x[-1] for x in stmts]
    if lhs != sorted(lhs) or "".join(lhs) != "abcdefghijklmnopqrstuvwxyz"[:len(lhs)]:
        return "the assigned names are not the first letters in order: %s" % lhs
    def resolve(v, hops=0):
        c, u, op, d = defs[v]
        if c is not None:
            return int(c), hops
        x, h = resolve(u, hops + 1)
        return (x + int(d) if op == "+" else x - int(d)) % 10, h
    value, hops = resolve(target)
    if hops != k:
        return "the target's chain has %d operations, steps says %d" % (hops, k)
    used = {d[1] for d in defs.values() if d[1]}
    ends = [v for v in defs if v not in used]
    if len(ends) != 2 or target not in ends:
        return "chain ends %s (target %s)" % (ends, target)
    other = [v for v in ends if v != target][0]
    if resolve(other)[1] != k:
        return "the distractor chain has %d operations" % resolve(other)[1]
    if sum(1 for d in defs.values() if d[0] is not None) != 2:
        return "not two constants"
    if p["answer"] != "%s=%d\n#### %d" % (target, value, value):
        return "answer %r, Python computes %d" % (p["answer"], value)
    if p["answer"].split("####")[-1].strip() != str(value):
        return "EVAL.md's gold rule"
    return None
for name, split in (("train", train), ("validation", val), ("test", test)):
    for i, p in enumerate(split):
        e = check(p, name)
        if e:
            bad.append("%s line %d: %s" % (name, i + 1, e))
            break
if bad:
    print("FAIL: " + "; ".join(bad))
else:
    print("ok: %d problems: golds = Python's resolution of the assignments; two chains of `steps` operations, "
          "each variable assigned once, answer and gold rule" % (len(train) + len(val) + len(test)))
# shuffled: the queried chain in its own order in the question only by chance
def in_order(p):
    stmts = p["question"][8:].split(". ")[0].split(",")
    pos = {x[-1]: i for i, x in enumerate(stmts)}
    rhs = {x[-1]: x[:-2] for x in stmts}
    v, order = p["question"][-3], []
    while True:
        order.append(pos[v])
        if rhs[v].isdigit():
            break
        v = rhs[v][0]
    return order == sorted(order, reverse=True)
frac = sum(in_order(p) for p in train if p["steps"] >= 3) / sum(1 for p in train if p["steps"] >= 3)
print(("ok" if frac < 0.05 else "FAIL") + ": chains of 3+ steps stand in chain order in %.3f of questions" % frac)
tq = {p["question"] for p in train}
n_shared = sum(p["question"] in tq for p in val + test)
print(("ok" if n_shared == 0 else "FAIL") + ": validation and test share %d questions with train" % n_shared)
def chi2(counts):
    n, k = sum(counts), len(counts)
    return sum((c - n / k) ** 2 / (n / k) for c in counts)
g = [0] * 10
for p in train:
    g[int(p["answer"][-1])] += 1
s = [0] * 8
for p in train:
    s[p["steps"] - 1] += 1
bal = [0] * 8
for p in test:
    bal[p["steps"] - 1] += 1
# 99.9% points: chi2(9) 27.9, chi2(7) 24.3
print(("ok" if chi2(g) < 27.9 else "FAIL") + ": gold digits uniform (chi2 %.1f, 9 dof)" % chi2(g))
print(("ok" if chi2(s) < 24.3 else "FAIL") + ": train difficulties uniform (chi2 %.1f, 7 dof)" % chi2(s))
print(("ok" if bal == [100] * 8 else "FAIL") + ": the test split is balanced: %s" % bal)
PY
cat "$tmp/py.out"
n=$(grep -c '^FAIL' "$tmp/py.out")
[ "$(grep -c '^ok' "$tmp/py.out")" -eq 6 ] || n=$((n + 1))
fails=$((fails + n))

[ $fails -eq 0 ] && echo "PASS" || { echo "$fails failure(s)"; exit 1; }
