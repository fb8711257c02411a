/* ingest_common.c: shared steps of text and JSONL ingestion: mapping the
 * input, stripping, encoding through the caller's callback, packing, and
 * progress reports. */
#define _GNU_SOURCE
#include "train/ingest_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* progress is reported at most once per this many bytes (plus the end) */
#define PROGRESS_STEP (1u << 20)

void rb_ingest_opts_default(rb_ingest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->strip = 1;
    o->skip_empty = 1;
}

rb_status rb_ingest_map(const char *path, const char **data, size_t *size, rb_error *err)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rb_fail(err, RB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat stt;
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
        int dir = fstat(fd, &stt) == 0 && S_ISDIR(stt.st_mode);
        close(fd);
        if (dir) return rb_fail(err, RB_EIO, "%s: is a folder; give the text file to read", path);
        return rb_fail(err, RB_EIO, "%s: not a readable regular file", path);
    }
    if (stt.st_size == 0) {
        close(fd);
        return RB_OK;
    }
    void *m = mmap(NULL, (size_t)stt.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return rb_fail(err, RB_EIO, "%s: mmap failed: %s", path, strerror(e));
    *data = m;
    *size = (size_t)stt.st_size;
    return RB_OK;
}

void rb_ingest_unmap(const char *data, size_t size)
{
    if (data) munmap((void *)data, size);
}

rb_status rb_ingest_check_opts(const char *path, const rb_ingest_opts *o, rb_packer *pk,
                               rb_error *err)
{
    if (!path || !o || !pk) return rb_fail(err, RB_EINVAL, "ingest: NULL argument");
    if (!o->encode)
        return rb_fail(err, RB_EINVAL, "%s: ingest: no encode callback (pass the tokenizer's)",
                       path);
    return RB_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

rb_status rb_ingest_emit(rb_ingest_run *run, const char *text, size_t len, const char *what,
                         rb_error *err)
{
    if (run->done) return RB_OK;
    if (run->o->strip) {
        while (len > 0 && is_space(text[0])) {
            text++;
            len--;
        }
        while (len > 0 && is_space(text[len - 1])) len--;
    }
    if (len == 0 && run->o->skip_empty) {
        run->st.skipped++;
        return RB_OK;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    rb_status st = run->o->encode(run->o->encode_ctx, text, len, &ids, &n, err);
    if (st != RB_OK) {
        free(ids);
        if (err) rb_fail_prefix(err, "%s: %s: encoding failed: ", run->path, what);
        return st;
    }
    if (n > 0 && !ids) {
        return rb_fail(err, RB_EINVAL, "%s: %s: encode callback returned %zu ids but no array",
                       run->path, what, n);
    }
    st = rb_packer_add(run->pk, ids, n, err);
    free(ids);
    if (st != RB_OK) {
        if (err) rb_fail_prefix(err, "%s: %s: ", run->path, what);
        return st;
    }
    run->st.docs++;
    run->st.text_bytes += len;
    run->st.tokens += n;
    if (run->o->max_docs > 0 && run->st.docs >= run->o->max_docs) run->done = 1;
    return RB_OK;
}

rb_status rb_ingest_progress(rb_ingest_run *run, uint64_t done, int final, rb_error *err)
{
    run->st.bytes = done;
    if (!run->o->progress) return RB_OK;
    if (!final && done - run->last_report < PROGRESS_STEP) return RB_OK;
    run->last_report = done;
    if (run->o->progress(run->o->progress_ctx, done, run->total) != 0)
        return rb_fail(err, RB_EINTERRUPTED, "%s: ingestion stopped on request after %llu of %llu bytes",
                       run->path, (unsigned long long)done, (unsigned long long)run->total);
    return RB_OK;
}
