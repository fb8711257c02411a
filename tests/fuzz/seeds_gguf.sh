#!/usr/bin/env bash
# seeds_gguf.sh OUTDIR: seed files for fuzz_gguf. Tiny llama GGUF models
# (both vocabulary kinds, every supported tensor type) written by
# tests/tools/make_fuzz_seeds.py with the project's Python and gguf-py when
# they are installed, plus the first 16 KiB (the whole header) of the real
# stories260K GGUF when the assets are present.
set -euo pipefail
out="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${RB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
py="$src/.venv/bin/python"
if [ -x "$py" ] && "$py" -c 'import gguf, numpy' >/dev/null 2>&1; then
    "$py" "$src/tests/tools/make_fuzz_seeds.py" gguf "$out" >/dev/null 2>&1
fi
asset="${RB_ASSETS_DIR:-}/stories260K-gguf/stories260K.gguf"
if [ -f "$asset" ]; then head -c 16384 "$asset" >"$out/stories_header.gguf"; fi
