#!/usr/bin/env bash
# test_lua_api.sh: the retrobench Lua module, function by function
# (tests/lua/test_api.lua), with the damaged and special files its error
# paths need; and the documentation lists every exported name.
# usage: test_lua_api.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
for f in stories260K/stories260K.bin stories260K/tok512.bin stories260K-gguf/stories260K.gguf \
         stories260K-hf/config.json tinystories/tinystories_sample.txt gsm8k/train.jsonl tokenizers/llama2/tokenizer.json; do
  [ -e "$assets/$f" ] || { echo "SKIP: needs $assets/$f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
: > "$tmp/empty.gguf"
"$rb" surgery -m "$assets/stories260K/stories260K.bin" --tokenizer "$assets/stories260K/tok512.bin" --prc 1,2,1 \
  -o "$tmp/full.safetensors" 2>/dev/null || { echo "FAIL: surgery"; exit 1; }
head -c 5000 "$tmp/full.safetensors" > "$tmp/truncated.safetensors"
mkfifo "$tmp/fifo.safetensors" "$tmp/fifo.json"
printf '{"q": "one", "a": "1"}\n{"q": "two", "a": "2"}\n{"q": "three", "a": "3"}\n' > "$tmp/qa.jsonl"
printf '{"q": "one", "a": "1"}\n{"q": oops\n' > "$tmp/bad.jsonl"
"$rb" data -m "$assets/stories260K/tok512.bin" --text "$assets/tinystories/tinystories_sample.txt" --seq 32 \
  -o "$tmp/good.rbtok" 2>/dev/null || { echo "FAIL: data"; exit 1; }
head -c 100 "$tmp/good.rbtok" > "$tmp/damaged.rbtok"
"$rb" data -m "$assets/tokenizers/llama2/tokenizer.json" --text "$assets/tinystories/tinystories_sample.txt" --seq 32 \
  -o "$tmp/llama.rbtok" 2>/dev/null || { echo "FAIL: data (llama tokenizer)"; exit 1; }
start=$(date +%s.%N)
"$rb" run "$src/tests/lua/test_api.lua" -- "assets=$assets" "tmp=$tmp" "docs=$src/docs/lua-api.md" 2>"$tmp/err"
rc=$?
echo "test_api.lua: exit $rc in $(echo "$(date +%s.%N) - $start" | bc) s"
if [ $rc -ne 0 ]; then cat "$tmp/err"; exit 1; fi
exit 0
