/* block.c: forward and backward of one decoder block, written once against
 * the backend table, for both block kinds.
 *
 * Llama (pre-norm):  res1 = in + Wo attn(rope(Wqkv norm1(in)))
 *                    out  = res1 + Wdown swiglu(Wgu norm2(res1))
 * OLMo-2 (post-norm, q/k norms over the full projection width):
 *                    q, k = q_norm(Wq in), k_norm(Wk in);  v = Wv in
 *                    res1 = in + norm1(Wo attn(rope(q), rope(k), v))
 *                    out  = res1 + norm2(Wdown swiglu(Wgu res1))
 */
#include <omp.h>

#include "model_internal.h"

#define T_ 1 /* transposed operand */
#define N_ 0

/* y[N, out] = x[N, in] W[out, in]^T (+ y when accumulate). Cached inference
 * uses the batch-invariant product so that a row's result never depends on
 * the other rows of the call (rb_backend.h gemm_rows). */
static void linear(rb_backend *be, int infer, int N, int out, int in, const float *x, int ldx,
                   const float *W, int accumulate, float *y, int ldy)
{
    if (infer) rb_linear_rows(be, N, out, in, x, ldx, W, in, accumulate, y, ldy);
    else be->gemm(be, N_, T_, N, out, in, 1.0f, x, ldx, W, in, accumulate ? 1.0f : 0.0f, y, ldy);
}

/* Cached inference: append each sequence's new keys and values to its
 * cache and attend. Sequences are independent, so a backend that allows
 * concurrent callers gets them shared out across its threads. */
static void cached_attention(rb_backend *be, const rb_config *c, const rb_block_ctx *bc,
                             rb_block_acts *a)
{
    const int Dq = rb_config_q_dim(c), Dkv = rb_config_kv_dim(c), Dqkv = rb_config_qkv_dim(c);
    rb_kv_seg one = {0, bc->B * bc->T, bc->pos0, bc->kc, bc->vc};
    const rb_kv_seg *segs = bc->nseg > 0 ? bc->segs : &one;
    const int nseg = bc->nseg > 0 ? bc->nseg : 1;
    /* share out only when there is enough work to pay for waking threads */
    long work = 0;
    for (int i = 0; nseg > 1 && i < nseg; i++) work += (long)segs[i].n * (segs[i].pos0 + segs[i].n);
    work *= (long)c->n_heads * c->head_dim;
    int nt = omp_get_max_threads();
    nt = nt < be->concurrent_calls ? nt : be->concurrent_calls;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (work > 65536 && nt > 1)
    for (int i = 0; i < nseg; i++) {
        const rb_kv_seg *g = &segs[i];
        const float *qkv = a->qkv + (size_t)g->row0 * Dqkv;
        be->copy2d(be, g->kc + (size_t)g->pos0 * Dkv, Dkv, qkv + Dq, Dqkv, g->n, Dkv);
        be->copy2d(be, g->vc + (size_t)g->pos0 * Dkv, Dkv, qkv + Dq + Dkv, Dqkv, g->n, Dkv);
        be->attention_cached(be, a->att + (size_t)g->row0 * Dq, qkv, Dqkv, g->kc, g->vc, g->n,
                             g->pos0, c->n_heads, c->n_kv_heads, c->head_dim);
    }
}

void rb_block_forward(rb_model *m, const rb_block_ctx *bc, int layer, rb_block_acts *a)
{
    rb_backend *be = m->be;
    const rb_config *c = &m->cfg;
    const rb_block_view *w = &m->w.blocks[layer];
    const int N = bc->B * bc->T, h = c->dim, F = c->hidden_dim;
    const int Dq = rb_config_q_dim(c), Dkv = rb_config_kv_dim(c), Dqkv = rb_config_qkv_dim(c);
    const float eps = c->norm_eps;
    const size_t nh = (size_t)N * h * sizeof(float);
    const int infer = bc->kc != NULL || bc->nseg > 0;

    if (c->block == RB_BLOCK_LLAMA) {
        be->rmsnorm_fwd(be, a->xn1, h, a->rstd1, a->in, h, w->norm1, N, h, eps);
        /* qkv[N, Dqkv] = xn1[N, h] Wqkv^T */
        linear(be, infer, N, Dqkv, h, a->xn1, h, w->wqkv, 0, a->qkv, Dqkv);
    } else {
        /* q|k before their norms, then v straight into the attention input */
        linear(be, infer, N, Dq + Dkv, h, a->in, h, w->wqkv, 0, a->qk_raw, Dq + Dkv);
        linear(be, infer, N, Dkv, h, a->in, h, w->wqkv + (size_t)(Dq + Dkv) * h, 0,
               a->qkv + Dq + Dkv, Dqkv);
        be->rmsnorm_fwd(be, a->qkv, Dqkv, a->rstd_q, a->qk_raw, Dq + Dkv, w->q_norm, N, Dq, eps);
        be->rmsnorm_fwd(be, a->qkv + Dq, Dqkv, a->rstd_k, a->qk_raw + Dq, Dq + Dkv, w->k_norm, N, Dkv,
                        eps);
    }
    be->rope(be, a->qkv, Dqkv, bc->pos, N, c->n_heads, c->head_dim, m->rope_cos, m->rope_sin,
             c->rope_layout, 0);
    be->rope(be, a->qkv + Dq, Dqkv, bc->pos, N, c->n_kv_heads, c->head_dim, m->rope_cos, m->rope_sin,
             c->rope_layout, 0);
    if (infer) {
        cached_attention(be, c, bc, a);
    } else {
        be->attention_fwd(be, a->att, a->lse, a->qkv, bc->B, bc->T, c->n_heads, c->n_kv_heads,
                          c->head_dim);
    }

    if (c->block == RB_BLOCK_LLAMA) {
        /* res1 = in + att Wo^T */
        be->copy(be, a->res1, a->in, nh);
        linear(be, infer, N, h, Dq, a->att, Dq, w->wo, 1, a->res1, h);
        be->rmsnorm_fwd(be, a->xn2, h, a->rstd2, a->res1, h, w->norm2, N, h, eps);
        linear(be, infer, N, 2 * F, h, a->xn2, h, w->wgu, 0, a->gu, 2 * F);
        be->swiglu_fwd(be, a->act, a->gu, N, F);
        /* out = res1 + act Wdown^T */
        be->copy(be, a->out, a->res1, nh);
        linear(be, infer, N, h, F, a->act, F, w->wdown, 1, a->out, h);
    } else {
        linear(be, infer, N, h, Dq, a->att, Dq, w->wo, 0, a->o, h);
        be->rmsnorm_fwd(be, a->res1, h, a->rstd1, a->o, h, w->norm1, N, h, eps);
        be->add(be, a->res1, a->res1, a->in, (size_t)N * h);
        linear(be, infer, N, 2 * F, h, a->res1, h, w->wgu, 0, a->gu, 2 * F);
        be->swiglu_fwd(be, a->act, a->gu, N, F);
        linear(be, infer, N, h, F, a->act, F, w->wdown, 0, a->mlp, h);
        be->rmsnorm_fwd(be, a->out, h, a->rstd2, a->mlp, h, w->norm2, N, h, eps);
        be->add(be, a->out, a->out, a->res1, (size_t)N * h);
    }
}

void rb_block_backward(rb_model *m, rb_workspace *ws, int layer, const rb_block_acts *a, float *g)
{
    rb_backend *be = m->be;
    const rb_config *c = &m->cfg;
    const rb_block_view *w = &m->w.blocks[layer];
    const rb_block_view *gw = &m->g.blocks[layer];
    const int N = ws->N, h = c->dim, F = c->hidden_dim;
    const int Dq = rb_config_q_dim(c), Dkv = rb_config_kv_dim(c), Dqkv = rb_config_qkv_dim(c);

    if (c->block == RB_BLOCK_LLAMA) {
        /* MLP branch: g = dL/d out = dL/d res1 (residual) + branch */
        be->gemm(be, T_, N_, h, F, N, 1.0f, g, h, a->act, F, 1.0f, gw->wdown, F);
        be->gemm(be, N_, N_, N, F, h, 1.0f, g, h, w->wdown, F, 0.0f, ws->g_act, F);
        be->swiglu_bwd(be, ws->g_gu, ws->g_act, a->gu, N, F);
        be->gemm(be, T_, N_, 2 * F, h, N, 1.0f, ws->g_gu, 2 * F, a->xn2, h, 1.0f, gw->wgu, h);
        be->gemm(be, N_, N_, N, h, 2 * F, 1.0f, ws->g_gu, 2 * F, w->wgu, h, 0.0f, ws->g_h, h);
        be->rmsnorm_bwd(be, g, h, gw->norm2, ws->g_h, h, a->res1, h, w->norm2, a->rstd2, N, h, 1);
        /* attention branch: g is now dL/d res1 */
        be->gemm(be, T_, N_, h, Dq, N, 1.0f, g, h, a->att, Dq, 1.0f, gw->wo, Dq);
        be->gemm(be, N_, N_, N, Dq, h, 1.0f, g, h, w->wo, Dq, 0.0f, ws->g_att, Dq);
    } else {
        /* out = res1 + norm2(mlp) */
        be->rmsnorm_bwd(be, ws->g_h, h, gw->norm2, g, h, a->mlp, h, w->norm2, a->rstd2, N, h, 0);
        be->gemm(be, T_, N_, h, F, N, 1.0f, ws->g_h, h, a->act, F, 1.0f, gw->wdown, F);
        be->gemm(be, N_, N_, N, F, h, 1.0f, ws->g_h, h, w->wdown, F, 0.0f, ws->g_act, F);
        be->swiglu_bwd(be, ws->g_gu, ws->g_act, a->gu, N, F);
        be->gemm(be, T_, N_, 2 * F, h, N, 1.0f, ws->g_gu, 2 * F, a->res1, h, 1.0f, gw->wgu, h);
        be->gemm(be, N_, N_, N, h, 2 * F, 1.0f, ws->g_gu, 2 * F, w->wgu, h, 1.0f, g, h);
        /* res1 = in + norm1(o) */
        be->rmsnorm_bwd(be, ws->g_h, h, gw->norm1, g, h, a->o, h, w->norm1, a->rstd1, N, h, 0);
        be->gemm(be, T_, N_, h, Dq, N, 1.0f, ws->g_h, h, a->att, Dq, 1.0f, gw->wo, Dq);
        be->gemm(be, N_, N_, N, Dq, h, 1.0f, ws->g_h, h, w->wo, Dq, 0.0f, ws->g_att, Dq);
    }

    be->attention_bwd(be, ws->g_qkv, ws->g_att, a->qkv, a->att, a->lse, ws->B, ws->T, c->n_heads,
                      c->n_kv_heads, c->head_dim);
    be->rope(be, ws->g_qkv, Dqkv, ws->pos, N, c->n_heads, c->head_dim, m->rope_cos, m->rope_sin,
             c->rope_layout, 1);
    be->rope(be, ws->g_qkv + Dq, Dqkv, ws->pos, N, c->n_kv_heads, c->head_dim, m->rope_cos,
             m->rope_sin, c->rope_layout, 1);

    if (c->block == RB_BLOCK_LLAMA) {
        be->gemm(be, T_, N_, Dqkv, h, N, 1.0f, ws->g_qkv, Dqkv, a->xn1, h, 1.0f, gw->wqkv, h);
        be->gemm(be, N_, N_, N, h, Dqkv, 1.0f, ws->g_qkv, Dqkv, w->wqkv, h, 0.0f, ws->g_h, h);
        be->rmsnorm_bwd(be, g, h, gw->norm1, ws->g_h, h, a->in, h, w->norm1, a->rstd1, N, h, 1);
    } else {
        const int Dqk = Dq + Dkv;
        be->rmsnorm_bwd(be, ws->g_qk_raw, Dqk, gw->q_norm, ws->g_qkv, Dqkv, a->qk_raw, Dqk, w->q_norm,
                        a->rstd_q, N, Dq, 0);
        be->rmsnorm_bwd(be, ws->g_qk_raw + Dq, Dqk, gw->k_norm, ws->g_qkv + Dq, Dqkv, a->qk_raw + Dq,
                        Dqk, w->k_norm, a->rstd_k, N, Dkv, 0);
        /* weight gradients of q|k (from the raw gradient) and v */
        be->gemm(be, T_, N_, Dqk, h, N, 1.0f, ws->g_qk_raw, Dqk, a->in, h, 1.0f, gw->wqkv, h);
        be->gemm(be, T_, N_, Dkv, h, N, 1.0f, ws->g_qkv + Dqk, Dqkv, a->in, h, 1.0f,
                 gw->wqkv + (size_t)Dqk * h, h);
        /* g (= dL/d res1) += input gradients of both projections */
        be->gemm(be, N_, N_, N, h, Dqk, 1.0f, ws->g_qk_raw, Dqk, w->wqkv, h, 1.0f, g, h);
        be->gemm(be, N_, N_, N, h, Dkv, 1.0f, ws->g_qkv + Dqk, Dqkv, w->wqkv + (size_t)Dqk * h, h,
                 1.0f, g, h);
    }
}
