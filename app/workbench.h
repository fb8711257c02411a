/* workbench.h: the workbench host: the snapshot the panes show, the command
 * queue, and the worker thread that owns the engine.
 *
 * Threads:
 *  - the UI thread (tui_loop.c) alone calls curses; once per frame it
 *    copies the snapshot (wb_copy) and it posts commands (wb_post);
 *  - the worker thread owns the engine (the CPU backend keys its scratch by
 *    OpenMP thread number, so two callers at once would collide). It runs a
 *    mode's main function: the idle loop for inspection and watching, the
 *    experiment runner for training. Between units of work it calls
 *    wb_service, which drains the queue into the mode's handlers and holds
 *    the worker while training is paused;
 *  - the stderr reader (workbench_capture.c) appends captured output to
 *    the log.
 * Producers change the snapshot between wb_edit and wb_commit (one mutex,
 * held for copies only, never across engine work).
 *
 * How a training runner plugs in (app/runner.c, with its callbacks): the
 * TRAIN mode's main function runs the runner on the worker thread; the
 * runner's callbacks publish through wb_edit/wb_commit (wb_push_metric,
 * wb_push_val, wb_log); its step callback calls wb_between_steps, which
 * drains commands (a prompt or a depth step runs there, between steps, on
 * the live model) and returns 1 when the runner must stop, save and return;
 * the runner's stop flag is wb_stop_flag. WB_CMD_SAVE and WB_CMD_LUA go to
 * the mode's handler (the runner saves; the Lua host runs the line), and
 * can_pause lets WB_CMD_PAUSE hold the worker inside wb_service. */
#ifndef RB_WORKBENCH_H
#define RB_WORKBENCH_H

#include <stdatomic.h>

#include "vw_layout.h"
#include "vw_snapshot.h"
#include "workbench_queue.h"

typedef struct wb wb;

/* What a mode plugs into the worker. Every function runs on the worker. */
typedef struct {
    void *ctx;
    /* every command but PAUSE (the workbench's own) */
    void (*command)(void *ctx, wb *w, const wb_cmd *c);
    /* one small unit of background work; returns 1 when it did some and
     * wants to be called again, 0 when there is nothing to do */
    int (*idle)(void *ctx, wb *w);
    int can_pause; /* a run that can pause (else PAUSE says there is none) */
} wb_handlers;

wb *wb_create(vw_mode mode);
void wb_destroy(wb *w);
double wb_now(const wb *w); /* seconds since wb_create */

/* ---- producers (any thread but the UI) ---- */
vw_snapshot *wb_edit(wb *w); /* locks; change the snapshot, then wb_commit */
void wb_commit(wb *w);       /* publishes (bumps the generation) and unlocks */
void wb_log(wb *w, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void wb_set_worker(wb *w, int busy, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void wb_push_metric(wb *w, const vw_metric *m);
void wb_push_val(wb *w, double x, int32_t step, int phase, int final, const int *depths,
                 const float *losses, int n);
void wb_push_eval(wb *w, const vw_eval *e);

/* ---- the UI thread ---- */
/* Copy the snapshot into dst when it changed since *gen; returns 1 if it did. */
int wb_copy(wb *w, vw_snapshot *dst, uint64_t *gen);
/* Queue a command for the worker; returns 0, or -1 when the queue is full. */
int wb_post(wb *w, const wb_cmd *c);
/* Ask everything to stop: sets the stop flag and wakes the worker. */
void wb_quit(wb *w);

/* ---- the worker ---- */
/* Start the worker thread on main(w, arg); NULL main = wb_idle_loop. */
int wb_start(wb *w, void (*main)(wb *, void *), void *arg);
void wb_join(wb *w);
void wb_set_handlers(wb *w, const wb_handlers *h);
/* Drain the queue into the handlers; while paused, wait here for commands.
 * Returns 1 when asked to quit. */
int wb_service(wb *w);
/* wb_service, then idle work for up to budget_s seconds: what a runner
 * calls between steps. Returns 1 when asked to quit. */
int wb_between_steps(wb *w, double budget_s);
/* Whether a command of these kinds (WB_BIT mask) waits, or quit was asked:
 * long work checks this and stops early. */
int wb_pending(wb *w, unsigned kinds);
/* Sleep until a command arrives, quit is asked, or ms pass. */
void wb_wait(wb *w, int ms);
/* The inspection and watch modes' main: service, idle work, wait. */
void wb_idle_loop(wb *w, void *unused);
/* Set by wb_quit; a runner polls it (also from inside a step). */
atomic_int *wb_stop_flag(wb *w);
int wb_paused(wb *w);
/* Pause or resume from the worker (a save asked for while paused lets the
 * run reach its checkpoint, then pauses it again). */
void wb_set_paused(wb *w, int paused);

#endif
