#!/usr/bin/env bash
# seeds_llama2c.sh OUTDIR: seed files for fuzz_llama2c: tiny llama2.c
# checkpoints (shared and unshared classifier) written by
# tests/tools/make_fuzz_seeds.py when the project's Python has numpy, plus
# the 28-byte header of the real stories260K.bin when the assets are present.
set -euo pipefail
out="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${RB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
py="$src/.venv/bin/python"
if [ -x "$py" ] && "$py" -c 'import gguf, numpy' >/dev/null 2>&1; then
    "$py" "$src/tests/tools/make_fuzz_seeds.py" llama2c "$out" >/dev/null 2>&1
fi
asset="${RB_ASSETS_DIR:-}/stories260K/stories260K.bin"
if [ -f "$asset" ]; then head -c 28 "$asset" >"$out/stories_header.bin"; fi
