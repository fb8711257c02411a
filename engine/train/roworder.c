/* roworder.c: which rows of a token file are training and validation rows,
 * and the seeded order in which training visits them. */
#include "rb_data.h"
#include "rb_rng.h"

#include <math.h>

rb_status rb_split_rows(uint64_t n_rows, double val_fraction, uint64_t *n_train,
                        uint64_t *n_val, rb_error *err)
{
    if (!(val_fraction >= 0.0 && val_fraction < 1.0))
        return rb_fail(err, RB_EINVAL, "validation split: val_fraction = %g is outside [0, 1)",
                       val_fraction);
    uint64_t v = (uint64_t)ceil(val_fraction * (double)n_rows);
    if (v > n_rows) v = n_rows;
    if (n_rows - v < 1)
        return rb_fail(err, RB_EINVAL,
                       "validation split: %llu rows with val_fraction %g leave no training row; "
                       "use more data or a smaller fraction",
                       (unsigned long long)n_rows, val_fraction);
    if (n_train) *n_train = n_rows - v;
    if (n_val) *n_val = v;
    return RB_OK;
}

/* Uniform integer in [0, bound) without modulo bias (Lemire's method). */
static uint64_t below(rb_rng *r, uint64_t bound)
{
    unsigned __int128 m = (unsigned __int128)rb_rng_u64(r) * bound;
    uint64_t lo = (uint64_t)m;
    if (lo < bound) {
        uint64_t t = (0 - bound) % bound;
        while (lo < t) {
            m = (unsigned __int128)rb_rng_u64(r) * bound;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

rb_status rb_row_order(uint64_t n, uint64_t seed, uint64_t epoch, uint64_t *perm,
                       rb_error *err)
{
    if (n > 0 && !perm) return rb_fail(err, RB_EINVAL, "row order: perm is NULL");
    rb_rng r;
    rb_rng_seed2(&r, seed, epoch);
    for (uint64_t i = 0; i < n; i++) perm[i] = i;
    /* Fisher-Yates from the end: position i takes a uniform pick of 0..i */
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = below(&r, i);
        uint64_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    return RB_OK;
}
