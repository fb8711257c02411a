#!/usr/bin/python3
"""torch_train.py: the PyTorch peer of `retrobench bench train`.

The same recurrent model (Llama blocks, prelude / adapter + recurrent block /
coda, untied head), the same shapes, the same step (forward with n no-grad
and k grad iterations, cross-entropy, backward, AdamW on every parameter),
written the way a PyTorch user would write it, on the same number of CPU
threads. Prints `torch_tokens_per_s=N` (and the step time) on stdout.

usage: torch_train.py --dim 256 --heads 8 --kv-heads 4 --hidden 688 --vocab 512
        --prelude 2 --recur 2 --coda 2 --nograd-iters 0 --grad-iters 4
        --batch 8 --seq 256 --steps 8 --warmup 2 --threads 2
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
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope_tables(T, hd, theta=10000.0):
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
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
        self.q = nn.Linear(a.dim, self.H * self.hd, bias=False)
        self.k = nn.Linear(a.dim, self.KV * self.hd, bias=False)
        self.v = nn.Linear(a.dim, self.KV * self.hd, bias=False)
        self.o = nn.Linear(self.H * self.hd, a.dim, bias=False)
        self.gate = nn.Linear(a.dim, a.hidden, bias=False)
        self.up = nn.Linear(a.dim, a.hidden, bias=False)
        self.down = nn.Linear(a.hidden, a.dim, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        z = self.n1(x)
        q = self.q(z).view(B, T, self.H, self.hd).transpose(1, 2)
        k = self.k(z).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = self.v(z).view(B, T, self.KV, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        g = self.H // self.KV
        k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o(y)
        z = self.n2(x)
        return x + self.down(F.silu(self.gate(z)) * self.up(z))


class Recurrent(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.emb = nn.Embedding(a.vocab, a.dim)
        self.prelude = nn.ModuleList(Block(a) for _ in range(a.prelude))
        self.recur = nn.ModuleList(Block(a) for _ in range(a.recur))
        self.coda = nn.ModuleList(Block(a) for _ in range(a.coda))
        self.adapter = nn.Linear(2 * a.dim, a.dim, bias=False)
        self.norm = RMSNorm(a.dim)
        self.head = nn.Linear(a.dim, a.vocab, bias=False)
        cos, sin = rope_tables(a.seq, a.dim // a.heads)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("mask", torch.ones(a.seq, a.seq, dtype=torch.bool).triu(1))

    def run(self, blocks, x):
        for b in blocks:
            x = b(x, self.cos, self.sin, self.mask)
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


def main():
    p = argparse.ArgumentParser()
    for name, default in [("dim", 256), ("heads", 8), ("kv-heads", 4), ("hidden", 688), ("vocab", 512),
                          ("prelude", 2), ("recur", 2), ("coda", 2), ("nograd-iters", 0),
                          ("grad-iters", 4), ("batch", 8), ("seq", 256), ("steps", 8), ("warmup", 2),
                          ("threads", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Recurrent(a)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.95), eps=1e-8, weight_decay=1e-4)
    data = torch.randint(0, a.vocab, (a.batch, a.seq + 1))
    x, y = data[:, :-1], data[:, 1:]
    total, timed = 0.0, 0
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(x, a.nograd_iters, a.grad_iters)
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        print(f"  torch step {step + 1}/{a.warmup + a.steps} loss {loss.item():.4f}  {dt * 1e3:.0f} ms", file=sys.stderr)
        if step >= a.warmup:
            total += dt
            timed += 1
    step_s = total / timed
    print(f"torch_step_ms={step_s * 1e3:.1f} torch_threads={torch.get_num_threads()}")
    print(f"torch_tokens_per_s={a.batch * a.seq / step_s:.0f}")


if __name__ == "__main__":
    main()
