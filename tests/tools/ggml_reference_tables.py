#!/usr/bin/env python3
"""ggml_reference_tables.py: facts from gguf-py for the dequantization tests.

usage: ggml_reference_tables.py OUTDIR
  fp16.f32   numpy's float16 -> float32 of all 65536 bit patterns
  bf16.f32   gguf.quants.dequantize(BF16) of all 65536 bit patterns
  types.txt  "<number> <name> <block size> <bytes per block>" per ggml type
"""
import os
import sys

import numpy as np
import gguf


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    bits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    bits.view(np.float16).astype(np.float32).tofile(os.path.join(out, "fp16.f32"))
    bf = gguf.quants.dequantize(bits.view(np.uint8), gguf.GGMLQuantizationType.BF16)
    np.asarray(bf, dtype=np.float32).reshape(-1).tofile(os.path.join(out, "bf16.f32"))
    with open(os.path.join(out, "types.txt"), "w") as f:
        for t, (block, size) in gguf.GGML_QUANT_SIZES.items():
            f.write(f"{int(t)} {t.name} {block} {size}\n")


if __name__ == "__main__":
    main()
