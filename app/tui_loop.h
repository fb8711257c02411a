/* tui_loop.h: the UI thread: the only thread that calls curses (through
 * views/draw). It draws at a steady frame rate from a snapshot copied once
 * per frame, redraws at once after a key, turns keys into commands for the
 * worker, and gives the terminal back on every way out: q, Ctrl-C
 * (SIGINT), SIGTERM, SIGHUP, exit() from anywhere (atexit), and fatal
 * signals (best effort, then the default action). While curses owns the
 * screen, stderr goes to the log pane.
 *
 * RB_TUI_LATENCY=FILE records, per key, the time from reading the key to the
 * redrawn screen being written, and a summary line (frames, frame rate,
 * median and worst latency) at exit: see bench/tui_latency.sh. */
#ifndef RB_TUI_LOOP_H
#define RB_TUI_LOOP_H

#include "vw_layout.h"
#include "workbench.h"

typedef struct {
    double fps;              /* frames per second when nothing happens */
    int ascii;               /* force the ASCII look (else from the locale) */
    int mono;                /* force monochrome (also NO_COLOR) */
    const char *latency_log; /* RB_TUI_LATENCY */
    /* called once curses and the stderr capture are set up, so that
     * everything the worker prints lands in the log pane: starts the worker
     * (returns 0, or -1 to give up) */
    int (*start_worker)(wb *w);
} tui_opts;

/* Run the UI on this thread until the user quits or a signal asks to. Stops
 * the worker (wb_quit) on the way out but does not join it. Returns the
 * exit status: 0 (q), 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP), 1 when the
 * terminal could not be used or the worker could not start. */
int tui_run(wb *w, vw_mode mode, const tui_opts *o);

#endif
