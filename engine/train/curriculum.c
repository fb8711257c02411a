/* curriculum.c: step -> mean recurrence (or backprop depth) curricula of the
 * retrofitting recipe (METHOD.md section 2). The arithmetic mirrors the
 * authors' use of a warmup-stable-decay scheduler on a dummy optimizer whose
 * "learning rate" is the value, read back through ceil. */
#include "rb_sched.h"

#include <math.h>

void rb_curriculum_rbar_default(rb_curriculum *c, int rbar_max)
{
    c->shape = RB_CURRIC_1SQRT;
    c->warmup_fraction = 0.75;
    c->max_value = rbar_max;
    c->min_ratio = 0.0;
    c->step_offset = 0;
    c->table = NULL;
    c->table_len = 0;
}

void rb_curriculum_backprop_authors(rb_curriculum *c, int start, int max_depth,
                                    double warmup_fraction)
{
    /* The authors start their scheduler one below `start` and step it once
     * before training so the first value read is `start` (for start >= 2). */
    double s = start - 1 > 1 ? (double)(start - 1) : 1.0;
    double m = max_depth > 0 ? s / (double)max_depth : 0.0;
    c->shape = RB_CURRIC_LINEAR;
    c->warmup_fraction = warmup_fraction;
    c->max_value = max_depth;
    c->min_ratio = m < 0.0 ? 0.0 : (m > 1.0 ? 1.0 : m);
    c->step_offset = 1;
    c->table = NULL;
    c->table_len = 0;
}

void rb_curriculum_set_table(rb_curriculum *c, const int32_t *values, int64_t n)
{
    int32_t mx = 1;
    for (int64_t i = 0; values && i < n; i++)
        if (values[i] > mx) mx = values[i];
    c->shape = RB_CURRIC_TABLE;
    c->max_value = mx;
    c->table = values;
    c->table_len = n;
}

uint64_t rb_curriculum_table_hash(const rb_curriculum *c)
{
    if (!c || c->shape != RB_CURRIC_TABLE || !c->table) return 0;
    uint64_t h = 0xcbf29ce484222325ull;
    const uint64_t n = (uint64_t)c->table_len;
    for (int i = 0; i < 8; i++) h = (h ^ ((n >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    for (int64_t k = 0; k < c->table_len; k++) {
        const uint32_t v = (uint32_t)c->table[k];
        for (int i = 0; i < 4; i++) h = (h ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    }
    return h;
}

rb_status rb_curriculum_check(const rb_curriculum *c, int64_t total_steps, rb_error *err)
{
    if (!c) return rb_fail(err, RB_EINVAL, "curriculum: NULL");
    if (c->shape != RB_CURRIC_CONSTANT && c->shape != RB_CURRIC_LINEAR &&
        c->shape != RB_CURRIC_1SQRT && c->shape != RB_CURRIC_TABLE)
        return rb_fail(err, RB_EINVAL,
                       "curriculum: unknown shape %d (use constant, linear or 1-sqrt)",
                       (int)c->shape);
    if (c->shape == RB_CURRIC_TABLE) {
        if (!c->table || c->table_len < 1)
            return rb_fail(err, RB_EINVAL, "curriculum: a tabulated curriculum without values (give one "
                                           "value per step, e.g. a Lua function of the step)");
        if (total_steps < 1 || c->table_len < total_steps)
            return rb_fail(err, RB_EINVAL, "curriculum: the table has %lld values for %lld steps; give "
                                           "one value per step", (long long)c->table_len,
                           (long long)total_steps);
        for (int64_t i = 0; i < c->table_len; i++)
            if (c->table[i] < 1 || c->table[i] > RB_DEPTH_RBAR_MAX || c->table[i] > c->max_value)
                return rb_fail(err, RB_EINVAL, "curriculum: the table's value at step %lld is %d; values "
                                               "must be in 1..%d (and at most max_value %d)",
                               (long long)i, (int)c->table[i], RB_DEPTH_RBAR_MAX, c->max_value);
        return RB_OK;
    }
    if (!(c->warmup_fraction >= 0.0 && c->warmup_fraction <= 1.0))
        return rb_fail(err, RB_EINVAL, "curriculum: warmup_fraction = %g is outside [0, 1]",
                       c->warmup_fraction);
    if (c->max_value < 1)
        return rb_fail(err, RB_EINVAL, "curriculum: max_value = %d must be >= 1", c->max_value);
    if (!(c->min_ratio >= 0.0 && c->min_ratio <= 1.0))
        return rb_fail(err, RB_EINVAL, "curriculum: min_ratio = %g is outside [0, 1]",
                       c->min_ratio);
    if (c->step_offset < 0)
        return rb_fail(err, RB_EINVAL, "curriculum: step_offset = %lld must be >= 0",
                       (long long)c->step_offset);
    if (total_steps < 1)
        return rb_fail(err, RB_EINVAL, "curriculum: total_steps = %lld must be >= 1",
                       (long long)total_steps);
    return RB_OK;
}

int64_t rb_curriculum_warmup_steps(const rb_curriculum *c, int64_t total_steps)
{
    /* Python's math.ceil(fraction * total) in double precision. */
    return (int64_t)ceil(c->warmup_fraction * (double)total_steps);
}

int rb_curriculum_value(const rb_curriculum *c, int64_t step, int64_t total_steps)
{
    if (c->shape == RB_CURRIC_CONSTANT) return c->max_value;
    if (c->shape == RB_CURRIC_TABLE) return c->table[step < c->table_len ? step : c->table_len - 1];
    int64_t w = rb_curriculum_warmup_steps(c, total_steps);
    int64_t s = step + c->step_offset;
    if (s >= w) return c->max_value;
    double progress = (double)s / (double)(w > 1 ? w : 1);
    double f = c->shape == RB_CURRIC_LINEAR ? progress : 1.0 - sqrt(1.0 - progress);
    f = f * (1.0 - c->min_ratio) + c->min_ratio;
    /* Same order of operations as base_value * lambda(step), then ceil: the
     * float rounding at step boundaries matches the authors' run. */
    double v = ceil((double)c->max_value * f);
    if (v < 1.0) v = 1.0; /* the schedule starts at 0; the recipe starts at 1 */
    return (int)v;
}
