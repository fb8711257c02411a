#!/usr/bin/env bash
# bench/default_experiment.sh: the embedded default experiment and its
# research runs with the command line (docs/default-experiment.md), while the
# Lua layer that will run scripts/make_default.lua and scripts/default.lua is
# being built. Stages, each skipped when its output exists (so a stopped run
# continues):
#   task     the synthetic task (scripts/lib/chains.lua through lua5.4) and
#            its character tokenizer; packed token files
#   base     `retrobench init` + pretraining (warm-up phase on easy problems,
#            then the full mix) -> OUT/base.safetensors
#   heal     surgery (P,R,C) and healing with the 1-sqrt curriculum to each
#            train rbar in RBARS
#   static   the paper's static baseline (surgery --static) trained with the
#            same recipe for the training FLOPs of each heal (METHOD.md s. 3)
#   eval     accuracy on the test split at DEPTHS (plain models at depth 1)
#   table    accuracy per depth and per number of steps
# usage: bench/default_experiment.sh OUT [STAGE...]   (default: all stages)
# Settings come from the environment (defaults below). Long; run it with nice.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rb=${RB:-$here/build/retrobench}
out=${1:?usage: bench/default_experiment.sh OUT [STAGE...]}
shift || true
stages=${*:-task base heal static eval table}
mkdir -p "$out"

SEED=${SEED:-1}
N_TRAIN=${N_TRAIN:-200000} N_WARMUP=${N_WARMUP:-100000} N_VAL=${N_VAL:-400} N_TEST=${N_TEST:-800}
SEQ=${SEQ:-256}
LAYERS=${LAYERS:-4} HIDDEN=${HIDDEN:-64} HEADS=${HEADS:-4} KV_HEADS=${KV_HEADS:-4} MLP=${MLP:-192}
INIT_STD=${INIT_STD:-0.02}
BATCH=${BATCH:-16}
LR_MUON=${LR_MUON:-0.003} LR_ADAM=${LR_ADAM:-0.003}
WARMUP_STEPS=${WARMUP_STEPS:-1500} PRETRAIN_STEPS=${PRETRAIN_STEPS:-3000}
PRC=${PRC:-1,2,1}
RBARS=${RBARS:-4 8}
HEAL_STEPS=${HEAL_STEPS:-1000}
DEPTHS=${DEPTHS:-1,2,4,8,16}
EVAL_LIMIT=${EVAL_LIMIT:-$N_TEST}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
QT='Q: {question}\nA:'          # the prompt; the model was trained on "Q: {question}\nA: {answer}"
TEMPLATE='Q: {question}\nA: {answer}'
recipe=(--batch "$BATCH" --lr-muon "$LR_MUON" --lr-adam "$LR_ADAM" --quiet --val-rows 32)

has() { [[ " $stages " == *" $1 "* ]]; }
log() { echo "default_experiment: $*" >&2; }
final_ckpt() { # the newest checkpoint of a run folder
  local d="$1"; [ -d "$d/phase2" ] && d="$d/phase2"
  ls -d "$d"/step-* | sort | tail -1
}

if has task && [ ! -e "$out/task/train.rbtok" ]; then
  mkdir -p "$out/task"
  lua5.4 "$here/bench/default_gen.lua" out="$out/task" seed="$SEED" train="$N_TRAIN" warmup="$N_WARMUP" \
    validation="$N_VAL" test="$N_TEST"
  for s in warmup train; do
    "$rb" data -m "$out/task/tokenizer.json" --jsonl "$out/task/$s.jsonl" --template "$TEMPLATE" --seq "$SEQ" \
      -o "$out/task/$s.rbtok.tmp" 2>&1 | tail -1
    mv "$out/task/$s.rbtok.tmp" "$out/task/$s.rbtok"
  done
fi

if has base && [ ! -e "$out/base.safetensors" ]; then
  "$rb" init -o "$out/init.safetensors" --tokenizer "$out/task/tokenizer.json" --layers "$LAYERS" \
    --hidden "$HIDDEN" --heads "$HEADS" --kv-heads "$KV_HEADS" --mlp "$MLP" --seq "$SEQ" --seed "$SEED" --std "$INIT_STD"
  resume=(); [ -e "$out/pretrain/metrics.jsonl" ] && resume=(--resume)
  t0=$(date +%s)
  "$rb" train -m "$out/init.safetensors" --data "$out/task/warmup.rbtok" --steps "$WARMUP_STEPS" \
    --phase2-data "$out/task/train.rbtok" --phase2-steps "$PRETRAIN_STEPS" --seed "$SEED" \
    --warmup-frac 0.01 --decay-frac 0.2 --ckpt-every 500 "${recipe[@]}" --out "$out/pretrain" "${resume[@]}"
  log "pretraining took $(( $(date +%s) - t0 )) s"
  cp "$(final_ckpt "$out/pretrain")/model.safetensors" "$out/base.safetensors"
fi

if has heal; then
  [ -e "$out/retro.safetensors" ] || "$rb" surgery -m "$out/base.safetensors" --prc "$PRC" --seed "$SEED" -o "$out/retro.safetensors"
  for R in $RBARS; do
    [ -e "$out/heal-r$R/done" ] && continue
    resume=(); [ -e "$out/heal-r$R/metrics.jsonl" ] && resume=(--resume)
    "$rb" train -m "$out/retro.safetensors" --data "$out/task/train.rbtok" --steps "$HEAL_STEPS" --rbar "$R" \
      --seed "$SEED" "${recipe[@]}" --out "$out/heal-r$R" "${resume[@]}"
    touch "$out/heal-r$R/done"
  done
fi

if has static; then
  [ -e "$out/static.safetensors" ] || "$rb" surgery -m "$out/base.safetensors" --static -o "$out/static.safetensors"
  per_token=$("$rb" info -m "$out/static.safetensors" | sed -n 's/.*static: training \([0-9.e+]*\).*/\1/p')
  for R in $RBARS; do
    [ -e "$out/static-r$R/done" ] && continue
    flops=$(grep '"flops"' "$out/heal-r$R/metrics.jsonl" | tail -1 | sed 's/.*"flops":\([0-9.e+]*\).*/\1/')
    steps=$(awk -v f="$flops" -v p="$per_token" -v b="$BATCH" -v t="$SEQ" 'BEGIN { printf "%d", f / (p * b * t) + 0.5 }')
    log "static baseline for rbar $R: $flops FLOPs / ($per_token x $BATCH x $SEQ per step) = $steps steps"
    resume=(); [ -e "$out/static-r$R/metrics.jsonl" ] && resume=(--resume)
    "$rb" train -m "$out/static.safetensors" --data "$out/task/train.rbtok" --steps "$steps" \
      --seed "$SEED" "${recipe[@]}" --out "$out/static-r$R" "${resume[@]}"
    touch "$out/static-r$R/done"
  done
fi

evaluate() { # NAME MODEL DEPTHS
  [ -e "$out/eval-$1/summary.json" ] && [ ! -e "$out/eval-$1/.partial" ] && return 0
  touch "$out/eval-$1.partial"
  "$rb" eval -m "$2" --data "$out/task/test.jsonl" --shots 0 --limit "$EVAL_LIMIT" --max-new 16 --max-length "$SEQ" \
    --depths "$3" --question-template "$QT" --batch 32 -o "$out/eval-$1" > "$out/eval-$1.txt" 2> /dev/null
  rm -f "$out/eval-$1.partial"
}
if has eval; then
  evaluate base "$out/base.safetensors" 1
  for R in $RBARS; do
    evaluate heal-r$R "$(final_ckpt "$out/heal-r$R")/model.safetensors" "$DEPTHS"
    evaluate static-r$R "$(final_ckpt "$out/static-r$R")/model.safetensors" 1
  done
fi

if has table; then
  for e in "$out"/eval-*/; do
    name=$(basename "$e")
    echo "== ${name#eval-}"
    lua5.4 "$here/bench/default_by_steps.lua" "$out/task/test.jsonl" "$e"
  done
fi
