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

#include <stdatomic.h>
#include <stdint.h>

#include "rb_comm.h"
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
    int batch;            /* rows per micro-batch, over all data-parallel ranks */
    int grad_accum;       /* micro-batches per optimizer step */
    int dp_shards;        /* S: each micro-batch is computed as S shards of batch / S rows
                             whose gradients are summed in shard order (the shards are
                             spread over the ranks); 0: one per rank. Not part of the
                             recipe: any S gives the same update up to rounding, and the
                             same S gives the same bits on any number of ranks that
                             divides it (docs/distributed.md) */
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
    int val_interrupted;  /* the step was applied, then its validation was stopped (n_val = 0) */
    int ranks;            /* processes in the data-parallel group (1: none) */
    double reduce_seconds; /* in the gradient all-reduce (0 without a group) */
    double wait_seconds;  /* in the step's status agreement: mostly waiting for the slowest rank */
} rb_train_metrics;

typedef struct rb_trainer rb_trainer;

/* The model must have gradients enabled or they are enabled here. stop
 * (may be NULL) is polled between micro-batches and between validation
 * batches; it may be set from any thread or a signal handler (atomic_int is
 * lock-free here). When it becomes non-zero the step in progress is
 * abandoned (data position rolled back) and rb_trainer_step returns
 * RB_EINTERRUPTED; rb_trainer_validate returns RB_EINTERRUPTED too. */
rb_status rb_trainer_create(rb_trainer **out, rb_model *m, const rb_train_config *c,
                            const atomic_int *stop, rb_error *err);
void rb_trainer_destroy(rb_trainer *t);

/* Data-parallel training (docs/distributed.md). Every rank of `comm`
 * creates a trainer with the same settings and calls the same functions in
 * the same order: step, validate and sync are collectives; save is rank
 * 0's alone. A step's rows are the next grad_accum x batch rows of the
 * global data order: micro-batch i is rows [i batch, (i+1) batch), cut into
 * dp_shards shards of batch / dp_shards consecutive rows, rank r computing
 * shards [r S/W, (r+1) S/W). All ranks share micro-batch i's depth draw
 * (seed, step, i), and row g of it gets the initial state drawn from
 * (seed, step, i, g), so where a row is computed changes nothing. The
 * gradient is summed by one comm->allreduce_sum per step, before clipping;
 * loss, gradient norm and token counts in the metrics are the group's.
 * Each step ends with one small allreduce of a status word, so every rank
 * returns the same status: a stop (any rank's flag), a non-finite loss
 * (any rank's: the step is skipped everywhere) or an error in any rank
 * (that rank returns its own message, the others name it). comm NULL is
 * one process; comm must outlive the trainer. */
rb_status rb_trainer_create_comm(rb_trainer **out, rb_model *m, const rb_train_config *c,
                                 const atomic_int *stop, rb_comm *comm, rb_error *err);
/* Collective: check that every rank was created with the same settings,
 * model size and data (naming the first difference), then give every rank
 * rank 0's weights, optimizer state, step and data position (rank 0 may
 * have restored a checkpoint). Call after rank 0's restore, before the
 * first step. A no-op without a group. */
rb_status rb_trainer_sync(rb_trainer *t, rb_error *err);
/* The group (NULL: one process), the resolved shard count and its rows. */
rb_comm *rb_trainer_comm(const rb_trainer *t);
int rb_trainer_shards(const rb_trainer *t);

/* One optimizer step. A non-finite loss or gradient skips the update
 * (metrics->skipped) and returns RB_OK unless max_bad_steps were skipped in
 * a row, then RB_ENUMERIC. Validation runs when the step count reaches a
 * multiple of val_every (metrics->n_val > 0); a stop during that validation
 * keeps the step (it was applied), sets metrics->val_interrupted and
 * returns RB_OK. */
rb_status rb_trainer_step(rb_trainer *t, rb_train_metrics *metrics, rb_error *err);
int64_t rb_trainer_step_count(const rb_trainer *t);
int rb_trainer_done(const rb_trainer *t);
int rb_trainer_seq_len(const rb_trainer *t);

/* Mean held-out loss at test depth r (n = r, k = 0, fixed initial-state
 * seeds so evaluations are comparable). */
rb_status rb_trainer_validate(rb_trainer *t, int depth, double *loss, rb_error *err);
/* The number of held-out rows one validation reads. */
uint64_t rb_trainer_val_rows(const rb_trainer *t);
/* Called after every validation batch with the rows done so far and the
 * total (fn may be NULL). For progress displays; it must not call back
 * into the trainer. */
typedef void (*rb_train_progress_fn)(void *user, uint64_t rows_done, uint64_t rows_total);
void rb_trainer_set_progress(rb_trainer *t, rb_train_progress_fn fn, void *user);

/* Changes between steps (a training callback reacting to what it sees).
 * Both are recorded in checkpoints and restored on resume, so a resumed run
 * repeats an uninterrupted one that made the same changes at the same
 * steps. lr_scale multiplies the scheduled learning rate from the next step
 * on (1: the schedule as configured; > 0). rbar (>= 1) replaces the
 * recurrence curriculum's value from the next step on; 0 returns to the
 * curriculum. */
rb_status rb_trainer_set_lr_scale(rb_trainer *t, double lr_scale, rb_error *err);
rb_status rb_trainer_set_rbar(rb_trainer *t, int rbar, rb_error *err);
double rb_trainer_lr_scale(const rb_trainer *t);
int rb_trainer_rbar_override(const rb_trainer *t);

/* Checkpoints: dir/<name>/model.safetensors (retrobench checkpoint with the
 * training state in its metadata) and optim.safetensors, written into a
 * temporary folder and renamed, then dir/latest is replaced atomically.
 * Retention: the checkpoint latest named before (the previous one) is kept;
 * older checkpoints are removed only when this trainer wrote them, so a
 * checkpoint another process wrote is never deleted. A folder already
 * holding the same step's checkpoint that this trainer did not write is
 * renamed aside (<name>.old-PID), not removed. */
typedef struct {
    const rb_retrofit_plan *plan;   /* recorded with the weights (may be NULL) */
    const char *const *keys;        /* extra metadata pairs (tokenizer, special ids, ...) */
    const char *const *values;
    int n;
    const char *const *files;       /* files copied into the checkpoint folder under their
                                       base names (e.g. a tokenizer); may be NULL */
    int n_files;
} rb_ckpt_extras;

rb_status rb_trainer_save_with(rb_trainer *t, const char *dir, const rb_ckpt_extras *extras,
                               rb_error *err);
/* The same with a plan and metadata pairs only. */
rb_status rb_trainer_save(rb_trainer *t, const char *dir, const rb_retrofit_plan *plan,
                          const char *const *extra_keys, const char *const *extra_values,
                          int n_extra, rb_error *err);
/* Restore weights, optimizer state, step and data position from a folder
 * written by rb_trainer_save (dir/latest is followed when dir has one).
 * Everything is read and checked before anything changes: on failure the
 * trainer and the model are as they were. RB_EINVAL: the checkpoint is
 * sound but belongs to another model, data or recipe; other codes: it is
 * missing or damaged. */
rb_status rb_trainer_restore(rb_trainer *t, const char *dir, rb_error *err);
/* The checkpoint folder dir/latest points to, into buf; RB_EIO if none. */
rb_status rb_train_latest_checkpoint(const char *dir, char *buf, size_t len, rb_error *err);

/* The complete checkpoint folders (step-NNNNNNNN) in dir, newest first;
 * *names is malloc'd (free each and the array); *count may be 0. */
rb_status rb_train_list_checkpoints(const char *dir, char ***names, int *count, rb_error *err);

/* What a checkpoint's metadata says, read from its header only (the
 * tensors are not read, so this does not prove the checkpoint loads). */
typedef struct {
    int64_t step;
    int64_t total_steps;
} rb_ckpt_info;
rb_status rb_train_checkpoint_info(const char *ckpt_dir, rb_ckpt_info *info, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
