#!/usr/bin/env bash
# retrofit_stories260k.sh: a real retrofit at small scale, end to end.
#
# stories260K (5 layers) is cut to (P,R,C) = (1,2,1) = layers 0 | 2,3 | 4 and
# healed on the TinyStories text in ../shared/assets with the 1-sqrt
# curriculum to rbar = 4 (METHOD.md section 2). Held-out loss (the last 5% of
# the packed rows, never trained on) at test depths 1, 2, 4, 8 for:
#   the original model, the surgered model before training, and after
#   training with Muon + AdamW and with AdamW alone, each at the paper's
#   learning rates and at rates scaled up for this tiny run; plus the static
#   (non-recurrent) baseline of the same layers with the identical recipe,
#   once for the same steps and once for the recurrent run's training FLOPs.
#
#   bench/retrofit_stories260k.sh [--steps N (300)] [--out DIR]
# Prints a markdown table last. Runs take about a minute each on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
rb="${RETROBENCH:-$root/build/retrobench}"
A="${RB_ASSETS_DIR:-$root/../shared/assets}"
steps=300
out=$(mktemp -d /tmp/retrofit.XXXXXX)
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "retrofit_stories260k.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
for f in "$A/stories260K/stories260K.bin" "$A/stories260K/tok512.bin" "$A/tinystories/tinystories_train_prefix_niklas6.txt"; do
  [ -e "$f" ] || { echo "retrofit_stories260k.sh: missing $f" >&2; exit 2; }
done
tok="$A/stories260K/tok512.bin"
echo "== data, surgery (outputs in $out)" >&2
"$rb" data -m "$tok" --text "$A/tinystories/tinystories_train_prefix_niklas6.txt" --seq 256 -o "$out/ts.rbtok"
"$rb" surgery -m "$A/stories260K/stories260K.bin" --tokenizer "$tok" --prc 1,2,1 -o "$out/s121.safetensors"
"$rb" surgery -m "$A/stories260K/stories260K.bin" --tokenizer "$tok" --prc 1,2,1 --static-ablation surgery-layers -o "$out/static.safetensors"

# training FLOPs of a run (METHOD.md section 3, the metrics' running total)
run_flops() { grep '"flops"' "$out/$1/metrics.jsonl" | tail -1 | sed 's/.*"flops":\([^,]*\),.*/\1/'; }

loss_row() { # label model [run name, for its training FLOPs]
  local vals flops="-"
  vals=$("$rb" loss -m "$2" --data "$out/ts.rbtok" --depths 1,2,4,8 | sed -n 's/^depth=[0-9]* loss=//p' | tr '\n' ' ')
  [ -n "${3:-}" ] && flops=$(printf '%.3g' "$(run_flops "$3")")
  set -- "$1" $vals
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$flops"
}

train() { # name model extra-args...
  local name="$1" model="$2"; shift 2
  echo "== train $name" >&2
  local t0=$SECONDS
  "$rb" train -m "$model" --data "$out/ts.rbtok" --steps "$steps" --batch 8 --rbar 4 \
      --curriculum 1-sqrt --out "$out/$name" --quiet --val-depths 1 "$@" >&2
  echo "$name: $((SECONDS - t0)) s" >&2
}

train muon_paper_lr "$out/s121.safetensors" --optim muon
train adamw_paper_lr "$out/s121.safetensors" --optim adamw
train muon_scaled_lr "$out/s121.safetensors" --optim muon --lr-muon 0.01 --lr-adam 0.003
train adamw_scaled_lr "$out/s121.safetensors" --optim adamw --lr-adam 0.003
train static_muon_scaled_lr "$out/static.safetensors" --optim muon --lr-muon 0.01 --lr-adam 0.003
# the static baseline again with the recurrent run's training FLOPs (more steps)
matched=$(awk -v r="$(run_flops muon_scaled_lr)" -v s="$(run_flops static_muon_scaled_lr)" -v n="$steps" \
  'BEGIN { printf "%d", n * r / s + 0.5 }')
train static_flop_matched "$out/static.safetensors" --optim muon --lr-muon 0.01 --lr-adam 0.003 --steps "$matched"

ck() { echo "$out/$1/$(cat "$out/$1/latest")/model.safetensors"; }
{
  echo
  echo "Held-out loss (nats/token) at test depth r; $steps steps of 8 x 256 tokens, 1-sqrt curriculum to rbar 4"
  echo
  echo "| model | r=1 | r=2 | r=4 | r=8 | training FLOPs |"
  echo "|---|---|---|---|---|---|"
  loss_row "original stories260K (5 layers, not recurrent)" "$A/stories260K/stories260K.bin"
  loss_row "surgered (1,2,1), before training" "$out/s121.safetensors"
  loss_row "healed, Muon + AdamW, paper lr (1e-3 / 5e-5)" "$(ck muon_paper_lr)" muon_paper_lr
  loss_row "healed, AdamW only, paper lr (5e-5)" "$(ck adamw_paper_lr)" adamw_paper_lr
  loss_row "healed, Muon + AdamW, lr 1e-2 / 3e-3" "$(ck muon_scaled_lr)" muon_scaled_lr
  loss_row "healed, AdamW only, lr 3e-3" "$(ck adamw_scaled_lr)" adamw_scaled_lr
  loss_row "static baseline (layers 0,2,3,4), Muon + AdamW, lr 1e-2 / 3e-3" "$(ck static_muon_scaled_lr)" static_muon_scaled_lr
  loss_row "static baseline, FLOP-matched to the recurrent run ($matched steps)" "$(ck static_flop_matched)" static_flop_matched
}
