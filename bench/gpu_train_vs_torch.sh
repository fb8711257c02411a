#!/usr/bin/env bash
# gpu_train_vs_torch.sh: retrobench's GPU training throughput against
# PyTorch (bf16 autocast, flash attention) on the same configuration, in the
# same run, with the cuBLAS bf16 GEMM peak measured there (torch.matmul,
# 8192^3) as the MFU denominator of both; then retrobench's decoding tokens/s
# at depths 1, 8 and 32 on the same model.
#
# Configuration (issue 12): a retrofitted model of ~100M parameters, h 768,
# 12 heads, 4 KV heads, MLP 2048, vocab 32000, (P,R,C) = (2,4,2), r = 8 with
# backprop depth 8 (n = 0, k = 8), T 1024, the largest batch whose whole step
# fits the GPU (--batch max), AdamW on both sides, retrobench in mixed
# precision (--precision bf16).
#
#   bench/gpu_train_vs_torch.sh [--steps N] [--warmup W] [--batch B] [extra bench options]
#
# Last line: ratio=R mfu=F tokens_per_s=N torch_tokens_per_s=M
# ratio = retrobench tokens/s / PyTorch tokens/s; mfu = retrobench's model
# FLOPs/s over the measured cuBLAS bf16 peak.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${RETROBENCH:-$root/build/retrobench}"
py="${PYTHON:-python3}"
steps=5
warmup=2
batch=max
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
if [ ! -x "$bin" ]; then
  echo "gpu_train_vs_torch.sh: $bin not built" >&2
  exit 2
fi
if ! "$py" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "gpu_train_vs_torch.sh: $py has no torch with a usable GPU" >&2
  exit 2
fi
cfg=(--dim 768 --heads 12 --kv-heads 4 --hidden 2048 --vocab 32000 --prelude 2 --recur 4 --coda 2
     --nograd-iters 0 --grad-iters 8 --seq 1024)
echo "== retrobench (--device cuda --precision bf16)" >&2
rb_out=$("$bin" bench train --device cuda --precision bf16 --optim adamw --batch "$batch" \
  --steps "$steps" --warmup "$warmup" "${cfg[@]}" --decode-depths 1,8,32 --decode-tokens 128 "${extra[@]}")
echo "$rb_out"
B=$(echo "$rb_out" | sed -n 's/^config=.*_B\([0-9]*\)T.*/\1/p' | tail -1)
echo "== PyTorch $("$py" -c 'import torch; print(torch.__version__)') at batch $B" >&2
t_out=$("$py" "$here/torch_train_gpu.py" "${cfg[@]}" --batch "$B" --steps "$steps" --warmup "$warmup")
echo "$t_out"
tps=$(echo "$rb_out" | sed -n 's/^mfu=.* tokens_per_s=\([0-9.]*\).*/\1/p' | tail -1)
fpt=$(echo "$rb_out" | sed -n 's/^model_flops_per_token=\([0-9.e+-]*\).*/\1/p' | tail -1)
ttps=$(echo "$t_out" | sed -n 's/^torch_tokens_per_s=\([0-9.]*\).*/\1/p' | tail -1)
peak=$(echo "$t_out" | sed -n 's/^torch_bf16_gemm_tflops=\([0-9.]*\).*/\1/p' | tail -1)
awk -v a="$tps" -v b="$ttps" -v f="$fpt" -v p="$peak" 'BEGIN {
  printf "torch_mfu=%.3f cublas_bf16_peak_tflops=%.1f\n", b * f / (p * 1e12), p
  printf "ratio=%.2f mfu=%.3f tokens_per_s=%.0f torch_tokens_per_s=%.0f\n", a / b, a * f / (p * 1e12), a, b }'
