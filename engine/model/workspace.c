/* workspace.c: sizing and carving the activation memory of a training or
 * scoring forward. Three backend allocations (activations, backward
 * scratch, integer inputs) plus two small host buffers, all sized up front
 * from (B, T, max gradient iterations) and the model shape. */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* Carving: each piece starts on a 64-byte boundary. With base == NULL only
 * the size is counted. */
typedef struct {
    float *base;
    size_t used; /* floats */
} carver;

static float *carve(carver *cv, size_t n)
{
    float *p = cv->base ? cv->base + cv->used : NULL;
    cv->used += (n + 15) / 16 * 16;
    return p;
}

void rb_block_acts_carve(float *base, size_t *used, const rb_config *c, int B, int T,
                         rb_block_acts *a, int with_out)
{
    carver cv0 = {base, *used}, *cv = &cv0;
    const size_t N = (size_t)B * T, h = c->dim, F = c->hidden_dim;
    const size_t Dq = rb_config_q_dim(c), Dkv = rb_config_kv_dim(c), Dqkv = rb_config_qkv_dim(c);
    memset(a, 0, sizeof *a);
    a->rstd1 = carve(cv, N);
    if (c->block == RB_BLOCK_LLAMA) {
        a->xn1 = carve(cv, N * h);
        a->xn2 = carve(cv, N * h);
    } else {
        a->qk_raw = carve(cv, N * (Dq + Dkv));
        a->rstd_q = carve(cv, N);
        a->rstd_k = carve(cv, N);
        a->o = carve(cv, N * h);
        a->mlp = carve(cv, N * h);
    }
    a->qkv = carve(cv, N * Dqkv);
    a->lse = carve(cv, (size_t)B * c->n_heads * T);
    a->att = carve(cv, N * Dq);
    a->res1 = carve(cv, N * h);
    a->rstd2 = carve(cv, N);
    a->gu = carve(cv, N * 2 * F);
    a->act = carve(cv, N * F);
    if (with_out) a->out = carve(cv, N * h);
    *used = cv->used;
}

/* Lay out (or, with NULL bases, size) the whole workspace. */
static void layout(rb_workspace *ws, float *act_base, float *grad_base, size_t *act_n, size_t *grad_n)
{
    const rb_config *c = &ws->m->cfg;
    const int B = ws->B, T = ws->T;
    const size_t N = (size_t)B * T, h = c->dim, F = c->hidden_dim, V = c->vocab_size;
    const size_t Dq = rb_config_q_dim(c), Dkv = rb_config_kv_dim(c), Dqkv = rb_config_qkv_dim(c);

    carver a = {act_base, 0};
    ws->emb = carve(&a, N * h);
    for (int i = 0; i < ws->n_slots; i++) rb_block_acts_carve(act_base, &a.used, c, B, T, &ws->slots[i], 1);
    rb_block_acts_carve(act_base, &a.used, c, B, T, &ws->scratch, 0);
    if (rb_config_is_recurrent(c)) {
        ws->s_a = carve(&a, N * h);
        ws->s_b = carve(&a, N * h);
        ws->s_start = carve(&a, N * h);
        ws->xin = carve(&a, (size_t)ws->max_k * N * h);
    }
    ws->final_rstd = carve(&a, N);
    ws->xf = carve(&a, N * h);
    ws->logits = carve(&a, N * V);
    ws->losses = carve(&a, N);
    *act_n = a.used;

    carver g = {grad_base, 0};
    ws->g_cur = carve(&g, N * h);
    ws->g_alt = carve(&g, N * h);
    ws->g_e = carve(&g, N * h);
    ws->g_h = carve(&g, N * h);
    ws->g_act = carve(&g, N * F);
    ws->g_gu = carve(&g, N * 2 * F);
    ws->g_att = carve(&g, N * Dq);
    ws->g_qkv = carve(&g, N * Dqkv);
    if (c->block == RB_BLOCK_OLMO2) ws->g_qk_raw = carve(&g, N * (Dq + Dkv));
    *grad_n = g.used;
}

rb_status rb_workspace_create(rb_workspace **out, rb_model *m, int B, int T, int max_grad_iters,
                              rb_error *err)
{
    *out = NULL;
    const rb_config *c = &m->cfg;
    if (B < 1 || T < 1)
        return rb_fail(err, RB_EINVAL, "workspace: batch %d x sequence %d; both must be >= 1", B, T);
    if (T > c->max_seq_len)
        return rb_fail(err, RB_EINVAL,
                       "workspace: sequence length %d exceeds the model's max_seq_len %d; use "
                       "shorter rows or raise max_seq_len", T, c->max_seq_len);
    if (max_grad_iters < 0)
        return rb_fail(err, RB_EINVAL, "workspace: max gradient iterations %d must be >= 0",
                       max_grad_iters);
    if ((double)B * T > 1e9)
        return rb_fail(err, RB_EINVAL, "workspace: batch %d x sequence %d is too large", B, T);
    rb_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return rb_fail(err, RB_ENOMEM, "workspace: out of memory");
    ws->m = m;
    ws->B = B;
    ws->T = T;
    ws->N = B * T;
    ws->max_k = rb_config_is_recurrent(c) ? max_grad_iters : 0;
    ws->n_slots = c->n_prelude + c->n_coda + ws->max_k * c->n_recur;
    ws->slots = calloc((size_t)(ws->n_slots > 0 ? ws->n_slots : 1), sizeof *ws->slots);
    ws->losses_host = malloc((size_t)ws->N * sizeof(float));
    ws->s0_host = malloc((size_t)ws->N * c->dim * sizeof(float));
    rb_backend *be = m->be;
    rb_status st = RB_OK;
    if (!ws->slots || !ws->losses_host || !ws->s0_host)
        st = rb_fail(err, RB_ENOMEM, "workspace: out of memory");
    size_t act_n = 0, grad_n = 0;
    if (st == RB_OK) {
        layout(ws, NULL, NULL, &act_n, &grad_n);
        st = be->alloc(be, (void **)&ws->act_arena, act_n * sizeof(float), err);
    }
    if (st == RB_OK) st = be->alloc(be, (void **)&ws->grad_arena, grad_n * sizeof(float), err);
    if (st == RB_OK) st = be->alloc(be, (void **)&ws->int_arena, 3 * (size_t)ws->N * sizeof(int32_t), err);
    if (st != RB_OK) {
        rb_fail_prefix(err, "workspace for batch %d x %d with %d gradient iterations (%.1f MiB): ",
                       B, T, ws->max_k, (double)(act_n + grad_n) * 4 / 1048576.0);
        rb_workspace_destroy(ws);
        return st;
    }
    layout(ws, ws->act_arena, ws->grad_arena, &act_n, &grad_n);
    ws->tokens = ws->int_arena;
    ws->targets = ws->int_arena + ws->N;
    ws->pos = ws->int_arena + 2 * (size_t)ws->N;
    int32_t *pos = malloc((size_t)ws->N * sizeof *pos);
    if (!pos) {
        rb_workspace_destroy(ws);
        return rb_fail(err, RB_ENOMEM, "workspace: out of memory");
    }
    for (int n = 0; n < ws->N; n++) pos[n] = n % T;
    st = be->upload(be, ws->pos, pos, (size_t)ws->N * sizeof *pos, err);
    free(pos);
    if (st != RB_OK) {
        rb_workspace_destroy(ws);
        return st;
    }
    ws->bytes = (act_n + grad_n) * sizeof(float) + 3 * (size_t)ws->N * sizeof(int32_t);
    *out = ws;
    return RB_OK;
}

void rb_workspace_destroy(rb_workspace *ws)
{
    if (!ws) return;
    rb_backend *be = ws->m->be;
    if (ws->act_arena) be->free(be, ws->act_arena);
    if (ws->grad_arena) be->free(be, ws->grad_arena);
    if (ws->int_arena) be->free(be, ws->int_arena);
    free(ws->slots);
    free(ws->losses_host);
    free(ws->s0_host);
    free(ws);
}

size_t rb_workspace_bytes(const rb_workspace *ws) { return ws->bytes; }
const float *rb_workspace_logits(const rb_workspace *ws) { return ws->logits; }
const float *rb_workspace_state(const rb_workspace *ws) { return ws->s_final; }
