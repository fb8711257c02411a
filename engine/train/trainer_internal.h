/* trainer_internal.h: the trainer's state, shared by trainer.c (steps,
 * validation), trainer_ckpt.c (checkpoints) and trainer_dp.c (the
 * data-parallel group's agreement and state broadcast). */
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
    /* data parallelism (rb_trainer_create_comm); one process: comm NULL,
     * world 1, rank 0, shards = dp_shards or 1 */
    rb_comm *comm;
    int world, rank;
    int shards;       /* S: shards of a micro-batch */
    int rows;         /* b = batch / S: rows of one forward (the workspace's batch) */
    int first_shard, my_shards; /* this rank's shards */
    float *acc;       /* backend [params]: the sum of this rank's shards when it has several */
    float *s0;        /* host [rows * T, h]: initial states of one forward (recurrent models) */
    int *pick_src;    /* [grad_accum * batch]: the step's rows in the global order: source */
    uint64_t *pick_row; /*   and row of that source's file */
    double *agree_buf; /* host [6 + world]: the reports rb_dp_agree sums */
    int32_t *rowbuf;  /* [rows, T + 1] */
    int32_t *inputs;  /* [rows, T] */
    int32_t *targets; /* [rows, T] */
    int32_t *rbar_table, *backprop_table; /* copies of tabulated curricula (cfg points here) */
};

/* The group's agreement at the end of a step or a validation round: each
 * rank reports what happened to it, one allreduce sums the reports, and
 * every rank reads the same verdict. */
typedef struct {
    double loss;      /* this rank's loss sum (summed over the group) */
    int stop;         /* ranks that saw a stop request */
    int bad;          /* ranks with a non-finite loss */
    int failed;       /* ranks with an error */
    int who;          /* the failing rank when exactly one failed, else -1 */
    rb_status code;   /* its status */
} rb_dp_verdict;

/* Sum the reports (a no-op without a group; one allreduce_host with one).
 * local_st is this rank's status. With slots (host [world]), each rank
 * also puts slot_value at its own index and every rank receives the whole
 * vector (a validation round's per-batch sums, exact: the others add
 * zeros). On a transport failure it returns that status, naming it. */
rb_status rb_dp_agree(struct rb_trainer *t, rb_status local_st, double loss, int stop, int bad,
                      double slot_value, double *slots, rb_dp_verdict *v, double *seconds, rb_error *err);
/* The error every rank but the failing one returns. */
rb_status rb_dp_remote_failure(const struct rb_trainer *t, const rb_dp_verdict *v, const char *during, rb_error *err);

/* Polled between micro-batches and validation batches. */
static inline int rb_trainer_stopping(const struct rb_trainer *t)
{
    return t->stop && atomic_load_explicit(t->stop, memory_order_relaxed) != 0;
}

#endif
