#!/usr/bin/env python3
"""torch_train_gpu.py: the PyTorch peer of `retrobench bench train --device cuda`.

The same recurrent model as bench/torch_train.py (Llama blocks, prelude /
adapter + recurrent block / coda, untied head, GQA, RoPE, SwiGLU), written the
way a PyTorch user trains on a GPU: bf16 autocast over fp32 master weights,
F.scaled_dot_product_attention (flash attention) with GQA, AdamW and gradient
clipping, no torch.compile. Also measures the cuBLAS bf16 GEMM peak through
torch.matmul (8192^3 on random data), the denominator both programs' MFU use.

Prints on stdout:
  torch_bf16_gemm_tflops=P
  torch_step_ms=S torch_batch=B torch_micro_batch=b
  torch_tokens_per_s=N
"""
import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.w


def rope_tables(T, hd, device, theta=10000.0):
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, device=device).float() / hd))
    ang = torch.arange(T, device=device).float()[:, None] * inv[None, :]
    return torch.cos(ang), torch.sin(ang)


def apply_rope(x, cos, sin):  # x [B, heads, T, hd], HF rotate_half layout
    h = x.shape[-1] // 2
    a, b = x[..., :h], x[..., h:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.H, self.KV, self.hd = a.heads, a.kv_heads, a.dim // a.heads
        self.n1, self.n2 = RMSNorm(a.dim), RMSNorm(a.dim)
        self.qkv = nn.Linear(a.dim, (self.H + 2 * self.KV) * self.hd, bias=False)
        self.o = nn.Linear(self.H * self.hd, a.dim, bias=False)
        self.gate_up = nn.Linear(a.dim, 2 * a.hidden, bias=False)
        self.down = nn.Linear(a.hidden, a.dim, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q, k, v = self.qkv(self.n1(x)).split([self.H * self.hd, self.KV * self.hd, self.KV * self.hd], -1)
        q = q.view(B, T, self.H, self.hd).transpose(1, 2)
        k = k.view(B, T, self.KV, self.hd).transpose(1, 2)
        v = v.view(B, T, self.KV, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(y.transpose(1, 2).reshape(B, T, -1))
        g, u = self.gate_up(self.n2(x)).chunk(2, -1)
        return x + self.down(F.silu(g) * u)


class Recurrent(nn.Module):
    def __init__(self, a, device):
        super().__init__()
        self.emb = nn.Embedding(a.vocab, a.dim)
        self.prelude = nn.ModuleList(Block(a) for _ in range(a.prelude))
        self.recur = nn.ModuleList(Block(a) for _ in range(a.recur))
        self.coda = nn.ModuleList(Block(a) for _ in range(a.coda))
        self.adapter = nn.Linear(2 * a.dim, a.dim, bias=False)
        self.norm = RMSNorm(a.dim)
        self.head = nn.Linear(a.dim, a.vocab, bias=False)
        cos, sin = rope_tables(a.seq, a.dim // a.heads, device)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def run(self, blocks, x):
        for b in blocks:
            x = b(x, self.cos, self.sin)
        return x

    def forward(self, tokens, n, k):
        e = self.run(self.prelude, self.emb(tokens))
        s = torch.randn_like(e).clamp_(-3, 3) * 0.008703882797784892
        with torch.no_grad():
            for _ in range(n):
                s = self.run(self.recur, self.adapter(torch.cat([s, e], -1)))
        s = s.detach()
        for _ in range(k):
            s = self.run(self.recur, self.adapter(torch.cat([s, e], -1)))
        return self.head(self.norm(self.run(self.coda, s)))


def gemm_peak_tflops(device):
    n = 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2.0 * n ** 3 * reps / (time.perf_counter() - t0) / 1e12


def main():
    p = argparse.ArgumentParser()
    for name, default in [("dim", 768), ("heads", 12), ("kv-heads", 4), ("hidden", 2048), ("vocab", 32000),
                          ("prelude", 2), ("recur", 4), ("coda", 2), ("nograd-iters", 0),
                          ("grad-iters", 8), ("batch", 8), ("seq", 1024), ("steps", 5), ("warmup", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(0)
    print(f"torch_bf16_gemm_tflops={gemm_peak_tflops(dev):.1f}", flush=True)
    model = Recurrent(a, dev).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.95), eps=1e-8, weight_decay=1e-4)
    data = torch.randint(0, a.vocab, (a.batch, a.seq + 1), device=dev)
    micro = a.batch  # halved on out-of-memory, with gradient accumulation: the same tokens per step
    total, timed, step = 0.0, 0, 0
    while step < a.warmup + a.steps:
        try:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            for i in range(0, a.batch, micro):
                x, y = data[i:i + micro, :-1], data[i:i + micro, 1:]
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits = model(x, a.nograd_iters, a.grad_iters)
                    loss = F.cross_entropy(logits.reshape(-1, a.vocab).float(), y.reshape(-1))
                (loss * (x.shape[0] / a.batch)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            torch.cuda.synchronize()
        except torch.OutOfMemoryError:
            if micro == 1:
                raise
            micro //= 2
            opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            print(f"  torch: out of memory, micro-batch {micro}", file=sys.stderr)
            continue
        dt = time.perf_counter() - t0
        print(f"  torch step {step + 1}/{a.warmup + a.steps} loss {loss.item():.4f}  {dt * 1e3:.0f} ms", file=sys.stderr)
        if step >= a.warmup:
            total += dt
            timed += 1
        step += 1
    step_s = total / timed
    print(f"torch_step_ms={step_s * 1e3:.1f} torch_batch={a.batch} torch_micro_batch={micro}")
    print(f"torch_tokens_per_s={a.batch * a.seq / step_s:.0f}")


if __name__ == "__main__":
    main()
