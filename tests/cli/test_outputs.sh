#!/usr/bin/env bash
# test_outputs.sh: outputs replace only regular files (issue 8, item 2).
#   1. every writer (surgery -o, convert -o FILE and FOLDER, data -o, train's
#      metrics, checkpoints and `latest`) refuses a FIFO, a folder, a
#      symbolic link and a device in the output's place, with a message
#      naming the path and what it is, and leaves that thing as it was;
#   2. the file-size limit (ulimit -f): SIGXFSZ is ignored, EFBIG reported,
#      the temporary file removed, the previous output unchanged;
#   3. a full disk (a 256 KiB tmpfs in a user namespace, when the kernel
#      allows one): ENOSPC reported, temporary files removed;
#   4. SIGINT / SIGTERM during `data -o`: the temporary file is removed, the
#      message says what happened, exit status 130 / 143.
# usage: test_outputs.sh RETROBENCH
set -u
rb="$1"
assets="${RB_ASSETS_DIR:-${RB_SOURCE_DIR:?}/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
text="$assets/tinystories/tinystories_sample.txt"
gsm="$assets/gsm8k/train.jsonl"
for f in "$bin" "$tok" "$text" "$gsm"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
export OMP_NUM_THREADS=1

"$rb" data -m "$tok" --text "$text" --separator "<|endoftext|>" --seq 32 -o "$tmp/d.rbtok" 2>/dev/null || fail "data"
"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/s.safetensors" 2>/dev/null || fail "surgery"
mkdir -p "$tmp/t"
echo "precious" > "$tmp/target.txt"

# what a path is, as stat -c %F says, plus a symlink's target
kind() { if [ -L "$1" ]; then echo "link->$(readlink "$1")"; else stat -c %F "$1" 2>/dev/null || echo absent; fi; }
# make_special TYPE PATH
make_special() {
  rm -rf "$2"
  case "$1" in
    fifo) mkfifo "$2" ;;
    dir) mkdir "$2" ;;
    symlink) ln -s "$tmp/target.txt" "$2" ;;
    device) mknod "$2" c 1 3 2>/dev/null ;; # /dev/null's numbers; needs root (skipped without)
  esac
}
# refused NAME PATH WORD -- command...: non-zero exit below 128 within 20 s,
# the message names PATH and WORD, PATH is what it was, no temporary left
refused() {
  local name="$1" path="$2" word="$3"; shift 4
  local before after rc
  before=$(kind "$path")
  timeout 20 "$@" > /dev/null 2> "$tmp/err"
  rc=$?
  after=$(kind "$path")
  local left
  left=$(ls -d "$path".tmp* "$(dirname "$path")"/*.tmp.* 2>/dev/null | head -1)
  if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then
    fail "$name: exit status $rc; $path was '$before', is '$after': $(head -1 "$tmp/err")"
  elif [ "$before" != "$after" ] || [ "$(cat "$tmp/target.txt")" != precious ]; then
    fail "$name: $path was '$before', is now '$after'"
  elif ! grep -qF "$path" "$tmp/err" || ! grep -qi "$word" "$tmp/err"; then
    fail "$name: the message does not name $path and '$word': $(head -1 "$tmp/err")"
  elif [ -n "$left" ]; then
    fail "$name: temporary file left: $left"
  else
    ok "$name: $(head -1 "$tmp/err")"
  fi
}

words=(fifo "FIFO" dir "folder" symlink "symbolic link" device "device")
for ((i = 0; i < ${#words[@]}; i += 2)); do
  type=${words[i]} word=${words[i + 1]}
  o="$tmp/t/out.$type.safetensors"
  make_special "$type" "$o"
  if [ ! -e "$o" ] && [ ! -L "$o" ]; then echo "note: cannot make a $type here (not root?); skipped"; continue; fi
  refused "surgery -o onto a $type" "$o" "$word" -- "$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$o"
  make_special "$type" "$o"
  refused "convert -o onto a $type" "$o" "$word" -- "$rb" convert -m "$bin" --tokenizer "$tok" -o "$o"
  o="$tmp/t/out.$type.rbtok"
  make_special "$type" "$o"
  refused "data -o onto a $type" "$o" "$word" -- "$rb" data -m "$tok" --text "$text" --seq 32 -o "$o"
  # a Hugging Face folder whose config.json is one
  mkdir -p "$tmp/hf.$type"
  make_special "$type" "$tmp/hf.$type/config.json"
  refused "convert -o FOLDER with config.json a $type" "$tmp/hf.$type/config.json" "$word" -- \
    "$rb" convert -m "$bin" --tokenizer "$tok" -o "$tmp/hf.$type"
  # a run folder whose metrics.jsonl is one
  mkdir -p "$tmp/run.$type"
  make_special "$type" "$tmp/run.$type/metrics.jsonl"
  refused "train with metrics.jsonl a $type" "$tmp/run.$type/metrics.jsonl" "$word" -- \
    "$rb" train -m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --steps 2 --quiet --out "$tmp/run.$type"
done
# a run folder that is a file; `latest` a symbolic link
: > "$tmp/runfile"
refused "train --out onto a file" "$tmp/runfile" "not a folder" -- \
  "$rb" train -m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --steps 2 --quiet --out "$tmp/runfile"
mkdir -p "$tmp/runlink"
ln -s "$tmp/target.txt" "$tmp/runlink/latest"
refused "train with latest a symbolic link" "$tmp/runlink/latest" "symbolic link" -- \
  "$rb" train -m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --steps 2 --quiet --out "$tmp/runlink"

# 2. the file-size limit: 256 KiB (the checkpoint is ~1 MB)
cp "$tmp/s.safetensors" "$tmp/fs.safetensors"
(ulimit -f 256; "$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/fs.safetensors") 2> "$tmp/err"
rc=$?
left=$(ls "$tmp"/fs.safetensors.tmp* 2>/dev/null | head -1)
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qi "file-size limit\|file too large" "$tmp/err" && [ -z "$left" ] &&
   cmp -s "$tmp/s.safetensors" "$tmp/fs.safetensors"; then
  ok "file-size limit: EFBIG reported, nothing left behind, the old file intact: $(head -1 "$tmp/err")"
else
  fail "file-size limit: exit status $rc (153 = killed by SIGXFSZ), left '$left': $(head -1 "$tmp/err")"
fi
(ulimit -f 256; "$rb" train -m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --steps 2 --quiet --out "$tmp/fsrun") 2> "$tmp/err"
rc=$?
left=$(ls -d "$tmp"/fsrun/step-*.tmp* "$tmp"/fsrun/step-*/*.tmp* 2>/dev/null | head -1)
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qi "file-size limit\|file too large" "$tmp/err" && [ -z "$left" ]; then
  ok "file-size limit during a checkpoint: reported, nothing left behind: $(grep -i 'too large\|size limit' "$tmp/err" | head -1)"
else
  fail "file-size limit in train: exit status $rc, left '$left': $(head -2 "$tmp/err")"
fi

# 3. a full disk: a 256 KiB tmpfs in a user namespace
if unshare -Urm true 2> /dev/null; then
  cat > "$tmp/full.sh" <<EOF
mount -t tmpfs -o size=256k tmpfs "$tmp/t" || exit 99
"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/t/full.safetensors" 2> "$tmp/full1.err"; echo "surgery \$?"
ls -a "$tmp/t" | grep -c tmp
"$rb" train -m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --batch 2 --steps 2 --quiet --out "$tmp/t/run" 2> "$tmp/full2.err"; echo "train \$?"
find "$tmp/t/run" -name '*.tmp*' | wc -l
EOF
  out=$(unshare -Urm bash "$tmp/full.sh")
  s_rc=$(echo "$out" | sed -n 's/^surgery //p'); s_left=$(echo "$out" | sed -n 2p)
  t_rc=$(echo "$out" | sed -n 's/^train //p'); t_left=$(echo "$out" | sed -n 4p)
  if [ -z "$s_rc" ]; then
    echo "note: cannot mount a tmpfs in a user namespace here; full-disk check skipped"
  elif [ "$s_rc" != 0 ] && [ "$s_left" = 0 ] && grep -qi "no space" "$tmp/full1.err" &&
       [ "$t_rc" != 0 ] && [ "$t_left" = 0 ] && grep -qi "no space" "$tmp/full2.err"; then
    ok "full disk: ENOSPC reported, no temporary left ($(head -1 "$tmp/full1.err"))"
  else
    fail "full disk: surgery $s_rc ($s_left left), train $t_rc ($t_left left): $(head -1 "$tmp/full1.err") / $(head -2 "$tmp/full2.err")"
  fi
else
  echo "note: no user namespaces here; full-disk check skipped"
fi

# 4. SIGINT / SIGTERM while data -o writes (the temporary file exists);
# job control on, so that the background job does not start with SIGINT
# ignored (what a non-interactive shell does to its background jobs)
set -m
for i in 1 2 3; do cat "$gsm"; done > "$tmp/big.jsonl"
for sig in INT TERM; do
  want=$([ $sig = INT ] && echo 130 || echo 143)
  rm -f "$tmp"/big.rbtok*
  "$rb" data -m "$tok" --jsonl "$tmp/big.jsonl" --template '{question} {answer}' --seq 64 -o "$tmp/big.rbtok" 2> "$tmp/sig.err" &
  p=$!
  seen=0
  for _ in $(seq 1 500); do
    if ls "$tmp"/big.rbtok.tmp* > /dev/null 2>&1; then seen=1; break; fi
    sleep 0.01
  done
  kill -$sig $p
  wait $p
  rc=$?
  left=$(ls "$tmp"/big.rbtok* 2>/dev/null | head -1)
  if [ $seen -eq 1 ] && [ $rc -eq $want ] && [ -z "$left" ] && grep -q "SIG$sig" "$tmp/sig.err" &&
     grep -qi "removed" "$tmp/sig.err"; then
    ok "SIG$sig during data -o: exit $rc, temporary removed: $(grep SIG$sig "$tmp/sig.err" | head -1)"
  else
    fail "SIG$sig during data -o: seen $seen, exit $rc (want $want), left '$left': $(tail -1 "$tmp/sig.err")"
  fi
done
set +m

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
