/* rb_surgery.h: cutting a pretrained plain model into prelude, recurrent
 * block and coda (METHOD.md section 1).
 *
 * Default rule: prelude = the first P layers, coda = the last C layers,
 * recurrent block = the R layers immediately before the coda; the layers
 * between prelude and recurrent block are dropped. Any explicit list of
 * source layers per part is accepted too (ablations: [2..5], [2,5,8,11],
 * all layers kept, ...). The adapter Linear(2h -> h) is new: PyTorch's
 * nn.Linear default (uniform +-1/sqrt(2h), the paper's default) or the
 * identity-like [0 | I] that starts from e. The LM head is always untied in
 * the result (a tied base gives its head as a copy of the embedding). */
#ifndef RB_SURGERY_H
#define RB_SURGERY_H

#include <stdint.h>

#include "rb_config.h"
#include "rb_io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RB_ADAPTER_UNIFORM = 0, /* nn.Linear default: U(-1/sqrt(2h), 1/sqrt(2h)) */
    RB_ADAPTER_IDENTITY = 1 /* [0 | I]: adapter output = e */
} rb_adapter_init;

/* Non-recurrent baselines (METHOD.md section 2). The paper's is the whole
 * base model, every layer, head untied; trained with the identical recipe
 * (Muon on q, k, v, o, gate, up, down as separate matrices: training reads
 * the plan's kind and unfuses by default). The surgery's P + R + C layers
 * in sequence are a different, weaker model, offered as a labelled
 * ablation (and the port check's pruned model). */
typedef enum {
    RB_STATIC_NONE = 0,           /* a retrofit: prelude, recurrent block, coda */
    RB_STATIC_SURGERY_LAYERS = 1, /* ablation: the surgery's layers once each, in sequence */
    RB_STATIC_BASELINE = 2        /* the paper's baseline: every layer of the base model */
} rb_static_kind;

/* Plan kinds recorded in checkpoints (rb_retrofit_plan.kind). */
#define RB_PLAN_KIND_STATIC_BASELINE "static-baseline"
#define RB_PLAN_KIND_STATIC_SURGERY_LAYERS "static-surgery-layers"

typedef struct {
    /* default rule (used when the lists are NULL) */
    int n_prelude, n_recur, n_coda;
    /* explicit source layers per part (0-based), overriding the rule */
    const int *prelude_layers;
    int n_prelude_layers;
    const int *recur_layers;
    int n_recur_layers;
    const int *coda_layers;
    int n_coda_layers;
    rb_adapter_init adapter_init;
    uint64_t seed;          /* adapter init */
    int static_model;       /* rb_static_kind: a non-recurrent baseline instead of a retrofit */
    const char *base_name;  /* recorded in the plan (may be NULL) */
} rb_surgery_spec;

/* Build the retrofitted model from a plain base. *out_params is malloc'd in
 * the parameter-table layout of *out_cfg; *plan records the source layers. */
rb_status rb_surgery(const rb_config *base_cfg, const float *base_params, const rb_surgery_spec *spec,
                     rb_config *out_cfg, float **out_params, rb_retrofit_plan *plan, rb_error *err);

/* Parse "0|2,3|4" or "0-3|10-17|18-21" (prelude|recurrent|coda, ranges and
 * commas) into the explicit lists of spec (arrays malloc'd into *storage,
 * which the caller frees). */
rb_status rb_surgery_parse_layers(const char *text, rb_surgery_spec *spec, int **storage,
                                  rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
