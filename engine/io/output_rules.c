/* output_rules.c: what an output path may be, advice on write errors, and
 * the registry of temporary files a signal handler removes (rb_output.h). */
#include "rb_output.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *rb_output_kind(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return "nothing";
    if (S_ISREG(sb.st_mode)) return "a regular file";
    if (S_ISLNK(sb.st_mode)) return "a symbolic link";
    if (S_ISDIR(sb.st_mode)) return "a folder";
    if (S_ISFIFO(sb.st_mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(sb.st_mode)) return "a character device";
    if (S_ISBLK(sb.st_mode)) return "a block device";
    if (S_ISSOCK(sb.st_mode)) return "a socket";
    return "not a regular file";
}

rb_status rb_output_check(const char *path, rb_error *err)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) return RB_OK;
        return rb_fail(err, RB_EIO, "%s: cannot check the output path (%s)", path, strerror(errno));
    }
    if (S_ISREG(sb.st_mode)) return RB_OK;
    if (S_ISLNK(sb.st_mode))
        return rb_fail(err, RB_EIO, "%s is a symbolic link; outputs replace only regular files: give the "
                                    "path it points to, or remove the link", path);
    if (S_ISDIR(sb.st_mode))
        return rb_fail(err, RB_EIO, "%s is a folder, not a file; give a file name (inside it, or "
                                    "elsewhere)", path);
    return rb_fail(err, RB_EIO, "%s is %s, not a regular file; outputs replace only regular files: "
                                "write to another path", path, rb_output_kind(path));
}

rb_status rb_output_check_dir(const char *path, rb_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT && lstat(path, &sb) != 0) return RB_OK;
        if (errno == ENOENT)
            return rb_fail(err, RB_EIO, "%s is a symbolic link to nothing; give an existing folder or a "
                                        "new name", path);
        return rb_fail(err, RB_EIO, "%s: cannot check the output folder (%s)", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) return RB_OK;
    return rb_fail(err, RB_EIO, "%s is %s, not a folder; give a folder (it is created when absent)", path,
                   rb_output_kind(path));
}

const char *rb_output_errno_hint(int e)
{
    switch (e) {
    case ENOSPC: return "; the disk is full: free space or write elsewhere";
    case EFBIG: return "; the file would exceed the file-size limit (ulimit -f): raise it or write less";
#ifdef EDQUOT
    case EDQUOT: return "; the disk quota is exhausted";
#endif
    default: return "";
    }
}

/* ---- temporary files in progress ---- */

#define SLOTS 64
#define PATH_CAP 4200

enum { FREE = 0, FILLING = 1, LIVE = 2 };
static atomic_int state[SLOTS];
static char paths[SLOTS][PATH_CAP];

int rb_output_tmp_register(const char *path)
{
    if (!path || strlen(path) >= PATH_CAP) return -1;
    for (int i = 0; i < SLOTS; i++) {
        int expect = FREE;
        if (atomic_compare_exchange_strong(&state[i], &expect, FILLING)) {
            memcpy(paths[i], path, strlen(path) + 1);
            atomic_store(&state[i], LIVE);
            return i;
        }
    }
    return -1;
}

void rb_output_tmp_unregister(int slot)
{
    if (slot >= 0 && slot < SLOTS) atomic_store(&state[slot], FREE);
}

int rb_output_remove_temporaries(void (*each)(const char *path, int removed))
{
    int n = 0;
    for (int i = 0; i < SLOTS; i++) {
        if (atomic_load(&state[i]) != LIVE) continue;
        const int removed = unlink(paths[i]) == 0;
        if (each) each(paths[i], removed);
        n++;
    }
    return n;
}
