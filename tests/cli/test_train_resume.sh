#!/usr/bin/env bash
# test_train_resume.sh: training through the command line.
#  - SIGINT saves a checkpoint; --resume then finishes the run bit-identical
#    to an uninterrupted run: every metrics field but the clock and the
#    final checkpoint's files byte for byte (one phase, and two phases
#    interrupted in phase 2);
#  - SIGKILL at random moments, many of them inside a checkpoint write
#    (checkpoints every step), always leaves `latest` naming a checkpoint
#    that loads, and --resume carries on from it;
#  - metrics.jsonl holds each step once after resumes (lines a killed run
#    wrote past its last checkpoint, and torn lines, are dropped);
#  - a two-phase run restarts the optimizer and schedule for phase 2.
# usage: test_train_resume.sh RETROBENCH
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
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export OMP_NUM_THREADS=1

"$rb" data -m "$tok" --text "$text" --separator "<|endoftext|>" --seq 32 -o "$tmp/d.rbtok" 2>/dev/null || fail "data"
"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/s.safetensors" 2>/dev/null || fail "surgery"
common=(-m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --rbar 4 --val-fraction 0.1 --quiet
        --lr-muon 0.01 --lr-adam 0.003 --val-depths 1)
losses() { grep '"step"' "$1" | grep -v final | sed 's/.*"step":\([0-9]*\),"loss":\([^,]*\),.*/\1 \2/' | sort -n; }
# metrics without the wall-clock fields
clockless() { sed -E 's/,"tokens_per_s":[0-9.e+-]+//; s/,"time":[0-9.e+-]+//' "$1"; }
# same_run A B CKPT_SUBDIR: metrics and the final checkpoint identical
same_run() {
  local what="$1" a="$2" b="$3" ck="$4" f
  if ! diff <(clockless "$a/metrics.jsonl") <(clockless "$b/metrics.jsonl") > "$tmp/diff"; then
    fail "$what: metrics differ:"; head -4 "$tmp/diff"; return
  fi
  for f in model.safetensors optim.safetensors; do
    cmp -s "$a/$ck/$f" "$b/$ck/$f" || { fail "$what: $ck/$f differs (or is missing)"; return; }
  done
  echo "ok: $what: metrics ($(grep -c . "$a/metrics.jsonl") lines) and $ck byte-identical to the uninterrupted run"
}
# interrupt DIR ARGS...: start a run, SIGINT it once metrics has 8 lines
interrupt() {
  local dir="$1" pid rc; shift
  "$rb" train "$@" --out "$dir" 2>"$dir.err" &
  pid=$!
  for _ in $(seq 1 400); do
    [ -s "$dir/metrics.jsonl" ] && [ "$(grep -c step "$dir/metrics.jsonl")" -ge 8 ] && break
    sleep 0.02
  done
  kill -INT $pid
  wait $pid
  rc=$?
  [ $rc -eq 130 ] || fail "SIGINT exit status $rc (want 130): $(cat "$dir.err")"
  grep -q "saving a checkpoint" "$dir.err" || fail "no checkpoint message on SIGINT"
}

# 1. uninterrupted reference
"$rb" train "${common[@]}" --steps 30 --out "$tmp/ref" 2>/dev/null || fail "reference run"

# 2. SIGINT after a few steps, then --resume
"$rb" train "${common[@]}" --steps 30 --out "$tmp/int" 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 1 200); do
  [ -s "$tmp/int/metrics.jsonl" ] && [ "$(grep -c step "$tmp/int/metrics.jsonl")" -ge 8 ] && break
  sleep 0.05
done
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 130 ] || fail "SIGINT exit status $rc (want 130): $(cat "$tmp/int.err")"
grep -q "saving a checkpoint" "$tmp/int.err" || fail "no checkpoint message on SIGINT"
stopped=$(cat "$tmp/int/latest" 2>/dev/null)
"$rb" train "${common[@]}" --steps 30 --out "$tmp/int" --resume 2>/dev/null || fail "resume after SIGINT"
if diff <(losses "$tmp/ref/metrics.jsonl") <(losses "$tmp/int/metrics.jsonl") > "$tmp/diff"; then
  echo "ok: interrupted at $stopped, resumed: 30 losses identical to the uninterrupted run"
else
  fail "resumed trajectory differs:"; head -5 "$tmp/diff"
fi
same_run "one phase, SIGINT at $stopped + --resume" "$tmp/ref" "$tmp/int" step-00000030

# 2b. two phases, interrupted inside phase 2, then --resume
two=("${common[@]}" --steps 5 --phase2-data "$tmp/d.rbtok" --phase2-steps 30 --phase2-rbar 2 --ckpt-every 4)
"$rb" train "${two[@]}" --out "$tmp/tref" 2>/dev/null || fail "two-phase reference run"
interrupt "$tmp/tint" "${two[@]}"
stopped=$(cat "$tmp/tint/phase2/latest" 2>/dev/null)
[ -n "$stopped" ] || fail "the two-phase run was not stopped inside phase 2"
"$rb" train "${two[@]}" --out "$tmp/tint" --resume 2>/dev/null || fail "two-phase resume"
same_run "two phases, SIGINT in phase 2 at $stopped + --resume" \
  "$tmp/tref" "$tmp/tint" phase2/step-00000030

# 3. SIGKILL at random moments with a checkpoint every step
"$rb" train "${common[@]}" --steps 400 --ckpt-every 1 --out "$tmp/kill" 2>/dev/null &
sleep 0.5
kill -KILL $! 2>/dev/null
wait $! 2>/dev/null
kills=0
for delay in 0.13 0.21 0.05 0.34 0.08 0.27 0.16 0.4 0.11 0.19; do
  "$rb" train "${common[@]}" --steps 400 --ckpt-every 1 --out "$tmp/kill" --resume 2>/dev/null &
  pid=$!
  sleep "$delay"
  kill -KILL $pid 2>/dev/null
  wait $pid 2>/dev/null
  kills=$((kills + 1))
  name=$(cat "$tmp/kill/latest" 2>/dev/null)
  if [ -z "$name" ] || ! "$rb" info -m "$tmp/kill/$name/model.safetensors" > /dev/null 2>&1; then
    fail "after SIGKILL $kills: latest ('$name') is not a loadable checkpoint"
  fi
done
# the newest complete checkpoint (latest, or a newer one when a kill fell
# between its rename and the update of latest)
before=$(cd "$tmp/kill" && ls -d step-* | grep -v '\.' | sort | tail -1)
"$rb" train "${common[@]}" --steps 400 --ckpt-every 1 --out "$tmp/kill" --resume 2>"$tmp/k.err" &
pid=$!; sleep 0.3; kill -INT $pid; wait $pid
left=$(ls -d "$tmp"/kill/*.tmp-* 2>/dev/null | wc -l)
[ "$left" -eq 0 ] || fail "$left unfinished checkpoint folders of killed writers were not swept"
grep -q "resumed from .*$before" "$tmp/k.err" && echo "ok: $kills SIGKILLs, the newest checkpoint always loads and resumes ($before)" ||
  fail "resume after SIGKILLs: $(head -2 "$tmp/k.err")"
m="$tmp/kill/metrics.jsonl"
dups=$(grep -v final "$m" | sed -n 's/^{"phase":\([0-9]*\),"step":\([0-9]*\),.*/\1 \2/p' | sort | uniq -d | head -3)
torn=$(grep -vc '}$' "$m")
steps=$(grep -v final "$m" | grep -c '"step"')
last=$(sed -n 's/.*"step":\([0-9]*\),.*/\1/p' "$m" | sort -n | tail -1)
if [ -z "$dups" ] && [ "$torn" -eq 0 ] && [ "$steps" -eq "$last" ]; then
  echo "ok: after the kills metrics.jsonl has steps 1..$last once each ($(grep -c 'dropped from' "$tmp/k.err" 2>/dev/null) rewind on the last resume)"
else
  fail "metrics.jsonl after kills: duplicated steps '$dups', $torn torn line(s), $steps step lines for last step $last"
fi

# 4. two phases: the optimizer restarts (phase 2's first lr multiplier is the warmup start)
"$rb" train "${common[@]}" --steps 8 --phase2-data "$tmp/d.rbtok" --phase2-steps 6 --phase2-rbar 2 \
    --out "$tmp/two" 2>/dev/null || fail "two-phase run"
p2=$(grep '"phase":2' "$tmp/two/metrics.jsonl" | grep -c '"step"')
first=$(grep '"phase":2,"step":1,' "$tmp/two/metrics.jsonl" | sed 's/.*"lr_mult":\([^,]*\),.*/\1/')
[ "$p2" -ge 6 ] && [ "$first" = "0.001" ] && [ -e "$tmp/two/phase2/latest" ] &&
  echo "ok: two phases; phase 2 restarts its schedule (lr x$first at its step 1)" || fail "two-phase metrics: $p2 rows, first lr_mult '$first'"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
