#!/usr/bin/env python3
"""gguf_dump_reference.py: what gguf-py reads from a GGUF file, as raw files
the C tests compare with retrobench's reader bit for bit.

usage: gguf_dump_reference.py FILE.gguf OUTDIR

Writes into OUTDIR:
  raw/<tensor name>.f32   gguf.quants.dequantize of each tensor (float32, file order)
  hf/<hf name>.f32        the same tensors under Hugging Face Llama names, the
                          q/k rows moved from GGUF's adjacent-pair RoPE layout to
                          HF's rotate_half layout (the transformers converter's permute)
  types.txt               "<tensor name> <ggml type name>" per line
  config.json             llama.* hyperparameters and tokenizer ids as gguf-py reads them
  tokens.bin              per token: uint32 byte length, bytes
  scores.f32, token_type.i32   when present
"""
import json
import os
import sys

import numpy as np
import gguf

HF = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def hf_name(name):
    top = {"token_embd.weight": "model.embed_tokens.weight",
           "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
    if name in top:
        return top[name]
    blk, layer, part, _ = name.split(".")
    assert blk == "blk"
    return f"model.layers.{layer}.{HF[part]}.weight"


def scalar(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    v = f.parts[f.data[0]]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(v).decode()
    return v[0].item()


def main():
    path, out = sys.argv[1], sys.argv[2]
    r = gguf.GGUFReader(path)
    os.makedirs(os.path.join(out, "raw"), exist_ok=True)
    os.makedirs(os.path.join(out, "hf"), exist_ok=True)
    n_head = scalar(r, "llama.attention.head_count")
    n_kv = scalar(r, "llama.attention.head_count_kv", n_head)
    with open(os.path.join(out, "types.txt"), "w") as tf:
        for t in r.tensors:
            x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            x = np.ascontiguousarray(x).reshape(-1)
            x.tofile(os.path.join(out, "raw", t.name + ".f32"))
            tf.write(f"{t.name} {t.tensor_type.name}\n")
            ne = [int(v) for v in t.shape]
            if ".attn_q." in t.name or ".attn_k." in t.name:
                heads = n_head if ".attn_q." in t.name else n_kv
                rows, cols = ne[1], ne[0]
                x = (x.reshape(heads, rows // heads // 2, 2, cols)
                      .swapaxes(1, 2).reshape(rows, cols).reshape(-1))
            np.ascontiguousarray(x).tofile(os.path.join(out, "hf", hf_name(t.name) + ".f32"))
    cfg = {k.split(".", 1)[1]: scalar(r, k) for k in r.fields if k.startswith("llama.")}
    for k in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
              "tokenizer.ggml.model", "general.architecture"):
        cfg[k] = scalar(r, k)
    cfg["version"] = int(r.fields["GGUF.version"].parts[0][0])
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    tok = r.fields.get("tokenizer.ggml.tokens")
    if tok is not None:
        with open(os.path.join(out, "tokens.bin"), "wb") as f:
            for i in tok.data:
                b = bytes(tok.parts[i])
                f.write(len(b).to_bytes(4, "little"))
                f.write(b)
    for key, fname, dt in (("tokenizer.ggml.scores", "scores.f32", np.float32),
                           ("tokenizer.ggml.token_type", "token_type.i32", np.int32)):
        f = r.fields.get(key)
        if f is not None:
            np.array([f.parts[i][0] for i in f.data], dtype=dt).tofile(os.path.join(out, fname))


if __name__ == "__main__":
    main()
