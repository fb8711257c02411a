/* safetensors_read.c: map a safetensors file, validate every claim of its
 * header against the real bytes, look tensors up by name and convert them
 * to float32 (see rb_safetensors.h for the checks). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "retrobench reads safetensors (little-endian) by direct copy: a little-endian host is required"
#endif

struct rb_safetensors {
    char source[1024];
    const uint8_t *bytes; /* whole file */
    size_t size;
    void *map;            /* for munmap; NULL for memory input */
    size_t map_len;
    const uint8_t *data;  /* data area */
    uint64_t data_size;
    rb_st_tensor *tensors;
    int count;
    const rb_st_tensor **by_name; /* tensors sorted by name */
    int has_meta;
    int n_meta;
    char **meta_keys;
    char **meta_values;
    char *strings;        /* every name, key and value, one allocation */
};

static const struct {
    const char *name;
    size_t size;
} dtype_info[RB_ST_DTYPE_COUNT] = {
    [RB_ST_BOOL] = {"BOOL", 1},       [RB_ST_U8] = {"U8", 1},     [RB_ST_I8] = {"I8", 1},
    [RB_ST_F8_E4M3] = {"F8_E4M3", 1}, [RB_ST_F8_E5M2] = {"F8_E5M2", 1},
    [RB_ST_I16] = {"I16", 2},         [RB_ST_U16] = {"U16", 2},   [RB_ST_F16] = {"F16", 2},
    [RB_ST_BF16] = {"BF16", 2},       [RB_ST_I32] = {"I32", 4},   [RB_ST_U32] = {"U32", 4},
    [RB_ST_F32] = {"F32", 4},         [RB_ST_I64] = {"I64", 8},   [RB_ST_U64] = {"U64", 8},
    [RB_ST_F64] = {"F64", 8},
};

const char *rb_st_dtype_name(rb_st_dtype d)
{
    return ((unsigned)d < RB_ST_DTYPE_COUNT) ? dtype_info[d].name : "?";
}

size_t rb_st_dtype_size(rb_st_dtype d)
{
    return ((unsigned)d < RB_ST_DTYPE_COUNT) ? dtype_info[d].size : 0;
}

static int dtype_from_name(const char *s)
{
    for (int i = 0; i < RB_ST_DTYPE_COUNT; i++)
        if (!strcmp(s, dtype_info[i].name)) return i;
    return -1;
}

/* ---------------- conversion ---------------- */

float rb_st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            /* Subnormal half: man * 2^-24. Shift until the implicit bit
             * appears; each shift lowers the exponent by one. */
            int shifts = 0;
            while (!(man & 0x400u)) {
                man <<= 1;
                shifts++;
            }
            bits = sign | ((uint32_t)(113 - shifts) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13); /* inf / NaN, payload kept */
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float rb_st_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ---------------- accessors ---------------- */

const char *rb_st_source(const rb_safetensors *st) { return st->source; }
int rb_st_count(const rb_safetensors *st) { return st->count; }
const rb_st_tensor *rb_st_at(const rb_safetensors *st, int i)
{
    return (i >= 0 && i < st->count) ? &st->tensors[i] : NULL;
}
int rb_st_has_metadata(const rb_safetensors *st) { return st->has_meta; }
int rb_st_metadata_count(const rb_safetensors *st) { return st->n_meta; }
const char *rb_st_metadata_key(const rb_safetensors *st, int i)
{
    return (i >= 0 && i < st->n_meta) ? st->meta_keys[i] : NULL;
}
const char *rb_st_metadata_value(const rb_safetensors *st, int i)
{
    return (i >= 0 && i < st->n_meta) ? st->meta_values[i] : NULL;
}
const char *rb_st_metadata_get(const rb_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

const rb_st_tensor *rb_st_find(const rb_safetensors *st, const char *name)
{
    int lo = 0, hi = st->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const rb_st_tensor *t = st->by_name[mid];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const void *rb_st_data(const rb_safetensors *st, const rb_st_tensor *t)
{
    return st->data + t->begin;
}

const float *rb_st_f32_view(const rb_safetensors *st, const rb_st_tensor *t)
{
    const uint8_t *p = st->data + t->begin;
    if (t->dtype != RB_ST_F32 || ((uintptr_t)p & 3u) != 0) return NULL;
    return (const float *)(const void *)p;
}

rb_status rb_st_read_f32(const rb_safetensors *st, const rb_st_tensor *t, float *dst,
                         rb_error *err)
{
    const uint8_t *p = st->data + t->begin;
    const int64_t n = (int64_t)t->numel;
    switch (t->dtype) {
    case RB_ST_F32:
        if (n) memcpy(dst, p, (size_t)n * 4);
        return RB_OK;
    case RB_ST_F16:
#pragma omp parallel for schedule(static) if (n > (1 << 20))
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = rb_st_f16_to_f32(h);
        }
        return RB_OK;
    case RB_ST_BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 20))
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = rb_st_bf16_to_f32(h);
        }
        return RB_OK;
    default:
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: tensor '%s' has dtype %s; retrobench reads only F32, F16 and BF16 "
                       "weights (convert the checkpoint to one of them)",
                       st->source, t->name, rb_st_dtype_name(t->dtype));
    }
}

/* ---------------- validation ---------------- */

static uint64_t read_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Integers in the header: JSON numbers are doubles in cJSON, exact up to
 * 2^53, which bounds every offset we accept. */
#define MAX_EXACT 9007199254740992.0

static int cmp_by_name(const void *a, const void *b)
{
    const rb_st_tensor *x = *(const rb_st_tensor *const *)a, *y = *(const rb_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_by_span(const void *a, const void *b)
{
    const rb_st_tensor *x = *(const rb_st_tensor *const *)a, *y = *(const rb_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static char *pool_put(char **cursor, const char *s)
{
    char *dst = *cursor;
    size_t n = strlen(s) + 1;
    memcpy(dst, s, n);
    *cursor += n;
    return dst;
}

static void shape_str(const rb_st_tensor *t, char *buf, size_t cap)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int d = 0; d < t->ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* Parse one tensor entry of the header into t. */
static rb_status parse_entry(rb_safetensors *st, const cJSON *e, rb_st_tensor *t, rb_error *err)
{
    const char *src = st->source, *name = e->string;
    if (!cJSON_IsObject(e))
        return rb_fail(err, RB_EFORMAT, "%s: header entry '%s' is %s, expected an object with "
                       "dtype, shape and data_offsets", src, name, rb_json_type_name(e));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': \"dtype\" is %s, expected a string",
                       src, name, rb_json_type_name(dt));
    int d = dtype_from_name(dt->valuestring);
    if (d < 0)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: tensor '%s' has dtype \"%.40s\", which retrobench does not know "
                       "(known: BOOL U8 I8 F8_E4M3 F8_E5M2 I16 U16 F16 BF16 I32 U32 F32 I64 U64 "
                       "F64)", src, name, dt->valuestring);
    t->dtype = (rb_st_dtype)d;
    if (!cJSON_IsArray(sh))
        return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': \"shape\" is %s, expected an array",
                       src, name, rb_json_type_name(sh));
    int nd = cJSON_GetArraySize(sh);
    if (nd > RB_ST_MAX_DIMS)
        return rb_fail(err, RB_EUNSUPPORTED, "%s: tensor '%s' has %d dimensions; at most %d "
                       "are supported", src, name, nd, RB_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int k = 0;
    for (const cJSON *x = sh->child; x; x = x->next, k++) {
        if (!rb_json_is_int_in(x, 0, MAX_EXACT))
            return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': shape[%d] is not a non-negative "
                           "integer", src, name, k);
        t->shape[k] = (int64_t)x->valuedouble;
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape[k], &numel))
            return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': the element count of its shape "
                           "overflows 64 bits", src, name);
    }
    t->numel = numel;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': \"data_offsets\" must be an array of "
                       "two integers [begin, end]", src, name);
    const cJSON *b = off->child, *en = off->child->next;
    if (!rb_json_is_int_in(b, 0, MAX_EXACT) || !rb_json_is_int_in(en, 0, MAX_EXACT))
        return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': data_offsets must be non-negative "
                       "integers", src, name);
    t->begin = (uint64_t)b->valuedouble;
    t->end = (uint64_t)en->valuedouble;
    if (t->end < t->begin)
        return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before "
                       "they begin", src, name, (unsigned long long)t->begin,
                       (unsigned long long)t->end);
    if (t->end > st->data_size)
        return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] reach past "
                       "the end of the data area (%llu bytes); the file is truncated or the "
                       "header is wrong", src, name, (unsigned long long)t->begin,
                       (unsigned long long)t->end, (unsigned long long)st->data_size);
    uint64_t bytes;
    int over = __builtin_mul_overflow(numel, (uint64_t)dtype_info[d].size, &bytes);
    if (over || bytes != t->end - t->begin) {
        char shp[256];
        shape_str(t, shp, sizeof shp);
        return rb_fail(err, RB_EFORMAT, "%s: tensor '%s': shape %s of %s needs %llu%s bytes but "
                       "data_offsets [%llu, %llu] span %llu", src, name, shp, dt->valuestring,
                       (unsigned long long)bytes, over ? " (overflowing)" : "",
                       (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)(t->end - t->begin));
    }
    return RB_OK;
}

static rb_status parse_metadata(rb_safetensors *st, const cJSON *m, char **cursor, rb_error *err)
{
    if (st->has_meta)
        return rb_fail(err, RB_EFORMAT, "%s: the header has __metadata__ twice", st->source);
    st->has_meta = 1;
    if (!cJSON_IsObject(m))
        return rb_fail(err, RB_EFORMAT, "%s: __metadata__ is %s, expected an object of strings",
                       st->source, rb_json_type_name(m));
    int n = cJSON_GetArraySize(m);
    st->meta_keys = calloc((size_t)n + 1, sizeof *st->meta_keys);
    st->meta_values = calloc((size_t)n + 1, sizeof *st->meta_values);
    if (!st->meta_keys || !st->meta_values)
        return rb_fail(err, RB_ENOMEM, "%s: out of memory reading __metadata__", st->source);
    for (const cJSON *x = m->child; x; x = x->next) {
        if (!cJSON_IsString(x))
            return rb_fail(err, RB_EFORMAT, "%s: __metadata__ \"%.100s\" is %s; metadata values "
                           "must be strings", st->source, x->string, rb_json_type_name(x));
        for (int i = 0; i < st->n_meta; i++)
            if (!strcmp(st->meta_keys[i], x->string))
                return rb_fail(err, RB_EFORMAT, "%s: __metadata__ has the key \"%.100s\" twice",
                               st->source, x->string);
        st->meta_keys[st->n_meta] = pool_put(cursor, x->string);
        st->meta_values[st->n_meta] = pool_put(cursor, x->valuestring);
        st->n_meta++;
    }
    return RB_OK;
}

/* Total bytes of every string in the tree (names, keys, values). */
static size_t strings_size(const cJSON *root)
{
    size_t n = 0;
    for (const cJSON *x = root->child; x; x = x->next) {
        n += strlen(x->string) + 1;
        if (!strcmp(x->string, "__metadata__") && cJSON_IsObject(x))
            for (const cJSON *m = x->child; m; m = m->next)
                n += strlen(m->string) + 1 + (cJSON_IsString(m) ? strlen(m->valuestring) + 1 : 0);
    }
    return n;
}

static rb_status parse_header(rb_safetensors *st, rb_error *err)
{
    const char *src = st->source;
    if (st->size < 8)
        return rb_fail(err, RB_EFORMAT, "%s: %zu bytes, shorter than the 8-byte header length "
                       "of a safetensors file", src, st->size);
    uint64_t hlen = read_le64(st->bytes);
    if (hlen > st->size - 8)
        return rb_fail(err, RB_EFORMAT, "%s: header length %llu (first 8 bytes) exceeds the "
                       "%zu bytes that follow; not a safetensors file, or truncated", src,
                       (unsigned long long)hlen, st->size - 8);
    if (hlen > RB_ST_MAX_HEADER)
        return rb_fail(err, RB_EFORMAT, "%s: header length %llu is over the 100 MB limit",
                       src, (unsigned long long)hlen);
    if (hlen < 2 || st->bytes[8] != '{')
        return rb_fail(err, RB_EFORMAT, "%s: the header (byte 8 on) does not start with '{'; "
                       "not a safetensors file", src);
    const char *h = (const char *)st->bytes + 8;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = (end && end >= h && end <= h + hlen) ? (size_t)(end - h) : 0;
        return rb_fail(err, RB_EFORMAT, "%s: the header is not valid JSON (error near header "
                       "byte %zu, file offset %zu)", src, at, at + 8);
    }
    /* Only padding may follow the JSON object. */
    for (const char *p = end; p < h + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return rb_fail(err, RB_EFORMAT, "%s: unexpected byte 0x%02x after the header's JSON "
                           "(file offset %zu); only space padding may follow", src,
                           (unsigned)(unsigned char)*p, (size_t)(p - h) + 8);
        }
    }
    rb_status rc = RB_OK;
    if (!cJSON_IsObject(root)) {
        rc = rb_fail(err, RB_EFORMAT, "%s: the header is %s, expected a JSON object", src,
                     rb_json_type_name(root));
        goto done;
    }
    st->data = st->bytes + 8 + hlen;
    st->data_size = st->size - 8 - hlen;
    int n = cJSON_GetArraySize(root);
    st->tensors = calloc((size_t)n + 1, sizeof *st->tensors);
    st->by_name = calloc((size_t)n + 1, sizeof *st->by_name);
    st->strings = malloc(strings_size(root) + 1);
    if (!st->tensors || !st->by_name || !st->strings) {
        rc = rb_fail(err, RB_ENOMEM, "%s: out of memory for a header of %d entries", src, n);
        goto done;
    }
    char *cursor = st->strings;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            rc = parse_metadata(st, e, &cursor, err);
        } else {
            rb_st_tensor *t = &st->tensors[st->count];
            rc = parse_entry(st, e, t, err);
            if (rc == RB_OK) {
                t->name = pool_put(&cursor, e->string);
                st->count++;
            }
        }
        if (rc != RB_OK) goto done;
    }

    /* Unique names (JSON parsers keep duplicate keys silently). */
    for (int i = 0; i < st->count; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, (size_t)st->count, sizeof *st->by_name, cmp_by_name);
    for (int i = 1; i < st->count; i++) {
        if (!strcmp(st->by_name[i - 1]->name, st->by_name[i]->name)) {
            rc = rb_fail(err, RB_EFORMAT, "%s: tensor '%s' appears twice in the header", src,
                         st->by_name[i]->name);
            goto done;
        }
    }

    /* The spans must tile the data area: sorted by start, each begins where
     * the previous ended, the first at 0 and the last at the end. */
    const rb_st_tensor **span = malloc(((size_t)st->count + 1) * sizeof *span);
    if (!span) {
        rc = rb_fail(err, RB_ENOMEM, "%s: out of memory checking tensor offsets", src);
        goto done;
    }
    memcpy(span, st->by_name, (size_t)st->count * sizeof *span);
    qsort(span, (size_t)st->count, sizeof *span, cmp_by_span);
    uint64_t pos = 0;
    const rb_st_tensor *prev = NULL;
    for (int i = 0; i < st->count && rc == RB_OK; i++) {
        const rb_st_tensor *t = span[i];
        if (t->begin < pos)
            rc = rb_fail(err, RB_EFORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] "
                         "overlap in the data area", src, prev->name,
                         (unsigned long long)prev->begin, (unsigned long long)prev->end, t->name,
                         (unsigned long long)t->begin, (unsigned long long)t->end);
        else if (t->begin > pos)
            rc = rb_fail(err, RB_EFORMAT, "%s: %llu bytes at data offset %llu (before tensor "
                         "'%s') belong to no tensor; the data area must be fully covered", src,
                         (unsigned long long)(t->begin - pos), (unsigned long long)pos, t->name);
        pos = t->end;
        prev = t;
    }
    free(span);
    if (rc == RB_OK && pos != st->data_size)
        rc = rb_fail(err, RB_EFORMAT, "%s: %llu bytes after the last tensor (data offset %llu) "
                     "belong to no tensor; the data area must be fully covered", src,
                     (unsigned long long)(st->data_size - pos), (unsigned long long)pos);
done:
    cJSON_Delete(root);
    return rc;
}

static rb_safetensors *new_handle(const char *source)
{
    rb_safetensors *st = calloc(1, sizeof *st);
    if (st) snprintf(st->source, sizeof st->source, "%s", source ? source : "<memory>");
    return st;
}

rb_status rb_st_open_memory(rb_safetensors **out, const void *bytes, size_t size,
                            const char *source, rb_error *err)
{
    *out = NULL;
    rb_safetensors *st = new_handle(source);
    if (!st) return rb_fail(err, RB_ENOMEM, "%s: out of memory", source ? source : "<memory>");
    st->bytes = bytes;
    st->size = size;
    rb_status rc = parse_header(st, err);
    if (rc != RB_OK) {
        rb_st_close(st);
        return rc;
    }
    *out = st;
    return RB_OK;
}

rb_status rb_st_open(rb_safetensors **out, const char *path, rb_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rb_fail(err, RB_EIO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return rb_fail(err, RB_EIO, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return rb_fail(err, RB_EFORMAT, "%s: %lld bytes, shorter than the 8-byte header length "
                       "of a safetensors file", path, (long long)sb.st_size);
    }
    size_t len = (size_t)sb.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return rb_fail(err, RB_EIO, "%s: mmap failed (%s)", path, strerror(e));
    rb_safetensors *st = new_handle(path);
    if (!st) {
        munmap(map, len);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    }
    st->map = map;
    st->map_len = len;
    st->bytes = map;
    st->size = len;
    rb_status rc = parse_header(st, err);
    if (rc != RB_OK) {
        rb_st_close(st);
        return rc;
    }
    *out = st;
    return RB_OK;
}

void rb_st_close(rb_safetensors *st)
{
    if (!st) return;
    if (st->map) munmap(st->map, st->map_len);
    free(st->tensors);
    free(st->by_name);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->strings);
    free(st);
}
