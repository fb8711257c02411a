/* forward.c: the retrofitted model's forward on a batch (METHOD.md 1-2).
 *
 *   e   = prelude(embed(tokens))
 *   s_0 ~ TruncNormal(0, sigma, +-3 sigma)   (or zero, or given)
 *   n iterations without gradient, then k with gradient:
 *       x = adapter(concat(s, e));  s = recurrent_blocks(x)
 *   logits = head(final_norm(coda(s)))
 *
 * With opts->grad the prelude, the k gradient iterations and the coda keep
 * their activations in the workspace's slots; everything else (the n
 * no-gradient iterations, or the whole model when scoring) runs in one
 * scratch set, in place. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "rb_rng.h"

void rb_draw_initial_state(float *s0, size_t count, float sigma, uint64_t seed)
{
    rb_rng r;
    rb_rng_seed2(&r, seed, 0x5354415445ull /* "STATE" */);
    for (size_t i = 0; i < count; i++) s0[i] = (float)rb_rng_truncnormal(&r, sigma, 3.0);
}

/* x[N, h] = adapter(concat(s, e)) = s Ws^T + e We^T with W = [Ws | We] of
 * shape [h, 2h]; or x = e when the adapter is bypassed. */
static void adapter_forward(rb_model *m, rb_workspace *ws, float *x, const float *s, const float *e,
                            int bypass)
{
    rb_backend *be = m->be;
    const int N = ws->N, h = m->cfg.dim;
    if (bypass) {
        be->copy(be, x, e, (size_t)N * h * sizeof(float));
        return;
    }
    be->gemm(be, 0, 1, N, h, h, 1.0f, s, h, m->w.adapter, 2 * h, 0.0f, x, h);
    be->gemm(be, 0, 1, N, h, h, 1.0f, e, h, m->w.adapter + h, 2 * h, 1.0f, x, h);
}

/* Run block `layer` on in -> out, storing activations in slot (grad) or
 * in the scratch set (no grad; out may equal in). */
static void run_block(rb_model *m, rb_workspace *ws, int layer, rb_block_acts *slot,
                      const float *in, float *out_nograd)
{
    rb_block_acts *a = slot ? slot : &ws->scratch;
    a->in = in;
    if (!slot) a->out = out_nograd;
    rb_block_ctx bc = {ws->B, ws->T, ws->pos, NULL, NULL, 0, NULL, 0};
    rb_block_forward(m, &bc, layer, a);
}

rb_status rb_forward(rb_model *m, rb_workspace *ws, const int32_t *tokens, const int32_t *targets,
                     const rb_step_opts *opts, double *loss, rb_error *err)
{
    rb_backend *be = m->be;
    const rb_config *c = &m->cfg;
    const int N = ws->N, h = c->dim, V = c->vocab_size;
    const size_t nh = (size_t)N * h;
    rb_step_opts defaults = {0};
    const rb_step_opts *o = opts ? opts : &defaults;
    const int recurrent = rb_config_is_recurrent(c);
    const int grad = o->grad != 0;
    int n = o->n_nograd, k = o->n_grad;
    ws->last_valid = 0;

    if (ws->m != m) return rb_fail(err, RB_EINVAL, "forward: workspace belongs to another model");
    if (grad && !targets)
        return rb_fail(err, RB_EINVAL, "forward: a gradient forward needs targets");
    if (grad && !m->grads)
        return rb_fail(err, RB_EINVAL, "forward: gradients are not enabled on this model "
                                       "(call rb_model_enable_grads)");
    if (recurrent) {
        if (n < 0 || k < 0)
            return rb_fail(err, RB_EINVAL, "forward: iteration counts n = %d, k = %d must not be "
                                           "negative", n, k);
        if (n + k < 1)
            return rb_fail(err, RB_EINVAL, "forward: a recurrent model needs r = n + k >= 1 "
                                           "iterations (got n = %d, k = %d)", n, k);
        if (!grad) {
            n += k; /* scoring: every iteration runs without storing activations */
            k = 0;
        } else if (k > ws->max_k) {
            return rb_fail(err, RB_EINVAL, "forward: k = %d gradient iterations but the workspace "
                                           "was sized for %d; create it with a larger "
                                           "max_grad_iters", k, ws->max_k);
        }
    } else {
        n = k = 0;
    }
    for (int i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= V)
            return rb_fail(err, RB_EINVAL, "forward: token %d at position %d is outside the "
                                           "vocabulary [0, %d)", tokens[i], i, V);
        if (targets && (targets[i] >= V || targets[i] < -1))
            return rb_fail(err, RB_EINVAL, "forward: target %d at position %d is outside the "
                                           "vocabulary [0, %d) (use -1 to ignore a position)",
                           targets[i], i, V);
    }
    rb_status st = be->upload(be, ws->tokens, tokens, (size_t)N * sizeof(int32_t), err);
    if (st == RB_OK && targets)
        st = be->upload(be, ws->targets, targets, (size_t)N * sizeof(int32_t), err);
    if (st != RB_OK) return st;

    /* embedding and prelude */
    be->embedding_fwd(be, ws->emb, ws->tokens, m->w.embed, N, h);
    float *x = ws->emb;
    int slot = 0, layer = 0;
    for (; layer < c->n_prelude; layer++) {
        rb_block_acts *sl = grad ? &ws->slots[slot++] : NULL;
        run_block(m, ws, layer, sl, x, x);
        if (sl) x = sl->out;
    }
    ws->e = x;

    /* recurrence */
    if (recurrent) {
        const float *e = x;
        float *s = ws->s_a, *spare = ws->s_b;
        if (o->state0) {
            st = be->upload(be, s, o->state0, nh * sizeof(float), err);
            if (st != RB_OK) return st;
        } else if (o->state_zero || c->state_init == RB_STATE_ZERO) {
            be->zero(be, s, nh * sizeof(float));
        } else {
            rb_draw_initial_state(ws->s0_host, nh, c->state_sigma, o->seed);
            st = be->upload(be, s, ws->s0_host, nh * sizeof(float), err);
            if (st != RB_OK) return st;
        }
        const int first_recur = c->n_prelude, R = c->n_recur;
        for (int it = 0; it < n; it++) {
            adapter_forward(m, ws, spare, s, e, o->bypass_adapter);
            for (int j = 0; j < R; j++) run_block(m, ws, first_recur + j, NULL, spare, spare);
            float *t = s;
            s = spare;
            spare = t;
        }
        const float *state = s;
        if (k > 0) {
            be->copy(be, ws->s_start, s, nh * sizeof(float));
            state = ws->s_start;
            for (int it = 0; it < k; it++) {
                float *xi = ws->xin + (size_t)it * nh;
                adapter_forward(m, ws, xi, state, e, o->bypass_adapter);
                const float *cur = xi;
                for (int j = 0; j < R; j++) {
                    rb_block_acts *sl = &ws->slots[slot++];
                    run_block(m, ws, first_recur + j, sl, cur, NULL);
                    cur = sl->out;
                }
                state = cur;
            }
        }
        ws->s_final = state;
        x = (float *)state; /* without gradient state is s, which the coda may overwrite */
        layer = c->n_prelude + R;
    } else {
        ws->s_final = NULL;
    }

    /* coda */
    for (int j = 0; j < c->n_coda; j++, layer++) {
        rb_block_acts *sl = grad ? &ws->slots[slot++] : NULL;
        run_block(m, ws, layer, sl, x, x);
        if (sl) x = sl->out;
    }
    ws->x_final = x;

    /* final norm and head: logits[N, V] = xf[N, h] head^T */
    be->rmsnorm_fwd(be, ws->xf, h, ws->final_rstd, x, h, m->w.final_norm, N, h, c->norm_eps);
    be->gemm(be, 0, 1, N, V, h, 1.0f, ws->xf, h, m->w.head, h, 0.0f, ws->logits, V);

    double total = 0;
    int valid = 0;
    if (targets) {
        for (int i = 0; i < N; i++) valid += targets[i] >= 0;
        if (valid == 0 && grad)
            return rb_fail(err, RB_EINVAL, "forward: every target is ignored (-1); nothing to "
                                           "train on");
        float scale = valid > 0 ? 1.0f / (float)valid : 0.0f;
        be->cross_entropy(be, ws->losses, grad ? ws->logits : NULL, ws->logits, ws->targets, N, V,
                          scale);
        st = be->download(be, ws->losses_host, ws->losses, (size_t)N * sizeof(float), err);
        if (st != RB_OK) return st;
        for (int i = 0; i < N; i++) total += ws->losses_host[i];
    }
    st = be->sync(be, err);
    if (st != RB_OK) return st;
    if (loss) *loss = valid > 0 ? total / valid : 0.0;

    ws->last_valid = 1;
    ws->last_grad = grad;
    ws->last_targets = targets != NULL;
    ws->last_n = n;
    ws->last_k = k;
    ws->last_bypass = o->bypass_adapter;
    ws->last_slot_count = slot;
    return RB_OK;
}
