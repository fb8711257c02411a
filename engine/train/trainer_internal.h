/* trainer_internal.h: the trainer's state, shared by trainer.c (steps,
 * validation) and trainer_ckpt.c (checkpoints). */
#ifndef RB_TRAINER_INTERNAL_H
#define RB_TRAINER_INTERNAL_H

#include "rb_train.h"

struct rb_trainer {
    rb_model *m;
    rb_train_config cfg;
    volatile sig_atomic_t *stop;
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
};

#endif
