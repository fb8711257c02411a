#!/usr/bin/env python3
"""make_quant_gguf.py: write a quantized copy of a GGUF model with gguf-py.

usage: make_quant_gguf.py SRC.gguf DST.gguf TYPE [--version 2|3]

TYPE is a gguf.GGMLQuantizationType name (F16, BF16, Q8_0, Q4_0, Q4_1, ...).
Every metadata entry of SRC is kept (strings and string arrays byte for
byte). 2-D tensors whose row length is a multiple of the type's block size
are converted with gguf.quants.quantize; the others stay F32. --version 2
rewrites the header's version field: little-endian GGUF v2 and v3 files
have the same layout (v3 only added big-endian files), so the result is a
valid v2 file. Used by the GGUF integration tests at test time.
"""
import argparse
import sys

import numpy as np
import gguf


def copy_field(w, field):
    """Copy one metadata entry, keeping string bytes exactly."""
    vt = gguf.GGUFValueType
    main = field.types[0]
    if main == vt.STRING:
        w.add_key_value(field.name, bytes(field.parts[field.data[0]]), main)
    elif main == vt.ARRAY:
        sub = field.types[-1]
        if len(field.types) != 2:
            sys.exit(f"nested array {field.name} is not handled by this script")
        if sub == vt.STRING:
            val = [bytes(field.parts[i]) for i in field.data]
        else:
            val = [field.parts[i][0].item() for i in field.data]
        w.add_key_value(field.name, val, main, sub_type=sub)
    else:
        w.add_key_value(field.name, field.parts[field.data[0]][0].item(), main)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("type")
    ap.add_argument("--version", type=int, default=3, choices=(2, 3))
    a = ap.parse_args()

    qtype = gguf.GGMLQuantizationType[a.type]
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    r = gguf.GGUFReader(a.src)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    w = gguf.GGUFWriter(a.dst, arch)
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        copy_field(w, field)
    quantized = False
    for t in r.tensors:
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            sys.exit(f"{a.src}: tensor {t.name} is {t.tensor_type.name}; expected an F32 source")
        data = np.asarray(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        if data.ndim == 2 and data.shape[-1] % block == 0 and qtype != gguf.GGMLQuantizationType.F32:
            q = gguf.quants.quantize(data, qtype)
            if q.dtype == np.uint8:
                w.add_tensor(t.name, q, raw_dtype=qtype)
            else:
                w.add_tensor(t.name, q)
            quantized = True
        else:
            w.add_tensor(t.name, data)
    if quantized and "general.quantization_version" not in r.fields:
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if a.version != 3:
        with open(a.dst, "r+b") as f:
            f.seek(4)
            f.write(int(a.version).to_bytes(4, "little"))


if __name__ == "__main__":
    main()
