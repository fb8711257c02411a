/* rb_train.h: the training loop of METHOD.md section 2 as an engine API.
 *
 * One optimizer step = grad_accum micro-batches of `batch` rows from a
 * weighted mixture of packed token files. Each micro-batch draws its own
 * recurrence (n no-gradient and k gradient iterations) from the
 * Poisson-lognormal sampler seeded by (seed, step, micro), with the mean
 * recurrence rbar from a curriculum over steps and the mean backprop depth b
 * from another. Gradients are averaged over the micro-batches, clipped, and
 * applied by Muon + AdamW (or AdamW alone) at the scheduled learning rate.
 * The same loop trains a plain (non-recurrent) baseline.
 *
 * Everything a step needs is a function of (seed, step, micro) except the
 * weights, the optimizer state and the data position, which checkpoints
 * keep, so a resumed run repeats an uninterrupted one bit for bit. */
#ifndef RB_TRAIN_H
#define RB_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "rb_data.h"
#include "rb_io.h"
#include "rb_model.h"
#include "rb_optim.h"
#include "rb_sched.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RB_TRAIN_MAX_SOURCES 16
#define RB_TRAIN_MAX_VAL_DEPTHS 16

typedef struct {
    char path[1024]; /* packed token file (.rbtok) with rows of T + 1 */
    double weight;
} rb_train_source;

typedef struct {
    rb_train_source sources[RB_TRAIN_MAX_SOURCES];
    int n_sources;
    double val_fraction;  /* last rows of each source held out (0.05) */
    int batch;            /* rows per micro-batch */
    int grad_accum;       /* micro-batches per optimizer step */
    int64_t steps;        /* optimizer steps of this phase */

    rb_curriculum rbar;     /* mean recurrence: 1-sqrt over 75% to rbar_max (4) */
    rb_curriculum backprop; /* mean backprop depth b: constant 8 */
    rb_depth_opts depth;    /* sampler mode and sigma (b comes from `backprop`) */

    rb_optim_config optim;
    rb_lr_schedule lr;

    int val_every;        /* steps between validations; 0: only when asked */
    int val_depths[RB_TRAIN_MAX_VAL_DEPTHS];
    int n_val_depths;
    int val_rows;         /* held-out rows per validation (0: all) */

    uint64_t seed;
    int max_bad_steps;    /* consecutive non-finite steps before stopping (3) */
    int score_only;       /* 1: held-out scoring only (rb_trainer_validate): no gradients,
                             no optimizer state and no gradient iterations' activations
                             are allocated; step, save and restore refuse */
} rb_train_config;

/* The paper's main recipe with the given rbar_max (4 or 32). */
void rb_train_config_default(rb_train_config *c, int rbar_max);
rb_status rb_train_config_validate(const rb_train_config *c, rb_error *err);

typedef struct {
    int64_t step;         /* optimizer steps done, after this one */
    double loss;          /* mean over the micro-batches */
    double lr_mult;
    double lr_muon, lr_adam;
    int rbar, backprop;
    int n, k;             /* the last micro-batch's draw */
    int n_sum, k_sum;     /* summed over the micro-batches */
    double grad_norm;     /* before clipping */
    int skipped;          /* non-finite: nothing applied */
    int bad_in_row;
    double tokens;        /* tokens in this step */
    double seconds;       /* wall time of this step */
    double flops;         /* model FLOPs of this step (METHOD.md section 3) */
    double flops_total;   /* since the start of training */
    int n_val;
    int val_depth[RB_TRAIN_MAX_VAL_DEPTHS];
    double val_loss[RB_TRAIN_MAX_VAL_DEPTHS];
} rb_train_metrics;

typedef struct rb_trainer rb_trainer;

/* The model must have gradients enabled or they are enabled here. stop
 * (may be NULL) is polled between micro-batches: when it becomes non-zero
 * the step in progress is abandoned (data position rolled back) and
 * rb_trainer_step returns RB_EINTERRUPTED. */
rb_status rb_trainer_create(rb_trainer **out, rb_model *m, const rb_train_config *c,
                            volatile sig_atomic_t *stop, rb_error *err);
void rb_trainer_destroy(rb_trainer *t);

/* One optimizer step. A non-finite loss or gradient skips the update
 * (metrics->skipped) and returns RB_OK unless max_bad_steps were skipped in
 * a row, then RB_ENUMERIC. Validation runs when the step count reaches a
 * multiple of val_every (metrics->n_val > 0). */
rb_status rb_trainer_step(rb_trainer *t, rb_train_metrics *metrics, rb_error *err);
int64_t rb_trainer_step_count(const rb_trainer *t);
int rb_trainer_done(const rb_trainer *t);
int rb_trainer_seq_len(const rb_trainer *t);

/* Mean held-out loss at test depth r (n = r, k = 0, fixed initial-state
 * seeds so evaluations are comparable). */
rb_status rb_trainer_validate(rb_trainer *t, int depth, double *loss, rb_error *err);

/* Checkpoints: dir/<name>/model.safetensors (retrobench checkpoint with the
 * training state in its metadata) and optim.safetensors, written into a
 * temporary folder and renamed, then dir/latest is replaced atomically.
 * plan (may be NULL) and the extra metadata pairs (tokenizer path, special
 * ids, ...) are recorded with the weights. */
rb_status rb_trainer_save(rb_trainer *t, const char *dir, const rb_retrofit_plan *plan,
                          const char *const *extra_keys, const char *const *extra_values,
                          int n_extra, rb_error *err);
/* Restore weights, optimizer state, step and data position from a folder
 * written by rb_trainer_save (dir/latest is followed when dir has one). */
rb_status rb_trainer_restore(rb_trainer *t, const char *dir, rb_error *err);
/* The checkpoint folder dir/latest points to, into buf; RB_EIO if none. */
rb_status rb_train_latest_checkpoint(const char *dir, char *buf, size_t len, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
