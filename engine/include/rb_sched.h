/* rb_sched.h: the training schedules of the retrofitting recipe (METHOD.md
 * sections 2 and 3), as pure functions of the step number:
 *
 *  - the recurrence sampler ("Poisson-lognormal filling"): how many
 *    iterations a micro-batch runs without gradient (n) and with gradient (k);
 *  - curricula that ramp the mean recurrence rbar (or the backprop depth) up
 *    over the first part of training;
 *  - learning-rate multipliers (warmup-stable-decay, cosine with warmup);
 *  - the FLOPs accounting used for compute-matched comparisons.
 *
 * Nothing here touches a model or a backend; every value depends only on its
 * arguments, so a resumed run reproduces the same sequence. The arithmetic
 * follows the authors' code (a Hugging Face warmup-stable-decay scheduler
 * whose value is passed through ceil) operation for operation in double
 * precision, so the same float rounding happens at the same steps. */
#ifndef RB_SCHED_H
#define RB_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"
#include "rb_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Recurrence sampler                                                       */
/* ------------------------------------------------------------------------ */

#define RB_DEPTH_SIGMA_DEFAULT 0.5
#define RB_DEPTH_BACKPROP_DEFAULT 8
/* Limits that keep every draw inside int: rbar * exp(sigma * 8.6) < 2^31. */
#define RB_DEPTH_RBAR_MAX 65536
#define RB_DEPTH_SIGMA_MAX 1.0
/* The RNG stream of a draw is step * RB_DEPTH_MICRO_LIMIT + micro, so
 * micro must be below this and step below 2^43. */
#define RB_DEPTH_MICRO_LIMIT (1 << 20)

typedef enum {
    /* METHOD.md section 2: s = min(b, rbar);
     * tau ~ Normal(ln(rbar) - sigma^2/2, sigma); p = Poisson(exp(tau)) + 1;
     * n = max(p - s, 0); k = min(s, p). */
    RB_DEPTH_SAMPLED = 0,
    /* Evaluation: n = rbar (the requested test depth), k = 0. */
    RB_DEPTH_FIXED_EVAL = 1,
    /* Ablation without sampling: p = rbar, n = max(rbar - s, 0), k = min(s, rbar). */
    RB_DEPTH_FIXED_TRAIN = 2
} rb_depth_mode;

typedef struct {
    rb_depth_mode mode;
    double sigma;       /* lognormal spread, 0.5 */
    int backprop_depth; /* b, the mean backprop depth, 8 */
} rb_depth_opts;

typedef struct {
    int n;     /* iterations run first, without gradient */
    int k;     /* iterations run last, with gradient (truncated backprop) */
    int total; /* n + k: p for sampled draws */
} rb_depth;

void rb_depth_opts_default(rb_depth_opts *o);

/* One draw for one micro-batch. The RNG is rb_rng_seed2(seed, stream) with
 * stream = step * RB_DEPTH_MICRO_LIMIT + micro, so:
 *  - the draw depends only on (seed, step, micro): data-parallel workers
 *    that pass the same values draw the same (n, k) without communicating,
 *    and a resumed run draws what the interrupted one would have;
 *  - micro is the micro-batch index inside the optimizer step (gradient
 *    accumulation). The authors seed by their micro-batch counter
 *    ("data step"); passing that counter as step with micro = 0 reproduces
 *    their scheme of one independent draw per micro-batch. The data-parallel
 *    rank is deliberately not part of the stream.
 * Fails (RB_EINVAL) when rbar is outside [1, RB_DEPTH_RBAR_MAX], step < 0 or
 * >= 2^43, micro outside [0, RB_DEPTH_MICRO_LIMIT), b < 1, sigma outside
 * [0, RB_DEPTH_SIGMA_MAX] or not finite. opts may be NULL (defaults). */
rb_status rb_depth_sample(const rb_depth_opts *opts, uint64_t seed, int64_t step, int micro,
                          int rbar, rb_depth *out, rb_error *err);

/* The same with default options (sampled, sigma 0.5) and an explicit b. */
rb_status rb_sample_depth(uint64_t seed, int64_t step, int micro, int rbar, int backprop_depth,
                          int *n, int *k, rb_error *err);

/* The sampled formula on a caller-owned generator (arguments are trusted:
 * 1 <= rbar <= RB_DEPTH_RBAR_MAX, b >= 1, 0 <= sigma <= RB_DEPTH_SIGMA_MAX).
 * Consumes one normal variate, then one Poisson variate. */
rb_depth rb_depth_draw(rb_rng *rng, int rbar, int backprop_depth, double sigma);

/* ------------------------------------------------------------------------ */
/* Curricula over the mean recurrence or the backprop depth                 */
/* ------------------------------------------------------------------------ */

typedef enum {
    RB_CURRIC_CONSTANT = 0, /* max_value at every step */
    RB_CURRIC_LINEAR = 1,   /* f(x) = x */
    RB_CURRIC_1SQRT = 2,    /* f(x) = 1 - sqrt(1 - x) <= x: longer at low rbar; the main recipe */
    RB_CURRIC_TABLE = 3     /* one value per step from a table (a front end evaluated a function of
                               the step for every step up front: see rb_curriculum_set_table) */
} rb_curric_shape;

/* value(step), with W = ceil(warmup_fraction * total_steps) and
 * s = step + step_offset:
 *   s <  W:  max(1, ceil(max_value * (f(s / W) * (1 - min_ratio) + min_ratio)))
 *   s >= W:  max_value
 * With min_ratio = 0 and step_offset = 0 this is METHOD.md's rbar(step)
 * (step 0 gives 1). step counts optimizer steps already taken. The authors'
 * backprop-depth curriculum (linear growth to max_backprop from start) is
 * min_ratio = max(1, start - 1) / max_backprop with step_offset = 1 (their
 * scheduler is stepped once before training): see
 * rb_curriculum_backprop_authors. */
typedef struct {
    rb_curric_shape shape;
    double warmup_fraction; /* in [0, 1]: 0.75 in the main recipe */
    int max_value;          /* rbar_max (e.g. 4 or 32) or the final backprop depth */
    double min_ratio;       /* in [0, 1); 0 for the recurrence curriculum */
    int64_t step_offset;    /* >= 0; 0 for the recurrence curriculum */
    /* RB_CURRIC_TABLE: value(step) = table[min(step, table_len - 1)]; warmup_fraction,
     * min_ratio and step_offset are not used. The values are not owned: the caller keeps
     * them alive while the curriculum is used (a trainer keeps its own copy). */
    const int32_t *table;
    int64_t table_len;
} rb_curriculum;

/* Recurrence curriculum of METHOD.md: 1-sqrt over 75% of training. */
void rb_curriculum_rbar_default(rb_curriculum *c, int rbar_max);
/* The authors' backprop-depth curriculum: linear from `start` to max_depth
 * over warmup_fraction of training (their defaults: start 1, max 8,
 * warmup 0.1). Their scheduler quirk is kept: the first value is
 * ceil(max_depth * ((1 / W) * (1 - m) + m)), m = max(1, start - 1) / max_depth,
 * which is 2 for start 1 or 2 and max_depth 8. */
void rb_curriculum_backprop_authors(rb_curriculum *c, int start, int max_depth,
                                    double warmup_fraction);
/* A tabulated curriculum over values[0 .. n): shape RB_CURRIC_TABLE,
 * max_value the largest value (which sizes the trainer's activations). The
 * values are borrowed, not copied. Values are checked by
 * rb_curriculum_check (each in [1, RB_DEPTH_RBAR_MAX], one per step at
 * least). */
void rb_curriculum_set_table(rb_curriculum *c, const int32_t *values, int64_t n);
/* The table's identity, recorded in checkpoints so that a resume refuses
 * another table: FNV-1a 64 over u64le(n) and each value as u32le. 0 for a
 * curriculum that is not tabulated. */
uint64_t rb_curriculum_table_hash(const rb_curriculum *c);
/* Checks the fields (total_steps >= 1). */
rb_status rb_curriculum_check(const rb_curriculum *c, int64_t total_steps, rb_error *err);
/* W = ceil(warmup_fraction * total_steps). */
int64_t rb_curriculum_warmup_steps(const rb_curriculum *c, int64_t total_steps);
/* The value at `step` (0-based optimizer step; steps past the end keep
 * max_value). Arguments must have passed rb_curriculum_check. */
int rb_curriculum_value(const rb_curriculum *c, int64_t step, int64_t total_steps);

/* The effective (rbar, b) pair the sampler gets: the authors clamp the
 * backprop depth to rbar when rbar < b (s = min(b, rbar)). */
static inline int rb_effective_backprop(int rbar, int backprop_depth)
{
    return backprop_depth < rbar ? backprop_depth : rbar;
}

/* ------------------------------------------------------------------------ */
/* Learning-rate multipliers                                                */
/* ------------------------------------------------------------------------ */

typedef enum {
    RB_LR_WSD = 0,   /* warmup, stable, decay over the last decay_fraction */
    RB_LR_COSINE = 1 /* warmup, then decay over all remaining steps (no stable phase) */
} rb_lr_kind;

typedef enum {
    RB_LR_DECAY_COSINE = 0, /* 0.5 * (1 + cos(pi * x)) */
    RB_LR_DECAY_LINEAR = 1, /* 1 - x */
    RB_LR_DECAY_1SQRT = 2   /* 1 - sqrt(x) */
} rb_lr_decay_shape;

/* Warmup W = ceil(warmup_fraction * total), decay D = ceil(decay_fraction *
 * total) (for RB_LR_COSINE, D = total - W), stable = total - W - D; with
 * m = min_ratio:
 *   step < W:          (step / max(1, W)) * (1 - m) + m      (linear from m)
 *   step < W + stable: 1
 *   step < total:      shape((step - W - stable) / max(1, D)) * (1 - m) + m
 *   step >= total:     m
 * This is Hugging Face's warmup_stable_decay lambda (warmup "linear"), which
 * the authors use; main recipe: warmup 0.0025, decay 0.6, m = 0.001, cosine. */
typedef struct {
    rb_lr_kind kind;
    rb_lr_decay_shape decay;
    double warmup_fraction;
    double decay_fraction; /* RB_LR_WSD only */
    double min_ratio;
} rb_lr_schedule;

/* The main recipe: WSD, cosine, warmup 0.25%, decay 60%, min ratio 0.001. */
void rb_lr_schedule_default(rb_lr_schedule *s);
/* Checks fractions (warmup + decay <= 1), min_ratio in [0, 1], total >= 1. */
rb_status rb_lr_schedule_check(const rb_lr_schedule *s, int64_t total_steps, rb_error *err);
/* The multiplier of the base learning rate at a 0-based optimizer step.
 * Arguments must have passed rb_lr_schedule_check. */
double rb_lr_multiplier(const rb_lr_schedule *s, int64_t step, int64_t total_steps);

/* ------------------------------------------------------------------------ */
/* FLOPs accounting (METHOD.md section 3)                                   */
/* ------------------------------------------------------------------------ */

/* Parameter counts are the model's (non-embedding) block parameters:
 * prelude, one pass of the recurrent block ("core") and coda. Embeddings,
 * head, adapter and attention-score FLOPs are ignored, as in the paper.
 * Results are doubles: exact while below 2^53. */

/* Per token at scheduled mean recurrence rbar with backprop depth b (8):
 * n = max(0, rbar - b), k = min(rbar, b):
 * 6 * (prelude + k * core + coda) + 2 * n * core. */
double rb_flops_per_token_scheduled(size_t prelude, size_t core, size_t coda, int rbar,
                                    int backprop_depth);
/* Per token for a sampled step that ran n iterations without and k with
 * gradient: 6 * (prelude + k * core + coda) + 2 * n * core. */
double rb_flops_per_token_sampled(size_t prelude, size_t core, size_t coda, int n, int k);
/* A static (non-recurrent) model: 6 * non_embedding_params. */
double rb_flops_per_token_static(size_t non_embedding_params);
/* Training FLOPs summed over steps [0, total_steps) with rbar from a
 * curriculum and tokens_per_step tokens per optimizer step. */
double rb_flops_schedule_total(size_t prelude, size_t core, size_t coda, int backprop_depth,
                               const rb_curriculum *c, int64_t total_steps,
                               double tokens_per_step);

#ifdef __cplusplus
}
#endif
#endif
