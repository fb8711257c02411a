#!/usr/bin/env bash
# test_kill_resume.sh: the kill test of issue 8 (must show b). A run with a
# checkpoint after every step is SIGKILLed at 20 random moments (during
# model loading, steps, checkpoint writes and renames). Each time:
#   - while it runs, a second trainer (--resume) on the same folder is
#     refused by the lock, naming the running trainer's pid;
#   - after the kill, every checkpoint folder the killed process finished
#     (step-NNNNNNNN) is complete: its model loads (`retrobench info`) and
#     both safetensors files hold exactly what their headers declare;
#   - a trainer without --resume recognises the dead process's lock as
#     stale, refuses the folder (it holds a run) and changes nothing.
# At the end --resume finishes the run, which must equal an uninterrupted
# one bit for bit: metrics (all but the clock) and the final checkpoint's
# files. RB_KILL_SEED picks the moments (printed, to replay a failure).
# Cost: ~20-40 s on a shared 2-core machine, ~150 MB in a temporary folder
# (a resumed run never deletes checkpoints an earlier process wrote).
# usage: test_kill_resume.sh RETROBENCH
set -u
rb="$1"
assets="${RB_ASSETS_DIR:-${RB_SOURCE_DIR:?}/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
text="$assets/tinystories/tinystories_sample.txt"
for f in "$bin" "$tok" "$text"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
command -v python3 > /dev/null || { echo "SKIP: needs python3 to check safetensors files"; exit 77; }
tmp=$(mktemp -d)
trap 'kill -KILL ${a:-} 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export OMP_NUM_THREADS=1
seed=${RB_KILL_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed
echo "kill moments from seed $seed (RB_KILL_SEED=$seed replays them)"
SECONDS=0

"$rb" data -m "$tok" --text "$text" --separator "<|endoftext|>" --seq 32 -o "$tmp/d.rbtok" 2>/dev/null || fail "data"
"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/s.safetensors" 2>/dev/null || fail "surgery"
args=(-m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --rbar 4 --val-fraction 0.1 --quiet
      --lr-muon 0.01 --lr-adam 0.003 --val-depths 1,2 --steps 90 --ckpt-every 1)
k="$tmp/k"
# the step of the last complete metrics line (0 when none)
last_step() {
  local l
  l=$(grep -o '"step":[0-9]*' "$k/metrics.jsonl" 2>/dev/null | tail -1)
  echo "${l#*:}" | sed 's/^$/0/'
}
clockless() { sed -E 's/,"tokens_per_s":[0-9.e+-]+//; s/,"time":[0-9.e+-]+//' "$1"; }
snapshot() { (cd "$1" && find . -path ./run.lock -prune -o -type f -print0 | sort -z | xargs -0 md5sum) 2>/dev/null; }
# a safetensors file holds exactly 8 + header + the data its header declares
st_whole() {
  python3 - "$@" <<'EOF'
import json, os, struct, sys
bad = []
for p in sys.argv[1:]:
    try:
        with open(p, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            h = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in h.items() if k != "__metadata__"), default=0)
        if os.path.getsize(p) != 8 + n + end:
            bad.append(f"{p}: {os.path.getsize(p)} bytes, header says {8 + n + end}")
    except Exception as e:
        bad.append(f"{p}: {e}")
print("\n".join(bad))
EOF
}

"$rb" train "${args[@]}" --out "$tmp/ref" 2>/dev/null || fail "the uninterrupted run"

checked=0 refused_live=0 refused_after=0 stale=0 locked=0
for i in $(seq 1 20); do
  "$rb" train "${args[@]}" --resume --out "$k" 2> "$tmp/a$i.err" &
  a=$!
  if [ "$i" -eq 1 ]; then # the first kill comes once the folder holds a checkpoint
    for _ in $(seq 1 500); do [ -s "$k/latest" ] && break; sleep 0.01; done
  fi
  # the moment: progress-based, so a fast machine cannot finish the run
  # first: wait until the metrics reach a random step a little past where
  # this trainer started (0: during loading / resume), then a random delay
  # of 0-29 ms lands the kill anywhere inside a step or a checkpoint write.
  # At most 4 steps per trainer: the 90-step run cannot end in 20 lives.
  ahead=$((RANDOM % 5))
  start=$(last_step)
  if [ "$ahead" -gt 0 ]; then
    for _ in $(seq 1 3000); do
      [ "$(last_step)" -ge $((start + ahead)) ] && break
      kill -0 $a 2>/dev/null || break
      sleep 0.01
    done
  fi
  sleep "0.0$(printf %02d $((RANDOM % 30)))"
  if kill -0 $a 2>/dev/null; then
    "$rb" train "${args[@]}" --resume --out "$k" > /dev/null 2> "$tmp/b$i.err"
    rc=$?
    if kill -0 $a 2>/dev/null; then # still running: the lock must have refused
      if [ $rc -ne 0 ] && grep -q "pid $a" "$tmp/b$i.err"; then refused_live=$((refused_live + 1))
      else fail "kill $i: a second trainer beside pid $a: status $rc: $(head -1 "$tmp/b$i.err")"; fi
    fi
  fi
  kill -KILL $a 2>/dev/null
  wait $a 2>/dev/null
  # a kill during start-up may come before the trainer took the lock: then
  # there is no stale lock of its own to report
  held=0; grep -q "^pid $a " "$k/run.lock" 2>/dev/null && held=1
  grep -q "is finished" "$tmp/a$i.err" && fail "the run finished before kill $i (kill moments are progress-based; this should not happen)"
  # every complete checkpoint is whole; the new ones load
  files=()
  for d in "$k"/step-*; do
    case "${d##*/}" in *.*) continue ;; esac
    [ -d "$d" ] || continue
    if [ ! -e "$tmp/seen.${d##*/}" ]; then
      "$rb" info -m "$d/model.safetensors" > /dev/null 2>&1 || fail "kill $i: ${d##*/}/model.safetensors does not load"
      : > "$tmp/seen.${d##*/}"
      checked=$((checked + 1))
    fi
    files+=("$d/model.safetensors" "$d/optim.safetensors")
  done
  gone=$(cd "$tmp" && for f in seen.*; do [ -e "$f" ] && [ ! -d "$k/${f#seen.}" ] && echo "${f#seen.}"; done)
  [ -z "$gone" ] || fail "kill $i: checkpoints of earlier processes disappeared: $gone"
  [ ${#files[@]} -gt 0 ] && { bad=$(st_whole "${files[@]}"); [ -z "$bad" ] || fail "kill $i: torn checkpoint files: $bad"; }
  # a trainer without --resume refuses the folder and changes nothing
  before=$(snapshot "$k")
  "$rb" train "${args[@]}" --out "$k" > /dev/null 2> "$tmp/c$i.err"
  rc=$?
  if [ $rc -eq 2 ] && [ "$before" = "$(snapshot "$k")" ] && grep -q -- "--resume" "$tmp/c$i.err"; then
    refused_after=$((refused_after + 1))
  else
    fail "kill $i: train without --resume: status $rc: $(head -1 "$tmp/c$i.err")"
  fi
  if [ $held -eq 1 ]; then
    locked=$((locked + 1))
    grep -q "was stale.*pid $a" "$tmp/c$i.err" && stale=$((stale + 1))
  fi
done

"$rb" train "${args[@]}" --resume --out "$k" 2> "$tmp/final.err" || fail "the final resume: $(tail -2 "$tmp/final.err")"
if diff <(clockless "$tmp/ref/metrics.jsonl") <(clockless "$k/metrics.jsonl") > "$tmp/diff" &&
   cmp -s "$tmp/ref/step-00000090/model.safetensors" "$k/step-00000090/model.safetensors" &&
   cmp -s "$tmp/ref/step-00000090/optim.safetensors" "$k/step-00000090/optim.safetensors"; then
  echo "ok: after 20 SIGKILLs the resumed run equals the uninterrupted one bit for bit (metrics, step-00000090)"
else
  fail "the resumed run differs from the uninterrupted one:"; head -4 "$tmp/diff"
fi
[ "$locked" -ge 10 ] || fail "only $locked of 20 trainers were killed holding the lock (the kill moments are too early)"
[ "$stale" -eq "$locked" ] || fail "only $stale of $locked trainers killed holding the lock were reported stale"
echo "ok: $checked checkpoint folders finished by killed trainers, all whole and loading, none lost; $refused_live trainers refused by a live lock;" \
     "$refused_after trainers without --resume refused; $stale of $locked stale locks reported;" \
     "$(ls -d "$k"/step-* | wc -l) checkpoint folders kept; $(du -sh "$k" | cut -f1)," \
     "${SECONDS} s"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
