/* workbench_capture.h: stderr into the log pane while curses owns the
 * screen. File descriptor 2 is pointed at a pipe; a reader thread turns
 * what arrives into log lines (VW_LOG_STDERR). Stopping points fd 2 back at
 * the terminal and logs whatever was left. One capture at a time. */
#ifndef RB_WORKBENCH_CAPTURE_H
#define RB_WORKBENCH_CAPTURE_H

#include "workbench.h"

/* Returns 0, or -1 (errno set) when fd 2 could not be redirected. */
int wb_capture_start(wb *w);
void wb_capture_stop(void);
/* For fatal-signal handlers: point fd 2 back at the terminal now
 * (async-signal-safe; the reader thread is left alone). */
void wb_capture_restore_fd(void);

#endif
