/* app_signals.h: what the program does with signals before a command
 * installs its own handling (train stops gracefully, generate stops the
 * text): SIGINT, SIGTERM and SIGHUP remove the temporary files of writes
 * in progress (rb_output.h), say so on stderr and end the process by the
 * same signal (exit status 128 + signal in a shell: 130, 143, 129), unless
 * the signal was ignored when the program started (a background job of a
 * script). SIGXFSZ is ignored so that exceeding the file-size limit is an
 * EFBIG write error with a message, not a crash. */
#ifndef RB_APP_SIGNALS_H
#define RB_APP_SIGNALS_H

void app_signals_init(void);
/* "SIGINT", "SIGTERM", ... (async-signal-safe) */
const char *app_signal_name(int sig);

#endif
