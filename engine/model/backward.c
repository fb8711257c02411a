/* backward.c: gradients of the last training forward, with truncated
 * backpropagation through the recurrence (METHOD.md section 2).
 *
 * Gradients flow through the head, the coda, the k gradient iterations
 * (newest first) and, through e, into the prelude. The state entering the
 * first gradient iteration is treated as a constant: its gradient is
 * dropped, which is what truncation means. Shared recurrent weights and the
 * adapter accumulate one contribution per gradient iteration; the prelude
 * output e accumulates one per iteration as well. */
#include "model_internal.h"

rb_status rb_backward(rb_model *m, rb_workspace *ws, rb_error *err)
{
    rb_backend *be = m->be;
    const rb_config *c = &m->cfg;
    const int N = ws->N, h = c->dim, V = c->vocab_size;
    const size_t nh = (size_t)N * h;

    if (ws->m != m) return rb_fail(err, RB_EINVAL, "backward: workspace belongs to another model");
    if (!ws->last_valid || !ws->last_grad || !ws->last_targets)
        return rb_fail(err, RB_EINVAL, "backward: the last forward did not keep activations (it "
                                       "needs grad = 1 and targets)");
    if (!m->grads) return rb_fail(err, RB_EINVAL, "backward: gradients are not enabled");
    ws->last_valid = 0; /* the logits' gradient is consumed */

    /* head: dlogits[N, V] is in ws->logits */
    float *g = ws->g_cur, *alt = ws->g_alt;
    be->gemm(be, 0, 0, N, h, V, 1.0f, ws->logits, V, m->w.head, h, 0.0f, alt, h);
    be->gemm(be, 1, 0, V, h, N, 1.0f, ws->logits, V, ws->xf, h, 1.0f, m->g.head, h);
    be->rmsnorm_bwd(be, g, h, m->g.final_norm, alt, h, ws->x_final, h, m->w.final_norm,
                    ws->final_rstd, N, h, 0);

    int slot = ws->last_slot_count;
    int layer = rb_config_n_layers(c) - 1;
    for (int j = 0; j < c->n_coda; j++, layer--) rb_block_backward(m, ws, layer, &ws->slots[--slot], g);

    if (rb_config_is_recurrent(c)) {
        const int R = c->n_recur, k = ws->last_k;
        be->zero(be, ws->g_e, nh * sizeof(float));
        for (int it = k - 1; it >= 0; it--) {
            for (int j = R - 1; j >= 0; j--)
                rb_block_backward(m, ws, c->n_prelude + j, &ws->slots[--slot], g);
            /* g = dL/dx_it, the adapter output of iteration it */
            if (ws->last_bypass) {
                be->add(be, ws->g_e, ws->g_e, g, nh);
                be->zero(be, alt, nh * sizeof(float));
            } else {
                /* previous state: s_start for the first iteration, else the
                 * output of the last recurrent block of iteration it - 1 */
                const float *prev = it == 0 ? ws->s_start : ws->slots[slot - 1].out;
                float *gA = m->g.adapter;
                const float *W = m->w.adapter;
                be->gemm(be, 1, 0, h, h, N, 1.0f, g, h, prev, h, 1.0f, gA, 2 * h);
                be->gemm(be, 1, 0, h, h, N, 1.0f, g, h, ws->e, h, 1.0f, gA + h, 2 * h);
                be->gemm(be, 0, 0, N, h, h, 1.0f, g, h, W + h, 2 * h, 1.0f, ws->g_e, h);
                be->gemm(be, 0, 0, N, h, h, 1.0f, g, h, W, 2 * h, 0.0f, alt, h);
            }
            float *t = g;
            g = alt;
            alt = t;
        }
        /* g now holds the gradient of the truncated state: dropped. */
        be->copy(be, g, ws->g_e, nh * sizeof(float));
        layer = c->n_prelude - 1;
    }

    for (; layer >= 0; layer--) rb_block_backward(m, ws, layer, &ws->slots[--slot], g);
    be->embedding_bwd(be, m->g.embed, g, ws->tokens, N, h);
    return be->sync(be, err);
}
