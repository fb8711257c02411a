#!/usr/bin/python3
"""torch_model.py: an independent PyTorch re-statement of the retrofitted
model of METHOD.md (sections 1 and 2), used as the numerical oracle for the
C engine. It shares no code with the engine: it reads a case directory
written by the C test (config, parameters by name, tokens, targets, initial
state, iteration counts), runs forward and backward in float64 with autograd,
and writes logits, loss and every parameter gradient back.

usage: torch_model.py CASE_DIR
  in : case.json, params.bin (float32, offsets in case.json), tokens.bin,
       targets.bin (int32), state0.bin (float32, recurrent models only)
  out: logits.bin (float64 [B*T, V]), grads.bin (float64, same offsets as
       params), loss.txt
"""
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def inv_freq(cfg):
    hd = cfg["head_dim"]
    inv = [cfg["rope_theta"] ** (-2.0 * i / hd) for i in range(hd // 2)]
    if cfg["rope_scaling"] == "llama3":
        factor, lo, hi = cfg["rope_factor"], cfg["rope_low_freq_factor"], cfg["rope_high_freq_factor"]
        orig = cfg["rope_original_max_pos"]
        out = []
        for f in inv:
            wavelen = 2 * math.pi / f
            if wavelen < orig / hi:
                out.append(f)
            elif wavelen > orig / lo:
                out.append(f / factor)
            else:
                smooth = (orig / wavelen - lo) / (hi - lo)
                out.append((1 - smooth) * f / factor + smooth * f)
        inv = out
    return torch.tensor(inv)


def rope(x, cfg):
    """x: [B, T, heads, hd]; positions 0..T-1 in every row."""
    T, hd = x.shape[1], x.shape[3]
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq(cfg)[None, :]  # [T, hd/2]
    # angles in float64, then the dtype of x (float32 for the precision-floor run)
    cos = torch.cos(ang)[None, :, None, :].to(x.dtype)
    sin = torch.sin(ang)[None, :, None, :].to(x.dtype)
    if cfg["rope_layout"] == "half":
        a, b = x[..., : hd // 2], x[..., hd // 2:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


def attention(q, k, v, cfg):
    """q [B,T,H,hd], k/v [B,T,KV,hd] -> [B,T,H*hd], causal, GQA."""
    B, T, H, hd = q.shape
    group = H // k.shape[2]
    k = k.repeat_interleave(group, dim=2)
    v = v.repeat_interleave(group, dim=2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B,H,T,hd]
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).reshape(B, T, H * hd)


def block(x, p, i, cfg):
    H, KV, hd, eps = cfg["n_heads"], cfg["n_kv_heads"], cfg["head_dim"], cfg["norm_eps"]
    B, T, _ = x.shape
    L = lambda name: p[f"model.layers.{i}.{name}.weight"]
    mlp = lambda z: (torch.nn.functional.silu(z @ L("mlp.gate_proj").T) * (z @ L("mlp.up_proj").T)) @ L("mlp.down_proj").T
    if cfg["block"] == "llama":
        z = rmsnorm(x, L("input_layernorm"), eps)
        q, k, v = z @ L("self_attn.q_proj").T, z @ L("self_attn.k_proj").T, z @ L("self_attn.v_proj").T
    else:  # olmo2: q/k norms over the full projection width, before the head split
        q = rmsnorm(x @ L("self_attn.q_proj").T, L("self_attn.q_norm"), eps)
        k = rmsnorm(x @ L("self_attn.k_proj").T, L("self_attn.k_norm"), eps)
        v = x @ L("self_attn.v_proj").T
    q = rope(q.view(B, T, H, hd), cfg)
    k = rope(k.view(B, T, KV, hd), cfg)
    a = attention(q, k, v.view(B, T, KV, hd), cfg) @ L("self_attn.o_proj").T
    if cfg["block"] == "llama":
        x = x + a
        return x + mlp(rmsnorm(x, L("post_attention_layernorm"), eps))
    x = x + rmsnorm(a, L("post_attention_layernorm"), eps)
    return x + rmsnorm(mlp(x), L("post_feedforward_layernorm"), eps)


def model(p, tokens, state0, cfg, case):
    P, R, C = cfg["n_prelude"], cfg["n_recur"], cfg["n_coda"]
    x = p["model.embed_tokens.weight"][tokens]  # no embedding scaling
    for i in range(P):
        x = block(x, p, i, cfg)
    if R > 0:
        e = x
        s = state0

        def iterate(s):
            if case["bypass_adapter"]:
                z = e
            else:  # Linear(2h -> h, no bias) on concat(state, prelude output)
                z = torch.cat([s, e], dim=-1) @ p["model.adapter.weight"].T
            for j in range(P, P + R):
                z = block(z, p, j, cfg)
            return z

        with torch.no_grad():
            for _ in range(case["n"]):
                s = iterate(s)
        s = s.detach()  # truncated backpropagation
        for _ in range(case["k"]):
            s = iterate(s)
        x = s
    for i in range(P + R, P + R + C):
        x = block(x, p, i, cfg)
    head = p["model.embed_tokens.weight"] if cfg["tied_head"] else p["lm_head.weight"]
    return rmsnorm(x, p["model.norm.weight"], cfg["norm_eps"]) @ head.T


def main():
    d = sys.argv[1]
    case = json.load(open(os.path.join(d, "case.json")))
    cfg = case["config"]
    flat = np.fromfile(os.path.join(d, "params.bin"), dtype=np.float32).astype(np.float64)
    p = {}
    for t in case["params"]:
        a = flat[t["offset"]: t["offset"] + t["rows"] * t["cols"]]
        shape = (t["rows"], t["cols"]) if t["ndim"] == 2 else (t["rows"],)
        p[t["name"]] = torch.tensor(a.reshape(shape), requires_grad=True)
    B, T = case["B"], case["T"]
    tokens = torch.tensor(np.fromfile(os.path.join(d, "tokens.bin"), dtype=np.int32).astype(np.int64)).view(B, T)
    targets = torch.tensor(np.fromfile(os.path.join(d, "targets.bin"), dtype=np.int32).astype(np.int64)).view(B * T)
    state0 = None
    if cfg["n_recur"] > 0:
        state0 = torch.tensor(np.fromfile(os.path.join(d, "state0.bin"), dtype=np.float32).astype(np.float64)).view(B, T, cfg["dim"])
    logits = model(p, tokens, state0, cfg, case).reshape(B * T, -1)
    loss = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-1)
    loss.backward()
    logits.detach().numpy().astype(np.float64).tofile(os.path.join(d, "logits.bin"))
    grads = np.zeros(flat.shape[0], dtype=np.float64)
    for t in case["params"]:
        g = p[t["name"]].grad
        if g is not None:
            grads[t["offset"]: t["offset"] + t["rows"] * t["cols"]] = g.numpy().reshape(-1)
    grads.tofile(os.path.join(d, "grads.bin"))
    with open(os.path.join(d, "loss.txt"), "w") as f:
        f.write(repr(loss.item()) + "\n")
    # the same forward run by torch in float32: the precision floor of a
    # float32 implementation of this case, printed beside the engine's error
    torch.set_default_dtype(torch.float32)
    with torch.no_grad():
        p32 = {k: v.detach().float() for k, v in p.items()}
        s32 = state0.float() if state0 is not None else None
        model(p32, tokens, s32, cfg, case).reshape(B * T, -1).double().numpy().tofile(
            os.path.join(d, "logits_f32.bin"))


if __name__ == "__main__":
    main()
