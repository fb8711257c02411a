#!/usr/bin/python3
"""gguf_llama_reference.py: logits of a llama-architecture GGUF model from
an independent PyTorch forward (float64).

Weights come from gguf-py (GGUFReader + gguf.quants.dequantize), used as
stored: q/k keep GGUF's adjacent-pair RoPE layout and RoPE is applied to
adjacent pairs here, so the engine's row permutation is not trusted. The
forward is a plain restatement of the Llama block (RMSNorm, RoPE, causal
GQA, SwiGLU), the final norm and the (tied or explicit) output matrix.

usage: gguf_llama_reference.py MODEL.gguf TOKENS.bin OUT_LOGITS.bin
  TOKENS.bin: int32 ids; OUT: float64 [n_tokens, vocab]
"""
import math
import sys

import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize

torch.set_default_dtype(torch.float64)


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.parts[f.data[0]].tolist()[0]


def main():
    path, tok_path, out_path = sys.argv[1:4]
    r = GGUFReader(path)
    W = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type)
        shape = [int(x) for x in reversed(t.shape.tolist())]  # ne[0] is the fastest dimension
        W[t.name] = torch.tensor(np.asarray(a, dtype=np.float64).reshape(shape))
    L = int(field(r, "llama.block_count"))
    H = int(field(r, "llama.attention.head_count"))
    KV = int(field(r, "llama.attention.head_count_kv", H))
    eps = float(field(r, "llama.attention.layer_norm_rms_epsilon", 1e-5))
    theta = float(field(r, "llama.rope.freq_base", 10000.0))
    dim = W["token_embd.weight"].shape[1]
    hd = dim // H
    ids = torch.tensor(np.fromfile(tok_path, dtype=np.int32).astype(np.int64))
    T = ids.shape[0]

    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    inv = torch.tensor([theta ** (-2.0 * i / hd) for i in range(hd // 2)])
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]

    def rope(x):  # [T, heads, hd], adjacent pairs (2i, 2i+1)
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)

    x = W["token_embd.weight"][ids]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(L):
        p = lambda n: W[f"blk.{i}.{n}.weight"]
        z = norm(x, p("attn_norm"))
        q = rope((z @ p("attn_q").T).view(T, H, hd))
        k = rope((z @ p("attn_k").T).view(T, KV, hd)).repeat_interleave(H // KV, dim=1)
        v = (z @ p("attn_v").T).view(T, KV, hd).repeat_interleave(H // KV, dim=1)
        s = torch.einsum("thd,uhd->htu", q, k) / math.sqrt(hd)
        s = s.masked_fill(~mask, float("-inf")).softmax(-1)
        a = torch.einsum("htu,uhd->thd", s, v).reshape(T, H * hd)
        x = x + a @ p("attn_output").T
        z = norm(x, p("ffn_norm"))
        x = x + (torch.nn.functional.silu(z @ p("ffn_gate").T) * (z @ p("ffn_up").T)) @ p("ffn_down").T
    head = W.get("output.weight", W["token_embd.weight"])
    logits = norm(x, W["output_norm.weight"]) @ head.T
    logits.numpy().astype(np.float64).tofile(out_path)


if __name__ == "__main__":
    main()
