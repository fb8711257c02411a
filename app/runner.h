/* runner.h: one training run, for every front end.
 *
 * A run is one or more phases (two for METHOD.md's healing then mixture),
 * each a rb_train_config trained to completion in its own checkpoint
 * folder, with one metrics file (OUT/metrics.jsonl, one JSON object per
 * step), checkpoints every ckpt_every steps, at the end and when stopped,
 * resume from the newest checkpoint (bit-identical to an uninterrupted
 * run), and a final validation at every depth. `retrobench train` prints
 * the callbacks; the Lua host calls back into the script; the workbench's
 * worker thread publishes them to the UI thread. The runner never prints.
 *
 * Threads: app_run runs on the caller's thread and calls every callback
 * there. Another thread (or a signal handler) stops it by storing a
 * non-zero value in *spec->stop: the runner then stops between
 * micro-batches or validation batches, saves a checkpoint and returns
 * APP_RUN_STOPPED. A step callback can change the run through its
 * app_run_control (stop, save, validate, learning-rate scale, rbar).
 *
 * Data parallel (spec->comm, docs/distributed.md): every rank calls
 * app_run with the same spec. Rank 0 alone holds the folder's lock, writes
 * metrics and checkpoints, chooses the checkpoint to resume from and
 * decides what a step callback asks for (its app_run_control is the one
 * applied); the others follow it through small collectives and end with
 * the same outcome. Callbacks run on every rank (a front end prints on
 * rank 0 only), except `checkpoint`, which only rank 0 sees. */
#ifndef RB_APP_RUNNER_H
#define RB_APP_RUNNER_H

#include <stdatomic.h>
#include <stdint.h>

#include "rb_comm.h"
#include "rb_model.h"
#include "rb_train.h"

#define APP_RUN_MAX_PHASES 4

typedef struct {
    rb_model *model;          /* trained in place */
    rb_ckpt_extras extras;    /* plan, metadata pairs and files recorded in every checkpoint */
    rb_train_config phases[APP_RUN_MAX_PHASES];
    int n_phases;             /* 1: OUT holds the checkpoints; more: OUT/phase1, OUT/phase2, ... */
    const char *out_dir;
    int64_t ckpt_every;       /* 0: at the end of each phase (and when stopped) only */
    int resume;               /* continue the run in out_dir */
    atomic_int *stop;         /* may be NULL; non-zero (a signal number, or 1) stops the run */
    rb_comm *comm;            /* NULL: one process; else this process's data-parallel group */
} app_run_spec;

typedef struct {
    int phase, n_phases;      /* 1-based */
    const rb_train_config *cfg;
    const char *dir;          /* its checkpoint folder */
    int seq_len;              /* tokens per row */
    const rb_model *model;
} app_run_phase_info;

/* What a step callback may ask for; applied before the next step. */
typedef struct {
    int stop;                 /* save a checkpoint and end the run (APP_RUN_STOPPED) */
    int save;                 /* save a checkpoint now */
    int validate;             /* validate now at the phase's depths (reported as validation) */
    double lr_scale;          /* multiplies the schedule from the next step on (holds the current) */
    int rbar;                 /* replaces the curriculum from the next step on; 0: the curriculum */
} app_run_control;

typedef enum {
    APP_RUN_VAL_START,        /* a validation at `count` depths over `rows` rows begins */
    APP_RUN_VAL_DEPTH,        /* depth `depth` (index of count) gave `loss` */
    APP_RUN_VAL_FAILED        /* it failed with `message` (the run goes on) */
} app_run_val_event;

typedef struct {
    app_run_val_event event;
    int phase;
    int64_t step;
    int final;                /* the end-of-phase validation (else one a callback asked for) */
    int index, count, depth;
    uint64_t rows;
    double loss;
    const char *message;
} app_run_validation;

typedef enum {
    APP_RUN_DONE,             /* every phase trained (or already finished) */
    APP_RUN_STOPPED,          /* stopped on request; a checkpoint holds the state */
    APP_RUN_REFUSED,          /* the request was wrong (configuration, folder); nothing was trained */
    APP_RUN_FAILED            /* an error (I/O, numerics, damaged files) */
} app_run_outcome;

typedef struct {
    app_run_outcome outcome;
    int stop_value;           /* *spec->stop when stopped (SIGINT, SIGTERM, 1, ...) */
    int phase;                /* the phase it ended in */
    int64_t step;             /* that phase's step count */
} app_run_result;

/* Every callback may be NULL. */
typedef struct {
    void *user;
    void (*phase_start)(void *user, const app_run_phase_info *p);
    void (*resumed)(void *user, int phase, const char *dir, const char *name, int64_t step);
    /* after each optimizer step and its metrics line; non-zero fails the run */
    int (*step)(void *user, int phase, const rb_train_metrics *m, app_run_control *ctl);
    void (*validation)(void *user, const app_run_validation *v);
    /* rows done within the current validation depth; at most every batch */
    void (*progress)(void *user, int phase, int depth, uint64_t rows_done, uint64_t rows_total);
    void (*checkpoint)(void *user, int phase, const char *dir, const char *name, int64_t step);
    /* stopped on request: a checkpoint at `step` is being saved */
    void (*stopping)(void *user, int phase, int stop_value, int64_t step);
    void (*notice)(void *user, const char *msg);   /* something the user should know */
    void (*error)(void *user, const char *msg);    /* why the run failed (one line each) */
    void (*done)(void *user, const app_run_result *r);
} app_run_callbacks;

app_run_result app_run(const app_run_spec *spec, const app_run_callbacks *cb);

/* The exit status a command-line front end uses: 0, 1 (failed), 2
 * (refused), 128 + signal when stopped by one (130 SIGINT, 143 SIGTERM). */
int app_run_exit_status(const app_run_result *r);

#endif
