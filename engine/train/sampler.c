/* sampler.c: the per-micro-batch recurrence sampler of the retrofitting
 * recipe ("Poisson-lognormal filling", METHOD.md section 2). */
#include "rb_sched.h"

#include <math.h>

void rb_depth_opts_default(rb_depth_opts *o)
{
    o->mode = RB_DEPTH_SAMPLED;
    o->sigma = RB_DEPTH_SIGMA_DEFAULT;
    o->backprop_depth = RB_DEPTH_BACKPROP_DEFAULT;
}

rb_depth rb_depth_draw(rb_rng *rng, int rbar, int backprop_depth, double sigma)
{
    int s = rb_effective_backprop(rbar, backprop_depth);
    /* tau ~ Normal(ln(rbar) - sigma^2/2, sigma): the correction makes
     * E[exp(tau)] = rbar, so E[p] = rbar + 1. */
    double tau = log((double)rbar) - sigma * sigma / 2.0 + sigma * rb_rng_normal(rng);
    /* The option limits (rbar <= 65536, sigma <= 1, |normal| < 8.6) keep
     * exp(tau) below 3.6e8, so p fits in int with a wide margin. */
    int p = (int)rb_rng_poisson(rng, exp(tau)) + 1;
    rb_depth d;
    d.n = p > s ? p - s : 0;
    d.k = p < s ? p : s;
    d.total = d.n + d.k;
    return d;
}

rb_status rb_depth_sample(const rb_depth_opts *opts, uint64_t seed, int64_t step, int micro,
                          int rbar, rb_depth *out, rb_error *err)
{
    rb_depth_opts def;
    if (!opts) {
        rb_depth_opts_default(&def);
        opts = &def;
    }
    if (!out) return rb_fail(err, RB_EINVAL, "rb_depth_sample: out is NULL");
    if (rbar < 1 || rbar > RB_DEPTH_RBAR_MAX)
        return rb_fail(err, RB_EINVAL,
                       "recurrence sampler: mean recurrence rbar = %d is outside [1, %d]", rbar,
                       RB_DEPTH_RBAR_MAX);
    if (opts->backprop_depth < 1)
        return rb_fail(err, RB_EINVAL,
                       "recurrence sampler: backprop depth b = %d must be >= 1",
                       opts->backprop_depth);
    if (!(opts->sigma >= 0.0 && opts->sigma <= RB_DEPTH_SIGMA_MAX))
        return rb_fail(err, RB_EINVAL,
                       "recurrence sampler: sigma = %g is outside [0, %g] (the recipe uses 0.5)",
                       opts->sigma, RB_DEPTH_SIGMA_MAX);
    if (step < 0 || step >= ((int64_t)1 << 43))
        return rb_fail(err, RB_EINVAL, "recurrence sampler: step = %lld is outside [0, 2^43)",
                       (long long)step);
    if (micro < 0 || micro >= RB_DEPTH_MICRO_LIMIT)
        return rb_fail(err, RB_EINVAL,
                       "recurrence sampler: micro-batch index %d is outside [0, %d)", micro,
                       RB_DEPTH_MICRO_LIMIT);

    int s = rb_effective_backprop(rbar, opts->backprop_depth);
    switch (opts->mode) {
    case RB_DEPTH_SAMPLED: {
        rb_rng rng;
        /* One generator per (seed, step, micro): no state carried between
         * draws, so workers and resumed runs agree without coordination. */
        rb_rng_seed2(&rng, seed, (uint64_t)step * (uint64_t)RB_DEPTH_MICRO_LIMIT + (uint64_t)micro);
        *out = rb_depth_draw(&rng, rbar, opts->backprop_depth, opts->sigma);
        return RB_OK;
    }
    case RB_DEPTH_FIXED_EVAL:
        out->n = rbar;
        out->k = 0;
        out->total = rbar;
        return RB_OK;
    case RB_DEPTH_FIXED_TRAIN:
        out->n = rbar > s ? rbar - s : 0;
        out->k = s;
        out->total = rbar;
        return RB_OK;
    }
    return rb_fail(err, RB_EINVAL, "recurrence sampler: unknown mode %d", (int)opts->mode);
}

rb_status rb_sample_depth(uint64_t seed, int64_t step, int micro, int rbar, int backprop_depth,
                          int *n, int *k, rb_error *err)
{
    rb_depth_opts o;
    rb_depth_opts_default(&o);
    o.backprop_depth = backprop_depth;
    rb_depth d = {0, 0, 0};
    rb_status st = rb_depth_sample(&o, seed, step, micro, rbar, &d, err);
    if (st != RB_OK) return st;
    if (n) *n = d.n;
    if (k) *k = d.k;
    return RB_OK;
}
