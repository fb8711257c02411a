/* atomic_file.c: write-to-temporary, fsync, rename (see atomic_file.h). */
#define _GNU_SOURCE
#include "io/atomic_file.h"

#include "rb_output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t fault_after = -1;
static atomic_uint tmp_counter;

void rb_atomic_file_fail_after(int64_t bytes) { fault_after = bytes; }

static void split_dir(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
    } else if (slash == path) {
        snprintf(dir, cap, "/");
    } else {
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    }
}

rb_status rb_atomic_file_open(rb_atomic_file *f, const char *path, rb_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->slot = -1;
    if (!path || !path[0]) return rb_fail(err, RB_EINVAL, "saving a file: empty path");
    if (strlen(path) >= sizeof f->path)
        return rb_fail(err, RB_EINVAL, "%.200s...: path too long to save", path);
    rb_status st = rb_output_check(path, err);
    if (st != RB_OK) return st;
    snprintf(f->path, sizeof f->path, "%s", path);
    /* A name of our own beside the destination: pid + counter, and O_EXCL
     * so two writers never share a temporary file. */
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned k = atomic_fetch_add(&tmp_counter, 1u);
        snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0) {
            f->slot = rb_output_tmp_register(f->tmp);
            return RB_OK;
        }
        if (errno != EEXIST) break;
    }
    int e = errno;
    char dir[4096];
    split_dir(path, dir, sizeof dir);
    f->tmp[0] = '\0';
    return rb_fail(err, RB_EIO,
                   "%s: cannot create a temporary file in %s to save it (%s); check that the "
                   "folder exists and is writable",
                   path, dir, strerror(e));
}

rb_status rb_atomic_file_write(rb_atomic_file *f, const void *buf, size_t n, rb_error *err)
{
    if (f->fd < 0) return rb_fail(err, RB_EINVAL, "%s: write after the file was closed", f->path);
    const unsigned char *p = buf;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w;
        if (fault_after >= 0 && f->written + chunk > (uint64_t)fault_after) {
            w = -1;
            errno = EIO;
        } else {
            w = write(f->fd, p, chunk);
        }
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            rb_atomic_file_abort(f);
            return rb_fail(err, RB_EIO,
                           "%s: writing failed after %llu bytes (%s%s); the unfinished file was "
                           "removed and the previous file, if any, is unchanged",
                           f->path, (unsigned long long)f->written, strerror(e),
                           rb_output_errno_hint(e));
        }
        p += w;
        n -= (size_t)w;
        f->written += (uint64_t)w;
    }
    return RB_OK;
}

rb_status rb_atomic_file_commit(rb_atomic_file *f, rb_error *err)
{
    if (f->fd < 0) return rb_fail(err, RB_EINVAL, "%s: commit after the file was closed", f->path);
    if (fsync(f->fd) != 0) {
        int e = errno;
        rb_atomic_file_abort(f);
        return rb_fail(err, RB_EIO, "%s: fsync failed (%s%s); the previous file is unchanged",
                       f->path, strerror(e), rb_output_errno_hint(e));
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        int e = errno;
        rb_atomic_file_abort(f);
        return rb_fail(err, RB_EIO, "%s: close failed (%s%s); the previous file is unchanged",
                       f->path, strerror(e), rb_output_errno_hint(e));
    }
    /* again just before the rename: something may have appeared there */
    rb_status st = rb_output_check(f->path, err);
    if (st != RB_OK) {
        rb_atomic_file_abort(f);
        return st;
    }
    if (rename(f->tmp, f->path) != 0) {
        int e = errno;
        rb_atomic_file_abort(f);
        return rb_fail(err, RB_EIO,
                       "%s: cannot move the new file into place (%s); the previous file is "
                       "unchanged",
                       f->path, strerror(e));
    }
    rb_output_tmp_unregister(f->slot);
    f->slot = -1;
    f->tmp[0] = '\0';
    /* Make the rename durable: the folder's entry is data of the folder. */
    char dir[4096];
    split_dir(f->path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        int rc = fsync(dfd);
        int e = errno;
        close(dfd);
        /* Some file systems refuse fsync on folders (EINVAL); the data
         * itself is already synced, so only real I/O errors count. */
        if (rc != 0 && e == EIO)
            return rb_fail(err, RB_EIO, "%s: fsync of folder %s failed (%s)", f->path, dir,
                           strerror(e));
    }
    return RB_OK;
}

void rb_atomic_file_abort(rb_atomic_file *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->tmp[0]) {
        unlink(f->tmp);
        f->tmp[0] = '\0';
    }
    rb_output_tmp_unregister(f->slot);
    f->slot = -1;
}

rb_status rb_atomic_file_write_all(const char *path, const void *buf, size_t n, rb_error *err)
{
    rb_atomic_file f;
    rb_status st = rb_atomic_file_open(&f, path, err);
    if (st != RB_OK) return st;
    st = rb_atomic_file_write(&f, buf, n, err);
    if (st != RB_OK) return st;
    return rb_atomic_file_commit(&f, err);
}
