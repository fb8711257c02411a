#!/usr/bin/python3
"""torch_state_init.py: the distribution of the initial recurrent state s_0
of METHOD.md sections 1-2, as PyTorch gives it, for test_ref_state_init.c.

s_0 ~ TruncNormal(0, sigma, [-3 sigma, 3 sigma]), sigma = 0.008703882797784892
(the authors draw it with torch.nn.init.trunc_normal_). The constants below
are METHOD.md's, written here independently of the engine.

The reference numbers are the truncated normal's exact CDF and standard
deviation from torch.distributions.Normal. Before they are written, a
sample of 2,000,000 values from torch.nn.init.trunc_normal_ itself (the
authors' call) must agree with them (standard deviation within 0.3%,
Kolmogorov-Smirnov distance below 0.0025), so the numbers are the
distribution of the authors' code, not only of a formula.

usage: torch_state_init.py OUT_FILE
  OUT_FILE, text:
    line 1: sigma  std  bound        (bound = 3 sigma)
    line 2: n                        (grid points)
    n lines: x  F(x)                 the truncated normal's CDF on a grid
"""
import math
import sys

import torch

torch.set_default_dtype(torch.float64)

SIGMA = 0.008703882797784892  # METHOD.md section 1
TRUNC = 3.0                   # truncated at +-3 sigma


def main():
    out = sys.argv[1]
    std_normal = torch.distributions.Normal(0.0, 1.0)
    b = torch.tensor(TRUNC)
    mass = float(std_normal.cdf(b) - std_normal.cdf(-b))
    pdf_b = float(std_normal.log_prob(b).exp())
    # variance of a standard normal truncated to [-b, b]: 1 - 2 b phi(b) / mass
    std = SIGMA * math.sqrt(1.0 - 2.0 * TRUNC * pdf_b / mass)
    bound = TRUNC * SIGMA

    grid = torch.linspace(-1.05 * bound, 1.05 * bound, 421)
    lo = float(std_normal.cdf(-b))
    cdf = ((std_normal.cdf(grid / SIGMA) - lo) / mass).clamp(0.0, 1.0)

    # The authors' sampler must agree with the formula.
    torch.manual_seed(20251107)
    x = torch.empty(2_000_000)
    torch.nn.init.trunc_normal_(x, mean=0.0, std=SIGMA, a=-bound, b=bound)
    emp_std = float(x.std())
    xs, _ = torch.sort(x)
    emp_cdf = torch.searchsorted(xs, grid, right=True).double() / x.numel()
    ks = float((emp_cdf - cdf).abs().max())
    if abs(emp_std / std - 1.0) > 3e-3 or ks > 2.5e-3 or float(x.abs().max()) > bound:
        sys.exit("torch_state_init.py: trunc_normal_ disagrees with the formula: std %.6g vs %.6g, "
                 "KS %.4g, max %.6g vs bound %.6g" % (emp_std, std, ks, float(x.abs().max()), bound))

    with open(out, "w") as f:
        f.write("%.17g %.17g %.17g\n" % (SIGMA, std, bound))
        f.write("%d\n" % grid.numel())
        for g, c in zip(grid.tolist(), cdf.tolist()):
            f.write("%.17g %.17g\n" % (g, c))
    print("s_0 reference: sigma %.6g, truncated std %.6g (%.4f sigma), bound %.6g; "
          "torch trunc_normal_ sample: std %.6g, KS %.2e"
          % (SIGMA, std, std / SIGMA, bound, emp_std, ks))


if __name__ == "__main__":
    main()
