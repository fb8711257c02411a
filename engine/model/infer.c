/* infer.c: prefill and incremental decoding at any test-time depth with a
 * KV cache of one slot per (iteration, layer), adaptive compute, and the
 * per-iteration convergence trace (see rb_infer.h). Every weight product
 * is batch-invariant (rb_linear_rows) and s_0 is drawn per position, so the
 * batched decoder (infer_batch.c) reproduces this path bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "rb_infer.h"

#define RB_PREFILL_CHUNK 128

struct rb_session {
    rb_model *m;
    int max_tokens, max_depth, chunk, pos;
    int n_slots, Dkv;
    float *cache;   /* backend [n_slots][2][max_tokens][Dkv] */
    float *arena;   /* backend scratch */
    int32_t *ints;  /* backend [2 * chunk]: tokens, positions */
    rb_block_acts acts;
    float *e, *s, *x, *c, *diff; /* [chunk, h] */
    float *xf;      /* [h] */
    float *logits;  /* [V] backend */
    float *host_logits, *host_prev, *host_lp, *host_s0; /* host */
    int32_t *host_pos;
    size_t bytes;
};

void rb_draw_state_row(float *row, int h, float sigma, uint64_t seed, int64_t pos)
{
    rb_rng r;
    rb_rng_seed2(&r, seed, (uint64_t)pos);
    for (int i = 0; i < h; i++) row[i] = (float)rb_rng_truncnormal(&r, sigma, 3.0);
}

rb_status rb_trace_alloc(rb_trace *t, int capacity, rb_error *err)
{
    memset(t, 0, sizeof *t);
    t->capacity = capacity;
    t->rel_change = calloc((size_t)capacity, sizeof(float));
    t->kl = calloc((size_t)capacity, sizeof(float));
    t->top_token = calloc((size_t)capacity, sizeof(int32_t));
    t->top_prob = calloc((size_t)capacity, sizeof(float));
    if (!t->rel_change || !t->kl || !t->top_token || !t->top_prob) {
        rb_trace_free(t);
        return rb_fail(err, RB_ENOMEM, "trace: out of memory");
    }
    return RB_OK;
}

void rb_trace_free(rb_trace *t)
{
    free(t->rel_change);
    free(t->kl);
    free(t->top_token);
    free(t->top_prob);
    memset(t, 0, sizeof *t);
}

static float *slot_k(rb_session *s, int slot) { return s->cache + (size_t)slot * 2 * s->max_tokens * s->Dkv; }
static float *slot_v(rb_session *s, int slot) { return slot_k(s, slot) + (size_t)s->max_tokens * s->Dkv; }

static int recur_slot(const rb_session *s, int it, int j) { return s->m->cfg.n_prelude + it * s->m->cfg.n_recur + j; }
static int coda_slot(const rb_session *s, int j)
{
    return s->m->cfg.n_prelude + s->max_depth * s->m->cfg.n_recur + j;
}

rb_status rb_session_create(rb_session **out, rb_model *m, int max_tokens, int max_depth, rb_error *err)
{
    *out = NULL;
    const rb_config *c = &m->cfg;
    if (max_tokens < 1 || max_tokens > c->max_seq_len)
        return rb_fail(err, RB_EINVAL, "session: max_tokens %d must be in 1..%d (the model's "
                                       "max_seq_len)", max_tokens, c->max_seq_len);
    if (rb_config_is_recurrent(c) && (max_depth < 1 || max_depth > 4096))
        return rb_fail(err, RB_EINVAL, "session: max_depth %d must be in 1..4096", max_depth);
    if (!rb_config_is_recurrent(c)) max_depth = 0;
    rb_session *s = calloc(1, sizeof *s);
    if (!s) return rb_fail(err, RB_ENOMEM, "session: out of memory");
    s->m = m;
    s->max_tokens = max_tokens;
    s->max_depth = max_depth;
    s->chunk = max_tokens < RB_PREFILL_CHUNK ? max_tokens : RB_PREFILL_CHUNK;
    s->Dkv = rb_config_kv_dim(c);
    s->n_slots = c->n_prelude + max_depth * c->n_recur + c->n_coda;
    const size_t h = c->dim, V = c->vocab_size, ch = s->chunk;
    rb_backend *be = m->be;

    size_t used = 0;
    rb_block_acts_carve(NULL, &used, c, 1, s->chunk, &s->acts, 0);
    size_t acts_n = used;
    size_t arena_n = acts_n + 5 * ch * h + h + V + 64;
    size_t cache_n = (size_t)s->n_slots * 2 * max_tokens * s->Dkv;
    rb_status st = be->alloc(be, (void **)&s->cache, cache_n * sizeof(float), err);
    if (st == RB_OK) st = be->alloc(be, (void **)&s->arena, arena_n * sizeof(float), err);
    if (st == RB_OK) st = be->alloc(be, (void **)&s->ints, 2 * ch * sizeof(int32_t), err);
    s->host_logits = malloc(V * sizeof(float));
    s->host_prev = malloc(V * sizeof(float));
    s->host_lp = malloc(V * sizeof(float));
    s->host_s0 = malloc(ch * h * sizeof(float));
    s->host_pos = malloc(ch * sizeof(int32_t));
    if (st == RB_OK && (!s->host_logits || !s->host_prev || !s->host_lp || !s->host_s0 || !s->host_pos))
        st = rb_fail(err, RB_ENOMEM, "session: out of memory");
    if (st != RB_OK) {
        rb_fail_prefix(err, "session for %d tokens at depth %d (cache %.1f MiB): ", max_tokens,
                       max_depth, (double)cache_n * 4 / 1048576.0);
        rb_session_destroy(s);
        return st;
    }
    used = 0;
    rb_block_acts_carve(s->arena, &used, c, 1, s->chunk, &s->acts, 0);
    float *p = s->arena + (used + 15) / 16 * 16;
    s->e = p, p += ch * h;
    s->s = p, p += ch * h;
    s->x = p, p += ch * h;
    s->c = p, p += ch * h;
    s->diff = p, p += ch * h;
    s->xf = p, p += h;
    s->logits = p;
    be->zero(be, s->cache, cache_n * sizeof(float));
    s->bytes = (cache_n + arena_n) * sizeof(float);
    *out = s;
    return RB_OK;
}

void rb_session_destroy(rb_session *s)
{
    if (!s) return;
    rb_backend *be = s->m->be;
    if (s->cache) be->free(be, s->cache);
    if (s->arena) be->free(be, s->arena);
    if (s->ints) be->free(be, s->ints);
    free(s->host_logits);
    free(s->host_prev);
    free(s->host_lp);
    free(s->host_s0);
    free(s->host_pos);
    free(s);
}

void rb_session_reset(rb_session *s) { s->pos = 0; }
int rb_session_pos(const rb_session *s) { return s->pos; }
size_t rb_session_bytes(const rb_session *s) { return s->bytes; }

static void run_block(rb_session *s, int layer, int slot, float *x, int n, int pos0)
{
    rb_block_ctx bc = {1, n, s->ints + s->chunk, slot_k(s, slot), slot_v(s, slot), pos0, NULL, 0};
    s->acts.in = x;
    s->acts.out = x;
    rb_block_forward(s->m, &bc, layer, &s->acts);
}

/* Coda, final norm and head: from state rows st[n, h] (copied, so st is
 * kept), logits of the last row into s->logits. */
static void decode_rows(rb_session *s, const float *st, int n, int pos0, int want_logits)
{
    rb_model *m = s->m;
    rb_backend *be = m->be;
    const rb_config *c = &m->cfg;
    const int h = c->dim, first = c->n_prelude + c->n_recur;
    float *x = s->c;
    be->copy(be, x, st, (size_t)n * h * sizeof(float));
    for (int j = 0; j < c->n_coda; j++) run_block(s, first + j, coda_slot(s, j), x, n, pos0);
    if (!want_logits) return;
    be->rmsnorm_fwd(be, s->xf, h, NULL, x + (size_t)(n - 1) * h, h, m->w.final_norm, 1, h, c->norm_eps);
    rb_linear_rows(be, 1, c->vocab_size, h, s->xf, h, m->w.head, h, 0, s->logits, c->vocab_size);
}

/* log-softmax of x[V] into out (double accumulation). */
static void log_softmax(const float *x, float *out, int V)
{
    float mx = x[rb_argmax(x, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)x[i] - mx);
    float lse = mx + (float)log(sum);
    for (int i = 0; i < V; i++) out[i] = x[i] - lse;
}

/* Copy the keys/values of iteration `from` at rows [pos0, pos0 + n) into
 * every deeper iteration slot, so tokens that later run deeper see them. */
static void fill_deeper(rb_session *s, int from, int pos0, int n)
{
    rb_backend *be = s->m->be;
    const int R = s->m->cfg.n_recur, D = s->Dkv;
    for (int it = from + 1; it < s->max_depth; it++)
        for (int j = 0; j < R; j++) {
            int a = recur_slot(s, from, j), b = recur_slot(s, it, j);
            be->copy2d(be, slot_k(s, b) + (size_t)pos0 * D, D, slot_k(s, a) + (size_t)pos0 * D, D, n, D);
            be->copy2d(be, slot_v(s, b) + (size_t)pos0 * D, D, slot_v(s, a) + (size_t)pos0 * D, D, n, D);
        }
}

static rb_status feed_chunk(rb_session *s, const int32_t *tokens, int n, const rb_infer_opts *o,
                            int last_chunk, float *logits_out, int *depth_used, rb_error *err)
{
    rb_model *m = s->m;
    rb_backend *be = m->be;
    const rb_config *c = &m->cfg;
    const int h = c->dim, V = c->vocab_size, pos0 = s->pos;
    const size_t nh = (size_t)n * h;
    rb_status st;

    for (int t = 0; t < n; t++) s->host_pos[t] = pos0 + t;
    if ((st = be->upload(be, s->ints, tokens, (size_t)n * sizeof(int32_t), err)) != RB_OK) return st;
    if ((st = be->upload(be, s->ints + s->chunk, s->host_pos, (size_t)n * sizeof(int32_t), err)) != RB_OK)
        return st;

    be->embedding_fwd(be, s->e, s->ints, m->w.embed, n, h);
    for (int j = 0; j < c->n_prelude; j++) run_block(s, j, j, s->e, n, pos0); /* prelude slots come first */

    const float *final_state = s->e;
    int iters = 0;
    rb_trace *tr = last_chunk ? o->trace : NULL;
    const rb_exit_rule *ex = (last_chunk && n == 1 && o->exit && o->exit->kind != RB_EXIT_NONE) ? o->exit : NULL;
    int per_iter_decode = tr || (ex && ex->kind != RB_EXIT_REL_CHANGE);
    int decoded_last = 0;

    if (rb_config_is_recurrent(c)) {
        const int R = c->n_recur, r = o->depth;
        if (o->state_zero || c->state_init == RB_STATE_ZERO) {
            be->zero(be, s->s, nh * sizeof(float));
        } else {
            for (int t = 0; t < n; t++)
                rb_draw_state_row(s->host_s0 + (size_t)t * h, h, c->state_sigma, o->seed, pos0 + t);
            if ((st = be->upload(be, s->s, s->host_s0, nh * sizeof(float), err)) != RB_OK) return st;
        }
        int stable = 0;
        int32_t prev_top = -1;
        for (int it = 0; it < r; it++) {
            /* x = adapter(concat(s, e)) */
            rb_linear_rows(be, n, h, h, s->s, h, m->w.adapter, 2 * h, 0, s->x, h);
            rb_linear_rows(be, n, h, h, s->e, h, m->w.adapter + h, 2 * h, 1, s->x, h);
            for (int j = 0; j < R; j++) run_block(s, c->n_prelude + j, recur_slot(s, it, j), s->x, n, pos0);
            /* relative change of the last row, only when a trace or an exit rule reads it */
            float rel = 0;
            if (tr || ex) {
                const float *xl = s->x + (size_t)(n - 1) * h, *sl = s->s + (size_t)(n - 1) * h;
                be->copy(be, s->diff, xl, (size_t)h * sizeof(float));
                be->axpy(be, s->diff, -1.0f, sl, (size_t)h);
                double dn = sqrt(be->sumsq(be, s->diff, (size_t)h));
                double xn = sqrt(be->sumsq(be, xl, (size_t)h));
                rel = (float)(xn > 0 ? dn / xn : 0);
            }
            float *t = s->s;
            s->s = s->x;
            s->x = t;
            iters = it + 1;
            int stop = it + 1 == r;
            float kl = NAN;
            int32_t top = -1;
            float top_p = 0;
            if (per_iter_decode || stop) {
                decode_rows(s, s->s, n, pos0, last_chunk);
                decoded_last = 1;
                if (last_chunk) {
                    if ((st = be->download(be, s->host_logits, s->logits, (size_t)V * sizeof(float), err)) != RB_OK)
                        return st;
                    if (per_iter_decode) {
                        /* host_prev holds log p_{i-1} */
                        float *lp = s->host_lp;
                        log_softmax(s->host_logits, lp, V);
                        top = rb_argmax(lp, V);
                        top_p = expf(lp[top]);
                        if (it > 0) {
                            double d = 0;
                            for (int i = 0; i < V; i++) d += exp((double)lp[i]) * ((double)lp[i] - s->host_prev[i]);
                            kl = (float)(d > 0 ? d : 0);
                        }
                        memcpy(s->host_prev, lp, (size_t)V * sizeof(float));
                    }
                }
            } else {
                decoded_last = 0;
            }
            if (tr && it < tr->capacity) {
                tr->rel_change[it] = rel;
                tr->kl[it] = kl;
                tr->top_token[it] = top;
                tr->top_prob[it] = top_p;
                tr->iters = it + 1;
            }
            if (!stop && ex) {
                if (ex->kind == RB_EXIT_REL_CHANGE) stop = rel < ex->threshold;
                else if (ex->kind == RB_EXIT_KL) stop = !isnan(kl) && kl < ex->threshold;
                else {
                    stable = (top == prev_top) ? stable + 1 : 0;
                    stop = stable >= (ex->patience > 0 ? ex->patience : 5);
                }
                prev_top = top;
            }
            if (stop) break;
        }
        fill_deeper(s, iters - 1, pos0, n);
        final_state = s->s;
    }
    if (!decoded_last) {
        decode_rows(s, final_state, n, pos0, last_chunk);
        if (last_chunk &&
            (st = be->download(be, s->host_logits, s->logits, (size_t)V * sizeof(float), err)) != RB_OK)
            return st;
    }
    if ((st = be->sync(be, err)) != RB_OK) return st;
    s->pos += n;
    if (last_chunk) {
        if (logits_out) memcpy(logits_out, s->host_logits, (size_t)V * sizeof(float));
        if (depth_used) *depth_used = iters;
    }
    return RB_OK;
}

rb_status rb_session_feed(rb_session *s, const int32_t *tokens, int n, const rb_infer_opts *o,
                          float *logits, int *depth_used, rb_error *err)
{
    const rb_config *c = &s->m->cfg;
    rb_infer_opts defaults = {.depth = 1};
    if (!o) o = &defaults;
    if (n < 1) return rb_fail(err, RB_EINVAL, "session: nothing to feed (n = %d)", n);
    if (s->pos + n > s->max_tokens)
        return rb_fail(err, RB_EINVAL, "session: %d tokens at position %d exceed the session's "
                                       "%d-token context; start a new session or use a longer one",
                       n, s->pos, s->max_tokens);
    if (rb_config_is_recurrent(c) && (o->depth < 1 || o->depth > s->max_depth))
        return rb_fail(err, RB_EINVAL, "session: depth r = %d must be in 1..%d (the session's "
                                       "max_depth)", o->depth, s->max_depth);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return rb_fail(err, RB_EINVAL, "session: token %d at index %d is outside the "
                                           "vocabulary [0, %d)", tokens[i], i, c->vocab_size);
    if (o->trace) o->trace->iters = 0;
    for (int i = 0; i < n; i += s->chunk) {
        int nc = n - i < s->chunk ? n - i : s->chunk;
        rb_status st = feed_chunk(s, tokens + i, nc, o, i + nc == n, logits, depth_used, err);
        if (st != RB_OK) return st;
    }
    return RB_OK;
}
