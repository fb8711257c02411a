#!/usr/bin/env python3
"""gguf_dump.py: the tokenizer arrays of a GGUF file, read with the `gguf`
package, as JSON for tests/integration/test_tok_gguf.c (run at test time; the
C GGUF reader is not used, so the tokenizer is checked independently of it).

    gguf_dump.py MODEL.gguf OUT.json

OUT.json: {"model", "tokens_hex", "scores", "types", "bos", "eos", "add_bos"}.
Exit status 3 when `gguf` cannot be imported (the test then skips).
"""
import json
import sys

try:
    import gguf
except Exception as e:  # noqa: BLE001 - any import failure means "skip"
    print("cannot import gguf: %s" % e, file=sys.stderr)
    sys.exit(3)


def scalar(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    v = f.parts[f.data[0]]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(v).decode("utf-8")
    return v.tolist()[0]


def array(r, key):
    f = r.fields.get(key)
    if f is None:
        return None
    if f.types[-1] == gguf.GGUFValueType.STRING:
        return [bytes(f.parts[i]) for i in f.data]
    return [f.parts[i].tolist()[0] for i in f.data]


def main():
    r = gguf.GGUFReader(sys.argv[1])
    tokens = array(r, "tokenizer.ggml.tokens")
    out = {
        "model": scalar(r, "tokenizer.ggml.model"),
        "tokens_hex": [t.hex() for t in tokens],
        "scores": array(r, "tokenizer.ggml.scores"),
        "types": array(r, "tokenizer.ggml.token_type"),
        "bos": scalar(r, "tokenizer.ggml.bos_token_id", -1),
        "eos": scalar(r, "tokenizer.ggml.eos_token_id", -1),
        "add_bos": bool(scalar(r, "tokenizer.ggml.add_bos_token", True)),
    }
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
