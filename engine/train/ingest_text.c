/* ingest_text.c: plain-text files into the packer: the whole file as one
 * document, or documents split at a separator such as "<|endoftext|>". */
#define _GNU_SOURCE
#include "train/ingest_internal.h"

#include <stdio.h>
#include <string.h>

rb_status rb_ingest_text(const char *path, const rb_ingest_opts *opts, rb_packer *pk,
                         rb_ingest_stats *stats, rb_error *err)
{
    rb_status st = rb_ingest_check_opts(path, opts, pk, err);
    if (st != RB_OK) return st;
    const char *data;
    size_t size;
    st = rb_ingest_map(path, &data, &size, err);
    if (st != RB_OK) return st;

    rb_ingest_run run = {.path = path, .o = opts, .pk = pk, .total = size};
    const char *sep = opts->separator;
    size_t sep_len = sep ? strlen(sep) : 0;
    char what[64];
    if (sep_len == 0) {
        snprintf(what, sizeof what, "document 0");
        st = rb_ingest_emit(&run, data ? data : "", size, what, err);
    } else {
        size_t pos = 0;
        uint64_t index = 0;
        while (st == RB_OK && !run.done) {
            const char *hit = size > pos ? memmem(data + pos, size - pos, sep, sep_len) : NULL;
            size_t end = hit ? (size_t)(hit - data) : size;
            snprintf(what, sizeof what, "document %llu (byte %zu)", (unsigned long long)index,
                     pos);
            st = rb_ingest_emit(&run, data ? data + pos : "", end - pos, what, err);
            index++;
            if (st == RB_OK) st = rb_ingest_progress(&run, hit ? end + sep_len : size, 0, err);
            if (!hit) break;
            pos = end + sep_len;
        }
    }
    if (st == RB_OK) st = rb_ingest_progress(&run, size, 1, err);
    rb_ingest_unmap(data, size);
    if (stats) *stats = run.st;
    return st;
}

rb_status rb_text_count(const char *path, const char *needle, uint64_t *count, rb_error *err)
{
    *count = 0;
    const char *data;
    size_t size;
    rb_status st = rb_ingest_map(path, &data, &size, err);
    if (st != RB_OK) return st;
    size_t n = needle ? strlen(needle) : 0;
    for (size_t pos = 0; n && pos < size;) {
        const char *hit = memmem(data + pos, size - pos, needle, n);
        if (!hit) break;
        (*count)++;
        pos = (size_t)(hit - data) + n;
    }
    rb_ingest_unmap(data, size);
    return RB_OK;
}
