/* rb_model.h: the depth-recurrent model (prelude, adapter + recurrent block
 * iterated r times, coda, head), its parameter table, and the training
 * forward/backward with truncated backpropagation (METHOD.md sections 1-2).
 *
 * Memory: one allocation per role, sized up front. Parameters and gradients
 * are single buffers laid out by the parameter table; activations live in a
 * workspace sized for (B, T, max gradient iterations). The n no-gradient
 * iterations reuse one scratch set; only the k gradient iterations store
 * activations.
 *
 * Parameter layout, in buffer order (names follow Hugging Face so that a
 * plain model saved by retrobench is a valid HF Llama/OLMo-2 checkpoint):
 *   model.embed_tokens.weight                 [V, h]
 *   per block i (prelude, recurrent, coda in order):
 *     norm1  (llama: input_layernorm, olmo2: post_attention_layernorm)  [h]
 *     self_attn.q_proj / k_proj / v_proj      [H hd, h] [KV hd, h] [KV hd, h]  (adjacent: one fused qkv matrix)
 *     self_attn.q_norm / k_norm (olmo2 only)  [H hd] [KV hd]
 *     self_attn.o_proj                        [h, H hd]
 *     norm2  (llama: post_attention_layernorm, olmo2: post_feedforward_layernorm) [h]
 *     mlp.gate_proj / up_proj                 [F, h] [F, h]  (adjacent: one fused gate|up matrix)
 *     mlp.down_proj                           [h, F]
 *   model.adapter.weight (recurrent only)     [h, 2h]  on concat(state, prelude output)
 *   model.norm.weight                         [h]
 *   lm_head.weight (untied only)              [V, h]
 */
#ifndef RB_MODEL_H
#define RB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "rb_backend.h"
#include "rb_config.h"
#include "rb_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Optimizer grouping of a parameter (METHOD.md section 2). */
typedef enum {
    RB_PARAM_MATRIX = 0, /* 2-D hidden matrices of the blocks and the adapter: Muon */
    RB_PARAM_EMBED = 1,  /* token embedding: AdamW */
    RB_PARAM_HEAD = 2,   /* untied LM head: AdamW */
    RB_PARAM_NORM = 3    /* RMSNorm weights: AdamW */
} rb_param_kind;

#define RB_PARAM_NAME_MAX 96

typedef struct {
    char name[RB_PARAM_NAME_MAX];
    int ndim;          /* 1 or 2 */
    int64_t rows;      /* shape[0] */
    int64_t cols;      /* shape[1] (1 for vectors) */
    size_t offset;     /* in floats from the start of the buffer */
    size_t numel;
    rb_param_kind kind;
    int layer;         /* block index, -1 outside the blocks */
    int fuse_group;    /* q,k,v share one id, gate,up another; -1 if not fused */
} rb_param;

typedef struct {
    rb_param *items;
    int count;
    size_t total; /* floats */
} rb_param_table;

/* Build the table for a finalized config (see rb_config_finalize). */
rb_status rb_param_table_build(rb_param_table *t, const rb_config *c, rb_error *err);
void rb_param_table_free(rb_param_table *t);
/* Index of the parameter with this exact name, or -1. */
int rb_param_table_find(const rb_param_table *t, const char *name);

/* Pointers to one block's weights (or gradients) inside a buffer. */
typedef struct {
    float *norm1;   /* [h] */
    float *wqkv;    /* [(H + 2 KV) hd, h] */
    float *q_norm;  /* [H hd]  (olmo2) */
    float *k_norm;  /* [KV hd] (olmo2) */
    float *wo;      /* [h, H hd] */
    float *norm2;   /* [h] */
    float *wgu;     /* [2F, h] */
    float *wdown;   /* [h, F] */
} rb_block_view;

typedef struct {
    float *embed;      /* [V, h] */
    rb_block_view *blocks; /* n_layers entries */
    float *adapter;    /* [h, 2h] or NULL */
    float *final_norm; /* [h] */
    float *head;       /* [V, h]; equals embed when tied */
} rb_model_view;

typedef struct rb_model {
    rb_config cfg;
    rb_backend *be;      /* not owned */
    rb_param_table table;
    float *params;       /* backend memory, table.total floats */
    float *grads;        /* backend memory or NULL until rb_model_enable_grads */
    float *rope_cos;     /* backend memory [max_seq_len, head_dim/2] */
    float *rope_sin;
    rb_model_view w;     /* views into params */
    rb_model_view g;     /* views into grads (NULL pointers until enabled) */
} rb_model;

/* Create a model with zeroed parameters. The config is copied and finalized. */
rb_status rb_model_create(rb_model **out, const rb_config *cfg, rb_backend *be, rb_error *err);
void rb_model_destroy(rb_model *m);
/* Allocate (zeroed) gradient buffer. Idempotent. */
rb_status rb_model_enable_grads(rb_model *m, rb_error *err);
rb_status rb_model_zero_grads(rb_model *m, rb_error *err);

/* Random init for tests and from-scratch runs: matrices N(0, std) with the
 * same xoshiro stream on every backend, norms 1, adapter uniform
 * +-1/sqrt(2h) (PyTorch nn.Linear default, the paper's default). */
rb_status rb_model_init_random(rb_model *m, uint64_t seed, float std, rb_error *err);

/* Copy parameters between host memory (table layout) and the backend. */
rb_status rb_model_set_params(rb_model *m, const float *host, rb_error *err);
rb_status rb_model_get_params(const rb_model *m, float *host, rb_error *err);
rb_status rb_model_get_grads(const rb_model *m, float *host, rb_error *err);

/* Parameter counts: whole model; one pass of the recurrent block (adapter
 * included); prelude; coda; embedding; head (0 when tied). */
typedef struct {
    size_t total, prelude, recur, coda, adapter, embed, head, final_norm;
} rb_param_counts;
void rb_model_param_counts(const rb_model *m, rb_param_counts *pc);
/* The same from a table built for config c (no model needed). */
void rb_param_table_counts(const rb_param_table *t, const rb_config *c, rb_param_counts *pc);

/* ---------------- training / scoring forward and backward ---------------- */

typedef struct rb_workspace rb_workspace;

/* Activation memory for batches of B rows of T tokens with at most
 * max_grad_iters gradient iterations of the recurrent block. */
rb_status rb_workspace_create(rb_workspace **out, rb_model *m, int B, int T, int max_grad_iters,
                              rb_error *err);
void rb_workspace_destroy(rb_workspace *ws);
size_t rb_workspace_bytes(const rb_workspace *ws);

typedef struct {
    int n_nograd;        /* n: iterations run first, without gradient */
    int n_grad;          /* k: iterations run last, with gradient (0 for scoring) */
    int grad;            /* keep activations for rb_backward */
    uint64_t seed;       /* seeds the initial state s_0 */
    int state_zero;      /* override: s_0 = 0 */
    int bypass_adapter;  /* adapter output = e (the port check of METHOD.md) */
    const float *state0; /* optional host [B*T, h] initial state; overrides both */
} rb_step_opts;

/* Forward on tokens[B*T] (host). With targets[B*T] (host, < 0 = ignored) it
 * computes the mean cross-entropy into *loss and, when opts->grad, the
 * logits' gradient for rb_backward. Recurrent models need n + k >= 1. */
rb_status rb_forward(rb_model *m, rb_workspace *ws, const int32_t *tokens, const int32_t *targets,
                     const rb_step_opts *opts, double *loss, rb_error *err);
/* Backward of the last forward (which must have had grad and targets):
 * accumulates into m->grads. */
rb_status rb_backward(rb_model *m, rb_workspace *ws, rb_error *err);
/* Logits of the last forward: backend memory [B*T, V]. After a forward with
 * grad and targets they have been overwritten by their gradient. */
const float *rb_workspace_logits(const rb_workspace *ws);
/* Final recurrent state s_r of the last forward (backend memory [B*T, h]), or NULL. */
const float *rb_workspace_state(const rb_workspace *ws);

/* Fill s_0 [n, h] on the host the way rb_forward does (truncated normal,
 * sigma, +-3 sigma, from seed). */
void rb_draw_initial_state(float *s0, size_t count, float sigma, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
