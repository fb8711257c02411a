#!/usr/bin/env bash
# dist_train.sh: data-parallel training throughput on one machine: 2 ranks x
# 1 OpenMP thread (mpirun) against 1 process x 2 threads, through the real
# `retrobench train` (data pipeline, trainer, optimizer, metrics), on issue
# 2's configuration: h 256, 8 heads, 4 KV heads, MLP 688, vocab 512,
# (P,R,C) = (2,2,2), r = 4 with k = 4 (fixed depth), B = 8 rows of T = 256.
# The model is random (a llama2.c file written here, then surgery), the
# data TinyStories text packed with stories260K's 512-piece tokenizer.
#
#   flock /work/bench.lock bench/dist_train.sh [--steps N] [--optim adamw|muon] [--rounds R]
#
# Runs, in each round: 1 process x 2 threads (the whole batch in one
# forward), 1 process x 2 threads with --dp-shards 2 (the group's
# arithmetic on one process), 2 ranks x 1 thread. Reports tokens/s over the
# steps after the first two, the group's time in the gradient all-reduce
# and in the per-step status agreement (mostly waiting for the slower
# rank), and the best round of each. Last line:
#   ratio=R tokens_per_s_2x1=N tokens_per_s_1x2=M allreduce_ms=A
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
rb="${RETROBENCH:-$root/build/retrobench}"
assets="${RB_ASSETS_DIR:-$root/../shared/assets}"
steps=12
optim=adamw
rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --optim) optim="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "dist_train.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
tok="$assets/stories260K/tok512.bin"
text="$assets/tinystories/tinystories_train_prefix_niklas6.txt"
for f in "$rb" "$tok" "$text"; do [ -e "$f" ] || { echo "dist_train.sh: $f is missing" >&2; exit 2; }; done
command -v mpirun >/dev/null || { echo "dist_train.sh: mpirun is missing (apt-get install openmpi-bin)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# a random llama2.c model of the configuration (6 layers), then (2,2,2)
/usr/bin/python3 - "$tmp/base.bin" <<'EOF'
import struct, sys
import numpy as np
dim, hidden, layers, heads, kv, vocab, seq = 256, 688, 6, 8, 4, 512, 256
kvd = dim // heads * kv
rng = np.random.default_rng(1)
def w(*shape): return (rng.standard_normal(shape) * 0.02).astype(np.float32).tobytes()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("7i", dim, hidden, layers, heads, kv, vocab, seq))
    f.write(w(vocab, dim)); f.write(np.ones((layers, dim), np.float32).tobytes())
    f.write(w(layers, dim, dim)); f.write(w(layers, kvd, dim)); f.write(w(layers, kvd, dim)); f.write(w(layers, dim, dim))
    f.write(np.ones((layers, dim), np.float32).tobytes())
    f.write(w(layers, hidden, dim)); f.write(w(layers, dim, hidden)); f.write(w(layers, hidden, dim))
    f.write(np.ones(dim, np.float32).tobytes())
    f.write(np.zeros((2, seq, dim // heads // 2), np.float32).tobytes())
EOF
"$rb" surgery -m "$tmp/base.bin" --tokenizer "$tok" --prc 2,2,2 -o "$tmp/m.safetensors" >/dev/null 2>&1
"$rb" data -m "$tok" --text "$text" --separator "<|endoftext|>" --seq 256 -o "$tmp/d.rbtok" >/dev/null 2>&1
args=(-m "$tmp/m.safetensors" --data "$tmp/d.rbtok" --batch 8 --accum 1 --steps "$steps" --optim "$optim"
      --depth-mode fixed --rbar 4 --backprop 4 --curriculum constant --val-fraction 0.05 --val-rows 8 --val-depths 4
      --quiet)

# mean tokens/s over steps 3.. from a metrics file (time = seconds since the start, after each step)
measure() {
  /usr/bin/python3 - "$1" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
t = [r["time"] for r in rows]
steps = len(rows) - 2
tok = 8 * 256 * steps
dt = t[-1] - t[1]
red = [r.get("reduce_s", 0) for r in rows[2:]]
wait = [r.get("wait_s", 0) for r in rows[2:]]
print(f"{tok / dt:.0f} {dt / steps * 1e3:.1f} {sum(red) / len(red) * 1e3:.2f} {sum(wait) / len(wait) * 1e3:.2f}")
EOF
}
echo "config: h256 8 heads 4 kv MLP 688 V 512 (2,2,2) r=4 k=4 B=8 T=256, $optim, $steps steps (first 2 not timed)" >&2
echo "model: $("$rb" info -m "$tmp/m.safetensors" 2>/dev/null | grep -i -m1 'param' || true)" >&2
best_a=0 best_b=0 best_c=0 red_c=0 wait_c=0
for r in $(seq 1 "$rounds"); do
  rm -rf "$tmp/a" "$tmp/b" "$tmp/c"
  OMP_NUM_THREADS=2 "$rb" train "${args[@]}" --out "$tmp/a" 2>/dev/null
  read -r tps_a ms_a _ _ <<< "$(measure "$tmp/a/metrics.jsonl")"
  OMP_NUM_THREADS=2 "$rb" train "${args[@]}" --dp-shards 2 --out "$tmp/b" 2>/dev/null
  read -r tps_b ms_b _ _ <<< "$(measure "$tmp/b/metrics.jsonl")"
  OMP_NUM_THREADS=1 mpirun -np 2 --bind-to core --map-by core "$rb" train "${args[@]}" --out "$tmp/c" 2>/dev/null
  read -r tps_c ms_c red wait <<< "$(measure "$tmp/c/metrics.jsonl")"
  echo "round $r: 1x2 threads ${tps_a} tok/s (${ms_a} ms/step) | 1x2 threads, 2 shards ${tps_b} tok/s (${ms_b} ms) |" \
       "2 ranks x 1 thread ${tps_c} tok/s (${ms_c} ms; all-reduce ${red} ms, status wait ${wait} ms)" >&2
  [ "$tps_a" -gt "$best_a" ] && best_a=$tps_a
  [ "$tps_b" -gt "$best_b" ] && best_b=$tps_b
  if [ "$tps_c" -gt "$best_c" ]; then best_c=$tps_c; red_c=$red; wait_c=$wait; fi
done
params=$(/usr/bin/python3 -c "
import json,struct,sys
h=open('$tmp/c/step-$(printf %08d "$steps")/model.safetensors','rb'); n=struct.unpack('<Q',h.read(8))[0]; m=json.loads(h.read(n))
print(sum(v['data_offsets'][1]-v['data_offsets'][0] for k,v in m.items() if k!='__metadata__')//4)")
echo "parameters $params, gradient $((params * 4)) bytes per all-reduce; best of $rounds round(s)" >&2
ratio=$(awk -v a="$best_c" -v b="$best_a" 'BEGIN { printf "%.2f", a / b }')
echo "ratio=$ratio tokens_per_s_2x1=$best_c tokens_per_s_1x2=$best_a tokens_per_s_1x2_2shards=$best_b allreduce_ms=$red_c status_wait_ms=$wait_c"
