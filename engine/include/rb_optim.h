/* rb_optim.h: the paper's optimizers (METHOD.md section 2).
 *
 * Main recipe: Muon on every 2-D hidden matrix of the blocks and on the
 * adapter (Nesterov momentum 0.95 as a running average, Frobenius
 * normalisation, five Newton-Schulz iterations with a, b, c = 3.4445,
 * -4.7750, 2.0315, scaled by sqrt(max(1, rows/cols)), decoupled weight
 * decay), q|k|v and gate|up orthogonalised as fused matrices by default;
 * AdamW on embeddings, LM head and norm weights. AdamW-only mode: every
 * parameter with AdamW. Global gradient-norm clipping before the update.
 *
 * Precision of Newton-Schulz: the paper runs it in bf16. Here (ns_bf16 = 1,
 * the default) every GEMM operand is rounded to bf16 and the sums are fp32,
 * while X, A and B stay fp32 between GEMMs, which is at least as accurate as
 * an all-bf16 iteration; ns_bf16 = 0 keeps everything fp32. */
#ifndef RB_OPTIM_H
#define RB_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"
#include "rb_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RB_OPTIM_MUON = 0,  /* Muon on matrices + AdamW on the rest (main recipe) */
    RB_OPTIM_ADAMW = 1  /* AdamW everywhere (the paper's comparison) */
} rb_optim_kind;

typedef struct {
    rb_optim_kind kind;
    /* Muon group */
    float muon_lr;       /* 1e-3 */
    float muon_momentum; /* 0.95 */
    float muon_wd;       /* 1e-4 */
    int muon_nesterov;   /* 1 */
    int ns_steps;        /* 5 */
    float ns_a, ns_b, ns_c; /* 3.4445, -4.7750, 2.0315 */
    int muon_fuse;       /* 1: q|k|v and gate|up as one matrix each */
    int ns_bf16;         /* 1: Newton-Schulz GEMMs on bf16-rounded operands with fp32 sums
                            (the paper runs NS in bf16; backend gemm_bf16); 0: fp32 throughout */
    int ns_gram;         /* 1: iterate on the r x r Gram matrix for wide matrices (fewer FLOPs,
                            same polynomial; rounding differs, see optim.c); 0: the reference */
    /* AdamW group (and every parameter in AdamW-only mode) */
    float adam_lr;       /* 5e-5 */
    float adam_beta1;    /* 0.9 */
    float adam_beta2;    /* 0.95 */
    float adam_eps;      /* 1e-10 with Muon, 1e-8 AdamW-only */
    float adam_wd;       /* 1e-4 */
    /* global gradient-norm clipping; <= 0 disables */
    float clip_norm;     /* 1.0 */
} rb_optim_config;

/* The paper's values for the given kind. */
void rb_optim_config_default(rb_optim_config *c, rb_optim_kind kind);
/* Muon's default fusing for a model whose checkpoint plan has this kind
 * (rb_retrofit_plan.kind; NULL or "" for none): 0 for the paper's static
 * baseline, whose authors' optimizer orthogonalises q, k, v, o, gate, up
 * and down as separate matrices (METHOD.md section 2), 1 otherwise (the
 * retrofit, fused as the authors do). */
int rb_optim_default_fuse(const char *plan_kind);
rb_status rb_optim_config_validate(const rb_optim_config *c, rb_error *err);

typedef struct rb_optimizer rb_optimizer;

rb_status rb_optimizer_create(rb_optimizer **out, rb_model *m, const rb_optim_config *cfg,
                              rb_error *err);
void rb_optimizer_destroy(rb_optimizer *o);

typedef struct {
    double grad_norm;   /* before clipping */
    double clip_scale;  /* factor applied to the gradients (1 when not clipped) */
    int skipped;        /* non-finite gradient norm: nothing was updated */
} rb_optim_step_info;

/* Clip the model's gradients to the global norm, then update every
 * parameter with lr = group lr * lr_mult. A non-finite gradient norm skips
 * the update (info->skipped = 1, status RB_ENUMERIC) and leaves weights and
 * optimizer state untouched. */
rb_status rb_optimizer_step(rb_optimizer *o, float lr_mult, rb_optim_step_info *info,
                            rb_error *err);
int64_t rb_optimizer_step_count(const rb_optimizer *o);
const rb_optim_config *rb_optimizer_config(const rb_optimizer *o);

/* Optimizer state for checkpoints: the step count and two buffers laid out
 * like the parameters (first moment / Muon momentum, second moment). */
size_t rb_optimizer_state_floats(const rb_optimizer *o); /* 2 * params */
rb_status rb_optimizer_get_state(const rb_optimizer *o, float *host, int64_t *step, rb_error *err);
rb_status rb_optimizer_set_state(rb_optimizer *o, const float *host, int64_t step, rb_error *err);

/* The Newton-Schulz orthogonalisation alone, for tests: X[rows, cols] on
 * the backend is replaced by the Muon update direction O (before the
 * learning rate; including the sqrt(max(1, rows/cols)) scale). */
rb_status rb_muon_orthogonalize(rb_backend *be, float *X, int rows, int cols,
                                const rb_optim_config *cfg, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
