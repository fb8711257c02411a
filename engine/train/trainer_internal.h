/* trainer_internal.h: the trainer's state, shared by trainer.c (steps,
 * validation) and trainer_ckpt.c (checkpoints). */
#ifndef RB_TRAINER_INTERNAL_H
#define RB_TRAINER_INTERNAL_H

#include "rb_train.h"

struct rb_trainer {
    rb_model *m;
    rb_train_config cfg;
    const atomic_int *stop;
    rb_train_progress_fn progress;
    void *progress_user;
    double lr_scale;  /* 1: the schedule as configured */
    int rbar_override; /* 0: the curriculum */
    char **written;   /* checkpoint folders this trainer wrote (retention deletes only these) */
    int n_written;
    rb_workspace *ws;
    rb_optimizer *opt;
    rb_tokfile *files[RB_TRAIN_MAX_SOURCES];
    uint64_t n_train_rows[RB_TRAIN_MAX_SOURCES];
    uint64_t val_first[RB_TRAIN_MAX_SOURCES];
    uint64_t val_count[RB_TRAIN_MAX_SOURCES];
    rb_mixture *mix;
    int T;
    int64_t step;
    int bad_in_row;
    double flops_total;
    size_t p_prelude, p_core, p_coda, p_nonembed;
    int32_t *rowbuf;  /* [batch, T + 1] */
    int32_t *inputs;  /* [batch, T] */
    int32_t *targets; /* [batch, T] */
    int32_t *rbar_table, *backprop_table; /* copies of tabulated curricula (cfg points here) */
};

/* Polled between micro-batches and validation batches. */
static inline int rb_trainer_stopping(const struct rb_trainer *t)
{
    return t->stop && atomic_load_explicit(t->stop, memory_order_relaxed) != 0;
}

#endif
