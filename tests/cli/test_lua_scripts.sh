#!/usr/bin/env bash
# test_lua_scripts.sh: scripts/ runs headless.
#  - exp_plans.lua: every plan of scripts/plans.lua on a tiny random model
#    of the paper's layer count (16 or 22, OLMo-2 blocks for OLMo-2) gives
#    METHOD.md's layers, and stories260K (5 layers) is refused with a clear
#    message;
#  - every toy experiment's short variant runs and writes its table as CSV
#    and JSON with the rows it promises; a second run of one of them (a
#    finished run folder) gives the same table.
# usage: test_lua_scripts.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
for f in stories260K/stories260K.bin stories260K/tok512.bin tinystories/tinystories_sample.txt; do
  [ -e "$assets/$f" ] || { echo "SKIP: needs $assets/$f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
export OMP_NUM_THREADS=1 RB_ASSETS_DIR="$assets"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
run() { # run NAME: the short variant, timed
  local t0 t1
  t0=$(date +%s.%N)
  if ! "$rb" run --quiet "$src/scripts/exp_$1.lua" -- short "out=$tmp/$1" > "$tmp/$1.out" 2> "$tmp/$1.err"; then
    fail "exp_$1.lua failed: $(head -5 "$tmp/$1.err")"; return 1
  fi
  t1=$(date +%s.%N)
  echo "ok: exp_$1.lua -- short: $(echo "$t1 - $t0" | bc) s"
}
# check NAME PYTHON: the JSON table against expectations (python: rows, meta)
check() {
  local name="$1" code="$2"
  [ -s "$tmp/$name/$name.csv" ] || { fail "$name.csv missing"; return; }
  if ! /usr/bin/python3 - "$tmp/$name/$name.json" "$tmp/$name/$name.csv" <<PY
import csv, json, math, sys
j = json.load(open(sys.argv[1]))
rows, meta = j["rows"], j["meta"]
c = list(csv.DictReader(open(sys.argv[2])))
assert len(c) == len(rows), "CSV and JSON rows differ"
assert list(c[0].keys()) == j["columns"], "CSV columns"
fin = lambda x: isinstance(x, (int, float)) and math.isfinite(x)
$code
PY
  then fail "$name: its table is not as promised"; else echo "ok: $name table checked"; fi
}

run plans && check plans '
want = {
  "tinyllama_4_8_4": (22, "llama", "0,1,2,3", "10,11,12,13,14,15,16,17", "18,19,20,21"),
  "llama32_4_6_4": (16, "llama", "0,1,2,3", "6,7,8,9,10,11", "12,13,14,15"),
  "olmo2_4_6_4": (16, "olmo2", "0,1,2,3", "6,7,8,9,10,11", "12,13,14,15"),
  "llama32_2_4_2": (16, "llama", "0,1", "10,11,12,13", "14,15"),
  "tinyllama_7_8_7": (22, "llama", "0,1,2,3,4,5,6", "7,8,9,10,11,12,13,14", "15,16,17,18,19,20,21"),
  "llama32_recur_2_5": (16, "llama", "0,1", "2,3,4,5", "14,15"),
  "llama32_recur_2_5_8_11": (16, "llama", "0,1", "2,5,8,11", "14,15"),
  "llama32_recur_4_7_10_13": (16, "llama", "0,1", "4,7,10,13", "14,15"),
}
assert sorted(r["plan"] for r in rows) == sorted(want), "the plans"
for r in rows:
    w = want[r["plan"]]
    assert (r["base_layers"], r["block"], r["prelude"], r["recur"], r["coda"]) == w, (r["plan"], r)
    msg = r["refused_on_stories260K"]
    assert "refused a base of 5 layers" in msg and "plans.lua:" in msg, msg
    assert "needs a base of at least" in msg or "cannot hold them" in msg, msg
'
run depth_sweep && check depth_sweep '
assert [r["depth"] for r in rows] == [1, 2, 4]
assert all(fin(r["loss_before"]) and fin(r["loss_after"]) and isinstance(r["sample"], str) for r in rows)
assert all(r["loss_after"] < r["loss_before"] for r in rows), "healing lowers the loss at every depth"
assert meta["train_rbar"] == 4 and meta["train_flops"] > 0
'
cp "$tmp/depth_sweep/depth_sweep.csv" "$tmp/first.csv"
run depth_sweep && { cmp -s "$tmp/first.csv" "$tmp/depth_sweep/depth_sweep.csv" &&
  echo "ok: depth_sweep again (its run folder finished): the same table" || fail "depth_sweep again: another table"; }
run muon_vs_adamw && check muon_vs_adamw '
assert [r["optimizer"] for r in rows] == ["muon", "adamw"]
assert all(r["steps"] == 8 and fin(r["loss_r1"]) and fin(r["loss_r4"]) for r in rows)
assert len(meta["curves"]["muon"]) == 8 and len(meta["curves"]["adamw"]) == 8
'
run init && check init '
assert [r["init"] for r in rows] == ["pretrained", "random"]
assert all(fin(r["loss_r4_before"]) and fin(r["loss_r4"]) for r in rows)
'
run static_matched && check static_matched '
rec = [r for r in rows if r["model"].startswith("recurrent")]
st = [r for r in rows if r["model"].startswith("static")]
assert len(rec) == 3 and len(st) == 1
f = rec[0]["train_flops"]
assert abs(st[0]["train_flops"] - f) <= meta["static_flops_per_token"] * meta["tokens_per_step"] / 2 + 1, "FLOPs matched to a step"
'
echo "test_lua_scripts: $fails failure(s)"
[ $fails -eq 0 ]
