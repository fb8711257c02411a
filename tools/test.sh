#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it.
#   1. set up and build (release and ASan+UBSan builds);
#   2. every ctest suite on the release build (unit, integration, reference, cli, fuzz,
#      tsan: the workbench's threads under ThreadSanitizer, tui: the workbench in tmux);
#   3. the unit suites and the workbench's terminal tests (tmux) again under
#      AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --sanitize "$@"
jobs=$(nproc 2>/dev/null || echo 2)
echo "== release build: all suites" >&2
ctest --test-dir build --output-on-failure -j "$jobs"
echo "== ASan + UBSan build: unit suites, workbench in tmux" >&2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L 'unit|tui'
