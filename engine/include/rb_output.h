/* rb_output.h: the rules every writer of the program follows.
 *
 *  - Outputs replace only regular files: a path that is a folder, a FIFO, a
 *    device, a socket or a symbolic link is refused with a message naming
 *    it (writing onto a device as root would replace the device; through a
 *    symbolic link, the link). A folder output may itself be a symbolic
 *    link to a folder: only its files are replaced.
 *  - Files are written to a temporary file beside the destination and
 *    renamed over it (io/atomic_file.h). Temporary files in progress are
 *    registered here so that a signal handler can remove them
 *    (rb_output_remove_temporaries) before the process dies.
 *  - Write errors say what to do about them: a full disk, the file-size
 *    limit (the program ignores SIGXFSZ so that EFBIG is reported, not a
 *    crash). */
#ifndef RB_OUTPUT_H
#define RB_OUTPUT_H

#include <stddef.h>

#include "rb_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RB_OK when path does not exist or is a regular file (not a symbolic
 * link); else RB_EIO with "PATH is a FIFO, not a file; ..." */
rb_status rb_output_check(const char *path, rb_error *err);
/* RB_OK when path does not exist or is a folder (or a symbolic link to one). */
rb_status rb_output_check_dir(const char *path, rb_error *err);
/* What is at path, in words ("a FIFO", "a symbolic link", "a folder",
 * "a character device", ...); "a regular file" or "nothing". */
const char *rb_output_kind(const char *path);

/* Advice for a failed write's errno: for ENOSPC "the disk is full: free
 * space or write elsewhere", for EFBIG "it exceeds the file-size limit
 * (ulimit -f)", for EDQUOT "the disk quota is exhausted"; else "". */
const char *rb_output_errno_hint(int e);

/* Temporary files in progress. register returns a slot (or -1 when all
 * are taken: the file is then simply not cleaned up by a signal handler);
 * unregister frees it. Thread-safe. */
int rb_output_tmp_register(const char *path);
void rb_output_tmp_unregister(int slot);
/* From a signal handler: unlink every registered temporary file and call
 * each(path, removed) for it (each may be NULL; it must itself be
 * async-signal-safe). Returns how many were registered. */
int rb_output_remove_temporaries(void (*each)(const char *path, int removed));

#ifdef __cplusplus
}
#endif
#endif
