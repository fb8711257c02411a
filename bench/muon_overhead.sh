#!/usr/bin/env bash
# muon_overhead.sh: training throughput with Muon against AdamW on issue 2's
# benchmark configuration (issue 4e: Muon must stay within 10%).
#
#   bench/muon_overhead.sh [--runs N] [--steps S] [extra bench train options]
#
# Each run is `retrobench bench train --optim paired`: Muon trains, and after
# every backward pass AdamW's step is also timed on the same gradients (its
# effect undone), so both optimizers see the same forward/backward times in
# the same process; tokens/s for each is tokens / (forward + backward +
# optimizer). Several runs because this machine is shared and noisy; the
# last line gives the median ratio and the Newton-Schulz settings used.
#
# Last line: muon_vs_adamw_median=R runs=N ns="..." bf16_gemm="..."
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${RETROBENCH:-$root/build/retrobench}"
runs=3
steps=10
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
if [ ! -x "$bin" ]; then
  echo "muon_overhead.sh: $bin not built; run tools/setup.sh first" >&2
  exit 2
fi
ratios=()
cfg="" gemm=""
for i in $(seq 1 "$runs"); do
  out="$("$bin" bench train --optim paired --steps "$steps" "${extra[@]}" 2>/dev/null)"
  cfg="$(grep '^config=' <<<"$out" | sed 's/.*optim=//')"
  gemm="$(grep '^bf16_gemm=' <<<"$out" | sed 's/^bf16_gemm=//; s/"//g' || true)"
  opt="$(grep '^forward_ms=' <<<"$out")"
  adam="$(grep '^adamw_optimizer_ms=' <<<"$out")"
  r="$(sed 's/.*muon_tokens_per_s_vs_adamw=//' <<<"$adam")"
  ratios+=("$r")
  echo "run $i: $opt $adam"
done
median="$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')"
echo "muon_vs_adamw_median=$median runs=$runs ns=\"$cfg\" bf16_gemm=\"$gemm\""
