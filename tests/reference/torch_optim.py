#!/usr/bin/python3
"""torch_optim.py: an independent PyTorch re-statement of the optimizers of
METHOD.md section 2, used as the numerical oracle for engine/train/optim.c.

It shares no code or configuration with the engine: the recipe's constants
are written below from METHOD.md, the parameter groups and the fused
matrices are derived here from the Hugging Face parameter names, AdamW is
torch.optim.AdamW itself and clipping is torch.nn.utils.clip_grad_norm_.
Everything runs in float64.

usage: torch_optim.py ortho CASE_DIR
  in : ortho.json {"mats": [{"rows", "cols", "offset"}], "ns_bf16": bool},
       ortho_in.bin (float32)
  out: ortho_ref.bin  (float64) the Newton-Schulz direction O of each matrix
       ortho_emu.bin  (float64) the same with every matmul operand rounded to
                      bf16, the products summed exactly and X kept between
                      steps: the engine's bf16 definition (ns_bf16 only)
       ortho_f32.bin  (float64) the same recipe run by torch in float32, to
                      show the precision floor of any float32 implementation
       ortho_bf16.bin (float64) the recipe as the paper's code runs it: X a
                      bfloat16 tensor throughout, every result rounded
       ortho_info.txt one line per matrix: rows cols smallest and largest
                      singular value of X / ||X||_F

usage: torch_optim.py recipe OUT_FILE
  out: one "recipe key value" line per hyperparameter of RECIPES and the
       Newton-Schulz constants below (booleans as 0/1), for the check that
       the engine's defaults are METHOD.md's

usage: torch_optim.py step CASE_DIR
  in : case.json {"recipe": "muon"|"adamw", "fuse": bool, "ns_bf16": bool,
       "lr_mult": [per step], "overrides": {knob: value}, "params": [{"name",
       "rows", "cols", "offset"}]}, params0.bin (float32), grads_<s>.bin (float32, raw, before
       clipping) for each step s
  out: after_<variant>.bin (float64, table layout) for the variants
       main          the recipe as configured
       alt_fuse      Muon with the opposite fusion setting (muon only)
       alt_nonest    Muon with plain (non-Nesterov) momentum (muon only)
       alt_noclip    without gradient clipping
       alt_nowd      without weight decay
       state_main.bin (float64 [2 * total]): first moment or Muon momentum,
                      then second moment (zero for Muon parameters)
       norms.txt      the global gradient norm before clipping, per step
"""
import json
import math
import re
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

# METHOD.md section 2, "Optimizer (main recipe)" and "AdamW-only runs".
NS_A, NS_B, NS_C = 3.4445, -4.7750, 2.0315
NS_STEPS = 5
NS_EPS = 1e-7
NS_BF16 = True  # "run in bf16 on GPU"
MUON_FUSE = True  # "The authors fuse q,k,v ... and gate,up ...; retrobench should do the same"
RECIPES = {
    "muon": {"muon_lr": 1e-3, "muon_wd": 1e-4, "momentum": 0.95, "nesterov": True,
             "adam_lr": 5e-5, "adam_betas": (0.9, 0.95), "adam_wd": 1e-4, "adam_eps": 1e-10,
             "clip": 1.0},
    "adamw": {"adam_lr": 5e-5, "adam_betas": (0.9, 0.95), "adam_wd": 1e-4, "adam_eps": 1e-8,
              "clip": 1.0},
}

# Muon: every 2-D hidden matrix of the blocks, and the adapter.
MUON_NAME = re.compile(
    r"^model\.layers\.(\d+)\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$")
ADAM_NAME = re.compile(
    r"^(model\.embed_tokens\.weight|lm_head\.weight|model\.norm\.weight|"
    r"model\.layers\.\d+\.[a-z_.]*norm\.weight)$")


def to_bf16(t):
    """A float32 value rounded to bfloat16 (nearest, ties to even), as float64."""
    return t.float().bfloat16().double()


def newton_schulz(u, bf16=False):
    """The update direction O of METHOD.md for U [rows, cols]. With bf16 the
    matmuls see bf16-rounded operands (METHOD.md: NS runs in bf16) while the
    sums and X between steps keep full precision; a X is not rounded."""
    rows, cols = u.shape
    mm = (lambda p, q: to_bf16(p) @ to_bf16(q)) if bf16 else (lambda p, q: p @ q)
    x = u.T if rows > cols else u
    x = x / (torch.linalg.matrix_norm(x) + NS_EPS)
    for _ in range(NS_STEPS):
        a = mm(x, x.T)
        x = NS_A * x + mm(NS_B * a + NS_C * mm(a, a), x)
    if rows > cols:
        x = x.T
    return x * math.sqrt(max(1.0, rows / cols))


def newton_schulz_paper_bf16(u):
    """The paper's own form: X.bfloat16() and every operation in bf16."""
    rows, cols = u.shape
    x = (u.T if rows > cols else u).float().bfloat16()
    x = x / (x.norm() + NS_EPS)
    for _ in range(NS_STEPS):
        a = x @ x.T
        b = NS_B * a + NS_C * (a @ a)
        x = NS_A * x + b @ x
    if rows > cols:
        x = x.T
    return x.double() * math.sqrt(max(1.0, rows / cols))


def read_f32(path, n):
    data = np.fromfile(path, dtype=np.float32)
    if data.size != n:
        raise SystemExit(f"{path}: {data.size} floats, expected {n}")
    return data


def run_ortho(case):
    with open(f"{case}/ortho.json") as f:
        oj = json.load(f)
    mats, bf16 = oj["mats"], bool(oj.get("ns_bf16", False))
    total = sum(m["rows"] * m["cols"] for m in mats)
    flat = read_f32(f"{case}/ortho_in.bin", total)
    ref = np.zeros(total)
    emu = np.zeros(total)
    f32 = np.zeros(total)
    pbf = np.zeros(total)
    info = []
    for m in mats:
        r, c, o = m["rows"], m["cols"], m["offset"]
        u = torch.from_numpy(flat[o:o + r * c].astype(np.float64)).reshape(r, c)
        ref[o:o + r * c] = newton_schulz(u).reshape(-1).numpy()
        if bf16:
            emu[o:o + r * c] = newton_schulz(u, True).reshape(-1).numpy()
        f32[o:o + r * c] = newton_schulz(u.float()).double().reshape(-1).numpy()
        pbf[o:o + r * c] = newton_schulz_paper_bf16(u).reshape(-1).numpy()
        sv = torch.linalg.svdvals(u / torch.linalg.matrix_norm(u))
        info.append(f"{r} {c} {sv.min().item():.6e} {sv.max().item():.6e}")
    ref.tofile(f"{case}/ortho_ref.bin")
    if bf16:
        emu.tofile(f"{case}/ortho_emu.bin")
    f32.tofile(f"{case}/ortho_f32.bin")
    pbf.tofile(f"{case}/ortho_bf16.bin")
    with open(f"{case}/ortho_info.txt", "w") as f:
        f.write("\n".join(info) + "\n")


def muon_units(names, fuse):
    """Lists of parameter names orthogonalised together: q|k|v and gate|up
    of each layer when fused (stacked along the output rows), else one each."""
    units, seen = [], set()
    for name in names:
        if name in seen:
            continue
        mt = MUON_NAME.match(name)
        if fuse and mt and (mt.group(3) in ("q", "k", "v") or mt.group(4) in ("gate", "up")):
            pre = f"model.layers.{mt.group(1)}."
            if mt.group(3):
                group = [pre + f"self_attn.{p}_proj.weight" for p in ("q", "k", "v")]
            else:
                group = [pre + f"mlp.{p}_proj.weight" for p in ("gate", "up")]
            missing = [g for g in group if g not in names]
            if missing:
                raise SystemExit(f"fused group of {name}: {missing} absent")
        else:
            group = [name]
        seen.update(group)
        units.append(group)
    return units


def run_steps(case, variant):
    with open(f"{case}/case.json") as f:
        cj = json.load(f)
    hp = dict(RECIPES[cj["recipe"]])
    for k, v in cj.get("overrides", {}).items():
        if k not in hp:
            raise SystemExit(f"unknown override {k}")
        hp[k] = v
    fuse = bool(cj["fuse"])
    bf16 = bool(cj.get("ns_bf16", False))
    if variant == "alt_fuse":
        fuse = not fuse
    if variant == "alt_nonest":
        hp["nesterov"] = False
    if variant == "alt_nowd":
        hp["adam_wd"] = hp["muon_wd"] = 0.0
    clip = None if variant == "alt_noclip" else hp["clip"]

    table = cj["params"]
    total = sum(p["rows"] * p["cols"] for p in table)
    p0 = read_f32(f"{case}/params0.bin", total)
    params, muon_names, adam_list = {}, [], []
    for p in table:
        o, r, c = p["offset"], p["rows"], p["cols"]
        t = torch.nn.Parameter(torch.from_numpy(p0[o:o + r * c].astype(np.float64)).reshape(r, c))
        params[p["name"]] = t
        is_matrix = MUON_NAME.match(p["name"]) or p["name"] == "model.adapter.weight"
        if not is_matrix and not ADAM_NAME.match(p["name"]):
            raise SystemExit(f"{p['name']}: no optimizer group in METHOD.md")
        if is_matrix and cj["recipe"] == "muon":
            muon_names.append(p["name"])
        else:
            adam_list.append(t)
    adam = torch.optim.AdamW(adam_list, lr=hp["adam_lr"], betas=tuple(hp["adam_betas"]),
                             eps=hp["adam_eps"], weight_decay=hp["adam_wd"], foreach=False)
    units = muon_units(muon_names, fuse)
    mom = {n: torch.zeros_like(params[n]) for n in muon_names}
    norms = []
    with torch.no_grad():
        for s, mult in enumerate(cj["lr_mult"]):
            g = read_f32(f"{case}/grads_{s}.bin", total)
            for p in table:
                o, r, c = p["offset"], p["rows"], p["cols"]
                params[p["name"]].grad = torch.from_numpy(
                    g[o:o + r * c].astype(np.float64)).reshape(r, c)
            allp = list(params.values())
            if clip is not None:
                norms.append(torch.nn.utils.clip_grad_norm_(allp, clip).item())
            else:
                norms.append(math.sqrt(sum(float((q.grad ** 2).sum()) for q in allp)))
            for grp in adam.param_groups:
                grp["lr"] = hp["adam_lr"] * mult
            adam.step()
            lr = hp.get("muon_lr", 0.0) * mult
            beta = hp.get("momentum", 0.0)
            for unit in units:
                us = []
                for n in unit:
                    gr = params[n].grad
                    mom[n].mul_(beta).add_((1 - beta) * gr)
                    us.append((1 - beta) * gr + beta * mom[n] if hp["nesterov"] else mom[n].clone())
                o_all = newton_schulz(torch.cat(us, dim=0), bf16)
                row = 0
                for n in unit:
                    w = params[n]
                    o_n = o_all[row:row + w.shape[0]]
                    row += w.shape[0]
                    w.mul_(1 - lr * hp["muon_wd"]).sub_(lr * o_n)

    out = np.zeros(total)
    for p in table:
        o, r, c = p["offset"], p["rows"], p["cols"]
        out[o:o + r * c] = params[p["name"]].detach().reshape(-1).numpy()
    out.tofile(f"{case}/after_{variant}.bin")
    if variant == "main":
        state = np.zeros(2 * total)
        for p in table:
            o, n = p["offset"], p["rows"] * p["cols"]
            t = params[p["name"]]
            if p["name"] in mom:
                state[o:o + n] = mom[p["name"]].reshape(-1).numpy()
            else:
                st = adam.state[t]
                state[o:o + n] = st["exp_avg"].reshape(-1).numpy()
                state[total + o:total + o + n] = st["exp_avg_sq"].reshape(-1).numpy()
        state.tofile(f"{case}/state_main.bin")
        with open(f"{case}/norms.txt", "w") as f:
            f.write("\n".join(f"{x:.17g}" for x in norms) + "\n")


def write_recipe(path):
    lines = []
    for name, hp in RECIPES.items():
        for k, v in hp.items():
            if isinstance(v, tuple):
                for i, x in enumerate(v):
                    lines.append(f"{name} {k}{i + 1} {x!r}")
            else:
                lines.append(f"{name} {k} {float(v)!r}")
    for k, v in (("ns_a", NS_A), ("ns_b", NS_B), ("ns_c", NS_C), ("ns_steps", NS_STEPS),
                 ("ns_bf16", NS_BF16), ("muon_fuse", MUON_FUSE)):
        lines.append(f"muon {k} {float(v)!r}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("ortho", "step", "recipe"):
        raise SystemExit(__doc__)
    mode, case = sys.argv[1], sys.argv[2]
    if mode == "recipe":
        write_recipe(case)
        return
    if mode == "ortho":
        run_ortho(case)
        return
    with open(f"{case}/case.json") as f:
        recipe = json.load(f)["recipe"]
    variants = ["main", "alt_noclip", "alt_nowd"]
    if recipe == "muon":
        variants += ["alt_fuse", "alt_nonest"]
    for v in variants:
        run_steps(case, v)


if __name__ == "__main__":
    main()
