/* gguf.c: opening and validating GGUF files (v2 and v3, little-endian).
 *
 * Layout (v2 and v3 are identical for little-endian files; v3 only added
 * big-endian files, v2 had widened every count and length to 64 bits from
 * v1's 32): "GGUF", u32 version, u64 tensor count, u64 metadata count; the
 * metadata entries (string key, u32 value type, value); the tensor
 * descriptions (string name, u32 n_dims, u64 dims[n_dims] with dims[0]
 * varying fastest, u32 ggml type, u64 offset relative to the data section);
 * padding to general.alignment (default 32); the tensor data. A string is a
 * u64 byte length and the bytes; an array a u32 element type, a u64 count
 * and the elements, and may nest.
 *
 * Everything the file claims is checked against the bytes that remain
 * before it is allocated or read, so a corrupt count fails at once with the
 * offset where it was found. */
#include "io/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dequant.h"

#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_NESTING 8
/* The smallest possible encodings, used to bound counts before allocating:
 * a metadata entry is a key (8-byte length + at least 1 byte), a 4-byte
 * type and at least a 1-byte value; a tensor description a name (8 + 1), a
 * 4-byte n_dims, at least one 8-byte dim, a 4-byte type and an 8-byte offset. */
#define GGUF_MIN_KV_BYTES 14u
#define GGUF_MIN_TENSOR_BYTES 33u

typedef struct {
    const uint8_t *p;
    size_t size;
    size_t pos;
    const char *path;
    rb_error *err;
} cursor;

static size_t remaining(const cursor *c) { return c->size - c->pos; }

static rb_status truncated(cursor *c, const char *what, uint64_t need)
{
    return rb_fail(c->err, RB_EFORMAT,
                   "%s: GGUF file is truncated: %s at offset %zu needs %llu bytes but only %zu "
                   "remain; the file is incomplete (download or convert it again)",
                   c->path, what, c->pos, (unsigned long long)need, remaining(c));
}

const char *rb_gguf_printable(const char *s, size_t n, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0) return buf;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (o + 8 >= cap) { /* room for "\xNN" or "..." and the NUL */
            if (o + 4 <= cap) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (ch < 0x20 || ch == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o] = '\0';
    return buf;
}

static rb_status rd_u32(cursor *c, const char *what, uint32_t *v)
{
    if (remaining(c) < 4) return truncated(c, what, 4);
    *v = rb_gguf_rd32(c->p + c->pos);
    c->pos += 4;
    return RB_OK;
}

static rb_status rd_u64(cursor *c, const char *what, uint64_t *v)
{
    if (remaining(c) < 8) return truncated(c, what, 8);
    *v = rb_gguf_rd64(c->p + c->pos);
    c->pos += 8;
    return RB_OK;
}

/* A GGUF string: on success *at is the offset of its bytes and *len its length. */
static rb_status rd_string(cursor *c, const char *what, size_t *at, uint64_t *len)
{
    size_t start = c->pos;
    rb_status st = rd_u64(c, what, len);
    if (st) return st;
    if (*len > remaining(c)) {
        rb_status r = rb_fail(c->err, RB_EFORMAT,
                              "%s: GGUF %s at offset %zu has length %llu, which runs past the end "
                              "of the file (%zu bytes remain); the file is corrupt",
                              c->path, what, start, (unsigned long long)*len, remaining(c));
        return r;
    }
    *at = c->pos;
    c->pos += (size_t)*len;
    return RB_OK;
}

/* Bytes of a fixed-size value type; 0 for strings, arrays and unknown types. */
static size_t scalar_size(uint32_t t)
{
    switch (t) {
    case RB_GGUF_UINT8: case RB_GGUF_INT8: case RB_GGUF_BOOL: return 1;
    case RB_GGUF_UINT16: case RB_GGUF_INT16: return 2;
    case RB_GGUF_UINT32: case RB_GGUF_INT32: case RB_GGUF_FLOAT32: return 4;
    case RB_GGUF_UINT64: case RB_GGUF_INT64: case RB_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static rb_status check_type(cursor *c, uint32_t t, size_t at, const char *what)
{
    if (t > RB_GGUF_FLOAT64)
        return rb_fail(c->err, RB_EFORMAT,
                       "%s: GGUF %s at offset %zu has unknown value type %u (known: 0 to 12); the "
                       "file is corrupt or from a newer GGUF revision",
                       c->path, what, at, t);
    return RB_OK;
}

/* Check and skip n fixed-size values of type t (booleans must be 0 or 1). */
static rb_status skip_scalars(cursor *c, uint32_t t, uint64_t n, const char *what)
{
    size_t sz = scalar_size(t);
    if (n > remaining(c) / sz)
        return rb_fail(c->err, RB_EFORMAT,
                       "%s: GGUF %s at offset %zu claims %llu %s values (%llu bytes) but only %zu "
                       "bytes remain; the file is corrupt or truncated",
                       c->path, what, c->pos, (unsigned long long)n,
                       rb_gguf_type_name((rb_gguf_type)t),
                       (unsigned long long)(n <= UINT64_MAX / sz ? n * sz : UINT64_MAX),
                       remaining(c));
    if (t == RB_GGUF_BOOL) {
        for (uint64_t i = 0; i < n; i++)
            if (c->p[c->pos + i] > 1)
                return rb_fail(c->err, RB_EFORMAT,
                               "%s: GGUF %s at offset %llu holds a boolean byte %u (only 0 and 1 "
                               "are valid); the file is corrupt",
                               c->path, what, (unsigned long long)(c->pos + i), c->p[c->pos + i]);
    }
    c->pos += (size_t)(n * sz);
    return RB_OK;
}

/* Check and skip the body of an array (element type, count, elements).
 * When offs is non-NULL and the elements are strings, *offs receives a
 * malloc'd table of each element's offset. */
static rb_status parse_array(cursor *c, int depth, const char *what, uint32_t *elem_type,
                             uint64_t *count, size_t *first, size_t **offs)
{
    if (depth > GGUF_MAX_NESTING)
        return rb_fail(c->err, RB_EFORMAT,
                       "%s: GGUF %s at offset %zu nests arrays more than %d deep; the file is "
                       "corrupt",
                       c->path, what, c->pos, GGUF_MAX_NESTING);
    uint32_t et = 0;
    uint64_t n = 0;
    size_t type_at = c->pos;
    rb_status st = rd_u32(c, what, &et);
    if (!st) st = check_type(c, et, type_at, what);
    if (!st) st = rd_u64(c, what, &n);
    if (st) return st;
    *elem_type = et;
    *count = n;
    *first = c->pos;
    if (scalar_size(et)) return skip_scalars(c, et, n, what);

    /* strings (8-byte length each) and nested arrays (4 + 8 bytes each) */
    size_t min = et == RB_GGUF_STRING ? 8 : 12;
    if (n > remaining(c) / min)
        return rb_fail(c->err, RB_EFORMAT,
                       "%s: GGUF %s at offset %zu claims %llu %s elements, more than the %zu "
                       "bytes that remain can hold; the file is corrupt or truncated",
                       c->path, what, c->pos, (unsigned long long)n,
                       rb_gguf_type_name((rb_gguf_type)et), remaining(c));
    size_t *tab = NULL;
    if (offs && et == RB_GGUF_STRING && n > 0) {
        tab = malloc((size_t)n * sizeof *tab);
        if (!tab)
            return rb_fail(c->err, RB_ENOMEM, "%s: out of memory for %llu strings of %s", c->path,
                           (unsigned long long)n, what);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (et == RB_GGUF_STRING) {
            size_t at;
            uint64_t len;
            if (tab) tab[i] = c->pos;
            st = rd_string(c, what, &at, &len);
        } else {
            uint32_t et2;
            uint64_t n2;
            size_t first2;
            st = parse_array(c, depth + 1, what, &et2, &n2, &first2, NULL);
        }
        if (st) {
            free(tab);
            return st;
        }
    }
    if (offs) *offs = tab;
    return RB_OK;
}

static rb_status copy_name(cursor *c, size_t at, uint64_t len, const char *what, char **out)
{
    if (len == 0)
        return rb_fail(c->err, RB_EFORMAT,
                       "%s: GGUF %s at offset %zu is empty; the file is corrupt", c->path, what,
                       at - 8);
    /* Names end up in one-line messages and lookups: no control bytes. */
    for (uint64_t i = 0; i < len; i++)
        if (c->p[at + i] < 0x20 || c->p[at + i] == 0x7f)
            return rb_fail(c->err, RB_EFORMAT,
                           "%s: GGUF %s at offset %zu contains the control byte 0x%02x; the file "
                           "is corrupt",
                           c->path, what, at - 8, c->p[at + i]);
    char *s = malloc((size_t)len + 1);
    if (!s) return rb_fail(c->err, RB_ENOMEM, "%s: out of memory", c->path);
    memcpy(s, c->p + at, (size_t)len);
    s[len] = '\0';
    *out = s;
    return RB_OK;
}

static rb_status parse_kv(cursor *c, int64_t i, rb_gguf_kv *kv)
{
    char what[96];
    snprintf(what, sizeof what, "metadata entry %lld key", (long long)i);
    size_t at = 0;
    uint64_t len = 0;
    rb_status st = rd_string(c, what, &at, &len);
    if (st) return st;
    if ((st = copy_name(c, at, len, what, &kv->key))) return st;

    /* From here messages name the key, which says more than an index. */
    char ctx[160];
    snprintf(ctx, sizeof ctx, "metadata '%.100s'", kv->key);
    uint32_t t = 0;
    size_t type_at = c->pos;
    st = rd_u32(c, ctx, &t);
    if (!st) st = check_type(c, t, type_at, ctx);
    if (st) return st;
    kv->type = (rb_gguf_type)t;
    kv->value_off = c->pos;
    if (t == RB_GGUF_STRING) return rd_string(c, ctx, &at, &len);
    if (t == RB_GGUF_ARRAY) {
        uint32_t et;
        rb_status s2 = parse_array(c, 0, ctx, &et, &kv->count, &kv->value_off, &kv->str_offs);
        kv->elem_type = (rb_gguf_type)et;
        return s2;
    }
    return skip_scalars(c, t, 1, ctx);
}

static rb_status parse_tensor(cursor *c, int64_t i, rb_gguf_tensor_rec *t)
{
    char what[96];
    snprintf(what, sizeof what, "tensor description %lld name", (long long)i);
    size_t at = 0;
    uint64_t len = 0;
    rb_status st = rd_string(c, what, &at, &len);
    if (st) return st;
    if ((st = copy_name(c, at, len, what, &t->name))) return st;

    char ctx[160];
    snprintf(ctx, sizeof ctx, "tensor '%.100s'", t->name);
    uint32_t nd = 0;
    size_t nd_at = c->pos;
    if ((st = rd_u32(c, ctx, &nd))) return st;
    if (nd < 1 || nd > 4)
        return rb_fail(c->err, RB_EFORMAT,
                       "%s: GGUF %s has n_dims = %u at offset %zu; GGUF tensors have 1 to 4 "
                       "dimensions; the file is corrupt",
                       c->path, ctx, nd, nd_at);
    t->n_dims = (int)nd;
    int64_t nel = 1;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v = 0;
        size_t dim_at = c->pos;
        if ((st = rd_u64(c, ctx, &v))) return st;
        if (v == 0 || v > (uint64_t)INT64_MAX || (int64_t)v > INT64_MAX / nel)
            return rb_fail(c->err, RB_EFORMAT,
                           "%s: GGUF %s has dimension %u = %llu at offset %zu, which is zero or "
                           "makes the element count overflow; the file is corrupt",
                           c->path, ctx, d, (unsigned long long)v, dim_at);
        t->ne[d] = (int64_t)v;
        nel *= (int64_t)v;
    }
    t->n_elements = nel;
    uint32_t ty = 0;
    size_t ty_at = c->pos;
    if ((st = rd_u32(c, ctx, &ty))) return st;
    const rb_ggml_type_traits *tr = rb_ggml_traits(ty);
    if (!tr)
        return rb_fail(c->err, RB_EFORMAT,
                       "%s: GGUF %s has unknown tensor type number %u at offset %zu; the file is "
                       "corrupt or needs a newer reader",
                       c->path, ctx, ty, ty_at);
    t->type = ty;
    if (t->ne[0] % tr->block_size != 0)
        return rb_fail(c->err, RB_EFORMAT,
                       "%s: GGUF %s of type %s has a row length of %lld, not a multiple of the "
                       "type's block size %d; the file is corrupt",
                       c->path, ctx, tr->name, (long long)t->ne[0], tr->block_size);
    uint64_t blocks = (uint64_t)nel / (uint64_t)tr->block_size;
    if (blocks > UINT64_MAX / (uint64_t)tr->type_size)
        return rb_fail(c->err, RB_EFORMAT, "%s: GGUF %s is impossibly large; the file is corrupt",
                       c->path, ctx);
    t->nbytes = blocks * (uint64_t)tr->type_size;
    return rd_u64(c, ctx, &t->rel_offset);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(rb_gguf_kv *const *)a)->key, (*(rb_gguf_kv *const *)b)->key);
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp((*(rb_gguf_tensor_rec *const *)a)->name, (*(rb_gguf_tensor_rec *const *)b)->name);
}

/* Sorted lookup tables; a repeated key or name is an error. */
static rb_status index_keys(rb_gguf *g, rb_error *err)
{
    if (g->n_kv > 0) {
        g->kv_by_key = malloc((size_t)g->n_kv * sizeof *g->kv_by_key);
        if (!g->kv_by_key) return rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
        for (int64_t i = 0; i < g->n_kv; i++) g->kv_by_key[i] = &g->kv[i];
        qsort(g->kv_by_key, (size_t)g->n_kv, sizeof *g->kv_by_key, cmp_kv);
        for (int64_t i = 1; i < g->n_kv; i++)
            if (!strcmp(g->kv_by_key[i - 1]->key, g->kv_by_key[i]->key))
                return rb_fail(err, RB_EFORMAT,
                               "%s: GGUF metadata key '%.200s' appears more than once; the file "
                               "is corrupt",
                               g->path, g->kv_by_key[i]->key);
    }
    return RB_OK;
}

static rb_status index_tensors(rb_gguf *g, rb_error *err)
{
    if (g->n_tensors > 0) {
        g->t_by_name = malloc((size_t)g->n_tensors * sizeof *g->t_by_name);
        if (!g->t_by_name) return rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
        for (int64_t i = 0; i < g->n_tensors; i++) g->t_by_name[i] = &g->tensors[i];
        qsort(g->t_by_name, (size_t)g->n_tensors, sizeof *g->t_by_name, cmp_tensor);
        for (int64_t i = 1; i < g->n_tensors; i++)
            if (!strcmp(g->t_by_name[i - 1]->name, g->t_by_name[i]->name))
                return rb_fail(err, RB_EFORMAT,
                               "%s: GGUF tensor '%.200s' appears more than once; the file is "
                               "corrupt",
                               g->path, g->t_by_name[i]->name);
    }
    return RB_OK;
}

static rb_status read_alignment(rb_gguf *g, rb_error *err)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = rb_gguf_find_key(g, "general.alignment");
    if (i < 0) return RB_OK;
    const rb_gguf_kv *kv = &g->kv[i];
    if (kv->type != RB_GGUF_UINT32)
        return rb_fail(err, RB_EFORMAT,
                       "%s: GGUF key 'general.alignment' has type %s; the format requires uint32",
                       g->path, rb_gguf_type_name(kv->type));
    uint32_t a = rb_gguf_rd32(g->file.data + kv->value_off);
    if (a == 0 || (a & (a - 1)) != 0)
        return rb_fail(err, RB_EFORMAT,
                       "%s: GGUF general.alignment = %u; it must be a power of two", g->path, a);
    g->alignment = a;
    return RB_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    uint64_t x = (*(rb_gguf_tensor_rec *const *)a)->rel_offset;
    uint64_t y = (*(rb_gguf_tensor_rec *const *)b)->rel_offset;
    return (x > y) - (x < y);
}

/* Tensor data ranges must not overlap: llama.cpp's writer lays tensors out
 * one after another, and disjoint ranges bound the total a loader converts
 * (and allocates) by the size of the file. */
static rb_status check_overlaps(rb_gguf *g, rb_error *err)
{
    if (g->n_tensors < 2) return RB_OK;
    rb_gguf_tensor_rec **v = malloc((size_t)g->n_tensors * sizeof *v);
    if (!v) return rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; i < g->n_tensors; i++) v[i] = &g->tensors[i];
    qsort(v, (size_t)g->n_tensors, sizeof *v, cmp_offset);
    rb_status st = RB_OK;
    for (int64_t i = 1; i < g->n_tensors && !st; i++)
        if (v[i]->rel_offset < v[i - 1]->rel_offset + v[i - 1]->nbytes)
            st = rb_fail(err, RB_EFORMAT,
                         "%s: GGUF tensors '%.200s' and '%.200s' overlap in the data section "
                         "(offsets %llu and %llu); the file is corrupt",
                         g->path, v[i - 1]->name, v[i]->name,
                         (unsigned long long)v[i - 1]->rel_offset,
                         (unsigned long long)v[i]->rel_offset);
    free(v);
    return st;
}

rb_status rb_gguf_parse(rb_gguf *g, rb_error *err)
{
    cursor c = {g->file.data, g->file.size, 0, g->path, err};
    rb_status st;
    if (c.size < 4 || memcmp(c.p, "GGUF", 4) != 0) {
        unsigned char m[4] = {0, 0, 0, 0};
        memcpy(m, c.p, c.size < 4 ? c.size : 4);
        return rb_fail(err, RB_EFORMAT,
                       "%s: not a GGUF file: the first bytes are %02x %02x %02x %02x, not the "
                       "magic \"GGUF\"",
                       g->path, m[0], m[1], m[2], m[3]);
    }
    c.pos = 4;
    if ((st = rd_u32(&c, "the version", &g->version))) return st;
    if (g->version == 1)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF version 1 (the first draft, with 32-bit counts) is not "
                       "supported; convert the model again with a current llama.cpp (versions 2 "
                       "and 3 are read)",
                       g->path);
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffffu) == 0)
            return rb_fail(err, RB_EUNSUPPORTED,
                           "%s: GGUF version field reads 0x%08x: this looks like a big-endian "
                           "GGUF file, which is not supported; use a little-endian conversion",
                           g->path, g->version);
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF version %u is not supported (versions 2 and 3 are)", g->path,
                       g->version);
    }
    uint64_t nt = 0, nkv = 0;
    if ((st = rd_u64(&c, "the tensor count", &nt))) return st;
    if ((st = rd_u64(&c, "the metadata count", &nkv))) return st;
    if (nkv > remaining(&c) / GGUF_MIN_KV_BYTES)
        return rb_fail(err, RB_EFORMAT,
                       "%s: GGUF header claims %llu metadata entries, but the %zu bytes after the "
                       "header hold at most %zu; the header is corrupt",
                       g->path, (unsigned long long)nkv, remaining(&c),
                       remaining(&c) / GGUF_MIN_KV_BYTES);
    if (nt > remaining(&c) / GGUF_MIN_TENSOR_BYTES ||
        nkv * GGUF_MIN_KV_BYTES + nt * GGUF_MIN_TENSOR_BYTES > remaining(&c))
        return rb_fail(err, RB_EFORMAT,
                       "%s: GGUF header claims %llu tensors and %llu metadata entries, more than "
                       "the %zu bytes after the header can describe; the header is corrupt",
                       g->path, (unsigned long long)nt, (unsigned long long)nkv, remaining(&c));

    if (nkv > 0) {
        g->kv = calloc((size_t)nkv, sizeof *g->kv);
        if (!g->kv) return rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
    }
    for (uint64_t i = 0; i < nkv; i++) {
        g->n_kv = (int64_t)i + 1; /* so that close frees what this entry allocated */
        g->kv[i].start = c.pos;
        if ((st = parse_kv(&c, (int64_t)i, &g->kv[i]))) return st;
        g->kv[i].end = c.pos;
    }
    g->n_kv = (int64_t)nkv;
    if (nt > 0) {
        g->tensors = calloc((size_t)nt, sizeof *g->tensors);
        if (!g->tensors) return rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
    }
    /* The keys are indexed first: general.alignment is needed to place the data. */
    if ((st = index_keys(g, err))) return st;
    if ((st = read_alignment(g, err))) return st;
    for (uint64_t i = 0; i < nt; i++) {
        g->n_tensors = (int64_t)i + 1;
        if ((st = parse_tensor(&c, (int64_t)i, &g->tensors[i]))) return st;
    }
    g->n_tensors = (int64_t)nt;
    if ((st = index_tensors(g, err))) return st;

    /* The data section starts at the next multiple of the alignment. */
    uint64_t a = g->alignment;
    g->data_offset = ((uint64_t)c.pos + a - 1) / a * a;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const rb_gguf_tensor_rec *t = &g->tensors[i];
        if (t->rel_offset % a != 0)
            return rb_fail(err, RB_EFORMAT,
                           "%s: GGUF tensor '%.200s' has data offset %llu, not a multiple of "
                           "the alignment %u; the file is corrupt",
                           g->path, t->name, (unsigned long long)t->rel_offset, g->alignment);
        uint64_t size = c.size;
        if (g->data_offset > size || t->rel_offset > size - g->data_offset ||
            t->nbytes > size - g->data_offset - t->rel_offset)
            return rb_fail(err, RB_EFORMAT,
                           "%s: GGUF tensor '%.200s' (%s, %llu bytes) at data offset %llu ends "
                           "past the end of the file (%llu bytes, data section at %llu); the "
                           "file is truncated or corrupt",
                           g->path, t->name, rb_ggml_type_name(t->type),
                           (unsigned long long)t->nbytes, (unsigned long long)t->rel_offset,
                           (unsigned long long)size, (unsigned long long)g->data_offset);
    }
    return check_overlaps(g, err);
}

static rb_status open_common(rb_gguf **out, rb_gguf *g, rb_error *err)
{
    rb_status st = rb_gguf_parse(g, err);
    if (st) {
        rb_gguf_close(g);
        return st;
    }
    *out = g;
    return RB_OK;
}

rb_status rb_gguf_open(rb_gguf **out, const char *path, rb_error *err)
{
    *out = NULL;
    rb_gguf *g = calloc(1, sizeof *g);
    if (!g) return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    snprintf(g->path, sizeof g->path, "%s", path);
    rb_status st = rb_map_file(&g->file, path, err);
    if (st) {
        free(g);
        return st;
    }
    return open_common(out, g, err);
}

rb_status rb_gguf_open_memory(rb_gguf **out, const void *data, size_t size, const char *name,
                              rb_error *err)
{
    *out = NULL;
    const char *nm = name ? name : "<memory>";
    if (!data || size == 0) return rb_fail(err, RB_EFORMAT, "%s: the data is empty", nm);
    rb_gguf *g = calloc(1, sizeof *g);
    if (!g) return rb_fail(err, RB_ENOMEM, "%s: out of memory", nm);
    snprintf(g->path, sizeof g->path, "%s", nm);
    g->file.data = data;
    g->file.size = size;
    return open_common(out, g, err);
}

void rb_gguf_close(rb_gguf *g)
{
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_offs);
    }
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->kv_by_key);
    free(g->tensors);
    free(g->t_by_name);
    rb_unmap_file(&g->file);
    free(g);
}
