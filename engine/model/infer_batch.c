/* infer_batch.c: batched greedy decoding with per-sequence KV caches, a
 * shared prefix and depth-independent prompt preludes (see rb_batch.h).
 *
 * Cache layout, as in infer.c: one slot per prelude layer, per (iteration,
 * layer) of the recurrent block and per coda layer, each [2][cap][Dkv]
 * (keys, then values). A sequence at depth r owns P + r R + C slots; the
 * prefix keeps its prelude slots once and, per depth, its recurrent and
 * coda slots; a prompt keeps its prelude slots for rows 0 .. n-1 (the
 * prefix rows copied in). Starting a sequence copies rows; a decode step
 * appends one row per sequence.
 *
 * Every row is computed by the same operations as in rb_session_feed:
 * weight products through rb_linear_rows (batch-invariant), attention per
 * sequence (row-invariant), s_0 per (seed, position). Rows of a decode
 * step are ordered by depth, deepest first, so iteration i runs on a
 * prefix of the rows: those whose depth exceeds i. */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "rb_batch.h"
#include "rb_infer.h"

#define CHUNK 128 /* prefill rows per pass */

/* Slots [first, first + count) of a cache stored at base with room for cap rows. */
typedef struct {
    float *base;
    int cap, first;
} kvbuf;

typedef struct {
    int active, depth, pos, cap;
    float *cache;    /* backend [P + depth R + C][2][cap][Dkv] */
    size_t floats;   /* allocated */
    float *logits;   /* host [V] */
} seq_t;

typedef struct {
    int used, n, shared;
    int32_t *tokens; /* host [n] */
    float *kv;       /* backend [P][2][n][Dkv] */
    float *e;        /* backend [n - shared, h] */
} prompt_t;

struct rb_batch {
    rb_model *m;
    rb_batch_opts o;
    int P, R, C, h, V, Dkv, rows;
    /* prefix */
    int Lp;
    int32_t *pre_tok;   /* host [Lp] */
    float *pre_kv;      /* backend [P][2][Lp][Dkv] */
    float *pre_e;       /* backend [Lp, h] */
    float **pre_depth;  /* [max_depth + 1]: backend [rR + C][2][Lp][Dkv] or NULL */
    /* prompts and sequences */
    prompt_t *prompts;
    int n_prompts;
    seq_t *seqs;
    /* scratch */
    float *arena;       /* backend */
    int32_t *ints;      /* backend [2 * rows]: tokens, positions */
    rb_block_acts acts;
    float *e, *s, *x, *c; /* backend [rows, h] */
    float *xf;          /* backend [rows, h] */
    float *logits;      /* backend [rows, V] */
    float *host_s0;     /* [rows, h] */
    int32_t *host_ints; /* [2 * rows] */
    int *order, *depth_of; /* [max_seqs] */
    rb_kv_seg *segs;    /* [max_seqs] */
    size_t bytes;
};

static float *kv_k(const kvbuf *kv, int slot, int Dkv)
{
    return kv->base + (size_t)(slot - kv->first) * 2 * kv->cap * Dkv;
}
static float *kv_v(const kvbuf *kv, int slot, int Dkv) { return kv_k(kv, slot, Dkv) + (size_t)kv->cap * Dkv; }

static int n_slots(const rb_batch *b, int depth) { return b->P + depth * b->R + b->C; }
static int eff_depth(const rb_batch *b, int depth) { return b->R > 0 ? depth : 1; }

rb_status rb_batch_create(rb_batch **out, rb_model *m, const rb_batch_opts *o, rb_error *err)
{
    *out = NULL;
    const rb_config *c = &m->cfg;
    if (o->max_seqs < 1 || o->max_seqs > 4096)
        return rb_fail(err, RB_EINVAL, "batch: max_seqs %d must be in 1..4096", o->max_seqs);
    if (o->max_tokens < 1 || o->max_tokens > c->max_seq_len)
        return rb_fail(err, RB_EINVAL, "batch: max_tokens %d must be in 1..%d (the model's max_seq_len)",
                       o->max_tokens, c->max_seq_len);
    if (rb_config_is_recurrent(c) && (o->max_depth < 1 || o->max_depth > 4096))
        return rb_fail(err, RB_EINVAL, "batch: max_depth %d must be in 1..4096", o->max_depth);
    rb_batch *b = calloc(1, sizeof *b);
    if (!b) return rb_fail(err, RB_ENOMEM, "batch: out of memory");
    b->m = m;
    b->o = *o;
    if (!rb_config_is_recurrent(c)) b->o.max_depth = 1;
    b->P = c->n_prelude;
    b->R = c->n_recur;
    b->C = c->n_coda;
    b->h = c->dim;
    b->V = c->vocab_size;
    b->Dkv = rb_config_kv_dim(c);
    b->rows = o->max_seqs > CHUNK ? o->max_seqs : CHUNK;
    const size_t h = (size_t)b->h, rows = (size_t)b->rows;
    rb_backend *be = m->be;

    size_t used = 0;
    rb_block_acts_carve(NULL, &used, c, 1, b->rows, &b->acts, 0);
    size_t arena_n = (used + 15) / 16 * 16 + 5 * rows * h + rows * (size_t)b->V;
    rb_status st = be->alloc(be, (void **)&b->arena, arena_n * sizeof(float), err);
    if (st == RB_OK) st = be->alloc(be, (void **)&b->ints, 2 * rows * sizeof(int32_t), err);
    b->pre_depth = calloc((size_t)b->o.max_depth + 1, sizeof *b->pre_depth);
    b->seqs = calloc((size_t)o->max_seqs, sizeof *b->seqs);
    b->host_s0 = malloc(rows * h * sizeof(float));
    b->host_ints = malloc(2 * rows * sizeof(int32_t));
    b->order = malloc((size_t)o->max_seqs * sizeof(int));
    b->depth_of = malloc((size_t)o->max_seqs * sizeof(int));
    b->segs = malloc((size_t)o->max_seqs * sizeof(rb_kv_seg));
    if (st == RB_OK && (!b->pre_depth || !b->seqs || !b->host_s0 || !b->host_ints || !b->order ||
                        !b->depth_of || !b->segs))
        st = rb_fail(err, RB_ENOMEM, "batch: out of memory");
    for (int i = 0; st == RB_OK && i < o->max_seqs; i++)
        if (!(b->seqs[i].logits = malloc((size_t)b->V * sizeof(float))))
            st = rb_fail(err, RB_ENOMEM, "batch: out of memory");
    if (st != RB_OK) {
        rb_batch_destroy(b);
        return st;
    }
    used = 0;
    rb_block_acts_carve(b->arena, &used, c, 1, b->rows, &b->acts, 0);
    float *p = b->arena + (used + 15) / 16 * 16;
    b->e = p, p += rows * h;
    b->s = p, p += rows * h;
    b->x = p, p += rows * h;
    b->c = p, p += rows * h;
    b->xf = p, p += rows * h;
    b->logits = p;
    b->bytes = arena_n * sizeof(float);
    *out = b;
    return RB_OK;
}

static void drop_prefix(rb_batch *b)
{
    rb_backend *be = b->m->be;
    if (b->pre_kv) be->free(be, b->pre_kv);
    if (b->pre_e) be->free(be, b->pre_e);
    for (int d = 0; d <= b->o.max_depth; d++)
        if (b->pre_depth[d]) {
            be->free(be, b->pre_depth[d]);
            b->pre_depth[d] = NULL;
        }
    free(b->pre_tok);
    b->pre_kv = b->pre_e = NULL;
    b->pre_tok = NULL;
    b->Lp = 0;
}

void rb_batch_drop_prompt(rb_batch *b, int id)
{
    if (id < 0 || id >= b->n_prompts || !b->prompts[id].used) return;
    prompt_t *p = &b->prompts[id];
    rb_backend *be = b->m->be;
    if (p->kv) be->free(be, p->kv);
    if (p->e) be->free(be, p->e);
    free(p->tokens);
    memset(p, 0, sizeof *p);
}

void rb_batch_destroy(rb_batch *b)
{
    if (!b) return;
    rb_backend *be = b->m->be;
    if (b->pre_depth) drop_prefix(b);
    for (int i = 0; i < b->n_prompts; i++) rb_batch_drop_prompt(b, i);
    free(b->prompts);
    for (int i = 0; b->seqs && i < b->o.max_seqs; i++) {
        if (b->seqs[i].cache) be->free(be, b->seqs[i].cache);
        free(b->seqs[i].logits);
    }
    free(b->seqs);
    free(b->pre_depth);
    if (b->arena) be->free(be, b->arena);
    if (b->ints) be->free(be, b->ints);
    free(b->host_s0);
    free(b->host_ints);
    free(b->order);
    free(b->depth_of);
    free(b->segs);
    free(b);
}

size_t rb_batch_bytes(const rb_batch *b)
{
    size_t n = b->bytes, f = sizeof(float), slot = 2 * (size_t)b->Dkv * f;
    n += (size_t)b->Lp * (b->P * slot + (size_t)b->h * f);
    for (int d = 1; d <= b->o.max_depth; d++)
        if (b->pre_depth[d]) n += (size_t)b->Lp * (size_t)(d * b->R + b->C) * slot;
    for (int i = 0; i < b->n_prompts; i++)
        if (b->prompts[i].used)
            n += (size_t)b->prompts[i].n * b->P * slot +
                 (size_t)(b->prompts[i].n - b->prompts[i].shared) * b->h * f;
    for (int i = 0; i < b->o.max_seqs; i++) n += b->seqs[i].floats * f;
    return n;
}

/* ---- running rows of one sequence ---- */

static rb_status upload_rows(rb_batch *b, const int32_t *tokens, int n, int pos0, rb_error *err)
{
    rb_backend *be = b->m->be;
    for (int t = 0; t < n; t++) b->host_ints[b->rows + t] = pos0 + t;
    rb_status st = RB_OK;
    if (tokens) st = be->upload(be, b->ints, tokens, (size_t)n * sizeof(int32_t), err);
    if (st == RB_OK)
        st = be->upload(be, b->ints + b->rows, b->host_ints + b->rows, (size_t)n * sizeof(int32_t), err);
    return st;
}

static void block_one(rb_batch *b, int layer, const kvbuf *kv, int slot, float *x, int n, int pos0)
{
    rb_block_ctx bc = {1, n, b->ints + b->rows, kv_k(kv, slot, b->Dkv), kv_v(kv, slot, b->Dkv), pos0, NULL, 0};
    b->acts.in = x;
    b->acts.out = x;
    rb_block_forward(b->m, &bc, layer, &b->acts);
}

/* Prelude over tokens at positions pos0 .. pos0 + n - 1 of one sequence:
 * keys/values into kv's prelude slots, outputs e into e_out [n, h]. */
static rb_status run_prelude(rb_batch *b, const kvbuf *kv, const int32_t *tokens, int n, int pos0,
                             float *e_out, rb_error *err)
{
    rb_backend *be = b->m->be;
    for (int t0 = 0; t0 < n; t0 += CHUNK) {
        int nc = n - t0 < CHUNK ? n - t0 : CHUNK;
        rb_status st = upload_rows(b, tokens + t0, nc, pos0 + t0, err);
        if (st != RB_OK) return st;
        be->embedding_fwd(be, b->e, b->ints, b->m->w.embed, nc, b->h);
        for (int j = 0; j < b->P; j++) block_one(b, j, kv, j, b->e, nc, pos0 + t0);
        be->copy(be, e_out + (size_t)t0 * b->h, b->e, (size_t)nc * b->h * sizeof(float));
    }
    return RB_OK;
}

static rb_status draw_states(rb_batch *b, int n, const int32_t *pos, rb_error *err)
{
    rb_backend *be = b->m->be;
    const rb_config *c = &b->m->cfg;
    const size_t nh = (size_t)n * b->h;
    if (b->o.state_zero || c->state_init == RB_STATE_ZERO) {
        be->zero(be, b->s, nh * sizeof(float));
        return RB_OK;
    }
    for (int t = 0; t < n; t++)
        rb_draw_state_row(b->host_s0 + (size_t)t * b->h, b->h, c->state_sigma, b->o.seed, pos[t]);
    return be->upload(be, b->s, b->host_s0, nh * sizeof(float), err);
}

/* Recurrent iterations and coda of one sequence at depth r over rows whose
 * prelude outputs are e_rows [n, h], positions pos0 ..; keys/values into
 * kv (slots P .. P + rR + C - 1). With want_logits, the last row's logits
 * land in b->logits [V]. */
static rb_status run_tail(rb_batch *b, const kvbuf *kv, int depth, const float *e_rows, int n,
                          int pos0, int want_logits, rb_error *err)
{
    rb_model *m = b->m;
    rb_backend *be = m->be;
    const int h = b->h;
    for (int t0 = 0; t0 < n; t0 += CHUNK) {
        int nc = n - t0 < CHUNK ? n - t0 : CHUNK, p0 = pos0 + t0;
        const size_t bytes = (size_t)nc * h * sizeof(float);
        rb_status st = upload_rows(b, NULL, nc, p0, err);
        if (st != RB_OK) return st;
        const float *e = e_rows + (size_t)t0 * h;
        if (b->R > 0) {
            if ((st = draw_states(b, nc, b->host_ints + b->rows, err)) != RB_OK) return st;
            for (int it = 0; it < depth; it++) {
                rb_linear_rows(be, nc, h, h, b->s, h, m->w.adapter, 2 * h, 0, b->x, h);
                rb_linear_rows(be, nc, h, h, e, h, m->w.adapter + h, 2 * h, 1, b->x, h);
                for (int j = 0; j < b->R; j++) block_one(b, b->P + j, kv, b->P + it * b->R + j, b->x, nc, p0);
                be->copy(be, b->s, b->x, bytes);
            }
            be->copy(be, b->c, b->s, bytes);
        } else {
            be->copy(be, b->c, e, bytes);
        }
        const int first = b->P + b->R, coda0 = b->P + eff_depth(b, depth) * b->R;
        for (int j = 0; j < b->C; j++) block_one(b, first + j, kv, coda0 + j, b->c, nc, p0);
        if (want_logits && t0 + nc == n) {
            const rb_config *c = &m->cfg;
            be->rmsnorm_fwd(be, b->xf, h, NULL, b->c + (size_t)(nc - 1) * h, h, m->w.final_norm, 1, h,
                            c->norm_eps);
            rb_linear_rows(be, 1, b->V, h, b->xf, h, m->w.head, h, 0, b->logits, b->V);
        }
    }
    return RB_OK;
}

/* ---- prefix and prompts ---- */

/* Keys/values of the prefix's recurrent and coda slots at depth r. */
static rb_status prefix_depth(rb_batch *b, int depth, rb_error *err)
{
    const int d = eff_depth(b, depth);
    if (b->Lp == 0 || b->pre_depth[d]) return RB_OK;
    rb_backend *be = b->m->be;
    size_t n = (size_t)(d * b->R + b->C) * 2 * b->Lp * b->Dkv;
    rb_status st = be->alloc(be, (void **)&b->pre_depth[d], (n ? n : 1) * sizeof(float), err);
    if (st != RB_OK) return st;
    kvbuf kv = {b->pre_depth[d], b->Lp, b->P};
    if ((st = run_tail(b, &kv, d, b->pre_e, b->Lp, 0, 0, err)) != RB_OK) return st;
    return be->sync(be, err);
}

rb_status rb_batch_set_prefix(rb_batch *b, const int32_t *tokens, int n, rb_error *err)
{
    drop_prefix(b);
    if (n < 0 || n > b->o.max_tokens)
        return rb_fail(err, RB_EINVAL, "batch: prefix of %d tokens must fit the %d-token context", n,
                       b->o.max_tokens);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= b->V)
            return rb_fail(err, RB_EINVAL, "batch: prefix token %d at index %d is outside the "
                                           "vocabulary [0, %d)", tokens[i], i, b->V);
    if (n == 0) return RB_OK;
    rb_backend *be = b->m->be;
    size_t kv_n = (size_t)b->P * 2 * n * b->Dkv;
    rb_status st = be->alloc(be, (void **)&b->pre_kv, (kv_n ? kv_n : 1) * sizeof(float), err);
    if (st == RB_OK) st = be->alloc(be, (void **)&b->pre_e, (size_t)n * b->h * sizeof(float), err);
    if (st == RB_OK && !(b->pre_tok = malloc((size_t)n * sizeof(int32_t))))
        st = rb_fail(err, RB_ENOMEM, "batch: out of memory");
    if (st != RB_OK) {
        drop_prefix(b);
        return st;
    }
    memcpy(b->pre_tok, tokens, (size_t)n * sizeof(int32_t));
    b->Lp = n;
    kvbuf kv = {b->pre_kv, n, 0};
    if ((st = run_prelude(b, &kv, tokens, n, 0, b->pre_e, err)) == RB_OK) st = be->sync(be, err);
    if (st != RB_OK) drop_prefix(b);
    return st;
}

/* Copy rows [0, n) of slots [first, first + count) between caches of
 * possibly different capacities. */
static void copy_rows(rb_batch *b, const kvbuf *dst, const kvbuf *src, int first, int count, int n)
{
    rb_backend *be = b->m->be;
    const int D = b->Dkv;
    for (int sidx = first; sidx < first + count; sidx++) {
        be->copy(be, kv_k(dst, sidx, D), kv_k(src, sidx, D), (size_t)n * D * sizeof(float));
        be->copy(be, kv_v(dst, sidx, D), kv_v(src, sidx, D), (size_t)n * D * sizeof(float));
    }
}

rb_status rb_batch_add_prompt(rb_batch *b, const int32_t *tokens, int n, int *id, int *shared,
                              rb_error *err)
{
    *id = -1;
    if (n < 1 || n > b->o.max_tokens)
        return rb_fail(err, RB_EINVAL, "batch: a prompt of %d tokens must be in 1..%d (the context)",
                       n, b->o.max_tokens);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= b->V)
            return rb_fail(err, RB_EINVAL, "batch: prompt token %d at index %d is outside the "
                                           "vocabulary [0, %d)", tokens[i], i, b->V);
    int k = 0;
    while (k < b->n_prompts && b->prompts[k].used) k++;
    if (k == b->n_prompts) {
        prompt_t *np = realloc(b->prompts, (size_t)(b->n_prompts + 8) * sizeof *np);
        if (!np) return rb_fail(err, RB_ENOMEM, "batch: out of memory");
        memset(np + b->n_prompts, 0, 8 * sizeof *np);
        b->prompts = np;
        b->n_prompts += 8;
    }
    prompt_t *p = &b->prompts[k];
    /* rows shared with the prefix; the last row is always computed here,
     * since its logits start the sequence */
    int L = 0;
    while (L < b->Lp && L < n - 1 && tokens[L] == b->pre_tok[L]) L++;
    rb_backend *be = b->m->be;
    size_t kv_n = (size_t)b->P * 2 * n * b->Dkv;
    p->used = 1;
    p->n = n;
    p->shared = L;
    rb_status st = be->alloc(be, (void **)&p->kv, (kv_n ? kv_n : 1) * sizeof(float), err);
    if (st == RB_OK) st = be->alloc(be, (void **)&p->e, (size_t)(n - L) * b->h * sizeof(float), err);
    if (st == RB_OK && !(p->tokens = malloc((size_t)n * sizeof(int32_t))))
        st = rb_fail(err, RB_ENOMEM, "batch: out of memory");
    if (st == RB_OK) {
        memcpy(p->tokens, tokens, (size_t)n * sizeof(int32_t));
        kvbuf dst = {p->kv, n, 0}, src = {b->pre_kv, b->Lp, 0};
        if (L > 0) copy_rows(b, &dst, &src, 0, b->P, L);
        st = run_prelude(b, &dst, tokens + L, n - L, L, p->e, err);
        if (st == RB_OK) st = be->sync(be, err);
    }
    if (st != RB_OK) {
        rb_batch_drop_prompt(b, k);
        return st;
    }
    *id = k;
    if (shared) *shared = L;
    return RB_OK;
}

/* ---- sequences ---- */

static rb_status check_slot(const rb_batch *b, int slot, rb_error *err)
{
    if (slot < 0 || slot >= b->o.max_seqs)
        return rb_fail(err, RB_EINVAL, "batch: slot %d is outside 0..%d", slot, b->o.max_seqs - 1);
    return RB_OK;
}

rb_status rb_batch_start(rb_batch *b, int slot, int id, int depth, int max_new, int32_t *first,
                         rb_error *err)
{
    rb_status st = check_slot(b, slot, err);
    if (st != RB_OK) return st;
    seq_t *q = &b->seqs[slot];
    if (q->active) return rb_fail(err, RB_EINVAL, "batch: slot %d is in use; finish it first", slot);
    if (id < 0 || id >= b->n_prompts || !b->prompts[id].used)
        return rb_fail(err, RB_EINVAL, "batch: no prompt %d (add it with rb_batch_add_prompt)", id);
    if (b->R > 0 && (depth < 1 || depth > b->o.max_depth))
        return rb_fail(err, RB_EINVAL, "batch: depth r = %d must be in 1..%d (the batch's max_depth)",
                       depth, b->o.max_depth);
    if (b->R == 0 && depth != 1)
        return rb_fail(err, RB_EINVAL, "batch: the model is not recurrent; its only depth is 1, "
                                       "not %d", depth);
    const prompt_t *p = &b->prompts[id];
    if (max_new < 0 || p->n + max_new > b->o.max_tokens)
        return rb_fail(err, RB_EINVAL, "batch: prompt of %d tokens + %d new tokens exceed the "
                                       "%d-token context", p->n, max_new, b->o.max_tokens);
    rb_backend *be = b->m->be;
    const int cap = p->n + (max_new > 0 ? max_new : 1);
    const size_t need = (size_t)n_slots(b, depth) * 2 * cap * b->Dkv;
    if (q->floats < need) {
        if (q->cache) be->free(be, q->cache);
        q->cache = NULL;
        q->floats = 0;
        if ((st = be->alloc(be, (void **)&q->cache, need * sizeof(float), err)) != RB_OK) return st;
        q->floats = need;
    }
    if ((st = prefix_depth(b, depth, err)) != RB_OK) return st;
    kvbuf kv = {q->cache, cap, 0};
    kvbuf pkv = {p->kv, p->n, 0};
    copy_rows(b, &kv, &pkv, 0, b->P, p->n);
    if (p->shared > 0) {
        kvbuf dkv = {b->pre_depth[eff_depth(b, depth)], b->Lp, b->P};
        copy_rows(b, &kv, &dkv, b->P, n_slots(b, depth) - b->P, p->shared);
    }
    if ((st = run_tail(b, &kv, depth, p->e, p->n - p->shared, p->shared, 1, err)) != RB_OK) return st;
    if ((st = be->download(be, q->logits, b->logits, (size_t)b->V * sizeof(float), err)) != RB_OK) return st;
    if ((st = be->sync(be, err)) != RB_OK) return st;
    q->active = 1;
    q->depth = depth;
    q->pos = p->n;
    q->cap = cap;
    *first = rb_argmax(q->logits, b->V);
    return RB_OK;
}

rb_status rb_batch_step(rb_batch *b, const int32_t *tokens, int32_t *next, rb_error *err)
{
    rb_model *m = b->m;
    rb_backend *be = m->be;
    const int h = b->h, D = b->Dkv;
    /* active slots, deepest first (stable by slot number) */
    int n = 0;
    for (int d = b->o.max_depth; d >= 1; d--)
        for (int i = 0; i < b->o.max_seqs; i++)
            if (b->seqs[i].active && b->seqs[i].depth == d) b->order[n++] = i;
    if (n == 0) return RB_OK;
    for (int r = 0; r < n; r++) {
        const seq_t *q = &b->seqs[b->order[r]];
        int32_t t = tokens[b->order[r]];
        if (t < 0 || t >= b->V)
            return rb_fail(err, RB_EINVAL, "batch: token %d for slot %d is outside the vocabulary "
                                           "[0, %d)", t, b->order[r], b->V);
        if (q->pos >= q->cap)
            return rb_fail(err, RB_EINVAL, "batch: slot %d is full (%d tokens, the room its start "
                                           "asked for); finish it", b->order[r], q->cap);
        b->host_ints[r] = t;
        b->host_ints[b->rows + r] = q->pos;
        b->depth_of[r] = q->depth;
    }
    rb_status st = be->upload(be, b->ints, b->host_ints, (size_t)n * sizeof(int32_t), err);
    if (st == RB_OK)
        st = be->upload(be, b->ints + b->rows, b->host_ints + b->rows, (size_t)n * sizeof(int32_t), err);
    if (st != RB_OK) return st;

    /* one row per sequence; its own cache slot for each block */
    rb_block_ctx bc = {1, n, b->ints + b->rows, NULL, NULL, 0, b->segs, n};
#define SEGS(rows, slot_expr)                                                                      \
    for (int r = 0; r < (rows); r++) {                                                             \
        seq_t *q = &b->seqs[b->order[r]];                                                          \
        kvbuf kv = {q->cache, q->cap, 0};                                                          \
        int slot_ = (slot_expr);                                                                   \
        b->segs[r] = (rb_kv_seg){r, 1, q->pos, kv_k(&kv, slot_, D), kv_v(&kv, slot_, D)};           \
    }

    be->embedding_fwd(be, b->e, b->ints, m->w.embed, n, h);
    for (int j = 0; j < b->P; j++) {
        SEGS(n, j);
        b->acts.in = b->acts.out = b->e;
        rb_block_forward(m, &bc, j, &b->acts);
    }
    const float *fin = b->e;
    if (b->R > 0) {
        if ((st = draw_states(b, n, b->host_ints + b->rows, err)) != RB_OK) return st;
        for (int it = 0; it < b->depth_of[0]; it++) {
            int na = 0;
            while (na < n && b->depth_of[na] > it) na++;
            rb_linear_rows(be, na, h, h, b->s, h, m->w.adapter, 2 * h, 0, b->x, h);
            rb_linear_rows(be, na, h, h, b->e, h, m->w.adapter + h, 2 * h, 1, b->x, h);
            rb_block_ctx bi = {1, na, b->ints + b->rows, NULL, NULL, 0, b->segs, na};
            for (int j = 0; j < b->R; j++) {
                SEGS(na, b->P + it * b->R + j);
                b->acts.in = b->acts.out = b->x;
                rb_block_forward(m, &bi, b->P + j, &b->acts);
            }
            be->copy(be, b->s, b->x, (size_t)na * h * sizeof(float));
        }
        fin = b->s;
    }
    be->copy(be, b->c, fin, (size_t)n * h * sizeof(float));
    for (int j = 0; j < b->C; j++) {
        SEGS(n, b->P + b->depth_of[r] * b->R + j);
        b->acts.in = b->acts.out = b->c;
        rb_block_forward(m, &bc, b->P + b->R + j, &b->acts);
    }
#undef SEGS
    be->rmsnorm_fwd(be, b->xf, h, NULL, b->c, h, m->w.final_norm, n, h, m->cfg.norm_eps);
    rb_linear_rows(be, n, b->V, h, b->xf, h, m->w.head, h, 0, b->logits, b->V);
    for (int r = 0; r < n; r++) {
        seq_t *q = &b->seqs[b->order[r]];
        st = be->download(be, q->logits, b->logits + (size_t)r * b->V, (size_t)b->V * sizeof(float), err);
        if (st != RB_OK) return st;
    }
    if ((st = be->sync(be, err)) != RB_OK) return st;
    for (int r = 0; r < n; r++) {
        seq_t *q = &b->seqs[b->order[r]];
        q->pos++;
        next[b->order[r]] = rb_argmax(q->logits, b->V);
    }
    return RB_OK;
}

void rb_batch_finish(rb_batch *b, int slot)
{
    if (slot >= 0 && slot < b->o.max_seqs) b->seqs[slot].active = 0;
}

int rb_batch_active(const rb_batch *b, int slot)
{
    return slot >= 0 && slot < b->o.max_seqs && b->seqs[slot].active;
}

int rb_batch_pos(const rb_batch *b, int slot)
{
    return rb_batch_active(b, slot) ? b->seqs[slot].pos : 0;
}

const float *rb_batch_logits(const rb_batch *b, int slot)
{
    return rb_batch_active(b, slot) ? b->seqs[slot].logits : NULL;
}
