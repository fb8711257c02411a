#!/usr/bin/env python3
"""dist_cost.py: what data-parallel training costs in communication per
optimizer step, at the paper's scale (docs/distributed.md computes its table
with this script; nothing here is measured).

retrobench sums the whole fp32 gradient with one all-reduce per step. A ring
all-reduce (NCCL's and Open MPI's algorithm for large buffers) moves
2 (N - 1) / N x S bytes through every hop of the ring, S = 4 x parameters: a
reduce-scatter then an all-gather, each (N - 1) / N x S. With the GPUs of a
node next to each other in the ring, the hops inside a node are NVLink and
each node sends its 2 (N - 1) / N x S out through its network cards (NCCL
spreads its rings over all of them), so the time is
2 (N - 1) / N x S / B, B = min(NVLink, the node's network bandwidth), the
latency terms (2 (N - 1) hops of a few microseconds) being negligible at
these sizes. Compute time is the step's FLOPs (METHOD.md section 3's
formula) over the group's sustained rate.

  bench/dist_cost.py [--gpus 64] [--tokens 1048576] [--mfu 0.4] [--peak-tflops 989]
"""
import argparse


def llama32_1b_retrofit(P=4, R=6, C=4):
    """Parameter counts of Llama-3.2-1B retrofitted to (P, R, C): hidden
    2048, MLP 8192, 32 heads of 64, 8 KV heads, vocab 128256; the head
    untied (a copy of the embedding), the adapter 2h x h added."""
    h, f, hd, kv, V = 2048, 8192, 64, 8, 128256
    layer = h * h + 2 * h * kv * hd + h * h + 3 * h * f + 2 * h  # q, k, v, o, MLP, 2 norms
    return {"layer": layer, "prelude": P * layer, "core": R * layer, "coda": C * layer,
            "embed": V * h, "head": V * h, "adapter": 2 * h * h, "final_norm": h,
            "total": (P + R + C) * layer + 2 * V * h + 2 * h * h + h}


def flops_per_token(p, rbar, b=8):
    """METHOD.md: n = max(0, rbar - b), k = min(rbar, b);
    6 (prelude + k core + coda) + 2 n core (embeddings, head, adapter and
    attention scores ignored, as the paper does)."""
    n, k = max(0, rbar - b), min(rbar, b)
    return 6 * (p["prelude"] + k * p["core"] + p["coda"]) + 2 * n * p["core"]


def muon_ns_flops(steps=5):
    """Newton-Schulz FLOPs of one Muon step on every matrix Muon updates
    (q|k|v and gate|up fused, as the recipe does; the adapter): per
    iteration on X of a x b (a <= b): X X^T (2 a^2 b), A A (2 a^3), B X
    (2 a^2 b)."""
    h, f, kvd, L = 2048, 8192, 512, 14
    mats = [(h + 2 * kvd, h), (h, h), (2 * f, h), (h, f)] * L + [(h, 2 * h)]
    total = 0
    for r, c in mats:
        a, b = min(r, c), max(r, c)
        total += steps * (4 * a * a * b + 2 * a ** 3)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=1 << 20, help="tokens per optimizer step")
    ap.add_argument("--mfu", type=float, default=0.4, help="sustained fraction of the peak")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak per GPU (H100 SXM: 989)")
    a = ap.parse_args()
    p = llama32_1b_retrofit()
    N = a.gpus
    S = 4 * p["total"]  # fp32 gradient bytes
    moved = 2 * (N - 1) / N * S
    print(f"Llama-3.2-1B (4,6,4) retrofitted: {p['total']:,} parameters "
          f"({p['layer']:,} per layer, embedding and head {p['embed']:,} each, adapter {p['adapter']:,})")
    print(f"gradient S = 4 x {p['total']:,} = {S / 1e9:.3f} GB per all-reduce")
    print(f"ring all-reduce over N = {N}: 2 (N-1)/N x S = {moved / 1e9:.2f} GB through every hop of the ring, and out of every node, per step")
    print(f"tokens per step {a.tokens:,} = {a.tokens // N:,} per GPU ({a.tokens // N // 1024} rows of T = 1024)")
    nvlink = 450e9
    # (name, GPUs in the ring, bandwidth out of a node)
    nets = [("one 8-GPU node, NVLink 4 only", 8, nvlink),
            ("8 nodes, 8 x InfiniBand NDR 400 Gb/s per node (a card per GPU)", N, 8 * 50e9),
            ("8 nodes, 1 x InfiniBand NDR 400 Gb/s per node", N, 50e9),
            ("8 nodes, 1 x Ethernet 100 Gb/s per node", N, 12.5e9)]
    rate = N * a.peak_tflops * 1e12 * a.mfu
    print(f"compute: {N} GPUs x {a.peak_tflops:.0f} TFLOP/s x MFU {a.mfu} = {rate / 1e15:.1f} PFLOP/s")
    print()
    print("| interconnect | B | all-reduce per step | rbar 4: compute, comm share | rbar 32: compute, comm share |")
    print("|---|---|---|---|---|")
    for name, nn, out in nets:
        B = min(nvlink, out)
        t = 2 * (nn - 1) / nn * S / B
        cells = []
        for rbar in (4, 32):
            c = a.tokens * flops_per_token(p, rbar) / (rate * nn / N)
            cells.append(f"{c:.2f} s, {t / (c + t) * 100:.0f}%")
        print(f"| {name} | {B / 1e9:g} GB/s | {t * 1e3:.0f} ms | {cells[0]} | {cells[1]} |")
    print()
    for rbar in (4, 32):
        f = flops_per_token(p, rbar)
        print(f"rbar {rbar}: {f / 1e9:.2f} GFLOP per token, {a.tokens * f / 1e15:.2f} PFLOP per step, "
              f"{a.tokens * f / N / 1e12:.0f} TFLOP per GPU")
    ns = muon_ns_flops()
    share = a.tokens * flops_per_token(p, 4) / N
    print(f"Muon's Newton-Schulz, run whole on every rank: {ns / 1e12:.1f} TFLOP per step per GPU "
          f"({ns / share * 100:.0f}% of a GPU's share of an rbar-4 step)")


if __name__ == "__main__":
    main()
