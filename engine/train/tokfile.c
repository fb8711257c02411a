/* tokfile.c: reading packed token files (.rbtok, layout in rb_data.h):
 * memory-mapped, every header field checked against the real file size
 * before anything the header claims is used. */
#define _GNU_SOURCE
#include "rb_data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct rb_tokfile {
    char *path;
    const uint8_t *map;
    size_t map_size;
    rb_tokfile_info info;
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static int32_t id_at(const rb_tokfile *f, uint64_t i)
{
    const uint8_t *p = f->map + RB_TOKFILE_HEADER_SIZE + i * f->info.id_width;
    if (f->info.id_width == 2) return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8);
    return (int32_t)le32(p);
}

/* A regular file of at least a header's size. */
static rb_status check_kind(const char *path, const struct stat *stt, rb_error *err)
{
    if (S_ISDIR(stt->st_mode))
        return rb_fail(err, RB_EIO, "%s: is a folder, not a token file; give the .rbtok file "
                       "that `retrobench data -o` wrote", path);
    if (!S_ISREG(stt->st_mode)) return rb_fail(err, RB_EIO, "%s: not a regular file", path);
    if (stt->st_size == 0)
        return rb_fail(err, RB_EFORMAT, "%s: the file is empty (0 bytes), not a token file; "
                       "pack the text again with `retrobench data`", path);
    if ((uint64_t)stt->st_size < RB_TOKFILE_HEADER_SIZE)
        return rb_fail(err, RB_EFORMAT,
                       "%s: header: file is %llu bytes, shorter than the %u-byte header "
                       "(truncated or not a token file)",
                       path, (unsigned long long)stt->st_size, RB_TOKFILE_HEADER_SIZE);
    return RB_OK;
}

/* Check the 64-byte header h against the file size; fills info. */
static rb_status check_header(const char *path, const uint8_t *h, uint64_t size,
                              rb_tokfile_info *info, rb_error *err)
{
    if (memcmp(h, RB_TOKFILE_MAGIC, 8) != 0)
        return rb_fail(err, RB_EFORMAT,
                       "%s: magic (offset 0) is not \"RBTOK\\0\\0\\0\": not a retrobench token "
                       "file (make one with the data packer)",
                       path);
    info->version = le32(h + 8);
    info->vocab_size = le32(h + 12);
    info->id_width = le32(h + 16);
    info->row_len = le32(h + 20);
    info->n_tokens = le64(h + 24);
    if (info->version != 1 && info->version != RB_TOKFILE_VERSION)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: version (offset 8) is %u; this build reads versions 1 and %u (pack "
                       "the text again with this build's `retrobench data`)", path,
                       info->version, RB_TOKFILE_VERSION);
    if (info->vocab_size == 0)
        return rb_fail(err, RB_EFORMAT, "%s: vocab_size (offset 12) is 0", path);
    if (info->id_width != 2 && info->id_width != 4)
        return rb_fail(err, RB_EFORMAT, "%s: id_width (offset 16) is %u; it must be 2 or 4",
                       path, info->id_width);
    if (info->id_width == 2 && info->vocab_size > 65536u)
        return rb_fail(err, RB_EFORMAT,
                       "%s: id_width (offset 16) is 2 but vocab_size is %u > 65536: ids would "
                       "not fit",
                       path, info->vocab_size);
    /* version 2 keeps the tokenizer identity at 32; the rest is reserved */
    info->tok_identity = info->version >= 2 ? le64(h + 32) : 0;
    for (int i = info->version >= 2 ? 40 : 32; i < 64; i++)
        if (h[i] != 0)
            return rb_fail(err, RB_EFORMAT,
                           "%s: reserved header byte at offset %d is %u, not 0 (written by a "
                           "newer or foreign writer?)",
                           path, i, (unsigned)h[i]);
    uint64_t avail = (size - RB_TOKFILE_HEADER_SIZE) / info->id_width;
    if (info->n_tokens > avail)
        return rb_fail(err, RB_EFORMAT,
                       "%s: n_tokens (offset 24) claims %llu ids of %u bytes but the file has "
                       "room for %llu (%llu bytes): truncated file",
                       path, (unsigned long long)info->n_tokens, info->id_width,
                       (unsigned long long)avail, (unsigned long long)size);
    uint64_t expect = RB_TOKFILE_HEADER_SIZE + info->n_tokens * info->id_width;
    if (expect != size)
        return rb_fail(err, RB_EFORMAT,
                       "%s: file is %llu bytes but the header (n_tokens %llu, id_width %u) "
                       "accounts for %llu: %llu trailing bytes",
                       path, (unsigned long long)size, (unsigned long long)info->n_tokens,
                       info->id_width, (unsigned long long)expect,
                       (unsigned long long)(size - expect));
    if (info->row_len > 0 && info->n_tokens % info->row_len != 0)
        return rb_fail(err, RB_EFORMAT,
                       "%s: n_tokens %llu is not a multiple of row_len (offset 20) %u",
                       path, (unsigned long long)info->n_tokens, info->row_len);
    info->n_rows = info->row_len > 0 ? info->n_tokens / info->row_len : 0;
    return RB_OK;
}

rb_status rb_tokfile_open(rb_tokfile **out, const char *path, unsigned flags, rb_error *err)
{
    if (!out || !path) return rb_fail(err, RB_EINVAL, "rb_tokfile_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rb_fail(err, RB_EIO, "%s: cannot open token file: %s", path, strerror(errno));
    struct stat stt;
    if (fstat(fd, &stt) != 0) {
        int e = errno;
        close(fd);
        return rb_fail(err, RB_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    rb_status st0 = check_kind(path, &stt, err);
    if (st0 != RB_OK) {
        close(fd);
        return st0;
    }
    uint64_t size = (uint64_t)stt.st_size;
    if (size > (uint64_t)SIZE_MAX) {
        close(fd);
        return rb_fail(err, RB_EUNSUPPORTED, "%s: %llu bytes do not fit in this address space",
                       path, (unsigned long long)size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return rb_fail(err, RB_EIO, "%s: mmap failed: %s", path, strerror(e));

    rb_tokfile_info info;
    rb_status st = check_header(path, map, size, &info, err);
    if (st != RB_OK) {
        munmap(map, (size_t)size);
        return st;
    }
    rb_tokfile *f = calloc(1, sizeof *f);
    char *p = f ? strdup(path) : NULL;
    if (!f || !p) {
        free(f);
        munmap(map, (size_t)size);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    }
    f->path = p;
    f->map = map;
    f->map_size = (size_t)size;
    f->info = info;
    (void)flags; /* ids are always checked: a bad id must fail here, not mid-run */
    st = rb_tokfile_check_ids(f, err);
    if (st != RB_OK) {
        rb_tokfile_close(f);
        return st;
    }
    *out = f;
    return RB_OK;
}

rb_status rb_tokfile_read_info(const char *path, rb_tokfile_info *info, rb_error *err)
{
    if (!info || !path) return rb_fail(err, RB_EINVAL, "rb_tokfile_read_info: NULL argument");
    memset(info, 0, sizeof *info);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rb_fail(err, RB_EIO, "%s: cannot open token file: %s", path, strerror(errno));
    struct stat stt;
    rb_status st = RB_OK;
    if (fstat(fd, &stt) != 0) st = rb_fail(err, RB_EIO, "%s: cannot stat: %s", path, strerror(errno));
    if (st == RB_OK) st = check_kind(path, &stt, err);
    uint8_t h[RB_TOKFILE_HEADER_SIZE];
    if (st == RB_OK) {
        ssize_t got = pread(fd, h, sizeof h, 0);
        if (got != (ssize_t)sizeof h)
            st = rb_fail(err, RB_EIO, "%s: cannot read the header: %s", path,
                         got < 0 ? strerror(errno) : "short read");
    }
    close(fd);
    if (st == RB_OK) st = check_header(path, h, (uint64_t)stt.st_size, info, err);
    return st;
}

void rb_tokfile_close(rb_tokfile *f)
{
    if (!f) return;
    if (f->map) munmap((void *)f->map, f->map_size);
    free(f->path);
    free(f);
}

const rb_tokfile_info *rb_tokfile_get_info(const rb_tokfile *f) { return &f->info; }

const char *rb_tokfile_path(const rb_tokfile *f) { return f->path; }

/* The first id at or past vocab_size, or n when there is none. The common
 * 16-bit case is a plain max-reduction the compiler vectorises, so the check
 * runs at memory speed; the exact position is searched only on failure. */
static uint64_t first_bad_id(const rb_tokfile *f)
{
    const uint64_t n = f->info.n_tokens;
    const uint32_t v = f->info.vocab_size;
    const uint8_t *base = f->map + RB_TOKFILE_HEADER_SIZE;
    if (f->info.id_width == 2) {
        const uint64_t chunk = 1u << 16;
        for (uint64_t s = 0; s < n; s += chunk) {
            uint64_t e = s + chunk < n ? s + chunk : n;
            uint32_t mx = 0;
            for (uint64_t i = s; i < e; i++) {
                uint32_t id = (uint32_t)base[2 * i] | (uint32_t)base[2 * i + 1] << 8;
                mx = id > mx ? id : mx;
            }
            if (mx >= v)
                for (uint64_t i = s; i < e; i++)
                    if ((uint32_t)id_at(f, i) >= v) return i;
        }
        return n;
    }
    for (uint64_t i = 0; i < n; i++)
        if ((uint32_t)id_at(f, i) >= v) return i;
    return n;
}

rb_status rb_tokfile_check_ids(const rb_tokfile *f, rb_error *err)
{
    /* 16-bit ids cannot exceed a vocabulary of 65536 */
    if (f->info.id_width == 2 && f->info.vocab_size >= 65536u) return RB_OK;
    uint64_t i = first_bad_id(f);
    if (i == f->info.n_tokens) return RB_OK;
    uint32_t id = (uint32_t)id_at(f, i);
    unsigned long long off = (unsigned long long)(RB_TOKFILE_HEADER_SIZE + i * f->info.id_width);
    if (f->info.row_len > 0)
        return rb_fail(err, RB_EFORMAT,
                       "%s: row %llu, column %llu (byte offset %llu) holds id %u, outside the "
                       "vocabulary of %u ids the header declares; the file is damaged or was not "
                       "written by `retrobench data`: pack the text again",
                       f->path, (unsigned long long)(i / f->info.row_len),
                       (unsigned long long)(i % f->info.row_len), off, id, f->info.vocab_size);
    return rb_fail(err, RB_EFORMAT,
                   "%s: token %llu (byte offset %llu) holds id %u, outside the vocabulary of %u "
                   "ids the header declares; the file is damaged or was not written by "
                   "`retrobench data`: pack the text again",
                   f->path, (unsigned long long)i, off, id, f->info.vocab_size);
}

rb_status rb_tokfile_read(const rb_tokfile *f, uint64_t start, size_t n, int32_t *out,
                          rb_error *err)
{
    if (start > f->info.n_tokens || n > f->info.n_tokens - start)
        return rb_fail(err, RB_EINVAL,
                       "%s: read of %zu ids at %llu goes past the %llu ids in the file", f->path,
                       n, (unsigned long long)start, (unsigned long long)f->info.n_tokens);
    for (size_t i = 0; i < n; i++) out[i] = id_at(f, start + i);
    return RB_OK;
}

rb_status rb_tokfile_row(const rb_tokfile *f, uint64_t row, int32_t *out, rb_error *err)
{
    if (f->info.row_len == 0)
        return rb_fail(err, RB_EINVAL,
                       "%s: row_len is 0 (the stream was not packed into rows); repack with a "
                       "row length",
                       f->path);
    if (row >= f->info.n_rows)
        return rb_fail(err, RB_EINVAL, "%s: row %llu is past the last row (%llu rows)", f->path,
                       (unsigned long long)row, (unsigned long long)f->info.n_rows);
    return rb_tokfile_read(f, row * f->info.row_len, f->info.row_len, out, err);
}
