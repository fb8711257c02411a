#!/usr/bin/env bash
# test_run_folders.sh: run folders are owned and never clobbered (issue 8,
# item 1, and the train messages of item 6). Each check is one thing a user
# does by mistake:
#   1. train into a folder that holds a run, without --resume: refused,
#      naming the run's step and both ways on; nothing in it changes;
#   2. a second trainer on a folder another trainer is writing: refused,
#      naming the holder's pid; the first run's metrics stay clean;
#   3. a lock left by a killed trainer is recognised as stale;
#   4. --resume without `latest`: resumes from the newest checkpoint (saying
#      so), never from step 1, and deletes no checkpoint it did not write;
#   5. --resume with a damaged latest checkpoint: names it and the intact
#      previous one, resumes from that one and ends bit-identical to an
#      uninterrupted run; the damaged one is kept;
#   6. --resume when no checkpoint loads: refused, nothing changes;
#   7. --resume of a finished run: says so and changes nothing;
#   8. SIGTERM: a checkpoint, exit status 143;
#   9. train without --steps: refused, saying what to give;
#  10. the final validation shows progress on a terminal.
# usage: test_run_folders.sh RETROBENCH
set -u
rb="$1"
assets="${RB_ASSETS_DIR:-${RB_SOURCE_DIR:?}/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
text="$assets/tinystories/tinystories_sample.txt"
for f in "$bin" "$tok" "$text"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
export OMP_NUM_THREADS=1

"$rb" data -m "$tok" --text "$text" --separator "<|endoftext|>" --seq 32 -o "$tmp/d.rbtok" 2>/dev/null || fail "data"
"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/s.safetensors" 2>/dev/null || fail "surgery"
common=(-m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --rbar 4 --val-fraction 0.1 --quiet
        --lr-muon 0.01 --lr-adam 0.003 --val-depths 1,2)
clockless() { sed -E 's/,"tokens_per_s":[0-9.e+-]+//; s/,"time":[0-9.e+-]+//' "$1"; }
# a fingerprint of everything in a run folder but the lock file
snapshot() { (cd "$1" && find . -path ./run.lock -prune -o -type f -print0 | sort -z | xargs -0 md5sum) 2>/dev/null; }
# wait_lines FILE N: until FILE has N lines (or 10 s)
wait_lines() {
  for _ in $(seq 1 500); do
    [ -s "$1" ] && [ "$(grep -c . "$1")" -ge "$2" ] && return 0
    sleep 0.02
  done
  return 1
}

# reference: 10 steps, a checkpoint every 2 (steps 8 and 10 are kept)
"$rb" train "${common[@]}" --steps 10 --ckpt-every 2 --out "$tmp/ref" 2>/dev/null || fail "reference run"

# 1. a folder that holds a run, without --resume
cp -a "$tmp/ref" "$tmp/r1"
before=$(snapshot "$tmp/r1")
"$rb" train "${common[@]}" --steps 4 --out "$tmp/r1" 2>"$tmp/r1.err"
rc=$?
after=$(snapshot "$tmp/r1")
if [ $rc -ne 0 ] && [ "$before" = "$after" ] && grep -q -- "--resume" "$tmp/r1.err" &&
   grep -q -- "--out" "$tmp/r1.err" && grep -q "step 10" "$tmp/r1.err"; then
  ok "a folder holding a run is refused without --resume (status $rc): $(head -1 "$tmp/r1.err")"
else
  fail "train into a folder holding a run: status $rc, folder $([ "$before" = "$after" ] && echo unchanged || echo CHANGED): $(head -2 "$tmp/r1.err")"
fi

# 2. a second trainer while the first one runs
"$rb" train "${common[@]}" --steps 100000 --ckpt-every 50 --out "$tmp/r2" 2>"$tmp/r2a.err" &
first=$!
pids+=("$first")
wait_lines "$tmp/r2/metrics.jsonl" 3 || fail "the first trainer did not start"
timeout 20 "$rb" train "${common[@]}" --steps 100000 --ckpt-every 50 --out "$tmp/r2" --resume 2>"$tmp/r2b.err"
rc=$?
kill -INT "$first"; wait "$first"
dups=$(grep -v final "$tmp/r2/metrics.jsonl" | sed -n 's/^{"phase":\([0-9]*\),"step":\([0-9]*\),.*/\1 \2/p' | sort | uniq -d | head -1)
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "pid $first" "$tmp/r2b.err" && [ -z "$dups" ]; then
  ok "a second trainer is refused while the first runs (status $rc): $(head -1 "$tmp/r2b.err")"
else
  fail "second trainer on a busy folder: status $rc, duplicated step '$dups': $(head -2 "$tmp/r2b.err")"
fi

# 3. a lock left by a killed trainer
"$rb" train "${common[@]}" --steps 100000 --ckpt-every 5 --out "$tmp/r3" 2>/dev/null &
victim=$!
pids+=("$victim")
wait_lines "$tmp/r3/metrics.jsonl" 8 || fail "the trainer to kill did not start"
kill -KILL "$victim"; wait "$victim" 2>/dev/null
timeout 20 "$rb" train "${common[@]}" --steps 12 --ckpt-every 5 --out "$tmp/r3" --resume 2>"$tmp/r3.err"
rc=$?
if [ $rc -eq 0 ] && grep -qi "stale" "$tmp/r3.err" && grep -q "pid $victim" "$tmp/r3.err"; then
  ok "the lock of a killed trainer is recognised as stale: $(grep -i stale "$tmp/r3.err" | head -1)"
else
  fail "stale lock after SIGKILL: status $rc: $(head -3 "$tmp/r3.err")"
fi

# 4. --resume without latest: from the newest checkpoint, deleting nothing
cp -a "$tmp/ref" "$tmp/r4"
rm "$tmp/r4/latest"
"$rb" train "${common[@]}" --steps 14 --ckpt-every 2 --out "$tmp/r4" --resume 2>"$tmp/r4.err"
rc=$?
first_step=$(grep -v final "$tmp/r4/metrics.jsonl" | sed -n 's/.*"step":\([0-9]*\),.*/\1/p' | sort -n | uniq -d | head -1)
if [ $rc -eq 0 ] && grep -q "resumed from .*step-00000010 at step 10" "$tmp/r4.err" &&
   [ -d "$tmp/r4/step-00000008" ] && [ -d "$tmp/r4/step-00000010" ] && [ -d "$tmp/r4/step-00000014" ] &&
   [ -z "$first_step" ] && grep -qi "latest" "$tmp/r4.err"; then
  ok "--resume without latest continues from step-00000010 and keeps the earlier checkpoints: $(grep -i latest "$tmp/r4.err" | head -1)"
else
  fail "--resume without latest: status $rc, dirs $(cd "$tmp/r4" && echo step-*), repeated step '$first_step': $(head -3 "$tmp/r4.err")"
fi

# 5. a damaged latest checkpoint
cp -a "$tmp/ref" "$tmp/r5"
head -c 3000 "$tmp/ref/step-00000010/model.safetensors" > "$tmp/r5/step-00000010/model.safetensors"
"$rb" train "${common[@]}" --steps 10 --ckpt-every 2 --out "$tmp/r5" --resume 2>"$tmp/r5.err"
rc=$?
kept=$(ls -d "$tmp"/r5/step-00000010.* 2>/dev/null | head -1)
if [ $rc -eq 0 ] && grep -q "step-00000010" "$tmp/r5.err" && grep -q "step-00000008" "$tmp/r5.err" &&
   grep -q "resumed from .*step-00000008 at step 8" "$tmp/r5.err" && [ -n "$kept" ] &&
   cmp -s "$tmp/ref/step-00000010/model.safetensors" "$tmp/r5/step-00000010/model.safetensors" &&
   cmp -s "$tmp/ref/step-00000010/optim.safetensors" "$tmp/r5/step-00000010/optim.safetensors" &&
   diff -q <(clockless "$tmp/ref/metrics.jsonl") <(clockless "$tmp/r5/metrics.jsonl") > /dev/null; then
  ok "a damaged latest checkpoint is named with the intact previous one; the run ends bit-identical (damaged one kept as ${kept##*/}): $(grep step-00000010 "$tmp/r5.err" | head -1)"
else
  fail "damaged latest checkpoint: status $rc, kept '$kept': $(head -3 "$tmp/r5.err")"
fi

# 6. no checkpoint loads: refused, nothing changes
cp -a "$tmp/ref" "$tmp/r6"
for s in 8 10; do : > "$tmp/r6/step-000000$(printf %02d $s)/optim.safetensors"; done
before=$(snapshot "$tmp/r6")
"$rb" train "${common[@]}" --steps 10 --ckpt-every 2 --out "$tmp/r6" --resume 2>"$tmp/r6.err"
rc=$?
after=$(snapshot "$tmp/r6")
if [ $rc -ne 0 ] && [ "$before" = "$after" ] && grep -q "step-00000008" "$tmp/r6.err"; then
  ok "no checkpoint that loads: refused (status $rc), nothing changed: $(head -1 "$tmp/r6.err")"
else
  fail "--resume with every checkpoint damaged: status $rc, folder $([ "$before" = "$after" ] && echo unchanged || echo CHANGED): $(head -2 "$tmp/r6.err")"
fi

# 7. resuming a finished run
cp -a "$tmp/ref" "$tmp/r7"
before=$(snapshot "$tmp/r7")
"$rb" train "${common[@]}" --steps 10 --ckpt-every 2 --out "$tmp/r7" --resume 2>"$tmp/r7.err"
rc=$?
after=$(snapshot "$tmp/r7")
if [ $rc -eq 0 ] && [ "$before" = "$after" ] && grep -qi "finished" "$tmp/r7.err"; then
  ok "resuming a finished run changes nothing: $(grep -i finished "$tmp/r7.err" | head -1)"
else
  fail "resume of a finished run: status $rc, folder $([ "$before" = "$after" ] && echo unchanged || echo CHANGED): $(head -2 "$tmp/r7.err")"
fi

# 8. SIGTERM
"$rb" train "${common[@]}" --steps 100000 --out "$tmp/r8" 2>"$tmp/r8.err" &
p=$!
pids+=("$p")
wait_lines "$tmp/r8/metrics.jsonl" 3
kill -TERM "$p"; wait "$p"
rc=$?
if [ $rc -eq 143 ] && [ -s "$tmp/r8/latest" ]; then
  ok "SIGTERM saves $(cat "$tmp/r8/latest") and exits 143"
else
  fail "SIGTERM: exit status $rc (want 143), latest '$(cat "$tmp/r8/latest" 2>/dev/null)'"
fi

# 9. no --steps
timeout 30 "$rb" train -m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --quiet --out "$tmp/r9" 2>"$tmp/r9.err"
rc=$?
if [ $rc -eq 2 ] && grep -q -- "--steps" "$tmp/r9.err" && [ ! -e "$tmp/r9/metrics.jsonl" ]; then
  ok "train without --steps is refused: $(head -1 "$tmp/r9.err")"
else
  fail "train without --steps: status $rc: $(head -2 "$tmp/r9.err")"
fi

# 10. final validation progress on a terminal
if script -qec true /dev/null > /dev/null 2>&1; then
  script -qec "$(printf '%q ' "$rb" train "${common[@]}" --steps 2 --val-depths 1,2,4 --out "$tmp/r10")" /dev/null \
    > "$tmp/r10.tty" 2>&1
  if grep -q "final validation" "$tmp/r10.tty" && grep -Eq "r=4 [0-9]+%|rows" "$tmp/r10.tty"; then
    ok "the final validation shows progress on a terminal"
  else
    fail "no progress during the final validation: $(tr '\r' '\n' < "$tmp/r10.tty" | grep -a valid | head -2)"
  fi
else
  echo "note: 'script' cannot make a terminal here; progress check skipped"
fi

# 11. a run folder (or one checkpoint folder) stands for its newest model
if [ -d "$tmp/r10" ]; then
  "$rb" generate -m "$tmp/r10" -p "Once" -n 4 -t 0 > "$tmp/r11a.txt" 2> "$tmp/r11a.err"
  rc=$?
  newest=$(cat "$tmp/r10/latest")
  "$rb" generate -m "$tmp/r10/$newest/model.safetensors" -p "Once" -n 4 -t 0 > "$tmp/r11b.txt" 2> /dev/null
  if [ $rc -eq 0 ] && cmp -s "$tmp/r11a.txt" "$tmp/r11b.txt" && grep -q "run folder: using its latest checkpoint" "$tmp/r11a.err" &&
     "$rb" info -m "$tmp/r10/$newest" > /dev/null 2>&1; then
    ok "-m RUN_DIR and -m CHECKPOINT_DIR load the newest checkpoint's model"
  else
    fail "-m RUN_DIR: status $rc: $(head -1 "$tmp/r11a.err")"
  fi
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
