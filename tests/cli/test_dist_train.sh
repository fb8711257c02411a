#!/usr/bin/env bash
# test_dist_train.sh: `mpirun -np N retrobench train` (docs/distributed.md),
# on this machine, as root where CI is root, one OpenMP thread per rank.
#  - 2 ranks equal 1 process with --dp-shards 2: every metrics field but the
#    clock and the group's timings, and the final checkpoint byte for byte;
#    rank 0 alone writes (one metrics file, no output from rank 1);
#  - resume from 2 ranks onto 1 and from 1 onto 2 continues the identical
#    run (checkpoints byte for byte); 1 onto 3 (6 rows cut in 3 shards)
#    continues it too (bit for bit is observed with Open MPI's sum of 3
#    ranks, but only promised within rounding: see the docs);
#  - SIGINT to rank 1 alone stops every rank at the same step, rank 0 saves,
#    exit 130, and --resume finishes the identical run; SIGUSR1 to mpirun
#    (which forwards it) does the same with exit 138;
#  - SIGKILL of rank 1 ends the job with mpirun's message naming the rank
#    and leaves a checkpoint that loads: one process resumes from it and
#    finishes the identical run;
#  - a rank started with another setting, or one whose data is missing,
#    stops every rank with a message naming the setting or the file; other
#    commands refuse to run as a group.
# usage: test_dist_train.sh RETROBENCH
set -u
rb="$1"
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
mpi=(mpirun --oversubscribe --bind-to none)

"$rb" data -m "$tok" --text "$text" --separator "<|endoftext|>" --seq 32 -o "$tmp/d.rbtok" 2>/dev/null || fail "data"
"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/s.safetensors" 2>/dev/null || fail "surgery"
common=(-m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 4 --accum 2 --rbar 4 --val-fraction 0.1 --quiet
        --lr-muon 0.01 --lr-adam 0.003 --val-depths 1,2)
# metrics without the wall clock and the group's size and timings
clockless() { sed -E 's/,"tokens_per_s":[0-9.e+-]+//; s/,"time":[0-9.e+-]+//; s/,"ranks":[0-9]+,"reduce_s":[0-9.e+-]+,"wait_s":[0-9.e+-]+//' "$1"; }
same_run() { # WHAT A B CKPT
  local what="$1" a="$2" b="$3" ck="$4" f
  if ! diff <(clockless "$a/metrics.jsonl") <(clockless "$b/metrics.jsonl") > "$tmp/diff"; then
    fail "$what: metrics differ:"; head -4 "$tmp/diff"; return
  fi
  for f in model.safetensors optim.safetensors; do
    cmp -s "$a/$ck/$f" "$b/$ck/$f" || { fail "$what: $ck/$f differs (or is missing)"; return; }
  done
  pass "$what: metrics ($(grep -c . "$a/metrics.jsonl") lines) and $ck byte-identical"
}
# cut_to DIR STEP: make DIR look stopped at STEP (its later checkpoint gone)
cut_to() {
  local d="$1" s; s=$(printf 'step-%08d' "$2")
  [ -d "$d/$s" ] || { fail "cut_to: $d has no $s"; return; }
  for c in "$d"/step-*; do [ "$(basename "$c")" = "$s" ] || rm -rf "$c"; done
  echo "$s" > "$d/latest"
}
# rank_pid MPIRUN_PID RANK: the pid of that rank (a child of mpirun)
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
  done
}
wait_lines() { # FILE N: until FILE has N step lines (or 20 s)
  for _ in $(seq 1 400); do
    [ -s "$1" ] && [ "$(grep -c '"step"' "$1")" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}

# 1. 2 ranks == 1 process with 2 shards
"$rb" train "${common[@]}" --steps 6 --ckpt-every 3 --dp-shards 2 --out "$tmp/ref" 2>/dev/null || fail "reference run"
"${mpi[@]}" -np 2 "$rb" train "${common[@]}" --steps 6 --ckpt-every 3 --out "$tmp/two" > "$tmp/two.out" 2>&1 ||
  fail "2-rank run: $(tail -3 "$tmp/two.out")"
same_run "2 ranks vs 1 process --dp-shards 2" "$tmp/ref" "$tmp/two" step-00000006
grep -q '"ranks":2,"reduce_s":' "$tmp/two/metrics.jsonl" && pass "metrics carry the group's size and all-reduce time" ||
  fail "no ranks/reduce_s in metrics: $(head -1 "$tmp/two/metrics.jsonl")"
grep -q "rank 1" "$tmp/two.out" && fail "rank 1 printed: $(grep 'rank 1' "$tmp/two.out" | head -2)" ||
  pass "rank 1 prints nothing; one metrics file of $(grep -c . "$tmp/two/metrics.jsonl") lines"
"$rb" train "${common[@]}" --steps 6 --out "$tmp/plain" 2>/dev/null || fail "1-shard run"
python3 - "$tmp/ref/metrics.jsonl" "$tmp/plain/metrics.jsonl" <<'EOF' && pass "1 shard vs 2: the same run up to rounding" || fail "1 shard vs 2 shards drift"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
b = [json.loads(l) for l in open(sys.argv[2]) if '"loss"' in l]
d0 = abs(a[0]["loss"] - b[0]["loss"]) / a[0]["loss"]
dm = max(abs(x["loss"] - y["loss"]) / x["loss"] for x, y in zip(a, b))
print(f"  loss: step 1 {d0:.2g} apart (same weights), at most {dm:.2g} over {len(a)} steps")
sys.exit(0 if len(a) == 6 and d0 < 1e-5 and dm < 2e-2 else 1)
EOF

# 2. resume across rank counts: 2 -> 1 and 1 -> 2
cp -r "$tmp/two" "$tmp/r21"; rm -f "$tmp/r21/run.lock"; cut_to "$tmp/r21" 3
"$rb" train "${common[@]}" --steps 6 --ckpt-every 3 --dp-shards 2 --out "$tmp/r21" --resume 2>"$tmp/r21.err" ||
  fail "resume on 1 process: $(cat "$tmp/r21.err")"
same_run "2 ranks -> 1 process (resumed at step 3)" "$tmp/ref" "$tmp/r21" step-00000006
cp -r "$tmp/ref" "$tmp/r12"; rm -f "$tmp/r12/run.lock"; cut_to "$tmp/r12" 3
"${mpi[@]}" -np 2 "$rb" train "${common[@]}" --steps 6 --ckpt-every 3 --out "$tmp/r12" --resume > "$tmp/r12.out" 2>&1 ||
  fail "resume on 2 ranks: $(tail -3 "$tmp/r12.out")"
same_run "1 process -> 2 ranks (resumed at step 3)" "$tmp/ref" "$tmp/r12" step-00000006

# 3. 1 -> 3 ranks: batch 6 in 3 shards of 2 rows
c3=(-m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 6 --accum 2 --rbar 4
  --val-fraction 0.1 --quiet --lr-muon 0.01 --lr-adam 0.003 --val-depths 1,2 --steps 6 --ckpt-every 3)
"$rb" train "${c3[@]}" --dp-shards 3 --out "$tmp/ref3" 2>/dev/null || fail "3-shard reference"
cp -r "$tmp/ref3" "$tmp/r13"; rm -f "$tmp/r13/run.lock"; cut_to "$tmp/r13" 3
"${mpi[@]}" -np 3 "$rb" train "${c3[@]}" --out "$tmp/r13" --resume > "$tmp/r13.out" 2>&1 ||
  fail "resume on 3 ranks: $(tail -3 "$tmp/r13.out")"
if diff <(clockless "$tmp/ref3/metrics.jsonl") <(clockless "$tmp/r13/metrics.jsonl") >/dev/null &&
   cmp -s "$tmp/ref3/step-00000006/model.safetensors" "$tmp/r13/step-00000006/model.safetensors"; then
  pass "1 process -> 3 ranks (resumed at step 3): byte-identical"
else
  python3 - "$tmp/ref3/metrics.jsonl" "$tmp/r13/metrics.jsonl" <<'EOF' && pass "1 process -> 3 ranks: within rounding (Open MPI summed 3 ranks in another order)" || fail "1 process -> 3 ranks drifted"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
b = [json.loads(l) for l in open(sys.argv[2]) if '"loss"' in l]
sys.exit(0 if len(a) == len(b) == 6 and max(abs(x["loss"] - y["loss"]) / x["loss"] for x, y in zip(a, b)) < 2e-2 else 1)
EOF
fi

# 4. signals: a 24-step reference, then runs stopped mid-way
long=("${common[@]}" --steps 24 --ckpt-every 4)
"$rb" train "${long[@]}" --dp-shards 2 --out "$tmp/ref24" 2>/dev/null || fail "24-step reference"
"${mpi[@]}" -np 2 "$rb" train "${long[@]}" --out "$tmp/int" > "$tmp/int.out" 2>&1 &
mp=$!
wait_lines "$tmp/int/metrics.jsonl" 3 || fail "the 2-rank run did not start"
r1=$(rank_pid $mp 1)
[ -n "$r1" ] && kill -INT "$r1"
wait $mp; rc=$?
[ $rc -eq 130 ] && pass "SIGINT to rank 1 alone: every rank stopped, exit 130" || fail "SIGINT to rank 1: exit $rc: $(tail -5 "$tmp/int.out")"
grep -q "saving a checkpoint" "$tmp/int.out" || fail "no checkpoint message: $(tail -5 "$tmp/int.out")"
at=$(cat "$tmp/int/latest" 2>/dev/null)
"${mpi[@]}" -np 2 "$rb" train "${long[@]}" --out "$tmp/int" --resume > "$tmp/int2.out" 2>&1 || fail "resume after SIGINT: $(tail -3 "$tmp/int2.out")"
same_run "stopped by SIGINT to rank 1 at $at, resumed" "$tmp/ref24" "$tmp/int" step-00000024

"${mpi[@]}" -np 2 "$rb" train "${long[@]}" --out "$tmp/usr" > "$tmp/usr.out" 2>&1 &
mp=$!
wait_lines "$tmp/usr/metrics.jsonl" 3 || fail "the 2-rank run did not start"
kill -USR1 $mp
wait $mp; rc=$?
[ $rc -eq 138 ] && grep -q "SIGUSR1; saving a checkpoint" "$tmp/usr.out" &&
  pass "SIGUSR1 to mpirun (forwarded): every rank stopped, rank 0 saved $(cat "$tmp/usr/latest"), exit 138" ||
  fail "SIGUSR1 to mpirun: exit $rc: $(tail -5 "$tmp/usr.out")"
"$rb" train "${long[@]}" --dp-shards 2 --out "$tmp/usr" --resume 2>"$tmp/usr2.err" || fail "resume after SIGUSR1: $(cat "$tmp/usr2.err")"
same_run "stopped by SIGUSR1, resumed on 1 process" "$tmp/ref24" "$tmp/usr" step-00000024

# 5. SIGKILL of rank 1: the job ends with a message naming it; the last
# checkpoint loads and one process finishes the run from it
"${mpi[@]}" -np 2 "$rb" train "${common[@]}" --steps 24 --ckpt-every 1 --out "$tmp/kill" > "$tmp/kill.out" 2>&1 &
mp=$!
wait_lines "$tmp/kill/metrics.jsonl" 5 || fail "the 2-rank run did not start"
r1=$(rank_pid $mp 1)
[ -n "$r1" ] && kill -KILL "$r1"
wait $mp; rc=$?
[ $rc -ne 0 ] && grep -q "rank 1 .*exited on signal 9" "$tmp/kill.out" &&
  pass "SIGKILL of rank 1: job ended (exit $rc), mpirun names it: $(grep -o 'process rank 1.*signal 9[^.]*' "$tmp/kill.out" | head -1)" ||
  fail "SIGKILL of rank 1: exit $rc: $(tail -6 "$tmp/kill.out")"
at=$(cat "$tmp/kill/latest" 2>/dev/null)
"$rb" train "${common[@]}" --steps 24 --ckpt-every 1 --dp-shards 2 --out "$tmp/kill" --resume 2>"$tmp/kill2.err" ||
  fail "resume after SIGKILL: $(cat "$tmp/kill2.err")"
"$rb" train "${common[@]}" --steps 24 --ckpt-every 1 --dp-shards 2 --out "$tmp/ref24k" 2>/dev/null || fail "reference"
same_run "rank 1 killed at $at, resumed on 1 process" "$tmp/ref24k" "$tmp/kill" step-00000024

# 6. ranks started differently, and commands that do not run as a group
"${mpi[@]}" -np 1 "$rb" train "${common[@]}" --steps 6 --out "$tmp/mm" : -np 1 "$rb" train "${common[@]}" --steps 6 \
  --out "$tmp/mm" --lr-muon 0.02 > "$tmp/mm.out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "rank 1 has optim.muon_lr" "$tmp/mm.out" && grep -q "rank 1 of 2 failed" "$tmp/mm.out" &&
  pass "rank 1 with another --lr-muon: refused everywhere (exit 2), naming optim.muon_lr" ||
  fail "settings mismatch: exit $rc: $(grep -v '^--\|^ *$' "$tmp/mm.out" | head -6)"
"${mpi[@]}" -np 1 "$rb" train "${common[@]}" --steps 6 --out "$tmp/md" : -np 1 "$rb" train "${common[@]/d.rbtok/gone.rbtok}" \
  --steps 6 --out "$tmp/md" > "$tmp/md.out" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "gone.rbtok" "$tmp/md.out" && grep -q "1 rank(s) could not start" "$tmp/md.out" &&
  pass "data missing on rank 1: every rank stops (exit $rc), naming the file" ||
  fail "data missing on rank 1: exit $rc: $(grep -v '^--\|^ *$' "$tmp/md.out" | head -6)"
"${mpi[@]}" -np 2 "$rb" loss -m "$tmp/s.safetensors" --data "$tmp/d.rbtok" > "$tmp/loss.out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "only \`train\` runs as a group" "$tmp/loss.out" && pass "loss under mpirun -np 2: refused" ||
  fail "loss under mpirun: exit $rc: $(head -3 "$tmp/loss.out")"

[ $fails -eq 0 ] && echo "all passed" || echo "$fails failure(s)"
[ $fails -eq 0 ]
