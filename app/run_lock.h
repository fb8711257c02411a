/* run_lock.h: one trainer per run folder.
 *
 * The lock is an open-file-description lock (fcntl F_OFD_SETLK, a write
 * lock on the whole of OUT/run.lock) held for as long as the run: the
 * kernel releases it when the process ends in any way, SIGKILL included,
 * so a lock is never left behind by a dead process and no liveness guess
 * (pid reuse, other hosts) is needed. The file's contents name the holder
 * (pid, host, start time) for the message a second trainer prints; a
 * holder that ends normally empties it, so contents found by a process
 * that did get the lock are the record of one that died holding it (a
 * stale lock, reported as such). */
#ifndef RB_APP_RUN_LOCK_H
#define RB_APP_RUN_LOCK_H

#include <stddef.h>

typedef struct {
    int fd;
    char path[4200];
} run_lock;

typedef enum {
    RUN_LOCK_TAKEN = 0, /* ours; stale[] describes a dead holder's record, "" if none */
    RUN_LOCK_BUSY = 1,  /* another live process holds it; msg names it */
    RUN_LOCK_ERROR = 2  /* cannot lock (msg says why) */
} run_lock_status;

run_lock_status run_lock_acquire(run_lock *l, const char *dir, char *msg, size_t msg_cap, char *stale,
                                 size_t stale_cap);
/* Empty the record and release (no-op when not held). */
void run_lock_release(run_lock *l);

#endif
