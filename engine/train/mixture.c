/* mixture.c: a deterministic weighted interleave of rows from several token
 * files (e.g. general text for healing plus task data), each source's rows
 * in a seeded random order that is reshuffled at every pass. */
#include "rb_data.h"
#include "rb_rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const rb_tokfile *file;
    double w;         /* normalised weight */
    uint64_t first;   /* first row used */
    uint64_t n;       /* rows used */
    uint64_t taken;   /* rows given so far */
    uint64_t epoch;   /* pass whose order is in perm */
    uint64_t *perm;   /* order of the current pass */
} source;

struct rb_mixture {
    source *s;
    int n_src;
    uint64_t seed;
    uint64_t pos;
    uint32_t row_len;
};

void rb_mixture_free(rb_mixture *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_src; i++) free(m->s[i].perm);
    free(m->s);
    free(m);
}

static rb_status shuffle_pass(rb_mixture *m, int i, uint64_t epoch, rb_error *err)
{
    rb_rng r;
    /* a per-source seed so that adding a source does not reorder the others */
    rb_rng_seed2(&r, m->seed, (uint64_t)i);
    uint64_t src_seed = rb_rng_u64(&r);
    m->s[i].epoch = epoch;
    return rb_row_order(m->s[i].n, src_seed, epoch, m->s[i].perm, err);
}

static rb_status reset(rb_mixture *m, rb_error *err)
{
    m->pos = 0;
    for (int i = 0; i < m->n_src; i++) {
        m->s[i].taken = 0;
        rb_status st = shuffle_pass(m, i, 0, err);
        if (st != RB_OK) return st;
    }
    return RB_OK;
}

rb_status rb_mixture_create(rb_mixture **out, const rb_mix_source *src, int n_src,
                            uint64_t seed, rb_error *err)
{
    if (!out || !src) return rb_fail(err, RB_EINVAL, "mixture: NULL argument");
    *out = NULL;
    if (n_src < 1) return rb_fail(err, RB_EINVAL, "mixture: needs at least one source");
    double wsum = 0.0;
    for (int i = 0; i < n_src; i++) {
        const rb_tokfile *f = src[i].file;
        if (!f) return rb_fail(err, RB_EINVAL, "mixture: source %d has no file", i);
        const rb_tokfile_info *in = rb_tokfile_get_info(f);
        const rb_tokfile_info *in0 = rb_tokfile_get_info(src[0].file);
        if (in->row_len == 0)
            return rb_fail(err, RB_EINVAL,
                           "mixture: source %d (%s) is not packed into rows (row_len 0)", i,
                           rb_tokfile_path(f));
        if (in->row_len != in0->row_len)
            return rb_fail(err, RB_EINVAL,
                           "mixture: source %d (%s) has row_len %u but source 0 (%s) has %u", i,
                           rb_tokfile_path(f), in->row_len, rb_tokfile_path(src[0].file),
                           in0->row_len);
        if (in->vocab_size != in0->vocab_size)
            return rb_fail(err, RB_EINVAL,
                           "mixture: source %d (%s) has vocab_size %u but source 0 (%s) has %u: "
                           "different tokenizers?",
                           i, rb_tokfile_path(f), in->vocab_size, rb_tokfile_path(src[0].file),
                           in0->vocab_size);
        if (!(src[i].weight > 0.0) || !isfinite(src[i].weight))
            return rb_fail(err, RB_EINVAL, "mixture: source %d (%s) has weight %g; it must be > 0",
                           i, rb_tokfile_path(f), src[i].weight);
        if (src[i].first_row >= in->n_rows)
            return rb_fail(err, RB_EINVAL,
                           "mixture: source %d (%s): first_row %llu is past its %llu rows", i,
                           rb_tokfile_path(f), (unsigned long long)src[i].first_row,
                           (unsigned long long)in->n_rows);
        if (src[i].n_rows > in->n_rows - src[i].first_row)
            return rb_fail(err, RB_EINVAL,
                           "mixture: source %d (%s): rows [%llu, %llu) go past its %llu rows", i,
                           rb_tokfile_path(f), (unsigned long long)src[i].first_row,
                           (unsigned long long)(src[i].first_row + src[i].n_rows),
                           (unsigned long long)in->n_rows);
        wsum += src[i].weight;
    }
    rb_mixture *m = calloc(1, sizeof *m);
    if (!m) return rb_fail(err, RB_ENOMEM, "mixture: out of memory");
    m->s = calloc((size_t)n_src, sizeof *m->s);
    if (!m->s) {
        free(m);
        return rb_fail(err, RB_ENOMEM, "mixture: out of memory");
    }
    m->n_src = n_src;
    m->seed = seed;
    m->row_len = rb_tokfile_get_info(src[0].file)->row_len;
    for (int i = 0; i < n_src; i++) {
        source *s = &m->s[i];
        s->file = src[i].file;
        s->w = src[i].weight / wsum;
        s->first = src[i].first_row;
        s->n = src[i].n_rows ? src[i].n_rows : rb_tokfile_get_info(s->file)->n_rows - s->first;
        s->perm = malloc((size_t)s->n * sizeof *s->perm);
        if (!s->perm) {
            rb_mixture_free(m);
            return rb_fail(err, RB_ENOMEM, "mixture: out of memory for the order of %llu rows",
                           (unsigned long long)s->n);
        }
    }
    rb_status st = reset(m, err);
    if (st != RB_OK) {
        rb_mixture_free(m);
        return st;
    }
    *out = m;
    return RB_OK;
}

uint32_t rb_mixture_row_len(const rb_mixture *m) { return m->row_len; }

uint64_t rb_mixture_position(const rb_mixture *m) { return m->pos; }

rb_status rb_mixture_next(rb_mixture *m, int *src, uint64_t *row, rb_error *err)
{
    /* largest deficit first: keeps every source within one row of its share */
    int best = 0;
    double best_def = -INFINITY;
    double target = (double)(m->pos + 1);
    for (int i = 0; i < m->n_src; i++) {
        double def = m->s[i].w * target - (double)m->s[i].taken;
        if (def > best_def) {
            best_def = def;
            best = i;
        }
    }
    source *s = &m->s[best];
    uint64_t epoch = s->taken / s->n;
    if (epoch != s->epoch) {
        rb_status st = shuffle_pass(m, best, epoch, err);
        if (st != RB_OK) return st;
    }
    uint64_t r = s->first + s->perm[s->taken % s->n];
    s->taken++;
    m->pos++;
    if (src) *src = best;
    if (row) *row = r;
    return RB_OK;
}

rb_status rb_mixture_next_row(rb_mixture *m, int32_t *out, int *src, rb_error *err)
{
    int s;
    uint64_t row;
    rb_status st = rb_mixture_next(m, &s, &row, err);
    if (st != RB_OK) return st;
    if (src) *src = s;
    return rb_tokfile_row(m->s[s].file, row, out, err);
}

rb_status rb_mixture_seek(rb_mixture *m, uint64_t position, rb_error *err)
{
    /* replay: the sequence has no closed form once passes wrap */
    rb_status st = reset(m, err);
    while (st == RB_OK && m->pos < position) st = rb_mixture_next(m, NULL, NULL, err);
    return st;
}
