/* atomic_file.h (internal to the engine): write a file so that readers see
 * either the complete old contents or the complete new ones, never a torn
 * mix, even when the process dies or the disk fills midway.
 *
 * The data goes to a temporary file in the destination's folder (rename is
 * only atomic within one file system), which is fsync'd, closed and renamed
 * over the destination; the folder is then fsync'd so the rename itself is
 * durable. On any failure the temporary file is removed and the destination
 * is untouched.
 *
 * The destination must be absent or a regular file (rb_output.h): a
 * folder, FIFO, device or symbolic link there is refused at open and again
 * just before the rename. The temporary file is registered for removal by
 * a signal handler (rb_output_remove_temporaries) while it exists. */
#ifndef RB_IO_ATOMIC_FILE_H
#define RB_IO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"

typedef struct {
    int fd;          /* -1 when closed */
    int slot;        /* rb_output_tmp_register's slot, -1 if none */
    uint64_t written;
    char path[4096]; /* destination */
    char tmp[4160];  /* temporary file beside it */
} rb_atomic_file;

rb_status rb_atomic_file_open(rb_atomic_file *f, const char *path, rb_error *err);
rb_status rb_atomic_file_write(rb_atomic_file *f, const void *buf, size_t n, rb_error *err);
/* fsync, close, rename over the destination, fsync the folder. On failure
 * the temporary file is removed. */
rb_status rb_atomic_file_commit(rb_atomic_file *f, rb_error *err);
/* Close and remove the temporary file (no-op when already closed). */
void rb_atomic_file_abort(rb_atomic_file *f);

/* The whole of buf as one file. */
rb_status rb_atomic_file_write_all(const char *path, const void *buf, size_t n, rb_error *err);

/* Test hook (fault injection): when bytes >= 0, the next writes through
 * this module fail with EIO once a file would exceed that many bytes;
 * -1 switches it off. Process-wide and not thread-safe: tests only. */
void rb_atomic_file_fail_after(int64_t bytes);

#endif
