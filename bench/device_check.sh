#!/usr/bin/env bash
# device_check.sh: everything issue 12 asks of a GPU machine, in one run:
# build, the `cuda` parity tests, the training benchmark against PyTorch
# and the decoding benchmark, then a short summary. Meant for the lent H200
# (under 8 minutes), which has nvcc, CMake and PyTorch but not this
# project's Debian -dev packages, and no package registry.
#
#   bench/device_check.sh --prepare   HERE, with network: download the .deb
#                                     files into .devdeps/debs (git-ignored)
#                                     and link the stories260K asset
#   bench/device_check.sh             THERE: unpack what the machine lacks,
#                                     build, test, benchmark
#
# The device tool sends the checkout; name the ignored folders in `carry`:
#   carry: [".devdeps", ".devdeps/assets/stories260K"]
# (the second is a path through the .devdeps/assets link to ../shared/assets,
# which does not travel by itself).
#
# Environment: JOBS (nproc), STEPS (5), RB_ASSETS_DIR (.devdeps/assets, then
# ../shared/assets), DEVDEPS_FORCE=1 (use the unpacked packages even where
# the system has them), NO_ATT_AB=1 (skip the fp32-attention comparison). Exit status: 0 all passed; 3 no GPU here (stopped
# before the first step that needs one); else the failing step's.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$root"
dd="$root/.devdeps"
PACKAGES=(libopenblas0-openmp libopenblas-openmp-dev libopenblas-dev libgfortran5 libquadmath0
  libcjson1 libcjson-dev liblua5.4-0 liblua5.4-dev libncurses-dev libncursesw6 libncurses6 libtinfo6
  check libsubunit0 libsubunit-dev pkgconf pkgconf-bin libpkgconf3)

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$dd/debs"
  (cd "$dd/debs" && apt-get download "${PACKAGES[@]}") || { echo "device_check: apt-get download failed" >&2; exit 1; }
  [ -e "$dd/assets" ] || ln -s ../../shared/assets "$dd/assets"
  du -sh "$dd/debs"
  echo "prepared: carry [\".devdeps\", \".devdeps/assets/stories260K\"]"
  exit 0
fi

t_start=$(date +%s)
log="$root/build-device/device_check.log"
mkdir -p "$root/build-device"
: >"$log"
say() { echo "[$(($(date +%s) - t_start)) s] $*" | tee -a "$log" >&2; }
summary=()

# ---- 1. dependencies: the system's, else the unpacked .deb files ----
need_pc=(openblas libcjson lua5.4 ncursesw check)
have_all=1
if [ -n "${DEVDEPS_FORCE:-}" ] || ! pkg-config --version >/dev/null 2>&1; then
  have_all=0
else
  for p in "${need_pc[@]}"; do pkg-config --exists "$p" || have_all=0; done
fi
if [ "$have_all" = 0 ]; then
  ls "$dd"/debs/*.deb >/dev/null 2>&1 || {
    say "missing -dev packages and no .devdeps/debs: run bench/device_check.sh --prepare where apt works"
    exit 1; }
  R="$dd/root"
  rm -rf "$R" && mkdir -p "$R"
  for f in "$dd"/debs/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$f" "$R"
    else python3 - "$f" "$R" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"!<arch>\n"
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip("/")
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
    pos += 60 + size + (size & 1)
PY
    fi || { say "cannot unpack $f"; exit 1; }
  done
  # absolute links inside the packages point into the unpacked tree
  find "$R" -type l | while read -r l; do
    t=$(readlink "$l"); case "$t" in /*) ln -sfn "$R$t" "$l" ;; esac
  done
  # the .pc files name /usr: make them name the unpacked tree
  find "$R" -name '*.pc' -exec sed -i "s|=/usr|=$R/usr|g; s|-I/usr|-I$R/usr|g; s|-L/usr|-L$R/usr|g" {} +
  ml="$R/usr/lib/x86_64-linux-gnu"
  export PKG_CONFIG_PATH="$ml/pkgconfig:$ml/openblas-openmp/pkgconfig:$R/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$ml:$ml/openblas-openmp:$R/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LIBRARY_PATH="$LD_LIBRARY_PATH"
  export CMAKE_PREFIX_PATH="$R/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  if ! pkg-config --version >/dev/null 2>&1; then
    export PATH="$R/usr/bin:$PATH"
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH"
  fi
  for p in "${need_pc[@]}"; do pkg-config --exists "$p" || { say "unpacked packages lack $p.pc"; exit 1; }; done
  say "dependencies: unpacked from .devdeps/debs ($(ls "$dd"/debs/*.deb | wc -l) packages)"
  summary+=("dependencies: unpacked .deb files")
else
  say "dependencies: the system's"
  summary+=("dependencies: the system's")
fi

# ---- 2. build (the CUDA module must be built: RB_CUDA=ON) ----
export PATH="$PATH:/usr/local/cuda/bin"
jobs="${JOBS:-$(nproc)}"
b="$root/build-device"
if ! cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DRB_CUDA=ON >>"$log" 2>&1; then
  say "cmake failed (see $log)"; tail -20 "$log" >&2; exit 1
fi
if ! cmake --build "$b" -j "$jobs" --target retrobench rbcuda test_parity_cuda test_batch_cuda test_cuda_probe test_dist_nccl >>"$log" 2>&1; then
  say "build failed (see $log)"; grep -E "error|Error" "$log" | head -20 >&2; exit 1
fi
say "built: $b/retrobench, $b/librbcuda.so (sm_80, sm_90)"
if readelf -d "$b/retrobench" | grep -q 'libcudart'; then
  say "retrobench links libcudart: the CPU path must not"; exit 1
fi
summary+=("build: ok in $(($(date +%s) - t_start)) s; retrobench links no CUDA library")

# ---- 3. the cuda parity tests (the first step that needs a GPU) ----
if [ -z "${RB_ASSETS_DIR:-}" ]; then
  if [ -e "$dd/assets/stories260K/stories260K.bin" ]; then export RB_ASSETS_DIR="$dd/assets"
  else export RB_ASSETS_DIR="$root/../shared/assets"; fi
fi
export RB_BINARY_DIR="$b" RB_SOURCE_DIR="$root"
say "parity tests (label cuda), assets from $RB_ASSETS_DIR"
"$b/tests/test_cuda_probe" 2>&1 | tee -a "$log"
"$b/tests/test_parity_cuda" >"$b/parity.log" 2>&1
rc=$?
cat "$b/parity.log" >>"$log"
if [ "$rc" = 77 ]; then
  say "no usable GPU here: $(grep -m1 '^SKIP' "$b/parity.log")"
  say "stopped before the first step that needs a GPU (parity tests, benchmarks)"
  printf '%s\n' "== device_check summary" "${summary[@]}" "cuda tests: skipped (no GPU)" >&2
  exit 3
fi
grep -E "^== |FAILED|first difference" "$b/parity.log" >&2
parity=$(tail -n +1 "$b/parity.log" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
say "parity: $parity"
summary+=("cuda parity: ${parity:-no result} (rc $rc; $b/parity.log)")
# batched decoding equals single-sequence decoding on the GPU (gemm_rows,
# attention_cached row-invariant)
"$b/tests/test_batch_cuda" >"$b/batch.log" 2>&1
brc0=$?
cat "$b/batch.log" >>"$log"
grep -E "^== |FAILED" "$b/batch.log" >&2
batch=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$b/batch.log" | tail -1)
say "batched decoding: $batch"
summary+=("batched = single decoding: ${batch:-no result} (rc $brc0; $b/batch.log)")
[ "$brc0" = 0 ] || rc=1
# data parallel through NCCL, one rank against no group (docs/distributed.md)
"$b/tests/test_dist_nccl" >"$b/nccl.log" 2>&1
nrc=$?
cat "$b/nccl.log" >>"$log"
summary+=("nccl: $(tail -1 "$b/nccl.log") (rc $nrc)")

# ---- 4. training against PyTorch, and decoding ----
say "training benchmark against PyTorch (bf16), decode at depths 1, 8, 32"
RETROBENCH="$b/retrobench" bash "$here/gpu_train_vs_torch.sh" --steps "${STEPS:-5}" >"$b/bench.log" 2>"$b/bench.err"
brc=$?
cat "$b/bench.log" "$b/bench.err" >>"$log"
if [ "$brc" != 0 ]; then
  say "benchmark failed (rc $brc)"; tail -20 "$b/bench.err" >&2
  summary+=("benchmark: failed (rc $brc; $b/bench.err)")
else
  summary+=("$(grep -E '^(forward_ms|device=)' "$b/bench.log" | tr '\n' ' ')")
  summary+=("$(grep -E '^decode_depth=' "$b/bench.log" | tr '\n' ' ')")
  summary+=("$(grep -E '^torch_mfu=' "$b/bench.log")")
  summary+=("$(tail -1 "$b/bench.log")")
fi
# ---- 5. what the tensor-core attention buys: the same step with bf16 mode's
# attention on the fp32 kernels (RB_CUDA_ATTENTION=fp32), at the benchmark's batch ----
if [ "$brc" = 0 ] && [ -z "${NO_ATT_AB:-}" ]; then
  B=$(sed -n 's/^config=.*_B\([0-9]*\)T.*/\1/p' "$b/bench.log" | tail -1)
  say "attention A/B at batch ${B:-?}: fp32 attention kernels in bf16 mode"
  ab=$(RB_CUDA_ATTENTION=fp32 timeout 180 "$b/retrobench" bench train --device cuda --precision bf16 --optim adamw \
    --batch "${B:-8}" --steps 2 --warmup 1 --dim 768 --heads 12 --kv-heads 4 --hidden 2048 --vocab 32000 \
    --prelude 2 --recur 4 --coda 2 --nograd-iters 0 --grad-iters 8 --seq 1024 2>>"$log")
  echo "$ab" >>"$log"
  mma_ms=$(sed -n 's/^forward_ms=.* step_ms=\([0-9.]*\).*/\1/p' "$b/bench.log" | tail -1)
  f32_ms=$(echo "$ab" | sed -n 's/^forward_ms=.* step_ms=\([0-9.]*\).*/\1/p' | tail -1)
  summary+=("attention A/B: step_ms=${mma_ms:-?} (tensor cores) vs ${f32_ms:-?} (RB_CUDA_ATTENTION=fp32)")
fi
printf '%s\n' "== device_check summary ($(($(date +%s) - t_start)) s; log $log)" "${summary[@]}"
[ "$rc" = 0 ] && [ "$brc" = 0 ] && [ "$nrc" = 0 ]
