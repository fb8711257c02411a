#!/usr/bin/env bash
# test_device.sh: --device cpu|cuda|auto through the command line.
#  - retrobench links no CUDA library (the module is opened only on demand);
#  - a bad --device or --precision value is refused with exit status 2;
#  - without a usable GPU (no driver here, or no module): --device cuda fails
#    with one clear line and status 1, --device auto falls back to the CPU
#    with a one-line notice and prints what the CPU prints;
#  - with a GPU, cuda and auto use it;
#  - where the module is built, --device cuda on the emulated module
#    (librbcuda_emu.so: the CUDA kernels run on the CPU) at --precision fp32
#    generates the CPU's text from stories260K, and trains a step.
# usage: test_device.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
for f in "$bin" "$tok"; do
  if [ ! -e "$f" ]; then echo "SKIP: needs $f, which is absent"; exit 77; fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

if readelf -d "$rb" | grep -qE 'cudart|cublas'; then fail "retrobench links a CUDA library:"; readelf -d "$rb" | grep NEEDED
else pass "retrobench needs no CUDA library ($(readelf -d "$rb" | grep -c NEEDED) NEEDED entries, none CUDA)"; fi

"$rb" generate -m "$bin" --tokenizer "$tok" -n 40 --device bogus > /dev/null 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] && grep -q "cpu, cuda or auto" "$tmp/err" && pass "--device bogus refused: $(cat "$tmp/err")" || fail "--device bogus: rc $rc, $(cat "$tmp/err")"
"$rb" generate -m "$bin" --tokenizer "$tok" -n 40 --precision fp64 > /dev/null 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] && grep -q "fp32, tf32 or bf16" "$tmp/err" && pass "--precision fp64 refused" || fail "--precision fp64: rc $rc"

"$rb" generate -m "$bin" --tokenizer "$tok" -n 60 -t 0 > "$tmp/cpu.txt" 2> /dev/null || fail "generate on the CPU"

"$rb" generate -m "$bin" --tokenizer "$tok" -n 60 -t 0 --device cuda > "$tmp/cuda.txt" 2> "$tmp/cuda.err"
rc=$?
if [ "$rc" = 0 ]; then
  pass "a GPU is present: --device cuda ran"
  "$rb" generate -m "$bin" --tokenizer "$tok" -n 60 -t 0 --device auto > /dev/null 2> "$tmp/auto.err" || fail "--device auto with a GPU"
  grep -q "using the CPU" "$tmp/auto.err" && fail "--device auto fell back although --device cuda works"
else
  lines=$(wc -l < "$tmp/cuda.err")
  if [ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -q "^retrobench generate: --device cuda: cuda backend: .*; use --device cpu or auto$" "$tmp/cuda.err"; then
    pass "no GPU: --device cuda fails clearly: $(cat "$tmp/cuda.err")"
  else
    fail "--device cuda without a GPU: rc $rc, $lines lines: $(cat "$tmp/cuda.err")"
  fi
  "$rb" generate -m "$bin" --tokenizer "$tok" -n 60 -t 0 --device auto > "$tmp/auto.txt" 2> "$tmp/auto.err"
  rc=$?
  notice=$(grep -c "^retrobench generate: --device auto: cuda backend: .*; using the CPU$" "$tmp/auto.err")
  if [ "$rc" = 0 ] && [ "$notice" = 1 ] && cmp -s "$tmp/cpu.txt" "$tmp/auto.txt"; then
    pass "--device auto falls back with one notice: $(grep 'using the CPU' "$tmp/auto.err")"
  else
    fail "--device auto without a GPU: rc $rc, notices $notice, same text: $(cmp -s "$tmp/cpu.txt" "$tmp/auto.txt" && echo yes || echo no)"
  fi
  # a module path that does not exist is named
  RB_CUDA_MODULE=/nonexistent/librbcuda.so "$rb" generate -m "$bin" --tokenizer "$tok" -n 4 --device cuda > /dev/null 2> "$tmp/err"
  [ $? = 1 ] && grep -q "/nonexistent/librbcuda.so" "$tmp/err" && pass "missing module named: $(cat "$tmp/err")" ||
    fail "missing module: $(cat "$tmp/err")"
fi

emu="${RB_BINARY_DIR:-}/librbcuda_emu.so"
if [ -e "$emu" ]; then
  RB_CUDA_MODULE="$emu" "$rb" generate -m "$bin" --tokenizer "$tok" -n 60 -t 0 --device cuda --precision fp32 \
    > "$tmp/emu.txt" 2> "$tmp/emu.err"
  rc=$?
  if [ "$rc" = 0 ] && cmp -s "$tmp/cpu.txt" "$tmp/emu.txt"; then
    pass "emulated GPU, fp32: the CPU's greedy text ($(wc -c < "$tmp/emu.txt") bytes)"
  else
    fail "emulated GPU generate: rc $rc $(cat "$tmp/emu.err")"
  fi
  RB_BENCH_PEAK_MAX=64 RB_CUDA_MODULE="$emu" "$rb" bench train --device cuda --steps 1 --warmup 0 --dim 32 --heads 4 --kv-heads 2 \
    --hidden 48 --vocab 64 --seq 16 --batch 2 --optim muon > "$tmp/bench.txt" 2> "$tmp/bench.err" &&
    grep -q '^device="cuda:0 (CPU emulation' "$tmp/bench.txt" && grep -q '^mfu=' "$tmp/bench.txt" &&
    pass "emulated GPU: bench train --optim muon ran ($(grep '^final_loss' "$tmp/bench.txt"))" ||
    fail "emulated GPU bench train: $(tail -3 "$tmp/bench.err")"
else
  echo "note: no librbcuda_emu.so (built only where nvcc exists); emulated checks not run"
fi

[ "$fails" = 0 ] && echo "all device checks passed" || echo "$fails device checks failed"
exit $((fails > 0))
