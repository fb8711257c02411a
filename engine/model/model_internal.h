/* model_internal.h: the training workspace and the per-block forward and
 * backward shared by forward.c, backward.c and block.c. */
#ifndef RB_MODEL_INTERNAL_H
#define RB_MODEL_INTERNAL_H

#include "rb_model.h"

/* Activations of one application of one block. Pointers into the
 * workspace's activation arena; fields a block kind does not use are NULL.
 *   Llama: rstd1 xn1 qkv lse att res1 rstd2 xn2 gu act out
 *   OLMo2: qk_raw rstd_q rstd_k qkv lse att o rstd1 res1 gu act mlp rstd2 out */
typedef struct {
    const float *in; /* [N, h] input (owned by whoever produced it) */
    float *rstd1;    /* [N] */
    float *xn1;      /* [N, h] llama: norm1(in) */
    float *qk_raw;   /* [N, Dq + Dkv] olmo2: q, k before their norms */
    float *rstd_q;   /* [N] olmo2 */
    float *rstd_k;   /* [N] olmo2 */
    float *qkv;      /* [N, Dqkv] attention input (after norms and RoPE) */
    float *lse;      /* [B, H, T] */
    float *att;      /* [N, Dq] attention output */
    float *o;        /* [N, h] olmo2: o_proj output before norm1 */
    float *res1;     /* [N, h] residual after attention */
    float *rstd2;    /* [N] */
    float *xn2;      /* [N, h] llama: norm2(res1) */
    float *gu;       /* [N, 2F] */
    float *act;      /* [N, F] */
    float *mlp;      /* [N, h] olmo2: down_proj output before norm2 */
    float *out;      /* [N, h] */
} rb_block_acts;

struct rb_workspace {
    rb_model *m;
    int B, T, N, max_k;
    size_t bytes;

    /* backend memory: one arena for activations, one for backward scratch,
     * one for integer inputs */
    float *act_arena;
    float *grad_arena;
    int32_t *int_arena;

    int32_t *tokens;   /* [N] */
    int32_t *targets;  /* [N] */
    int32_t *pos;      /* [N] position of each row: n % T */

    float *emb;        /* [N, h] embedding output */
    rb_block_acts *slots; /* n_prelude + max_k * n_recur + n_coda stored applications */
    int n_slots;
    rb_block_acts scratch; /* for no-gradient applications; out set per call */
    float *s_a, *s_b;  /* [N, h] state ping-pong for no-gradient iterations */
    float *s_start;    /* [N, h] state entering the first gradient iteration */
    float *xin;        /* [max_k, N, h] adapter outputs of the gradient iterations */
    float *final_rstd; /* [N] */
    float *xf;         /* [N, h] final norm output */
    float *logits;     /* [N, V] (gradient in place after a training forward) */
    float *losses;     /* [N] */

    /* backward scratch */
    float *g_cur, *g_alt, *g_e; /* [N, h] */
    float *g_h;        /* [N, h] */
    float *g_act;      /* [N, F] */
    float *g_gu;       /* [N, 2F] */
    float *g_att;      /* [N, Dq] */
    float *g_qkv;      /* [N, Dqkv] */
    float *g_qk_raw;   /* [N, Dq + Dkv] olmo2 */

    /* host */
    float *losses_host; /* [N] */
    float *s0_host;     /* [N, h] */

    /* record of the last forward, for backward */
    int last_valid;     /* a forward ran and its record is usable */
    int last_grad, last_targets;
    int last_n, last_k, last_bypass;
    int last_slot_count;
    const float *x_final; /* input of the final norm */
    const float *e;       /* prelude output */
    const float *s_final; /* recurrent state s_r */
};

/* One sequence's rows in a cached-inference block call: rows
 * [row0, row0 + n) of the call are its tokens at positions pos0 ..
 * pos0 + n - 1; kc/vc are its cache rows of this (iteration, layer) slot. */
typedef struct {
    int row0, n, pos0;
    float *kc, *vc; /* backend [>= pos0 + n, KV hd] */
} rb_kv_seg;

/* Geometry of a block application: B sequences of T rows, the position of
 * each row, and for cached inference either one sequence (kc, vc, pos0)
 * or several (segs: batched decoding, one or more rows each), whose new
 * keys and values go into their own caches. Cached inference computes
 * every weight product with the backend's batch-invariant gemm_rows. */
typedef struct {
    int B, T;
    const int32_t *pos; /* backend [B*T] */
    float *kc, *vc;     /* backend [max_tokens, KV hd] or NULL for training attention */
    int pos0;
    const rb_kv_seg *segs; /* host [nseg]; when nseg > 0 it replaces kc, vc, pos0 */
    int nseg;
} rb_block_ctx;

/* y[N, out] = x[N, in] W[out, in]^T (+ y when accumulate), W with row
 * stride ldw, computed with the backend's batch-invariant product
 * (rb_backend.h gemm_rows; gemm when a backend lacks it). Every weight
 * product of cached inference goes through here. */
static inline void rb_linear_rows(rb_backend *be, int N, int out, int in, const float *x, int ldx,
                                  const float *W, int ldw, int accumulate, float *y, int ldy)
{
    if (be->gemm_rows) be->gemm_rows(be, N, out, in, x, ldx, W, ldw, accumulate, y, ldy);
    else be->gemm(be, 0, 1, N, out, in, 1.0f, x, ldx, W, ldw, accumulate ? 1.0f : 0.0f, y, ldy);
}

/* One block's forward: writes every field of a (a->in must be set; a->out
 * may alias a->in when gradients are not needed). */
void rb_block_forward(rb_model *m, const rb_block_ctx *bc, int layer, rb_block_acts *a);

/* Carve (or, with base == NULL, count) one block's activations for B x T
 * rows out of an arena; *used advances in floats. */
void rb_block_acts_carve(float *base, size_t *used, const rb_config *c, int B, int T,
                         rb_block_acts *a, int with_out);
/* One block's backward: on entry g holds dL/d(out); on exit dL/d(in).
 * Weight gradients accumulate into m->g. */
void rb_block_backward(rb_model *m, rb_workspace *ws, int layer, const rb_block_acts *a, float *g);

#endif
