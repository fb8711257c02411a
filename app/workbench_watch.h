/* workbench_watch.h: following a run folder written elsewhere (by
 * `retrobench train` here, or synced from another machine): new lines of
 * RUN_DIR/metrics.jsonl become plot points and status, RUN_DIR/latest names
 * the newest checkpoint, whose metadata gives the run's total steps and
 * data sources; the checkpoint can be loaded for the answers and
 * convergence panes (on request, or each time a new one appears).
 *
 * Only complete lines are read (a line being written waits for its
 * newline). A file that was replaced or shortened (`train --resume` rewrites
 * it) is read again from the start. Runs on the worker thread. */
#ifndef RB_WORKBENCH_WATCH_H
#define RB_WORKBENCH_WATCH_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "app_model.h"
#include "vw_snapshot.h"
#include "workbench.h"
#include "workbench_inspect.h"

/* One metrics.jsonl line, as app/cmd_train.c's write_metrics writes it. */
typedef struct {
    int phase;
    int64_t step;
    int has_step;            /* a training step (has "loss") */
    vw_metric m;             /* x and time set from the line */
    int n_val;               /* "val_loss" / "final_val_loss": depth -> loss */
    int final;
    int val_depth[VW_MAX_DEPTHS];
    float val_loss[VW_MAX_DEPTHS];
    int64_t total_steps;     /* "total_steps" when the writer gives it, else 0 */
} wb_metrics_line;

/* Parse one line; returns 0, or -1 when it is not a JSON object with a
 * phase and a step. */
int wb_metrics_parse(const char *line, wb_metrics_line *out);

typedef struct {
    char dir[2048];
    char path[2100];         /* dir/metrics.jsonl */
    FILE *f;
    ino_t ino;
    off_t pos;               /* bytes consumed (complete lines) */
    char partial[8192];      /* a line still being written */
    size_t n_partial;
    int phase;               /* of the last line */
    int64_t last_step;
    double x_base;           /* steps of the finished phases */
    int64_t total_steps_opt; /* --steps; 0: from the checkpoints */
    char newest[256];        /* RUN_DIR/latest */
    char loaded[256];
    int auto_reload;
    const char *tok_path;    /* --tokenizer for loading checkpoints */
    wb_inspect *insp;        /* answers and convergence (may be NULL) */
    app_model *am;           /* the loaded checkpoint (NULL: none) */
    double next_poll;        /* wb_now() time of the next look at the folder */
    int waiting_logged;
} wb_watch;

void wb_watch_init(wb_watch *wt, const char *dir, int64_t total_steps, int auto_reload, const char *tok_path,
                   wb_inspect *insp);
void wb_watch_free(wb_watch *wt);
/* Read what is new; returns 1 when anything was. */
int wb_watch_poll(wb_watch *wt, wb *w);
/* Load the newest checkpoint for the answers and convergence panes. */
void wb_watch_reload(wb_watch *wt, wb *w);
/* Handlers for the watch mode (commands, and polling as idle work). */
wb_handlers wb_watch_handlers(wb_watch *wt);

#endif
