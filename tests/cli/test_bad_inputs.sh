#!/usr/bin/env bash
# test_bad_inputs.sh: malformed files and arguments through the command
# line: never a crash (exit status below 128, no sanitizer report), a
# non-zero status, and exactly one line on stderr that names the file.
# usage: test_bad_inputs.sh RETROBENCH
set -u
rb="$1"
assets="${RB_ASSETS_DIR:-${RB_SOURCE_DIR:?}/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
gguf="$assets/stories260K-gguf/stories260K.gguf"
hf="$assets/stories260K-hf"
for f in "$bin" "$tok" "$gguf" "$hf/config.json"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect_error NAME FILE_MENTIONED -- command...
expect_error() {
  local name="$1" mention="$2"; shift 3
  "$@" > "$tmp/out" 2> "$tmp/err"
  local rc=$? lines
  lines=$(wc -l < "$tmp/err")
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then
    echo "FAIL: $name: exit status $rc"; fails=$((fails + 1))
  elif [ "$lines" -ne 1 ]; then
    echo "FAIL: $name: $lines lines on stderr:"; cat "$tmp/err"; fails=$((fails + 1))
  elif [ -n "$mention" ] && ! grep -qF -- "$mention" "$tmp/err"; then
    echo "FAIL: $name: message does not name $mention: $(cat "$tmp/err")"; fails=$((fails + 1))
  else
    echo "ok: $name: $(cat "$tmp/err")"
  fi
}

size=$(stat -c %s "$bin")
head -c 20 "$bin" > "$tmp/short.bin"
head -c $((size / 2)) "$bin" > "$tmp/half.bin"
head -c $(( $(stat -c %s "$gguf") / 3 )) "$gguf" > "$tmp/cut.gguf"
printf 'GGUX' > "$tmp/magic.gguf"; tail -c +5 "$gguf" >> "$tmp/magic.gguf"
# a GGUF whose tensor count claims 2^60 tensors (offset 8, little-endian u64)
cp "$gguf" "$tmp/count.gguf"
printf '\x00\x00\x00\x00\x00\x00\x00\x10' | dd of="$tmp/count.gguf" bs=1 seek=8 conv=notrunc 2>/dev/null
mkdir -p "$tmp/hf_cut" "$tmp/hf_noconf" "$tmp/hf_holey"
cp "$hf/config.json" "$tmp/hf_cut/"
head -c 100000 "$hf/model.safetensors" > "$tmp/hf_cut/model.safetensors"
grep -v '"hidden_size"' "$hf/config.json" > "$tmp/hf_noconf/config.json"
cp "$hf/model.safetensors" "$tmp/hf_noconf/"
# a safetensors header that claims more bytes than the file has
cp "$hf/config.json" "$tmp/hf_holey/"
cp "$hf/model.safetensors" "$tmp/hf_holey/"
printf '\xff\xff\xff\x7f' | dd of="$tmp/hf_holey/model.safetensors" bs=1 seek=0 conv=notrunc 2>/dev/null

expect_error "truncated llama2.c header" "$tmp/short.bin" -- "$rb" info -m "$tmp/short.bin"
expect_error "truncated llama2.c weights" "$tmp/half.bin" -- "$rb" info -m "$tmp/half.bin"
expect_error "truncated GGUF" "$tmp/cut.gguf" -- "$rb" info -m "$tmp/cut.gguf"
expect_error "GGUF wrong magic" "$tmp/magic.gguf" -- "$rb" info -m "$tmp/magic.gguf"
expect_error "GGUF absurd tensor count" "$tmp/count.gguf" -- "$rb" info -m "$tmp/count.gguf"
expect_error "truncated safetensors" "$tmp/hf_cut" -- "$rb" info -m "$tmp/hf_cut"
expect_error "config.json missing a field" "hidden_size" -- "$rb" info -m "$tmp/hf_noconf"
expect_error "safetensors header past the end" "$tmp/hf_holey" -- "$rb" info -m "$tmp/hf_holey"
expect_error "missing model file" "$tmp/nope.gguf" -- "$rb" info -m "$tmp/nope.gguf"
expect_error "invalid UTF-8 prompt" "" -- "$rb" generate -m "$bin" --tokenizer "$tok" -p $'bad \xff\xfe text'
expect_error "invalid UTF-8 to tokenize" "" -- "$rb" tokenize -m "$tok" $'\xc3\x28'
expect_error "depth 0" "-r" -- "$rb" generate -m "$bin" --tokenizer "$tok" -r 0
expect_error "surgery asking for too many layers" "layers" -- "$rb" surgery -m "$bin" --prc 3,3,3 -o "$tmp/x.safetensors"
expect_error "surgery with a layer out of range" "layer 9" -- "$rb" surgery -m "$bin" --layers "0|2,9|4" -o "$tmp/x.safetensors"
expect_error "unknown command" "frobnicate" -- "$rb" frobnicate
expect_error "train on a missing data file" "$tmp/none.rbtok" -- "$rb" train -m "$bin" --data "$tmp/none.rbtok" --steps 2 --out "$tmp/run"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
