#!/usr/bin/env bash
# test_init.sh: `retrobench init` makes a plain Llama model with random
# weights that the rest of the program uses, and answers bad input with one
# line and the right status.
#  - the file, read by an independent safetensors reader (Python + numpy):
#    Hugging Face tensor names and shapes for the shape asked for, every
#    matrix N(0, std) (sample mean and standard deviation), norms exactly 1,
#    the tokenizer file's bytes in __metadata__, BOS/EOS ids;
#  - the same seed gives the same bytes, another seed other weights, --std
#    scales them; --config config.json gives the shape of the flags; a tied
#    head has no lm_head tensor;
#  - the untrained model's held-out loss is ln(V) (uniform predictions, as
#    small random weights give), and a training step runs from it;
#  - info shows the shape, and the tokenizer identity equals the file's.
# The tokenizer is the embedded default's, made by scripts/lib/chains.lua.
# usage: test_init.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
command -v lua5.4 > /dev/null || { echo "SKIP: needs lua5.4 (tools/setup.sh installs it)"; exit 77; }
py=/usr/bin/python3
"$py" -c "import numpy" 2> /dev/null || { echo "SKIP: needs python3 with numpy"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
export OMP_NUM_THREADS=1

lua5.4 -e "package.path='$src/scripts/?.lua;'..package.path; io.write(require('lib.chains').tokenizer_json())" \
  > "$tmp/tok.json" || { fail "the tokenizer from scripts/lib/chains.lua"; exit 1; }

# check.py FILE LAYERS HIDDEN HEADS KV MLP VOCAB STD TIED TOKFILE: the file as an outside reader sees it
cat > "$tmp/check.py" <<'PY'
import json, struct, sys
import numpy as np
path, L, h, H, KV, F, V, std, tied, tokfile = sys.argv[1:]
L, h, H, KV, F, V, std, tied = int(L), int(h), int(H), int(KV), int(F), int(V), float(std), tied == "1"
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
meta = head.pop("__metadata__")
data = raw[8 + n:]
hd = h // H
want = {"model.embed_tokens.weight": [V, h], "model.norm.weight": [h]}
if not tied:
    want["lm_head.weight"] = [V, h]
for i in range(L):
    p = "model.layers.%d." % i
    want.update({p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h],
                 p + "self_attn.q_proj.weight": [H * hd, h], p + "self_attn.k_proj.weight": [KV * hd, h],
                 p + "self_attn.v_proj.weight": [KV * hd, h], p + "self_attn.o_proj.weight": [h, H * hd],
                 p + "mlp.gate_proj.weight": [F, h], p + "mlp.up_proj.weight": [F, h],
                 p + "mlp.down_proj.weight": [h, F]})
got = {k: v["shape"] for k, v in head.items()}
bad = []
if got != want:
    bad.append("tensors differ: extra %s, missing %s, shapes %s" % (
        sorted(set(got) - set(want)), sorted(set(want) - set(got)),
        [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]]))
for k, v in head.items():
    if v["dtype"] != "F32":
        bad.append("%s is %s" % (k, v["dtype"]))
        continue
    a, b = v["data_offsets"]
    x = np.frombuffer(data[a:b], dtype="<f4").astype(np.float64)
    if k.endswith("norm.weight"):
        if not np.all(x == 1.0):
            bad.append("%s: a norm weight is not 1" % k)
    else:
        s, m = x.std(), x.mean()
        tol = 4 * std / np.sqrt(2 * x.size) + 1e-9  # 4 standard errors of a sample std
        if abs(s - std) > tol or abs(m) > 4 * std / np.sqrt(x.size):
            bad.append("%s: mean %.3g, std %.5g (want 0, %g)" % (k, m, s, std))
if meta.get("tokenizer.json") != open(tokfile).read():
    bad.append("__metadata__ does not carry the tokenizer file's text")
if meta.get("bos_token_id") != "1" or meta.get("eos_token_id") != "2":
    bad.append("special ids %s / %s" % (meta.get("bos_token_id"), meta.get("eos_token_id")))
cfg = json.loads(meta["config"])
if (cfg["vocab_size"], cfg["dim"], cfg["n_prelude"], cfg["n_recur"], cfg["tied_head"]) != (V, h, L, 0, tied):
    bad.append("config %s" % cfg)
if "plan" in meta:
    bad.append("a plain model has no retrofit plan")
print("; ".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
PY

# 1. the shape flags
"$rb" init -o "$tmp/a.safetensors" --tokenizer "$tmp/tok.json" --layers 3 --hidden 64 --heads 4 --kv-heads 2 \
  --mlp 160 --seq 128 --seed 7 2> "$tmp/err" || fail "init: $(cat "$tmp/err")"
out=$("$py" "$tmp/check.py" "$tmp/a.safetensors" 3 64 4 2 160 99 0.02 0 "$tmp/tok.json")
[ "$out" = ok ] && pass "names, shapes, N(0, 0.02) matrices, unit norms, tokenizer and ids in the file" ||
  fail "the file: $out"
"$rb" init -o "$tmp/b.safetensors" --tokenizer "$tmp/tok.json" --layers 3 --hidden 64 --heads 4 --kv-heads 2 \
  --mlp 160 --seq 128 --seed 7 2> /dev/null
cmp -s "$tmp/a.safetensors" "$tmp/b.safetensors" && pass "the same seed gives the same bytes" ||
  fail "two inits with seed 7 differ"
"$rb" init -o "$tmp/c.safetensors" --tokenizer "$tmp/tok.json" --layers 3 --hidden 64 --heads 4 --kv-heads 2 \
  --mlp 160 --seq 128 --seed 8 2> /dev/null
same=$("$py" -c "
import sys; a=open(sys.argv[1],'rb').read(); b=open(sys.argv[2],'rb').read()
print(sum(x == y for x, y in zip(a[-40000:], b[-40000:])))" "$tmp/a.safetensors" "$tmp/c.safetensors")
[ "$same" -lt 20000 ] && pass "another seed gives other weights ($same of the last 40000 bytes equal)" ||
  fail "seeds 7 and 8: $same of 40000 bytes equal"
"$rb" init -o "$tmp/d.safetensors" --tokenizer "$tmp/tok.json" --layers 2 --hidden 32 --heads 2 --mlp 64 \
  --tied --std 0.05 --vocab 128 2> /dev/null || fail "init --tied --std 0.05 --vocab 128"
out=$("$py" "$tmp/check.py" "$tmp/d.safetensors" 2 32 2 2 64 128 0.05 1 "$tmp/tok.json")
[ "$out" = ok ] && pass "--tied (no lm_head), --std 0.05, --vocab 128 (kv heads default to heads)" ||
  fail "--tied --std: $out"

# 2. info and the tokenizer's identity
info=$("$rb" info -m "$tmp/a.safetensors" 2>&1)
want_id=$("$rb" tokenize -m "$tmp/tok.json" --identity 2>&1)
if grep -q "dim 64, 4 heads x 16 (KV heads 2), MLP 160, vocab 99" <<< "$info" &&
   grep -q "context 128" <<< "$info" && grep -qF "$want_id (embedded" <<< "$info" &&
   grep -q "recurrent  no (plain model)" <<< "$info"; then
  pass "info: the shape, the context, the embedded tokenizer's identity ($want_id)"
else
  fail "info: $info"
fi

# 3. --config: a Hugging Face config.json gives the same model as the flags
cat > "$tmp/config.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 160,
 "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
 "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "vocab_size": 99, "tie_word_embeddings": false,
 "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2}
JSON
"$rb" init -o "$tmp/e.safetensors" --tokenizer "$tmp/tok.json" --config "$tmp/config.json" --seed 7 \
  2> "$tmp/err" || fail "init --config: $(cat "$tmp/err")"
cmp -s "$tmp/a.safetensors" "$tmp/e.safetensors" && pass "--config config.json = the same flags, byte for byte" ||
  fail "--config differs from the flags"

# 4. the untrained model predicts uniformly (loss ln V) and trains
lua5.4 -e "package.path='$src/scripts/?.lua;'..package.path; local c=require('lib.chains')
  io.write(c.jsonl(c.split(3, 'train', 200, {1, 2, 3})))" > "$tmp/t.jsonl"
"$rb" data -m "$tmp/tok.json" --jsonl "$tmp/t.jsonl" --template "Q: {question}\nA: {answer}" --seq 64 \
  -o "$tmp/t.rbtok" 2> /dev/null || fail "data"
loss=$("$rb" loss -m "$tmp/a.safetensors" --data "$tmp/t.rbtok" --depths 1 2> /dev/null | sed -n 's/^depth=1 loss=//p')
ok=$("$py" -c "import math,sys; print(int(abs(float(sys.argv[1]) - math.log(99)) < 0.05))" "${loss:-nan}")
[ "$ok" = 1 ] && pass "untrained held-out loss $loss = ln 99 = 4.595 within 0.05" ||
  fail "untrained loss '$loss', want ln 99 = 4.595"
"$rb" train -m "$tmp/a.safetensors" --data "$tmp/t.rbtok" --steps 2 --batch 2 --quiet --out "$tmp/run" \
  > /dev/null 2> "$tmp/err" && [ -e "$tmp/run/step-00000002/model.safetensors" ] &&
  pass "train runs from it" || fail "train from an init'd model: $(tail -2 "$tmp/err")"

# 5. bad input: one line, status 2 for the command line, 1 for a file
expect() {
  local name="$1" status="$2" mention="$3"; shift 3
  "$@" > /dev/null 2> "$tmp/err"
  local rc=$? lines
  lines=$(wc -l < "$tmp/err")
  if [ $rc -ne "$status" ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$mention" "$tmp/err"; then
    fail "$name: status $rc (want $status), $lines lines: $(cat "$tmp/err")"
  else
    pass "$name: $(cat "$tmp/err")"
  fi
}
T=(--tokenizer "$tmp/tok.json")
S=(--layers 2 --hidden 32 --heads 2 --mlp 64)
o="$tmp/x.safetensors"
expect "no output" 2 "-o OUT" "$rb" init "${T[@]}" "${S[@]}"
expect "no tokenizer" 2 "--tokenizer" "$rb" init -o "$o" "${S[@]}"
expect "no --mlp" 2 "--mlp F" "$rb" init -o "$o" "${T[@]}" --layers 2 --hidden 32 --heads 2
expect "heads not dividing the width" 2 "--heads 3" "$rb" init -o "$o" "${T[@]}" --layers 2 --hidden 32 --heads 3 --mlp 64
expect "kv heads not dividing heads" 2 "kv" "$rb" init -o "$o" "${T[@]}" "${S[@]}" --kv-heads 3
expect "vocab below the tokenizer's" 2 "--vocab 99" "$rb" init -o "$o" "${T[@]}" "${S[@]}" --vocab 50
expect "--config with a shape flag" 2 "--config" "$rb" init -o "$o" "${T[@]}" --config "$tmp/config.json" --layers 2
expect "bad number" 2 "--layers" "$rb" init -o "$o" "${T[@]}" --layers two --hidden 32 --heads 2 --mlp 64
expect "missing tokenizer file" 1 "$tmp/none.json" "$rb" init -o "$o" --tokenizer "$tmp/none.json" "${S[@]}"
echo '{"hidden_size": 64}' > "$tmp/badcfg.json"
expect "incomplete config.json" 1 "badcfg.json" "$rb" init -o "$o" "${T[@]}" --config "$tmp/badcfg.json"
[ -e "$o" ] && fail "a refused init left $o behind"

[ $fails -eq 0 ] && echo "PASS" || { echo "$fails failure(s)"; exit 1; }
