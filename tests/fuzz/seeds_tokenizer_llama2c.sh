#!/usr/bin/env bash
# seeds_tokenizer_llama2c.sh OUTDIR: the real stories260K tok512.bin (6 kB)
# when the assets are present, and a three-token file written here.
set -euo pipefail
out="$1"
asset="${RB_ASSETS_DIR:-}/stories260K/tok512.bin"
if [ -f "$asset" ]; then cp "$asset" "$out/tok512.bin"; fi
# max_token_length 6; tokens (score, bytes): <unk> 0, "\\n<s>\\n" 0, "\\n</s>\\n" 0,
# " " -1, "a" -2, " a" -3 (llama2.c's convention: BOS 1, EOS 2)
printf '\x06\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x3c\x75\x6e\x6b\x3e\x00\x00\x00\x00\x05\x00\x00\x00\x0a\x3c\x73\x3e\x0a\x00\x00\x00\x00\x06\x00\x00\x00\x0a\x3c\x2f\x73\x3e\x0a\x00\x00\x80\xbf\x01\x00\x00\x00\x20\x00\x00\x00\xc0\x01\x00\x00\x00\x61\x00\x00\x40\xc0\x02\x00\x00\x00\x20\x61' >"$out/tiny.bin"
