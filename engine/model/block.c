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
#include "model_internal.h"

#define T_ 1 /* transposed operand */
#define N_ 0

void rb_block_forward(rb_model *m, const rb_block_ctx *bc, int layer, rb_block_acts *a)
{
    rb_backend *be = m->be;
    const rb_config *c = &m->cfg;
    const rb_block_view *w = &m->w.blocks[layer];
    const int N = bc->B * bc->T, h = c->dim, F = c->hidden_dim;
    const int Dq = rb_config_q_dim(c), Dkv = rb_config_kv_dim(c), Dqkv = rb_config_qkv_dim(c);
    const float eps = c->norm_eps;
    const size_t nh = (size_t)N * h * sizeof(float);

    if (c->block == RB_BLOCK_LLAMA) {
        be->rmsnorm_fwd(be, a->xn1, h, a->rstd1, a->in, h, w->norm1, N, h, eps);
        /* qkv[N, Dqkv] = xn1[N, h] Wqkv^T */
        be->gemm(be, N_, T_, N, Dqkv, h, 1.0f, a->xn1, h, w->wqkv, h, 0.0f, a->qkv, Dqkv);
    } else {
        /* q|k before their norms, then v straight into the attention input */
        be->gemm(be, N_, T_, N, Dq + Dkv, h, 1.0f, a->in, h, w->wqkv, h, 0.0f, a->qk_raw, Dq + Dkv);
        be->gemm(be, N_, T_, N, Dkv, h, 1.0f, a->in, h, w->wqkv + (size_t)(Dq + Dkv) * h, h, 0.0f,
                 a->qkv + Dq + Dkv, Dqkv);
        be->rmsnorm_fwd(be, a->qkv, Dqkv, a->rstd_q, a->qk_raw, Dq + Dkv, w->q_norm, N, Dq, eps);
        be->rmsnorm_fwd(be, a->qkv + Dq, Dqkv, a->rstd_k, a->qk_raw + Dq, Dq + Dkv, w->k_norm, N, Dkv,
                        eps);
    }
    be->rope(be, a->qkv, Dqkv, bc->pos, N, c->n_heads, c->head_dim, m->rope_cos, m->rope_sin,
             c->rope_layout, 0);
    be->rope(be, a->qkv + Dq, Dqkv, bc->pos, N, c->n_kv_heads, c->head_dim, m->rope_cos, m->rope_sin,
             c->rope_layout, 0);
    if (bc->kc) {
        /* cached inference: append this chunk's keys and values, attend to the cache */
        be->copy2d(be, bc->kc + (size_t)bc->pos0 * Dkv, Dkv, a->qkv + Dq, Dqkv, N, Dkv);
        be->copy2d(be, bc->vc + (size_t)bc->pos0 * Dkv, Dkv, a->qkv + Dq + Dkv, Dqkv, N, Dkv);
        be->attention_cached(be, a->att, a->qkv, Dqkv, bc->kc, bc->vc, N, bc->pos0, c->n_heads,
                             c->n_kv_heads, c->head_dim);
    } else {
        be->attention_fwd(be, a->att, a->lse, a->qkv, bc->B, bc->T, c->n_heads, c->n_kv_heads,
                          c->head_dim);
    }

    if (c->block == RB_BLOCK_LLAMA) {
        /* res1 = in + att Wo^T */
        be->copy(be, a->res1, a->in, nh);
        be->gemm(be, N_, T_, N, h, Dq, 1.0f, a->att, Dq, w->wo, Dq, 1.0f, a->res1, h);
        be->rmsnorm_fwd(be, a->xn2, h, a->rstd2, a->res1, h, w->norm2, N, h, eps);
        be->gemm(be, N_, T_, N, 2 * F, h, 1.0f, a->xn2, h, w->wgu, h, 0.0f, a->gu, 2 * F);
        be->swiglu_fwd(be, a->act, a->gu, N, F);
        /* out = res1 + act Wdown^T */
        be->copy(be, a->out, a->res1, nh);
        be->gemm(be, N_, T_, N, h, F, 1.0f, a->act, F, w->wdown, F, 1.0f, a->out, h);
    } else {
        be->gemm(be, N_, T_, N, h, Dq, 1.0f, a->att, Dq, w->wo, Dq, 0.0f, a->o, h);
        be->rmsnorm_fwd(be, a->res1, h, a->rstd1, a->o, h, w->norm1, N, h, eps);
        be->add(be, a->res1, a->res1, a->in, (size_t)N * h);
        be->gemm(be, N_, T_, N, 2 * F, h, 1.0f, a->res1, h, w->wgu, h, 0.0f, a->gu, 2 * F);
        be->swiglu_fwd(be, a->act, a->gu, N, F);
        be->gemm(be, N_, T_, N, h, F, 1.0f, a->act, F, w->wdown, F, 0.0f, a->mlp, h);
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
