/* model.c: creating a model (parameter buffer, views, RoPE tables),
 * random initialisation, parameter transfer and counting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rb_model.h"
#include "rb_rng.h"

/* Point a view's fields into buf following the parameter table. */
static rb_status build_view(rb_model_view *v, const rb_model *m, float *buf, rb_error *err)
{
    const rb_config *c = &m->cfg;
    int L = rb_config_n_layers(c);
    memset(v, 0, sizeof *v);
    v->blocks = calloc((size_t)(L > 0 ? L : 1), sizeof *v->blocks);
    if (!v->blocks) return rb_fail(err, RB_ENOMEM, "model: out of memory for block views");
    for (int i = 0; i < m->table.count; i++) {
        const rb_param *p = &m->table.items[i];
        float *ptr = buf + p->offset;
        if (p->layer < 0) {
            if (!strcmp(p->name, "model.embed_tokens.weight")) v->embed = ptr;
            else if (!strcmp(p->name, "model.adapter.weight")) v->adapter = ptr;
            else if (!strcmp(p->name, "model.norm.weight")) v->final_norm = ptr;
            else if (!strcmp(p->name, "lm_head.weight")) v->head = ptr;
            continue;
        }
        rb_block_view *bv = &v->blocks[p->layer];
        const char *s = strchr(p->name + strlen("model.layers."), '.') + 1;
        int olmo = c->block == RB_BLOCK_OLMO2;
        if (!strcmp(s, olmo ? "post_attention_layernorm.weight" : "input_layernorm.weight")) bv->norm1 = ptr;
        else if (!strcmp(s, "self_attn.q_proj.weight")) bv->wqkv = ptr;
        else if (!strcmp(s, "self_attn.q_norm.weight")) bv->q_norm = ptr;
        else if (!strcmp(s, "self_attn.k_norm.weight")) bv->k_norm = ptr;
        else if (!strcmp(s, "self_attn.o_proj.weight")) bv->wo = ptr;
        else if (!strcmp(s, olmo ? "post_feedforward_layernorm.weight" : "post_attention_layernorm.weight")) bv->norm2 = ptr;
        else if (!strcmp(s, "mlp.gate_proj.weight")) bv->wgu = ptr;
        else if (!strcmp(s, "mlp.down_proj.weight")) bv->wdown = ptr;
    }
    if (c->tied_head) v->head = v->embed;
    return RB_OK;
}

/* inv_freq[i] = theta^(-2i/d), with the llama3 rescaling of long wavelengths
 * (Llama 3.1+: wavelengths above original/low_freq_factor are divided by
 * factor, those below original/high_freq_factor kept, a smooth blend in
 * between). Computed in double. */
static void rope_inv_freq(const rb_config *c, double *inv)
{
    int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double f = pow((double)c->rope_theta, -2.0 * i / (double)c->head_dim);
        if (c->rope_scaling == RB_ROPE_SCALING_LLAMA3) {
            double orig = c->rope_original_max_pos;
            double lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
            double wavelen = 2.0 * M_PI / f;
            if (wavelen > orig / lo) {
                f = f / c->rope_factor;
            } else if (wavelen >= orig / hi) {
                double smooth = (orig / wavelen - lo) / (hi - lo);
                f = (1.0 - smooth) * f / c->rope_factor + smooth * f;
            }
        }
        inv[i] = f;
    }
}

rb_status rb_model_create(rb_model **out, const rb_config *cfg, rb_backend *be, rb_error *err)
{
    *out = NULL;
    rb_model *m = calloc(1, sizeof *m);
    if (!m) return rb_fail(err, RB_ENOMEM, "model: out of memory");
    m->cfg = *cfg;
    m->be = be;
    rb_status st = rb_config_finalize(&m->cfg, err);
    if (st == RB_OK) st = rb_param_table_build(&m->table, &m->cfg, err);
    if (st == RB_OK)
        st = be->alloc(be, (void **)&m->params, m->table.total * sizeof(float), err);
    if (st == RB_OK) {
        be->zero(be, m->params, m->table.total * sizeof(float));
        st = build_view(&m->w, m, m->params, err);
    }
    if (st == RB_OK) {
        const rb_config *c = &m->cfg;
        size_t half = (size_t)c->head_dim / 2, n = (size_t)c->max_seq_len * half;
        double *inv = malloc(half * sizeof *inv);
        float *cs = malloc(2 * n * sizeof *cs);
        if (!inv || !cs) {
            st = rb_fail(err, RB_ENOMEM, "model: out of memory for RoPE tables");
        } else {
            rope_inv_freq(c, inv);
            for (int t = 0; t < c->max_seq_len; t++)
                for (size_t i = 0; i < half; i++) {
                    double a = (double)t * inv[i];
                    cs[(size_t)t * half + i] = (float)cos(a);
                    cs[n + (size_t)t * half + i] = (float)sin(a);
                }
            st = be->alloc(be, (void **)&m->rope_cos, 2 * n * sizeof(float), err);
            if (st == RB_OK) {
                m->rope_sin = m->rope_cos + n;
                st = be->upload(be, m->rope_cos, cs, 2 * n * sizeof(float), err);
            }
        }
        free(inv);
        free(cs);
    }
    if (st != RB_OK) {
        rb_model_destroy(m);
        return st;
    }
    *out = m;
    return RB_OK;
}

void rb_model_destroy(rb_model *m)
{
    if (!m) return;
    if (m->be) {
        if (m->params) m->be->free(m->be, m->params);
        if (m->grads) m->be->free(m->be, m->grads);
        if (m->rope_cos) m->be->free(m->be, m->rope_cos);
    }
    free(m->w.blocks);
    free(m->g.blocks);
    rb_param_table_free(&m->table);
    free(m);
}

rb_status rb_model_enable_grads(rb_model *m, rb_error *err)
{
    if (m->grads) return RB_OK;
    rb_status st = m->be->alloc(m->be, (void **)&m->grads, m->table.total * sizeof(float), err);
    if (st != RB_OK) return st;
    m->be->zero(m->be, m->grads, m->table.total * sizeof(float));
    return build_view(&m->g, m, m->grads, err);
}

rb_status rb_model_zero_grads(rb_model *m, rb_error *err)
{
    if (!m->grads) return rb_fail(err, RB_EINVAL, "model: gradients are not enabled");
    m->be->zero(m->be, m->grads, m->table.total * sizeof(float));
    return RB_OK;
}

rb_status rb_model_init_random(rb_model *m, uint64_t seed, float std, rb_error *err)
{
    float *host = malloc(m->table.total * sizeof(float));
    if (!host) return rb_fail(err, RB_ENOMEM, "model: out of memory for initialisation");
    const int h = m->cfg.dim;
    for (int i = 0; i < m->table.count; i++) {
        const rb_param *p = &m->table.items[i];
        float *x = host + p->offset;
        rb_rng rng;
        rb_rng_seed2(&rng, seed, (uint64_t)i);
        if (p->kind == RB_PARAM_NORM) {
            for (size_t j = 0; j < p->numel; j++) x[j] = 1.0f;
        } else if (!strcmp(p->name, "model.adapter.weight")) {
            double bound = 1.0 / sqrt(2.0 * h); /* nn.Linear default: U(+-1/sqrt(fan_in)) */
            for (size_t j = 0; j < p->numel; j++)
                x[j] = (float)((2.0 * rb_rng_uniform(&rng) - 1.0) * bound);
        } else {
            for (size_t j = 0; j < p->numel; j++) x[j] = (float)(rb_rng_normal(&rng) * std);
        }
    }
    rb_status st = rb_model_set_params(m, host, err);
    free(host);
    return st;
}

rb_status rb_model_set_params(rb_model *m, const float *host, rb_error *err)
{
    return m->be->upload(m->be, m->params, host, m->table.total * sizeof(float), err);
}

rb_status rb_model_get_params(const rb_model *m, float *host, rb_error *err)
{
    return m->be->download(m->be, host, m->params, m->table.total * sizeof(float), err);
}

rb_status rb_model_get_grads(const rb_model *m, float *host, rb_error *err)
{
    if (!m->grads) return rb_fail(err, RB_EINVAL, "model: gradients are not enabled");
    return m->be->download(m->be, host, m->grads, m->table.total * sizeof(float), err);
}

void rb_model_param_counts(const rb_model *m, rb_param_counts *pc)
{
    rb_param_table_counts(&m->table, &m->cfg, pc);
}

void rb_param_table_counts(const rb_param_table *t, const rb_config *c, rb_param_counts *pc)
{
    memset(pc, 0, sizeof *pc);
    for (int i = 0; i < t->count; i++) {
        const rb_param *p = &t->items[i];
        pc->total += p->numel;
        if (p->layer >= 0) {
            if (p->layer < c->n_prelude) pc->prelude += p->numel;
            else if (p->layer < c->n_prelude + c->n_recur) pc->recur += p->numel;
            else pc->coda += p->numel;
        } else if (!strcmp(p->name, "model.adapter.weight")) {
            pc->adapter += p->numel;
            pc->recur += p->numel;
        } else if (!strcmp(p->name, "model.embed_tokens.weight")) {
            pc->embed += p->numel;
        } else if (!strcmp(p->name, "lm_head.weight")) {
            pc->head += p->numel;
        } else {
            pc->final_norm += p->numel;
        }
    }
}
