#!/usr/bin/env bash
# train_vs_torch.sh: retrobench's CPU training throughput against PyTorch on
# the same configuration and thread count, and against this machine's SGEMM
# peak measured in the same run (issue 2's named configuration by default:
# h 256, 8 heads, 4 KV heads, MLP 688, vocab 512, (P,R,C) = (2,2,2), r = 4
# with k = 4, B = 8, T = 256).
#
#   bench/train_vs_torch.sh [--steps N] [--optim adamw|muon] [extra bench options]
#
# Last line: ratio=R mfu=F tokens_per_s=N torch_tokens_per_s=M
# ratio = retrobench tokens/s / PyTorch tokens/s; mfu = model FLOPs/s over
# the measured SGEMM peak. Both programs get the same OPENBLAS_CORETYPE and
# thread count, so neither profits from a setting the other lacks.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${RETROBENCH:-$root/build/retrobench}"
threads="${THREADS:-$(nproc)}"
steps=8
optim=adamw
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --optim) optim="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
if [ ! -x "$bin" ]; then
  echo "train_vs_torch.sh: $bin not built; run tools/setup.sh first" >&2
  exit 2
fi
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "train_vs_torch.sh: /usr/bin/python3 cannot import torch (apt-get install python3-torch)" >&2
  exit 2
fi
export OMP_NUM_THREADS="$threads"
# Use the BLAS core retrobench would pick (it corrects misdetection under
# some hypervisors), for both programs.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  core=$("$bin" bench gemm 2>/dev/null | sed -n 's/^blas="OpenBLAS core \([A-Za-z0-9]*\).*/\1/p')
  [ -n "$core" ] && export OPENBLAS_CORETYPE="$core"
fi
echo "== retrobench (threads $threads, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto})" >&2
rb_out=$("$bin" bench train --steps "$steps" --optim "$optim" "${extra[@]}")
echo "$rb_out"
echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')" >&2
[ "$optim" = adamw ] || echo "note: the PyTorch peer always uses AdamW" >&2
t_out=$(/usr/bin/python3 "$here/torch_train.py" --steps "$steps" --threads "$threads" "${extra[@]}")
echo "$t_out"
tps=$(echo "$rb_out" | sed -n 's/.*tokens_per_s=\([0-9.]*\).*/\1/p' | tail -1)
mfu=$(echo "$rb_out" | sed -n 's/^mfu=\([0-9.]*\).*/\1/p' | tail -1)
ttps=$(echo "$t_out" | sed -n 's/^torch_tokens_per_s=\([0-9.]*\).*/\1/p' | tail -1)
ratio=$(awk -v a="$tps" -v b="$ttps" 'BEGIN { printf "%.2f", a / b }')
echo "ratio=$ratio mfu=$mfu tokens_per_s=$tps torch_tokens_per_s=$ttps"
