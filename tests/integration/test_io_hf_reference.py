"""Outside reference for tests/integration/test_io_hf_python.c: Hugging Face's
own `safetensors` package (with numpy and torch) reads and writes the files
that the C side compares against.

Subcommands (exit status 0 on success, 1 with a message on a mismatch):
  dump FILE OUTDIR       every tensor of FILE as raw little-endian float32
                         bytes in OUTDIR/<name>.f32 (+ OUTDIR/manifest.txt:
                         "name dtype dim0 dim1 ..." per line)
  halves OUTFILE OUTDIR  write OUTFILE holding all 65536 F16 and BF16 bit
                         patterns; OUTDIR/f16.f32 and OUTDIR/bf16.f32 hold
                         numpy's and torch's float32 conversions of them
  compare OURS REF       OURS (written by retrobench) must hold the same
                         tensor names, shapes and values as REF, read with
                         safetensors.torch and safetensors.numpy
  metadata FILE KEY...   print the __metadata__ values of KEYs, one per line,
                         as read by safetensors (JSON-escaped)
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as np_load
from safetensors.torch import load_file as torch_load


def dump(path, outdir):
    os.makedirs(outdir, exist_ok=True)
    lines = []
    with safe_open(path, framework="pt") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            dtype = str(t.dtype).replace("torch.", "")
            t.to(torch.float32).contiguous().numpy().astype("<f4").tofile(
                os.path.join(outdir, name + ".f32"))
            lines.append(" ".join([name, dtype] + [str(d) for d in t.shape]))
    with open(os.path.join(outdir, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def halves(outfile, outdir):
    os.makedirs(outdir, exist_ok=True)
    bits = np.arange(65536, dtype=np.uint16)
    f16 = bits.view(np.float16)
    bf16 = torch.from_numpy(bits.astype(np.int16)).view(torch.bfloat16)
    # safetensors.torch writes the BF16 tensor with its own dtype tag.
    from safetensors.torch import save_file as torch_save
    torch_save({"f16": torch.from_numpy(f16.copy()), "bf16": bf16.clone()}, outfile)
    f16.astype(np.float32).astype("<f4").tofile(os.path.join(outdir, "f16.f32"))
    bf16.to(torch.float32).numpy().astype("<f4").tofile(os.path.join(outdir, "bf16.f32"))


def compare(ours, ref):
    a = torch_load(ours)
    b = np_load(ref)
    if set(a) != set(b):
        print("tensor names differ: only ours %s, only ref %s"
              % (sorted(set(a) - set(b))[:5], sorted(set(b) - set(a))[:5]))
        return 1
    for name in sorted(b):
        x = a[name].numpy()
        y = b[name]
        if x.shape != y.shape or x.dtype != y.dtype:
            print("%s: ours %s %s, ref %s %s" % (name, x.shape, x.dtype, y.shape, y.dtype))
            return 1
        if x.tobytes() != y.tobytes():
            print("%s: values differ" % name)
            return 1
    with safe_open(ours, framework="np") as f:
        md = f.metadata()
    if not md or md.get("format") != "pt":
        print("metadata format is %r, transformers needs 'pt'" % (md,))
        return 1
    print("OK %d tensors" % len(b))
    return 0


def metadata(path, keys):
    with safe_open(path, framework="np") as f:
        md = f.metadata() or {}
    for k in keys:
        print(json.dumps(md.get(k)))
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == "dump":
        dump(argv[2], argv[3])
        return 0
    if cmd == "halves":
        halves(argv[2], argv[3])
        return 0
    if cmd == "compare":
        return compare(argv[2], argv[3])
    if cmd == "metadata":
        return metadata(argv[2], argv[3:])
    print("unknown subcommand %s" % cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
