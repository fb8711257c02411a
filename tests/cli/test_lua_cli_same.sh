#!/usr/bin/env bash
# test_lua_cli_same.sh: the same experiment as command-line calls and as a
# Lua script gives the same files, byte for byte: the packed data (text and
# a JSONL template), the surgery checkpoint (default rule and explicit
# layers, the static baseline), the training runs' metrics (all but the
# clock) and final checkpoints (one phase with many recipe flags, two
# phases, the static baseline), the converted checkpoint, held-out losses
# and generated text.
# usage: test_lua_cli_same.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
text="$assets/tinystories/tinystories_sample.txt"
for f in "$bin" "$tok" "$text"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
export OMP_NUM_THREADS=1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
same() { # same NAME FILE_A FILE_B
  if cmp -s "$2" "$3"; then echo "ok: $1: byte-identical ($(wc -c < "$2") bytes)"; else fail "$1: $2 and $3 differ"; fi
}
clockless() { sed -E 's/,"tokens_per_s":[0-9.e+-]+//; s/,"time":[0-9.e+-]+//' "$1"; }
same_run() { # same_run NAME DIR_A DIR_B CKPT_SUBDIR
  [ -s "$2/metrics.jsonl" ] && [ -s "$3/metrics.jsonl" ] || { fail "$1: a metrics file is missing"; return; }
  if ! diff <(clockless "$2/metrics.jsonl") <(clockless "$3/metrics.jsonl") > /dev/null; then
    fail "$1: metrics differ"; diff <(clockless "$2/metrics.jsonl") <(clockless "$3/metrics.jsonl") | head -4; return
  fi
  for f in model.safetensors optim.safetensors; do
    cmp -s "$2/$4/$f" "$3/$4/$f" || { fail "$1: $4/$f differs"; return; }
  done
  echo "ok: $1: metrics ($(grep -c . "$2/metrics.jsonl") lines) and $4 byte-identical"
}
printf '{"question": "What is 2 + 2?", "answer": "4"}\n{"question": "And 3 + 5?", "answer": "8"}\n' > qa.jsonl

# ---- the command line
q() { "$@" 2>/dev/null || fail "command failed: $*"; }
q "$rb" data -m "$tok" --text "$text" --seq 32 -o cli_d.rbtok
q "$rb" data -m "$tok" --jsonl qa.jsonl --template 'Q: {question}\nA: {answer}' --seq 32 --pad -o cli_qa.rbtok
q "$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o cli_s.safetensors
q "$rb" surgery -m "$bin" --tokenizer "$tok" --layers '0|1,3|4' --adapter-init identity --seed 5 -o cli_l.safetensors
q "$rb" surgery -m "$bin" --tokenizer "$tok" --static -o cli_st.safetensors
q "$rb" convert -m "$bin" --tokenizer "$tok" -o cli_c.safetensors
q "$rb" train -m cli_s.safetensors --data cli_d.rbtok:2 --data cli_qa.rbtok:1 --steps 12 --batch 2 --accum 2 \
  --curriculum linear --curriculum-warmup 0.5 --rbar 6 --backprop 3 --lr-muon 0.02 --lr-adam 0.002 --wd 0.001 \
  --clip 0.5 --schedule cosine --warmup-frac 0.1 --val-every 4 --val-depths 1,3 --val-fraction 0.1 --seed 7 \
  --ckpt-every 5 --out cli_run --quiet
q "$rb" train -m cli_s.safetensors --data cli_d.rbtok --steps 5 --batch 2 --rbar 8 --val-depths 2 --val-fraction 0.1 \
  --phase2-data cli_d.rbtok:1 --phase2-data cli_qa.rbtok:1 --phase2-steps 4 --phase2-rbar 3 --out cli_two --quiet
q "$rb" train -m cli_st.safetensors --data cli_d.rbtok --steps 4 --batch 2 --optim adamw --val-fraction 0.1 \
  --out cli_static --quiet
q "$rb" train -m cli_st.safetensors --data cli_d.rbtok --steps 3 --batch 2 --val-fraction 0.1 --out cli_static_muon --quiet
"$rb" loss -m cli_run/step-00000012/model.safetensors --data cli_d.rbtok --depths 1,2,4 2>/dev/null | grep depth > cli_loss.txt
"$rb" generate -m cli_run/step-00000012/model.safetensors -p "Once upon a time" -n 24 -r 3 -t 0.8 --top-k 20 --seed 9 \
  2>/dev/null > cli_gen.txt

# ---- the same as a Lua script
cat > same.lua <<L
local rb = require "retrobench"
local base = rb.load("$bin", {tokenizer = "$tok"})
local d = rb.pack{tokenizer = base, text = "$text", seq = 32, out = "lua_d.rbtok"}
local qa = rb.pack{tokenizer = "$tok", jsonl = "qa.jsonl", template = "Q: {question}\nA: {answer}", seq = 32, pad = true,
                   out = "lua_qa.rbtok"}
rb.surgery(base, {1, 2, 1}):save("lua_s.safetensors")
rb.surgery("$bin", {prelude = {0}, recur = {1, 3}, coda = {4}}, {tokenizer = "$tok", adapter = "identity", seed = 5,
           out = "lua_l.safetensors"})
rb.static_baseline(base):save("lua_st.safetensors")
rb.convert("$bin", "lua_c.safetensors", {tokenizer = "$tok"})
-- trained from the checkpoint the command line wrote, as the commands did
local run = rb.train{model = rb.load("cli_s.safetensors"), data = {{"cli_d.rbtok", 2}, {path = "cli_qa.rbtok", weight = 1}},
  steps = 12, batch = 2, accum = 2, rbar = {shape = "linear", warmup_fraction = 0.5, max = 6}, backprop = 3,
  optim = {muon_lr = 0.02, adam_lr = 0.002}, wd = 0.001, clip = 0.5, lr = {kind = "cosine", warmup_fraction = 0.1},
  val_every = 4, val_depths = {1, 3}, val_fraction = 0.1, seed = 7, ckpt_every = 5, out = "lua_run", quiet = true}
rb.train{model = rb.load("cli_s.safetensors"), data = "cli_d.rbtok", batch = 2, rbar = 8, val_depths = {2},
         val_fraction = 0.1, out = "lua_two", quiet = true,
         phases = {{steps = 5}, {data = {{"cli_d.rbtok", 1}, {"cli_qa.rbtok", 1}}, steps = 4, rbar = 3}}}
rb.train{model = rb.load("cli_st.safetensors"), data = "cli_d.rbtok", steps = 4, batch = 2, optim = "adamw",
         val_fraction = 0.1, out = "lua_static", quiet = true}
rb.train{model = rb.load("cli_st.safetensors"), data = "cli_d.rbtok", steps = 3, batch = 2, val_fraction = 0.1,
         out = "lua_static_muon", quiet = true}
local m = rb.load("cli_run/step-00000012/model.safetensors")
local l = m:loss("cli_d.rbtok", {depths = {1, 2, 4}})
local lines = {}
for _, r in ipairs{1, 2, 4} do lines[#lines + 1] = ("depth=%d loss=%.5f"):format(r, l[r]) end
rb.write_text("lua_loss.txt", table.concat(lines, "\n") .. "\n")
local text = m:generate("Once upon a time", {max_new = 24, depth = 3, temperature = 0.8, top_k = 20, seed = 9})
rb.write_text("lua_gen.txt", "Once upon a time" .. text .. "\n")
L
"$rb" run --quiet same.lua || fail "the Lua script failed"

same "data, text" cli_d.rbtok lua_d.rbtok
same "data, JSONL template" cli_qa.rbtok lua_qa.rbtok
same "surgery (1,2,1)" cli_s.safetensors lua_s.safetensors
same "surgery, explicit layers, identity adapter, seed" cli_l.safetensors lua_l.safetensors
same "surgery, static baseline" cli_st.safetensors lua_st.safetensors
same "convert" cli_c.safetensors lua_c.safetensors
same_run "train, one phase, many recipe flags" cli_run lua_run step-00000012
[ "$(cat cli_run/latest)" = "$(cat lua_run/latest)" ] || fail "train: latest differs"
cmp -s cli_run/step-00000010/model.safetensors lua_run/step-00000010/model.safetensors || fail "train: step 10 differs"
same_run "train, two phases" cli_two lua_two phase2/step-00000004
same_run "train, two phases (phase 1)" cli_two lua_two phase1/step-00000005
same_run "train, static baseline, AdamW" cli_static lua_static step-00000004
same_run "train, static baseline, Muon on separate matrices" cli_static_muon lua_static_muon step-00000003
same "loss at depths 1,2,4" cli_loss.txt lua_loss.txt
same "generate, sampled" cli_gen.txt lua_gen.txt
echo "test_lua_cli_same: $fails failure(s)"
[ $fails -eq 0 ]
