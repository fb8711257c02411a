#!/usr/bin/env bash
# run_fuzz.sh NAME: build tests/fuzz/fuzz_NAME.c as a libFuzzer target with
# AddressSanitizer and UndefinedBehaviorSanitizer, linked with the engine
# sources, and run it for a bounded time. ctest runs one of these per
# tests/fuzz/fuzz_*.c (label "fuzz"; see tests/CMakeLists.txt).
#
# Environment:
#   RB_FUZZ_SECONDS  run time per target (default 20)
#   RB_SOURCE_DIR    source tree (default: two folders above this script)
#   RB_BINARY_DIR    build tree; work files go to $RB_BINARY_DIR/fuzz
#   RB_ASSETS_DIR    shared assets, passed on to seed generators
#   RB_FUZZ_CC       the compiler (default: clang-14, else clang)
#
# Seeds: tests/fuzz/corpus_NAME/ (copied, never written), plus whatever
# tests/fuzz/seeds_NAME.sh writes into the folder it is given (it may copy
# small files from the assets). tests/fuzz/fuzz_NAME.dict is used as the
# libFuzzer dictionary when present. The working corpus is rebuilt from the
# seeds on each run so that results do not depend on earlier runs.
#
# The engine objects are compiled once into $RB_BINARY_DIR/fuzz/engine-obj
# (recompiled when a source or any engine header changes), under a lock so
# that targets run in parallel by ctest -j share them.
#
# Exit: 0 no finding, 1 a crash / leak / sanitizer report / build failure
# (the reproducer path is printed), 77 clang or its fuzzer runtime missing.
set -uo pipefail

name="${1:?usage: run_fuzz.sh NAME (for tests/fuzz/fuzz_NAME.c)}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${RB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
bin="${RB_BINARY_DIR:-$src/build}"
secs="${RB_FUZZ_SECONDS:-20}"
# libFuzzer reads 0 as "forever": keep every run bounded.
case "$secs" in ''|*[!0-9]*|0) echo "run_fuzz.sh: RB_FUZZ_SECONDS must be a positive integer (got '$secs')"; exit 1 ;; esac
work="$bin/fuzz"
target_src="$src/tests/fuzz/fuzz_$name.c"
[ -f "$target_src" ] || { echo "run_fuzz.sh: $target_src does not exist"; exit 1; }
mkdir -p "$work"

# ---- compiler and fuzzer runtime ----
cc="${RB_FUZZ_CC:-}"
if [ -z "$cc" ]; then
    for c in clang-14 clang; do
        if command -v "$c" >/dev/null 2>&1; then cc="$c"; break; fi
    done
fi
if [ -z "$cc" ]; then
    echo "SKIP: needs clang with libFuzzer (Debian: clang-14, libclang-rt-14-dev), which is absent"
    exit 77
fi
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
probe="$work/probe"
mkdir -p "$probe"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! "$cc" $san -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1; then
    echo "SKIP: needs the libFuzzer runtime for $cc (Debian: libclang-rt-14-dev), which is absent"
    sed 's/^/  /' "$probe/log" | head -5
    exit 77
fi
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists libcjson openblas; then
    echo "SKIP: needs pkg-config with libcjson and openblas, which is absent"
    exit 77
fi
deps_cflags="$(pkg-config --cflags libcjson openblas)"
deps_libs="$(pkg-config --libs libcjson openblas)"

# ---- the engine, compiled once for all targets ----
cflags="-std=gnu11 -g -O1 -march=native -fopenmp $san -fsanitize=fuzzer-no-link -w \
 -I$src/engine/include -I$src/engine $deps_cflags"
objdir="$work/engine-obj"
lib="$work/librbengine_fuzz.a"

build_engine() {
    mkdir -p "$objdir"
    # Any header change recompiles everything: headers are shared widely.
    local newest_h="$objdir/.headers"
    local h
    h="$(find "$src/engine" -name '*.h' -newer "$newest_h" -print -quit 2>/dev/null)"
    if [ ! -e "$newest_h" ] || [ -n "$h" ]; then
        rm -f "$objdir"/*.o
        touch "$newest_h"
    fi
    local srcs=() objs=() todo=()
    local s o
    for s in "$src"/engine/{core,model,cpu,io,tok,train,eval}/*.c; do
        [ -f "$s" ] || continue
        o="$objdir/$(echo "${s#$src/engine/}" | tr '/' '_').o"
        srcs+=("$s")
        objs+=("$o")
        if [ ! -f "$o" ] || [ "$s" -nt "$o" ]; then todo+=("$s|$o"); fi
    done
    if [ ${#todo[@]} -gt 0 ]; then
        echo "run_fuzz.sh: compiling ${#todo[@]} engine sources with $cc (sanitizers, fuzzer)"
        export cc cflags
        if ! printf '%s\n' "${todo[@]}" |
            xargs -P "${RB_FUZZ_JOBS:-2}" -I{} bash -c \
                'p="{}"; s="${p%%|*}"; o="${p##*|}"; $cc $cflags -c "$s" -o "$o.tmp" && mv "$o.tmp" "$o"'; then
            echo "run_fuzz.sh: compiling the engine failed"
            return 1
        fi
    fi
    # The archive holds exactly the current sources' objects.
    if [ ! -f "$lib" ] || [ ${#todo[@]} -gt 0 ] || [ "$(ar t "$lib" | wc -l)" != "${#objs[@]}" ]; then
        rm -f "$lib.tmp"
        ar rcs "$lib.tmp" "${objs[@]}" && mv "$lib.tmp" "$lib"
    fi
}

exec 9>"$work/.lock"
flock 9
build_engine
rc=$?
flock -u 9
[ $rc -eq 0 ] || exit 1

exe="$work/fuzz_$name"
if ! "$cc" $cflags -fsanitize=fuzzer "$target_src" "$lib" $deps_libs -lm -lpthread -ldl \
    -o "$exe.tmp"; then
    echo "run_fuzz.sh: linking fuzz_$name failed"
    exit 1
fi
mv "$exe.tmp" "$exe"

# ---- seeds ----
corpus="$work/corpus_$name"
rm -rf "$corpus"
mkdir -p "$corpus"
if [ -d "$src/tests/fuzz/corpus_$name" ]; then
    cp -r "$src/tests/fuzz/corpus_$name/." "$corpus/"
fi
if [ -f "$src/tests/fuzz/seeds_$name.sh" ]; then
    if ! RB_ASSETS_DIR="${RB_ASSETS_DIR:-$src/../shared/assets}" bash "$src/tests/fuzz/seeds_$name.sh" "$corpus"; then
        echo "run_fuzz.sh: seeds_$name.sh failed"
        exit 1
    fi
fi
dict=()
if [ -f "$src/tests/fuzz/fuzz_$name.dict" ]; then dict=(-dict="$src/tests/fuzz/fuzz_$name.dict"); fi

# ---- run ----
echo "run_fuzz.sh: fuzz_$name for ${secs}s, $(ls "$corpus" | wc -l) seeds"
artifacts="$work/artifacts_$name"
rm -rf "$artifacts"
mkdir -p "$artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMP_NUM_THREADS=1
"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" 2>&1 | tail -n 200
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo "run_fuzz.sh: fuzz_$name FOUND A PROBLEM (exit $status); reproduce with:"
    for f in "$artifacts"/*; do [ -f "$f" ] && echo "  $exe $f"; done
    exit 1
fi
echo "run_fuzz.sh: fuzz_$name: no problem found in ${secs}s"
exit 0
