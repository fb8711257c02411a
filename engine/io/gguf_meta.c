/* gguf_meta.c: lookups in an opened GGUF file: metadata by key with checked
 * types, the tensor list, and float32 conversion of one tensor. The parser
 * (gguf.c) has validated every offset used here. */
#include "io/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dequant.h"

const char *rb_gguf_path(const rb_gguf *g) { return g->path; }
uint32_t rb_gguf_version(const rb_gguf *g) { return g->version; }
uint32_t rb_gguf_alignment(const rb_gguf *g) { return g->alignment; }
uint64_t rb_gguf_data_offset(const rb_gguf *g) { return g->data_offset; }
int64_t rb_gguf_kv_count(const rb_gguf *g) { return g->n_kv; }
int64_t rb_gguf_tensor_count(const rb_gguf *g) { return g->n_tensors; }

const char *rb_gguf_kv_key(const rb_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

rb_gguf_type rb_gguf_kv_type(const rb_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kv[i].type : (rb_gguf_type)-1;
}

const char *rb_gguf_type_name(rb_gguf_type t)
{
    static const char *const names[] = {"uint8", "int8", "uint16", "int16", "uint32",
                                        "int32", "float32", "bool", "string", "array",
                                        "uint64", "int64", "float64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

int64_t rb_gguf_find_key(const rb_gguf *g, const char *key)
{
    int64_t lo = 0, hi = g->kv_by_key ? g->n_kv - 1 : -1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kv_by_key[mid]->key, key);
        if (c == 0) return g->kv_by_key[mid] - g->kv;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int64_t rb_gguf_find_tensor(const rb_gguf *g, const char *name)
{
    int64_t lo = 0, hi = g->t_by_name ? g->n_tensors - 1 : -1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->t_by_name[mid]->name, name);
        if (c == 0) return g->t_by_name[mid] - g->tensors;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* ---- scalar decoding ---- */

static const uint8_t *at(const rb_gguf *g, size_t off) { return g->file.data + off; }

/* Integer value of a scalar at p; returns 0 when it is not an integer type
 * or a uint64 does not fit int64. */
static int decode_int(rb_gguf_type t, const uint8_t *p, int64_t *v)
{
    switch (t) {
    case RB_GGUF_UINT8: *v = p[0]; return 1;
    case RB_GGUF_INT8: *v = (int8_t)p[0]; return 1;
    case RB_GGUF_UINT16: *v = (uint16_t)(p[0] | p[1] << 8); return 1;
    case RB_GGUF_INT16: *v = (int16_t)(uint16_t)(p[0] | p[1] << 8); return 1;
    case RB_GGUF_UINT32: *v = rb_gguf_rd32(p); return 1;
    case RB_GGUF_INT32: *v = (int32_t)rb_gguf_rd32(p); return 1;
    case RB_GGUF_UINT64: {
        uint64_t u = rb_gguf_rd64(p);
        if (u > (uint64_t)INT64_MAX) return 0;
        *v = (int64_t)u;
        return 1;
    }
    case RB_GGUF_INT64: *v = (int64_t)rb_gguf_rd64(p); return 1;
    default: return 0;
    }
}

static float rd_f32(const uint8_t *p)
{
    uint32_t u = rb_gguf_rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double rd_f64(const uint8_t *p)
{
    uint64_t u = rb_gguf_rd64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* The entry for key, or a "missing key" failure. */
static rb_status lookup(const rb_gguf *g, const char *key, const rb_gguf_kv **kv, rb_error *err)
{
    int64_t i = rb_gguf_find_key(g, key);
    if (i < 0)
        return rb_fail(err, RB_EFORMAT, "%s: GGUF metadata is missing the key '%s'", g->path, key);
    *kv = &g->kv[i];
    return RB_OK;
}

static rb_status wrong_type(const rb_gguf *g, const rb_gguf_kv *kv, const char *want,
                            rb_error *err)
{
    if (kv->type == RB_GGUF_ARRAY)
        return rb_fail(err, RB_EFORMAT, "%s: GGUF key '%s' is an array of %s; expected %s",
                       g->path, kv->key, rb_gguf_type_name(kv->elem_type), want);
    return rb_fail(err, RB_EFORMAT, "%s: GGUF key '%s' has type %s; expected %s", g->path, kv->key,
                   rb_gguf_type_name(kv->type), want);
}

rb_status rb_gguf_get_int(const rb_gguf *g, const char *key, int64_t *v, rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = lookup(g, key, &kv, err);
    if (st) return st;
    if (kv->type == RB_GGUF_UINT64 && !decode_int(kv->type, at(g, kv->value_off), v))
        return rb_fail(err, RB_EFORMAT, "%s: GGUF key '%s' = %" PRIu64 " is out of range",
                       g->path, key, rb_gguf_rd64(at(g, kv->value_off)));
    if (!decode_int(kv->type, at(g, kv->value_off), v)) return wrong_type(g, kv, "an integer", err);
    return RB_OK;
}

rb_status rb_gguf_get_float(const rb_gguf *g, const char *key, double *v, rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = lookup(g, key, &kv, err);
    if (st) return st;
    if (kv->type == RB_GGUF_FLOAT32) *v = rd_f32(at(g, kv->value_off));
    else if (kv->type == RB_GGUF_FLOAT64) *v = rd_f64(at(g, kv->value_off));
    else return wrong_type(g, kv, "float32 or float64", err);
    return RB_OK;
}

rb_status rb_gguf_get_bool(const rb_gguf *g, const char *key, int *v, rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = lookup(g, key, &kv, err);
    if (st) return st;
    if (kv->type != RB_GGUF_BOOL) return wrong_type(g, kv, "bool", err);
    *v = at(g, kv->value_off)[0] != 0;
    return RB_OK;
}

rb_status rb_gguf_get_string(const rb_gguf *g, const char *key, const char **s, size_t *len,
                             rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = lookup(g, key, &kv, err);
    if (st) return st;
    if (kv->type != RB_GGUF_STRING) return wrong_type(g, kv, "string", err);
    *len = (size_t)rb_gguf_rd64(at(g, kv->value_off));
    *s = (const char *)at(g, kv->value_off + 8);
    return RB_OK;
}

rb_status rb_gguf_get_array(const rb_gguf *g, const char *key, rb_gguf_type *elem_type,
                            uint64_t *n, rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = lookup(g, key, &kv, err);
    if (st) return st;
    if (kv->type != RB_GGUF_ARRAY) return wrong_type(g, kv, "an array", err);
    if (elem_type) *elem_type = kv->elem_type;
    if (n) *n = kv->count;
    return RB_OK;
}

/* The array entry for key with elements of type want (or want2) and n elements. */
static rb_status array_of(const rb_gguf *g, const char *key, rb_gguf_type want,
                          rb_gguf_type want2, uint64_t n, const rb_gguf_kv **out, rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = lookup(g, key, &kv, err);
    if (st) return st;
    if (kv->type != RB_GGUF_ARRAY || (kv->elem_type != want && kv->elem_type != want2)) {
        char w[64];
        if (want2 != want)
            snprintf(w, sizeof w, "an array of %s or %s", rb_gguf_type_name(want),
                     rb_gguf_type_name(want2));
        else
            snprintf(w, sizeof w, "an array of %s", rb_gguf_type_name(want));
        return wrong_type(g, kv, w, err);
    }
    if (kv->count != n)
        return rb_fail(err, RB_EFORMAT, "%s: GGUF array '%s' has %" PRIu64 " elements; expected %"
                       PRIu64, g->path, key, kv->count, n);
    *out = kv;
    return RB_OK;
}

rb_status rb_gguf_get_string_array(const rb_gguf *g, const char *key, const char **s,
                                   size_t *lens, uint64_t n, rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = array_of(g, key, RB_GGUF_STRING, RB_GGUF_STRING, n, &kv, err);
    if (st) return st;
    for (uint64_t i = 0; i < n; i++) {
        lens[i] = (size_t)rb_gguf_rd64(at(g, kv->str_offs[i]));
        s[i] = (const char *)at(g, kv->str_offs[i] + 8);
    }
    return RB_OK;
}

rb_status rb_gguf_get_f32_array(const rb_gguf *g, const char *key, float *v, uint64_t n,
                                rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = array_of(g, key, RB_GGUF_FLOAT32, RB_GGUF_FLOAT32, n, &kv, err);
    if (st) return st;
    for (uint64_t i = 0; i < n; i++) v[i] = rd_f32(at(g, kv->value_off + 4 * i));
    return RB_OK;
}

rb_status rb_gguf_get_i32_array(const rb_gguf *g, const char *key, int32_t *v, uint64_t n,
                                rb_error *err)
{
    const rb_gguf_kv *kv = NULL;
    rb_status st = array_of(g, key, RB_GGUF_INT32, RB_GGUF_UINT32, n, &kv, err);
    if (st) return st;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u = rb_gguf_rd32(at(g, kv->value_off + 4 * i));
        if (kv->elem_type == RB_GGUF_UINT32 && u > (uint32_t)INT32_MAX)
            return rb_fail(err, RB_EFORMAT,
                           "%s: GGUF array '%s' element %" PRIu64 " = %u does not fit int32",
                           g->path, key, i, u);
        v[i] = (int32_t)u;
    }
    return RB_OK;
}

char *rb_gguf_kv_format(const rb_gguf *g, int64_t i, char *buf, size_t cap)
{
    if (!buf || cap == 0) return buf;
    buf[0] = '\0';
    if (i < 0 || i >= g->n_kv) return buf;
    const rb_gguf_kv *kv = &g->kv[i];
    const uint8_t *p = at(g, kv->value_off);
    int64_t iv;
    switch (kv->type) {
    case RB_GGUF_FLOAT32: snprintf(buf, cap, "%.9g", (double)rd_f32(p)); break;
    case RB_GGUF_FLOAT64: snprintf(buf, cap, "%.17g", rd_f64(p)); break;
    case RB_GGUF_BOOL: snprintf(buf, cap, "%s", p[0] ? "true" : "false"); break;
    case RB_GGUF_STRING: {
        char shown[256];
        const size_t len = (size_t)rb_gguf_rd64(p);
        snprintf(buf, cap, "\"%s\"",
                 rb_gguf_printable((const char *)p + 8, len, shown, sizeof shown));
        break;
    }
    case RB_GGUF_ARRAY:
        snprintf(buf, cap, "array[%" PRIu64 "] of %s", kv->count, rb_gguf_type_name(kv->elem_type));
        break;
    default:
        if (kv->type == RB_GGUF_UINT64) snprintf(buf, cap, "%" PRIu64, rb_gguf_rd64(p));
        else if (decode_int(kv->type, p, &iv)) snprintf(buf, cap, "%" PRId64, iv);
        break;
    }
    return buf;
}

/* ---- tensors ---- */

int rb_gguf_tensor(const rb_gguf *g, int64_t i, rb_gguf_tensor_info *out)
{
    if (i < 0 || i >= g->n_tensors) return -1;
    const rb_gguf_tensor_rec *t = &g->tensors[i];
    out->name = t->name;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->n_elements = t->n_elements;
    out->type = t->type;
    out->offset = g->data_offset + t->rel_offset;
    out->nbytes = t->nbytes;
    out->data = g->file.data + out->offset;
    return 0;
}

const char *rb_ggml_type_name(uint32_t type)
{
    const rb_ggml_type_traits *tr = rb_ggml_traits(type);
    return tr ? tr->name : "unknown";
}

int rb_ggml_type_supported(uint32_t type)
{
    const rb_ggml_type_traits *tr = rb_ggml_traits(type);
    return tr && tr->supported;
}

rb_status rb_gguf_tensor_to_f32(const rb_gguf *g, int64_t i, float *dst, size_t n, rb_error *err)
{
    if (i < 0 || i >= g->n_tensors)
        return rb_fail(err, RB_EINVAL, "%s: tensor index %lld is out of range (%lld tensors)",
                       g->path, (long long)i, (long long)g->n_tensors);
    const rb_gguf_tensor_rec *t = &g->tensors[i];
    if (!rb_ggml_type_supported(t->type))
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF tensor '%s' has type %s, which retrobench cannot convert "
                       "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1); requantize the model to "
                       "one of those (e.g. llama-quantize ... Q8_0)",
                       g->path, t->name, rb_ggml_type_name(t->type));
    if ((uint64_t)n != (uint64_t)t->n_elements)
        return rb_fail(err, RB_EINVAL, "%s: GGUF tensor '%s' has %lld elements, not %zu", g->path,
                       t->name, (long long)t->n_elements, n);
    rb_dequantize(t->type, g->file.data + g->data_offset + t->rel_offset, dst, t->n_elements);
    return RB_OK;
}
