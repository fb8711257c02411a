#!/usr/bin/env bash
# test_stories260k.sh: the real stories260K model through the command line.
#  - each of its three files (llama2.c .bin, GGUF, Hugging Face folder) gives,
#    greedy from BOS, the sample in its upstream model card token for token;
#  - with prompts, greedy output equals what llama2.c's run.c printed for the
#    same model, prompt and length (tests/data/llama2c, produced outside the
#    project: see its README);
#  - surgery to (1,2,1) = layers 0 | 2,3 | 4 generates at r = 1..32, and its
#    checkpoint round-trips bit-exactly;
#  - a checkpoint surgered from the GGUF file finds its tokenizer in that
#    GGUF (the vocabulary is embedded) and generates what the .bin-based one
#    does; --tokenizer also takes a GGUF;
#  - bench decode prints its summary line.
# usage: test_stories260k.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
gguf="$assets/stories260K-gguf/stories260K.gguf"
hf="$assets/stories260K-hf"
card="$assets/stories260K/README.upstream-karpathy.md"
for f in "$bin" "$tok" "$gguf" "$hf/config.json" "$card"; do
  if [ ! -e "$f" ]; then echo "SKIP: needs $f, which is absent"; exit 77; fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

# The sample in the model card: the code block after the `-t 0.0` command.
awk '/-t 0.0$/ {on=1; next} on && /^```/ {exit} on {print}' "$card" > "$tmp/card.txt"
[ -s "$tmp/card.txt" ] || fail "could not extract the greedy sample from the model card"

# run.c steps = 256 prints 256 tokens after BOS; ours counts new tokens.
for m in "$bin" "$gguf" "$hf"; do
  "$rb" generate -m "$m" --tokenizer "$tok" -n 256 -t 0 > "$tmp/out.txt" 2> "$tmp/err.txt"
  rc=$?
  # the card's text stops at the 256-token limit without a newline
  if [ $rc -ne 0 ]; then fail "generate on $m exited $rc: $(cat "$tmp/err.txt")"
  elif ! head -c "$(wc -c < "$tmp/card.txt")" "$tmp/out.txt" | cmp -s - "$tmp/card.txt"; then
    fail "greedy sample from $m differs from the model card"; diff "$tmp/out.txt" "$tmp/card.txt" | head -5
  elif ! cmp -s "$tmp/out.txt" "$src/tests/data/llama2c/greedy_noprompt.txt"; then
    fail "greedy sample from $m differs from run.c's output"
  else pass "greedy from BOS, $(basename "$m"): the model card's sample"; fi
done

# Prompted greedy output against run.c (-n 128 counts prompt tokens too).
for p in "$src"/tests/data/llama2c/greedy_*.prompt; do
  prompt=$(cat "$p")
  want="${p%.prompt}.txt"
  m_tokens=$("$rb" tokenize -m "$tok" "$prompt" | wc -w)
  n=$((128 - m_tokens))
  for m in "$bin" "$gguf" "$hf"; do
    "$rb" generate -m "$m" --tokenizer "$tok" -p "$prompt" -n "$n" > "$tmp/out.txt" 2>/dev/null
    if cmp -s "$tmp/out.txt" "$want"; then pass "prompt '$prompt' on $(basename "$m") = run.c"
    else fail "prompt '$prompt' on $m differs from run.c"; diff "$tmp/out.txt" "$want" | head -4; fi
  done
done

# Surgery (1,2,1): layers 0 | 2,3 | 4.
ck="$tmp/s121.safetensors"
if "$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$ck" 2> "$tmp/err.txt"; then
  grep -q "base layers 0 | 2,3 | 4" "$tmp/err.txt" && pass "surgery maps layers 0 | 2,3 | 4" ||
    fail "surgery layer map: $(cat "$tmp/err.txt")"
  "$rb" info -m "$ck" > "$tmp/info.txt" || fail "info on the surgered model"
  grep -q "recurrent  2 blocks (blocks 1-2; base layers 2,3)" "$tmp/info.txt" || fail "info layer map"
  for r in 1 2 4 8 16 32; do
    out=$("$rb" generate -m "$ck" -p "Once upon a time" -n 12 -r "$r" --seed 7 2>/dev/null)
    [ "${out#Once upon a time}" != "$out" ] && [ ${#out} -gt 16 ] && pass "generates at r = $r" ||
      fail "surgered model at r = $r: '$out'"
  done
  # same seed, same output; the initial state is drawn from it
  a=$("$rb" generate -m "$ck" -p "Once" -n 20 -r 8 -t 1 --seed 3 2>/dev/null)
  b=$("$rb" generate -m "$ck" -p "Once" -n 20 -r 8 -t 1 --seed 3 2>/dev/null)
  [ "$a" = "$b" ] && pass "seeded sampling is reproducible" || fail "same seed, different output"
  "$rb" convert -m "$ck" -o "$tmp/round.safetensors" 2>/dev/null
  cmp -s "$ck" "$tmp/round.safetensors" && pass "checkpoint round-trips bit-exactly" ||
    fail "checkpoint round trip changed the file"
else
  fail "surgery: $(cat "$tmp/err.txt")"
fi

# a retrofit of the GGUF base: its tokenizer is the GGUF's own vocabulary
gck="$tmp/g121.safetensors"
if "$rb" surgery -m "$gguf" --prc 1,2,1 -o "$gck" 2> "$tmp/err.txt"; then
  a=$("$rb" generate -m "$gck" -p "Once upon a time" -n 16 -r 4 -t 0 2>"$tmp/gerr.txt")
  b=$("$rb" generate -m "$ck" -p "Once upon a time" -n 16 -r 4 -t 0 2>/dev/null)
  [ -n "$a" ] && [ "$a" = "$b" ] && pass "GGUF-based retrofit uses the GGUF's vocabulary: same greedy text as the .bin-based one" ||
    fail "GGUF-based retrofit generate: '$a' vs '$b' $(cat "$tmp/gerr.txt")"
  c=$("$rb" generate -m "$bin" --tokenizer "$gguf" -p "Once upon a time" -n 16 -t 0 2>"$tmp/gerr.txt")
  d=$("$rb" generate -m "$bin" --tokenizer "$tok" -p "Once upon a time" -n 16 -t 0 2>/dev/null)
  [ -n "$c" ] && [ "$c" = "$d" ] && pass "--tokenizer takes a GGUF file" || fail "--tokenizer GGUF: '$c' vs '$d' $(cat "$tmp/gerr.txt")"
else
  fail "surgery of the GGUF: $(cat "$tmp/err.txt")"
fi

# bench decode: the summary line last
last=$("$rb" bench decode -m "$bin" --tokenizer "$tok" -n 64 2>/dev/null | tail -1)
[[ "$last" =~ ^decode_tokens_per_s=[0-9.]+$ ]] && pass "bench decode: $last" || fail "bench decode last line: '$last'"
last=$("$rb" bench decode -m "$ck" -n 32 --depths 1,4 2>/dev/null | tail -1)
[[ "$last" =~ ^decode_tokens_per_s=[0-9.]+$ ]] && pass "bench decode (recurrent): $last" || fail "bench decode recurrent: '$last'"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
