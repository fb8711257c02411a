/* safetensors_write.c: write a safetensors file through the atomic writer.
 *
 * The header is emitted by hand rather than through cJSON's printer: it
 * fixes the key order (metadata first, then tensors in the caller's order)
 * and prints offsets as plain integers at any size (cJSON prints large
 * doubles in exponent form, which strict readers reject). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/safetensors.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt_u64(strbuf *b, uint64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control bytes escaped;
 * other bytes (valid UTF-8, checked by the caller) pass through. */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int valid_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int n;
        unsigned cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

static rb_status check_inputs(const char *path, const rb_st_write_tensor *t, int n,
                              const char *const *mk, const char *const *mv, int n_meta,
                              uint64_t *bytes, rb_error *err)
{
    if (n < 0 || n_meta < 0 || (n > 0 && !t) || (n_meta > 0 && (!mk || !mv)))
        return rb_fail(err, RB_EINVAL, "%s: bad tensor or metadata list passed to the writer",
                       path);
    for (int i = 0; i < n; i++) {
        const rb_st_write_tensor *x = &t[i];
        if (!x->name || !x->name[0] || !strcmp(x->name, "__metadata__") || !valid_utf8(x->name))
            return rb_fail(err, RB_EINVAL, "%s: tensor %d has an empty, reserved or non-UTF-8 "
                           "name", path, i);
        for (int j = 0; j < i; j++)
            if (!strcmp(t[j].name, x->name))
                return rb_fail(err, RB_EINVAL, "%s: tensor '%s' is listed twice", path, x->name);
        size_t es = rb_st_dtype_size(x->dtype);
        if (!es) return rb_fail(err, RB_EINVAL, "%s: tensor '%s': unknown dtype %d", path,
                                x->name, (int)x->dtype);
        if (x->ndim < 0 || x->ndim > RB_ST_MAX_DIMS)
            return rb_fail(err, RB_EINVAL, "%s: tensor '%s': %d dimensions (0..%d allowed)", path,
                           x->name, x->ndim, RB_ST_MAX_DIMS);
        uint64_t numel = 1, nb;
        for (int d = 0; d < x->ndim; d++) {
            if (x->shape[d] < 0 || __builtin_mul_overflow(numel, (uint64_t)x->shape[d], &numel))
                return rb_fail(err, RB_EINVAL, "%s: tensor '%s': bad shape", path, x->name);
        }
        uint64_t start = i ? bytes[i - 1] : 0;
        if (__builtin_mul_overflow(numel, (uint64_t)es, &nb) ||
            __builtin_add_overflow(start, nb, &bytes[i]))
            return rb_fail(err, RB_EINVAL, "%s: tensor '%s': size overflows", path, x->name);
        if (nb > 0 && !x->data)
            return rb_fail(err, RB_EINVAL, "%s: tensor '%s': no data", path, x->name);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!mk[i] || !mv[i] || !valid_utf8(mk[i]) || !valid_utf8(mv[i]))
            return rb_fail(err, RB_EINVAL, "%s: metadata pair %d is missing or not UTF-8", path,
                           i);
        for (int j = 0; j < i; j++)
            if (!strcmp(mk[j], mk[i]))
                return rb_fail(err, RB_EINVAL, "%s: metadata key \"%s\" is given twice", path,
                               mk[i]);
    }
    return RB_OK;
}

rb_status rb_st_write(const char *path, const rb_st_write_tensor *tensors, int n_tensors,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta,
                      rb_error *err)
{
    /* ends[i]: end offset of tensor i in the data area. */
    uint64_t *ends = calloc((size_t)(n_tensors > 0 ? n_tensors : 1), sizeof *ends);
    if (!ends) return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    rb_status rc = check_inputs(path, tensors, n_tensors, meta_keys, meta_values, n_meta, ends,
                                err);
    if (rc != RB_OK) {
        free(ends);
        return rc;
    }

    strbuf h = {0};
    sb_str(&h, "{");
    if (n_meta > 0) {
        sb_str(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_str(&h, ",");
            sb_json_string(&h, meta_keys[i]);
            sb_str(&h, ":");
            sb_json_string(&h, meta_values[i]);
        }
        sb_str(&h, "}");
    }
    for (int i = 0; i < n_tensors; i++) {
        const rb_st_write_tensor *t = &tensors[i];
        if (i || n_meta > 0) sb_str(&h, ",");
        sb_json_string(&h, t->name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, rb_st_dtype_name(t->dtype));
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_str(&h, ",");
            sb_fmt_u64(&h, (uint64_t)t->shape[d]);
        }
        sb_str(&h, "],\"data_offsets\":[");
        sb_fmt_u64(&h, i ? ends[i - 1] : 0);
        sb_str(&h, ",");
        sb_fmt_u64(&h, ends[i]);
        sb_str(&h, "]}");
    }
    sb_str(&h, "}");
    /* Pad with spaces so the data area starts 8-byte aligned. */
    while (!h.oom && (8 + h.len) % 8 != 0) sb_str(&h, " ");
    if (h.oom) {
        free(h.buf);
        free(ends);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory building the header", path);
    }
    if ((uint64_t)h.len > RB_ST_MAX_HEADER) {
        free(h.buf);
        free(ends);
        return rb_fail(err, RB_EINVAL, "%s: header of %zu bytes is over the 100 MB limit", path,
                       h.len);
    }

    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    rb_atomic_file f;
    rc = rb_atomic_file_open(&f, path, err);
    if (rc == RB_OK) rc = rb_atomic_file_write(&f, len8, 8, err);
    if (rc == RB_OK) rc = rb_atomic_file_write(&f, h.buf, h.len, err);
    for (int i = 0; i < n_tensors && rc == RB_OK; i++) {
        uint64_t nb = ends[i] - (i ? ends[i - 1] : 0);
        if (nb) rc = rb_atomic_file_write(&f, tensors[i].data, (size_t)nb, err);
    }
    if (rc == RB_OK) rc = rb_atomic_file_commit(&f, err);
    free(h.buf);
    free(ends);
    return rc;
}
