/* params.c: the parameter table, the one place that decides where every
 * weight lives in the parameter buffer (see the layout in rb_model.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_model.h"

typedef struct {
    rb_param_table *t;
    int cap;
    rb_error *err;
} builder;

static rb_status add(builder *b, const char *name, int64_t rows, int64_t cols, int ndim,
                     rb_param_kind kind, int layer, int fuse_group)
{
    rb_param_table *t = b->t;
    if (t->count == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        rb_param *p = realloc(t->items, (size_t)cap * sizeof *p);
        if (!p) return rb_fail(b->err, RB_ENOMEM, "parameter table: out of memory");
        t->items = p;
        b->cap = cap;
    }
    rb_param *p = &t->items[t->count++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->rows = rows;
    p->cols = cols;
    p->numel = (size_t)rows * (size_t)cols;
    p->offset = t->total;
    p->kind = kind;
    p->layer = layer;
    p->fuse_group = fuse_group;
    t->total += p->numel;
    return RB_OK;
}

#define ADD(...)                                          \
    do {                                                  \
        rb_status st_ = add(&b, __VA_ARGS__);             \
        if (st_ != RB_OK) {                               \
            rb_param_table_free(t);                       \
            return st_;                                   \
        }                                                 \
    } while (0)

rb_status rb_param_table_build(rb_param_table *t, const rb_config *c, rb_error *err)
{
    memset(t, 0, sizeof *t);
    builder b = {t, 0, err};
    const int64_t h = c->dim, V = c->vocab_size, F = c->hidden_dim;
    const int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    const int olmo = c->block == RB_BLOCK_OLMO2;
    const int L = rb_config_n_layers(c);
    char name[RB_PARAM_NAME_MAX];
    int group = 0;

    ADD("model.embed_tokens.weight", V, h, 2, RB_PARAM_EMBED, -1, -1);
    for (int i = 0; i < L; i++) {
#define NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", i, suffix), name)
        ADD(NAME(olmo ? "post_attention_layernorm.weight" : "input_layernorm.weight"), h, 1, 1,
            RB_PARAM_NORM, i, -1);
        int qkv = group++;
        ADD(NAME("self_attn.q_proj.weight"), qd, h, 2, RB_PARAM_MATRIX, i, qkv);
        ADD(NAME("self_attn.k_proj.weight"), kvd, h, 2, RB_PARAM_MATRIX, i, qkv);
        ADD(NAME("self_attn.v_proj.weight"), kvd, h, 2, RB_PARAM_MATRIX, i, qkv);
        if (olmo) {
            ADD(NAME("self_attn.q_norm.weight"), qd, 1, 1, RB_PARAM_NORM, i, -1);
            ADD(NAME("self_attn.k_norm.weight"), kvd, 1, 1, RB_PARAM_NORM, i, -1);
        }
        ADD(NAME("self_attn.o_proj.weight"), h, qd, 2, RB_PARAM_MATRIX, i, -1);
        ADD(NAME(olmo ? "post_feedforward_layernorm.weight" : "post_attention_layernorm.weight"), h,
            1, 1, RB_PARAM_NORM, i, -1);
        int gu = group++;
        ADD(NAME("mlp.gate_proj.weight"), F, h, 2, RB_PARAM_MATRIX, i, gu);
        ADD(NAME("mlp.up_proj.weight"), F, h, 2, RB_PARAM_MATRIX, i, gu);
        ADD(NAME("mlp.down_proj.weight"), h, F, 2, RB_PARAM_MATRIX, i, -1);
#undef NAME
    }
    if (c->n_recur > 0) ADD("model.adapter.weight", h, 2 * h, 2, RB_PARAM_MATRIX, -1, -1);
    ADD("model.norm.weight", h, 1, 1, RB_PARAM_NORM, -1, -1);
    if (!c->tied_head) ADD("lm_head.weight", V, h, 2, RB_PARAM_HEAD, -1, -1);
    return RB_OK;
}

void rb_param_table_free(rb_param_table *t)
{
    if (!t) return;
    free(t->items);
    memset(t, 0, sizeof *t);
}

int rb_param_table_find(const rb_param_table *t, const char *name)
{
    for (int i = 0; i < t->count; i++)
        if (!strcmp(t->items[i].name, name)) return i;
    return -1;
}
