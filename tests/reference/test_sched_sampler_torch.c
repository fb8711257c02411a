/* test_sched_sampler_torch.c: our recurrence sampler against the authors'
 * own formulation run in PyTorch (torch log_normal_ for exp(tau), then
 * torch.poisson, one fresh generator per micro-batch seeded 514229 + step,
 * as in their training script). The two samplers use different generators,
 * so the check is distributional: a two-sample chi-square test on the
 * histograms of p, plus the percentiles each gives. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_sched.h"
#include "rb_test.h"

#define N_TORCH 20000
#define N_OURS 100000
#define PMAX 400

static const char *python(void)
{
    static char path[4096];
    const char *src = getenv("RB_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/.venv/bin/python", src ? src : ".");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", path);
    if (system(cmd) == 0) return path;
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) return "/usr/bin/python3";
    return NULL;
}

/* Written here from the formula in the authors' train.py (num_steps_sampler). */
static const char *script =
    "import math, sys, torch\n"
    "rbar, b, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n"
    "s = min(b, rbar)\n"
    "t = max(rbar - s, 0)\n"
    "hist = [0] * " "400" "\n"
    "for step in range(1, n + 1):\n"
    "    g = torch.Generator(device='cpu')\n"
    "    g.manual_seed((514229 + step) % (2**31 - 1))\n"
    "    mu = math.log(t + s) - 0.5 ** 2 / 2\n"
    "    rate = torch.zeros((1,)).log_normal_(mean=mu, std=0.5, generator=g)\n"
    "    p = int((torch.poisson(torch.tensor([rate], dtype=torch.float), generator=g) + 1).item())\n"
    "    hist[min(p, 399)] += 1\n"
    "print(' '.join(map(str, hist)))\n";

static void torch_hist(const char *py, int rbar, long *hist)
{
    const char *dir = rb_test_tmpdir();
    char spath[512], cmd[5000];
    snprintf(spath, sizeof spath, "%s/authors_sampler.py", dir);
    FILE *f = fopen(spath, "w");
    ck_assert_ptr_nonnull(f);
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s %s %d 8 %d", py, spath, rbar, N_TORCH);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < PMAX; i++) ck_assert_int_eq(fscanf(p, "%ld", &hist[i]), 1);
    ck_assert_int_eq(pclose(p), 0);
}

static int hist_percentile(const long *h, long n, double q)
{
    long need = (long)ceil(q * n), c = 0;
    for (int i = 0; i < PMAX; i++) {
        c += h[i];
        if (c >= need) return i;
    }
    return PMAX - 1;
}

static void compare(const char *py, int rbar)
{
    long th[PMAX], oh[PMAX];
    torch_hist(py, rbar, th);
    memset(oh, 0, sizeof oh);
    for (int i = 0; i < N_OURS; i++) {
        rb_depth d;
        ck_assert_int_eq(rb_depth_sample(NULL, 2024, i, 0, rbar, &d, NULL), RB_OK);
        oh[d.total < PMAX ? d.total : PMAX - 1]++;
    }
    /* two-sample chi-square over bins pooled to >= 20 draws in the smaller sample's scale */
    double k1 = sqrt((double)N_OURS / N_TORCH), k2 = sqrt((double)N_TORCH / N_OURS);
    double chi2 = 0, a = 0, b = 0;
    int bins = 0;
    for (int i = 0; i < PMAX; i++) {
        a += th[i];
        b += oh[i];
        if (a + b * N_TORCH / (double)N_OURS >= 40 || i == PMAX - 1) {
            if (a + b > 0) {
                chi2 += (k1 * a - k2 * b) * (k1 * a - k2 * b) / (a + b);
                bins++;
            }
            a = b = 0;
        }
    }
    int df = bins - 1;
    double z = 3.7190, w = 2.0 / (9.0 * df), t = 1.0 - w + z * sqrt(w);
    double crit = df * t * t * t;
    printf("rbar %d: authors' torch sampler p5/p50/p95 = %d/%d/%d (%d draws); ours %d/%d/%d "
           "(%d draws); two-sample chi2 %.1f on %d dof (0.01%% point %.1f)\n",
           rbar, hist_percentile(th, N_TORCH, 0.05), hist_percentile(th, N_TORCH, 0.5),
           hist_percentile(th, N_TORCH, 0.95), N_TORCH, hist_percentile(oh, N_OURS, 0.05),
           hist_percentile(oh, N_OURS, 0.5), hist_percentile(oh, N_OURS, 0.95), N_OURS, chi2, df,
           crit);
    ck_assert_msg(chi2 < crit, "distributions differ: chi2 %.1f > %.1f", chi2, crit);
}

static const char *py_path;

START_TEST(rbar4) { compare(py_path, 4); }
END_TEST

START_TEST(rbar32) { compare(py_path, 32); }
END_TEST

int main(void)
{
    py_path = python();
    if (!py_path) {
        printf("SKIP: needs a python with torch (.venv/bin/python or /usr/bin/python3), which is absent\n");
        return RB_TEST_SKIP;
    }
    Suite *s = suite_create("sched_sampler_torch");
    TCase *tc = tcase_create("torch");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, rbar4);
    tcase_add_test(tc, rbar32);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
