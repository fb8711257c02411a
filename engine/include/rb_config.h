/* rb_config.h: the one model description shared by every checkpoint family.
 *
 * A model is: token embedding, a sequence of decoder blocks, final RMSNorm,
 * LM head. The blocks are split into prelude (n_prelude, run once),
 * recurrent block (n_recur, iterated r times with shared weights, fed by the
 * adapter Linear(2h -> h) on concat(state, prelude output)) and coda
 * (n_coda, run once). A plain (non-recurrent) model has n_recur == 0 and no
 * adapter; all of its layers count as prelude.
 *
 * RoPE: the engine supports both pairings in its kernels. Loaders convert
 * every checkpoint to RB_ROPE_HALF (HF "rotate_half": dimension i pairs with
 * i + d/2) by permuting the q/k projection rows, so that the three families
 * of stories260K give identical logits; RB_ROPE_INTERLEAVED (adjacent
 * pairs, llama2.c / GGUF) is kept for tests and for raw use. */
#ifndef RB_CONFIG_H
#define RB_CONFIG_H

#include <stdint.h>

#include "rb_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RB_BLOCK_LLAMA = 0, /* pre-norm: x += attn(norm1(x)); x += mlp(norm2(x)) */
    RB_BLOCK_OLMO2 = 1  /* post-norm: x += norm1(attn(x)); x += norm2(mlp(x)); q/k RMSNorm */
} rb_block_kind;

typedef enum {
    RB_ROPE_HALF = 0,        /* pair i with i + head_dim/2 (HF) */
    RB_ROPE_INTERLEAVED = 1  /* pair 2i with 2i+1 (llama2.c, GGUF) */
} rb_rope_layout;

typedef enum {
    RB_ROPE_SCALING_NONE = 0,
    RB_ROPE_SCALING_LLAMA3 = 1
} rb_rope_scaling;

typedef enum {
    RB_STATE_TRUNCNORMAL = 0, /* s_0 ~ TruncNormal(0, sigma, +-3 sigma), the paper's default */
    RB_STATE_ZERO = 1
} rb_state_init;

/* METHOD.md section 1: fixed constant, not rescaled with the width. */
#define RB_STATE_SIGMA_DEFAULT 0.008703882797784892f

typedef struct {
    /* shape */
    int vocab_size;
    int dim;          /* h */
    int n_heads;
    int n_kv_heads;
    int head_dim;     /* 0 means dim / n_heads (which must then divide); HF may set it */
    int hidden_dim;   /* SwiGLU inner width */
    int max_seq_len;  /* RoPE table length */

    rb_block_kind block;
    float norm_eps;

    /* RoPE */
    float rope_theta;
    rb_rope_layout rope_layout;
    rb_rope_scaling rope_scaling;
    float rope_factor;            /* llama3: scale factor (e.g. 32) */
    float rope_low_freq_factor;   /* llama3: 1 */
    float rope_high_freq_factor;  /* llama3: 4 */
    int rope_original_max_pos;    /* llama3: 8192 */

    int tied_head;    /* LM head shares the embedding matrix */

    /* retrofit layout: blocks are stored prelude, recurrent, coda in order */
    int n_prelude;
    int n_recur;
    int n_coda;

    /* initial recurrent state */
    rb_state_init state_init;
    float state_sigma;
} rb_config;

/* Fill a config with neutral defaults (Llama block, theta 10000, eps 1e-5,
 * half-split RoPE, truncated-normal state with the paper's sigma). Shape
 * fields are zero and must be set by the caller. */
void rb_config_defaults(rb_config *c);

/* Fill derived fields (head_dim when 0) and check every field; on failure
 * err names the field, the value and the fix. */
rb_status rb_config_finalize(rb_config *c, rb_error *err);

static inline int rb_config_n_layers(const rb_config *c)
{
    return c->n_prelude + c->n_recur + c->n_coda;
}
static inline int rb_config_is_recurrent(const rb_config *c) { return c->n_recur > 0; }
static inline int rb_config_q_dim(const rb_config *c) { return c->n_heads * c->head_dim; }
static inline int rb_config_kv_dim(const rb_config *c) { return c->n_kv_heads * c->head_dim; }
static inline int rb_config_qkv_dim(const rb_config *c)
{
    return (c->n_heads + 2 * c->n_kv_heads) * c->head_dim;
}

#ifdef __cplusplus
}
#endif
#endif
