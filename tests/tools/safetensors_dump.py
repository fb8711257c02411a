#!/usr/bin/env python3
"""safetensors_dump.py: every tensor of a .safetensors file as raw float32,
read by the `safetensors` package (numpy), for the C tests to compare with.

usage: safetensors_dump.py FILE.safetensors OUTDIR   ->  OUTDIR/<name>.f32
"""
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name, x in load_file(src).items():
        np.ascontiguousarray(x.astype(np.float32, copy=False)).tofile(
            os.path.join(out, name + ".f32"))


if __name__ == "__main__":
    main()
