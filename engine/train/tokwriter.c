/* tokwriter.c: writing packed token files (.rbtok, layout in rb_data.h)
 * atomically: stream ids into a temporary file in the target's directory,
 * then header, fsync, rename, fsync of the directory. */
#define _GNU_SOURCE
#include "rb_data.h"
#include "rb_output.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WBUF_SIZE (1u << 20)

struct rb_tokwriter {
    char *path;
    char *tmp;
    int fd;
    int slot; /* rb_output_tmp_register's, for signal handlers; -1 if none */
    uint32_t vocab_size;
    uint32_t id_width;
    uint32_t row_len;
    uint64_t count;
    uint64_t tok_identity;
    uint8_t *buf;
    size_t buf_used;
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static rb_status write_all(rb_tokwriter *w, const uint8_t *p, size_t n, rb_error *err)
{
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return rb_fail(err, RB_EIO, "%s: write failed (%s%s); the unfinished file is removed", w->path,
                           strerror(errno), rb_output_errno_hint(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return RB_OK;
}

static rb_status flush_buf(rb_tokwriter *w, rb_error *err)
{
    rb_status st = write_all(w, w->buf, w->buf_used, err);
    w->buf_used = 0;
    return st;
}

static void destroy(rb_tokwriter *w, int remove_tmp)
{
    if (w->fd >= 0) close(w->fd);
    if (remove_tmp && w->tmp) unlink(w->tmp);
    rb_output_tmp_unregister(w->slot);
    free(w->buf);
    free(w->tmp);
    free(w->path);
    free(w);
}

rb_status rb_tokwriter_open(rb_tokwriter **out, const char *path, uint32_t vocab_size,
                            uint32_t row_len, rb_error *err)
{
    if (!out || !path) return rb_fail(err, RB_EINVAL, "rb_tokwriter_open: NULL argument");
    *out = NULL;
    if (vocab_size == 0)
        return rb_fail(err, RB_EINVAL, "%s: vocab_size must be >= 1", path);
    if (vocab_size - 1 > (uint32_t)INT32_MAX)
        return rb_fail(err, RB_EINVAL, "%s: vocab_size %u does not fit int32 ids", path,
                       vocab_size);
    rb_status cst = rb_output_check(path, err); /* only a regular file is replaced */
    if (cst != RB_OK) return cst;
    rb_tokwriter *w = calloc(1, sizeof *w);
    if (!w) return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    w->fd = -1;
    w->slot = -1;
    w->vocab_size = vocab_size;
    w->id_width = vocab_size <= 65536u ? 2 : 4;
    w->row_len = row_len;
    size_t plen = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(plen + 16);
    w->buf = malloc(WBUF_SIZE);
    if (!w->path || !w->tmp || !w->buf) {
        destroy(w, 0);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    }
    /* same directory as the target, so the final rename is atomic */
    snprintf(w->tmp, plen + 16, "%s.tmp.XXXXXX", path);
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0) {
        rb_status st = rb_fail(err, RB_EIO, "%s: cannot create a temporary file next to it: %s",
                               path, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        destroy(w, 0);
        return st;
    }
    w->slot = rb_output_tmp_register(w->tmp);
    if (fchmod(w->fd, 0644) != 0) { /* mkstemp makes 0600; not fatal */ }
    /* placeholder header, rewritten by finish */
    memset(w->buf, 0, RB_TOKFILE_HEADER_SIZE);
    w->buf_used = RB_TOKFILE_HEADER_SIZE;
    *out = w;
    return RB_OK;
}

rb_status rb_tokwriter_append(rb_tokwriter *w, const int32_t *ids, size_t n, rb_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->vocab_size)
            return rb_fail(err, RB_EINVAL,
                           "%s: id %d (element %zu of this append, token %llu of the file) is "
                           "outside [0, %u)",
                           w->path, ids[i], i, (unsigned long long)(w->count + i), w->vocab_size);
    for (size_t i = 0; i < n; i++) {
        if (w->buf_used + 4 > WBUF_SIZE) {
            rb_status st = flush_buf(w, err);
            if (st != RB_OK) return st;
        }
        uint32_t v = (uint32_t)ids[i];
        uint8_t *p = w->buf + w->buf_used;
        if (w->id_width == 2) {
            p[0] = (uint8_t)v;
            p[1] = (uint8_t)(v >> 8);
        } else {
            put32(p, v);
        }
        w->buf_used += w->id_width;
    }
    w->count += n;
    return RB_OK;
}

uint64_t rb_tokwriter_count(const rb_tokwriter *w) { return w->count; }

void rb_tokwriter_set_identity(rb_tokwriter *w, uint64_t tok_identity)
{
    if (w) w->tok_identity = tok_identity;
}

static rb_status fsync_dir(const char *path, rb_error *err)
{
    char *copy = strdup(path);
    if (!copy) return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    const char *dir = dirname(copy);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rb_status st = RB_OK;
    if (dfd < 0) {
        st = rb_fail(err, RB_EIO, "%s: cannot open directory %s to sync it: %s", path, dir,
                     strerror(errno));
    } else {
        if (fsync(dfd) != 0 && errno != EINVAL)
            st = rb_fail(err, RB_EIO, "%s: fsync of directory %s failed: %s", path, dir,
                         strerror(errno));
        close(dfd);
    }
    free(copy);
    return st;
}

rb_status rb_tokwriter_finish(rb_tokwriter *w, rb_error *err)
{
    if (!w) return rb_fail(err, RB_EINVAL, "rb_tokwriter_finish: NULL writer");
    rb_status st = RB_OK;
    if (w->row_len > 0 && w->count % w->row_len != 0) {
        st = rb_fail(err, RB_EINVAL,
                     "%s: %llu ids are not a whole number of rows of %u; drop or pad the tail",
                     w->path, (unsigned long long)w->count, w->row_len);
        destroy(w, 1);
        return st;
    }
    st = flush_buf(w, err);
    if (st == RB_OK) {
        uint8_t h[RB_TOKFILE_HEADER_SIZE];
        memset(h, 0, sizeof h);
        memcpy(h, RB_TOKFILE_MAGIC, 8);
        put32(h + 8, RB_TOKFILE_VERSION);
        put32(h + 12, w->vocab_size);
        put32(h + 16, w->id_width);
        put32(h + 20, w->row_len);
        put64(h + 24, w->count);
        put64(h + 32, w->tok_identity);
        ssize_t k = pwrite(w->fd, h, sizeof h, 0);
        if (k != (ssize_t)sizeof h)
            st = rb_fail(err, RB_EIO, "%s: writing the header failed: %s", w->tmp,
                         k < 0 ? strerror(errno) : "short write");
    }
    if (st == RB_OK && fsync(w->fd) != 0)
        st = rb_fail(err, RB_EIO, "%s: fsync failed (%s%s)", w->path, strerror(errno),
                     rb_output_errno_hint(errno));
    if (st == RB_OK) {
        int fd = w->fd;
        w->fd = -1;
        if (close(fd) != 0)
            st = rb_fail(err, RB_EIO, "%s: close failed: %s", w->tmp, strerror(errno));
    }
    if (st == RB_OK) st = rb_output_check(w->path, err); /* again, just before the rename */
    if (st == RB_OK && rename(w->tmp, w->path) != 0)
        st = rb_fail(err, RB_EIO, "%s: renaming %s into place failed: %s", w->path, w->tmp,
                     strerror(errno));
    if (st != RB_OK) {
        destroy(w, 1);
        return st;
    }
    rb_output_tmp_unregister(w->slot); /* renamed: nothing to clean up any more */
    w->slot = -1;
    st = fsync_dir(w->path, err);
    destroy(w, 0);
    return st;
}

void rb_tokwriter_abort(rb_tokwriter *w)
{
    if (w) destroy(w, 1);
}
