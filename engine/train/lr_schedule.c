/* lr_schedule.c: learning-rate multipliers (warmup-stable-decay and cosine
 * with warmup) of the retrofitting recipe (METHOD.md section 2). */
#include "rb_sched.h"

#include <math.h>

void rb_lr_schedule_default(rb_lr_schedule *s)
{
    s->kind = RB_LR_WSD;
    s->decay = RB_LR_DECAY_COSINE;
    s->warmup_fraction = 0.0025;
    s->decay_fraction = 0.6;
    s->min_ratio = 0.001;
}

rb_status rb_lr_schedule_check(const rb_lr_schedule *s, int64_t total_steps, rb_error *err)
{
    if (!s) return rb_fail(err, RB_EINVAL, "lr schedule: NULL");
    if (s->kind != RB_LR_WSD && s->kind != RB_LR_COSINE)
        return rb_fail(err, RB_EINVAL, "lr schedule: unknown kind %d (use wsd or cosine)",
                       (int)s->kind);
    if (s->decay != RB_LR_DECAY_COSINE && s->decay != RB_LR_DECAY_LINEAR &&
        s->decay != RB_LR_DECAY_1SQRT)
        return rb_fail(err, RB_EINVAL,
                       "lr schedule: unknown decay shape %d (use cosine, linear or 1-sqrt)",
                       (int)s->decay);
    if (!(s->warmup_fraction >= 0.0 && s->warmup_fraction <= 1.0))
        return rb_fail(err, RB_EINVAL, "lr schedule: warmup_fraction = %g is outside [0, 1]",
                       s->warmup_fraction);
    if (s->kind == RB_LR_WSD) {
        if (!(s->decay_fraction >= 0.0 && s->decay_fraction <= 1.0))
            return rb_fail(err, RB_EINVAL, "lr schedule: decay_fraction = %g is outside [0, 1]",
                           s->decay_fraction);
    }
    if (!(s->min_ratio >= 0.0 && s->min_ratio <= 1.0))
        return rb_fail(err, RB_EINVAL, "lr schedule: min_ratio = %g is outside [0, 1]",
                       s->min_ratio);
    if (total_steps < 1)
        return rb_fail(err, RB_EINVAL, "lr schedule: total_steps = %lld must be >= 1",
                       (long long)total_steps);
    /* The fractions must fit in the run; rounding each up to whole steps
     * may still overflow a very short run, where the decay is then shortened
     * (see rb_lr_multiplier) rather than the run refused. */
    if (s->kind == RB_LR_WSD && s->warmup_fraction + s->decay_fraction > 1.0 + 1e-12)
        return rb_fail(err, RB_EINVAL,
                       "lr schedule: warmup (%g) + decay (%g) fractions exceed the whole run; "
                       "lower warmup_fraction or decay_fraction", s->warmup_fraction,
                       s->decay_fraction);
    return RB_OK;
}

static double decay_shape(rb_lr_decay_shape shape, double x)
{
    switch (shape) {
    case RB_LR_DECAY_LINEAR: return 1.0 - x;
    case RB_LR_DECAY_1SQRT: return 1.0 - sqrt(x);
    case RB_LR_DECAY_COSINE: break;
    }
    /* Hugging Face writes cos(pi * num_cycles * 2 * x) with num_cycles 0.5:
     * the same product, kept in that order for identical rounding. */
    return 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * x));
}

double rb_lr_multiplier(const rb_lr_schedule *s, int64_t step, int64_t total_steps)
{
    double m = s->min_ratio;
    int64_t w = (int64_t)ceil(s->warmup_fraction * (double)total_steps);
    int64_t d = s->kind == RB_LR_WSD ? (int64_t)ceil(s->decay_fraction * (double)total_steps)
                                     : total_steps - w;
    if (d > total_steps - w) d = total_steps - w; /* short runs: rounding up overflowed */
    if (d < 0) d = 0;
    int64_t stable = total_steps - w - d;
    if (stable < 0) stable = 0;
    if (step < w) {
        double progress = (double)step / (double)(w > 1 ? w : 1);
        double f = progress * (1.0 - m) + m;
        return f > 0.0 ? f : 0.0;
    }
    if (step < w + stable) return 1.0;
    if (step < w + stable + d) {
        double progress = (double)(step - w - stable) / (double)(d > 1 ? d : 1);
        double f = decay_shape(s->decay, progress) * (1.0 - m) + m;
        return f > 0.0 ? f : 0.0;
    }
    return m;
}
