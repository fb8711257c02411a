#!/usr/bin/env bash
# test_dist_lua.sh: Lua experiments under `mpirun -np 2 retrobench run`
# (docs/distributed.md, docs/lua-api.md "Running on several ranks"):
#  - the script runs on both ranks; rb.rank() and rb.world_size() say which;
#  - rb.pack, rb.train, model:save, rb.eval and rb.write_* write once (rank
#    0), and every rank sees the files afterwards;
#  - rb.train trains as one group: its metrics and checkpoint equal, byte for
#    byte, the same script in one process with dp_shards = 2;
#  - a script that fails on rank 1 alone ends the job (no rank left waiting
#    in a collective), non-zero, with the error and its rank;
#  - rb.trainer (one process, step by step) is refused on 2 ranks.
# usage: test_dist_lua.sh RETROBENCH
set -u
rb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
assets="${RB_ASSETS_DIR:-${RB_SOURCE_DIR:?}/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
text="$assets/tinystories/tinystories_sample.txt"
for f in "$bin" "$tok" "$text"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
command -v mpirun >/dev/null || { echo "SKIP: mpirun is not installed (apt-get install openmpi-bin)"; exit 77; }
"$rb" --version | grep -q "transports: .*mpi" || { echo "SKIP: retrobench was built without MPI"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(timeout 120 mpirun --oversubscribe --bind-to none)

cat > "$tmp/exp.lua" <<'LUA'
local rb = require "retrobench"
local a = rb.args
local base = rb.load(a.bin, {tokenizer = a.tok})
local d = rb.pack{tokenizer = base, text = a.text, seq = 32, out = a.dir .. "/d.rbtok"}
local s = rb.surgery(base, {1, 2, 1})
local run = rb.train{model = s, data = d, steps = 6, batch = 4, accum = 2, rbar = 4, val_fraction = 0.1,
                     lr_muon = 0.01, lr_adam = 0.003, val_depths = {1, 2}, dp_shards = 2, quiet = true,
                     out = a.dir .. "/run"}
s:save(a.dir .. "/trained.safetensors")
local ev = rb.eval(s, {problems = {{question = "Once upon a", answer = "time"}}, depths = {1, 2}, max_new = 4, max_length = 256, shots = 0})
rb.write_json(a.dir .. "/result.json", {rank = rb.rank(), world = rb.world_size(), rows = d.rows,
                                        step = run.step, answered = ev.answered})
rb.append_jsonl(a.dir .. "/lines.jsonl", {rank = rb.rank()})
-- every rank reads what rank 0 wrote
local back = rb.read_json(a.dir .. "/result.json")
print(string.format("rank %d of %d read world=%d", rb.rank(), rb.world_size(), back.world))
LUA
args=(-- "bin=$bin" "tok=$tok" "text=$text")
mkdir -p "$tmp/two" "$tmp/one"
# the same relative paths in both folders: checkpoints record their data's path
(cd "$tmp/two" && "${mpi[@]}" -np 2 "$rb" run "$tmp/exp.lua" "${args[@]}" "dir=." >"$tmp/two.out" 2>"$tmp/two.err")
rc=$?
if [ $rc -ne 0 ]; then fail "2 ranks: exit $rc: $(tail -3 "$tmp/two.err")"; fi
(cd "$tmp/one" && "$rb" run "$tmp/exp.lua" "${args[@]}" "dir=." >"$tmp/one.out" 2>"$tmp/one.err") ||
  fail "1 process: exit $?: $(tail -3 "$tmp/one.err")"

grep -qx "rank 0 of 2 read world=2" "$tmp/two.out" && grep -qx "\[rank 1\] rank 1 of 2 read world=2" "$tmp/two.out" &&
  pass "both ranks ran the script and read rank 0's file (rb.rank, rb.world_size)" ||
  fail "rank lines: $(cat "$tmp/two.out")"
grep -qx "rank 0 of 1 read world=1" "$tmp/one.out" && pass "one process: rank 0 of 1" || fail "one process: $(cat "$tmp/one.out")"
n=$(grep -c . "$tmp/two/lines.jsonl" 2>/dev/null)
[ "$n" = 1 ] && grep -q '"rank":0' "$tmp/two/lines.jsonl" && pass "rb.append_jsonl wrote one line (rank 0's)" ||
  fail "lines.jsonl holds ${n:-no} lines: $(cat "$tmp/two/lines.jsonl" 2>/dev/null)"
grep -q '"rank":[[:space:]]*0' "$tmp/two/result.json" && pass "rb.write_json: rank 0's table" ||
  fail "result.json: $(cat "$tmp/two/result.json" 2>/dev/null)"
leftovers=$(find "$tmp/two" -name '*.tmp*' | head -3)
[ -z "$leftovers" ] && pass "no temporary files left" || fail "temporaries left: $leftovers"

clockless() { sed -E 's/,"tokens_per_s":[0-9.e+-]+//; s/,"time":[0-9.e+-]+//; s/,"ranks":[0-9]+,"reduce_s":[0-9.e+-]+,"wait_s":[0-9.e+-]+//' "$1"; }
if diff <(clockless "$tmp/one/run/metrics.jsonl") <(clockless "$tmp/two/run/metrics.jsonl") >"$tmp/diff"; then
  pass "rb.train on 2 ranks: metrics ($(grep -c . "$tmp/two/run/metrics.jsonl") lines) equal one process with dp_shards = 2"
else
  fail "metrics differ: $(head -4 "$tmp/diff")"
fi
ck=$(cat "$tmp/one/run/latest" 2>/dev/null)
for f in "run/$ck/model.safetensors" "run/$ck/optim.safetensors" trained.safetensors d.rbtok; do
  cmp -s "$tmp/one/$f" "$tmp/two/$f" && pass "$f byte-identical" || fail "$f differs or is missing"
done
[ -z "$(grep -v '^$' "$tmp/two.err" | grep -v '^retrobench run: ' | head -3)" ] &&
  pass "stderr: rank 0's lines only" || fail "stderr from other ranks: $(grep -v '^retrobench run: ' "$tmp/two.err" | head -3)"

# a failure on rank 1 alone: rank 0 waits for rank 1 in rb.write_json's wait
cat > "$tmp/fail.lua" <<'LUA'
local rb = require "retrobench"
if rb.rank() == 1 then error("rank one breaks") end
rb.write_json(rb.args.dir .. "/x.json", {1})
LUA
mkdir -p "$tmp/f"
t0=$(date +%s)
"${mpi[@]}" -np 2 "$rb" run "$tmp/fail.lua" -- "dir=$tmp/f" >"$tmp/f.out" 2>"$tmp/f.err"
rc=$?
dt=$(( $(date +%s) - t0 ))
if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then fail "failing rank: exit $rc after ${dt} s (want non-zero, no hang)"
elif ! grep -q "retrobench run (rank 1): .*fail.lua:2: rank one breaks" "$tmp/f.err"; then fail "failing rank: message: $(head -3 "$tmp/f.err")"
else pass "an error on rank 1 ends the job (exit $rc, ${dt} s) naming the rank and fail.lua:2"; fi

cat > "$tmp/trainer.lua" <<'LUA'
local rb = require "retrobench"
local m = rb.load(rb.args.bin, {tokenizer = rb.args.tok})
rb.trainer{model = m, data = "x.rbtok", steps = 1}
LUA
"${mpi[@]}" -np 2 "$rb" run "$tmp/trainer.lua" -- "bin=$bin" "tok=$tok" >"$tmp/t.out" 2>"$tmp/t.err"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "trainer.lua:3: rb.trainer: the step-by-step trainer runs in one process, but this script runs on 2 ranks" "$tmp/t.err" &&
  pass "rb.trainer refused on 2 ranks (exit $rc)" || fail "rb.trainer on 2 ranks: exit $rc: $(head -2 "$tmp/t.err")"

echo "$fails failed"
[ $fails -eq 0 ]
