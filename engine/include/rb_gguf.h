/* rb_gguf.h: reading GGUF files (versions 2 and 3, little-endian) for
 * tools and tests: metadata lookup by key with checked types, the tensor
 * list, and float32 conversion of the tensor formats retrobench supports
 * (F32, F16, BF16, Q8_0, Q4_0, Q4_1).
 *
 * Opening a file parses and validates all of its structure up front: every
 * count and length is checked against the bytes that remain before anything
 * is allocated, every tensor's data must lie inside the file at an aligned
 * offset without overlapping another tensor's, and keys and tensor names must
 * be unique and free of control bytes. Afterwards the accessors
 * cannot fail on structure, only on a missing key or a wrong type.
 *
 * Strings returned by the accessors point into the mapped file and are not
 * NUL-terminated (GGUF strings carry a length); they live until
 * rb_gguf_close. Keys and tensor names are NUL-terminated copies. */
#ifndef RB_GGUF_H
#define RB_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"
#include "rb_io.h"
#include "rb_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_gguf rb_gguf;

/* Metadata value types, numbered as in the file. */
typedef enum {
    RB_GGUF_UINT8 = 0,
    RB_GGUF_INT8 = 1,
    RB_GGUF_UINT16 = 2,
    RB_GGUF_INT16 = 3,
    RB_GGUF_UINT32 = 4,
    RB_GGUF_INT32 = 5,
    RB_GGUF_FLOAT32 = 6,
    RB_GGUF_BOOL = 7,
    RB_GGUF_STRING = 8,
    RB_GGUF_ARRAY = 9,
    RB_GGUF_UINT64 = 10,
    RB_GGUF_INT64 = 11,
    RB_GGUF_FLOAT64 = 12
} rb_gguf_type;

/* ggml tensor type numbers that retrobench converts. */
enum {
    RB_GGML_F32 = 0,
    RB_GGML_F16 = 1,
    RB_GGML_Q4_0 = 2,
    RB_GGML_Q4_1 = 3,
    RB_GGML_Q8_0 = 8,
    RB_GGML_BF16 = 30
};

/* Map and validate a file. */
rb_status rb_gguf_open(rb_gguf **out, const char *path, rb_error *err);
/* Same over bytes in memory (not copied: they must outlive the handle).
 * name is used in error messages. */
rb_status rb_gguf_open_memory(rb_gguf **out, const void *data, size_t size, const char *name,
                              rb_error *err);
void rb_gguf_close(rb_gguf *g);

const char *rb_gguf_path(const rb_gguf *g);
uint32_t rb_gguf_version(const rb_gguf *g);
uint32_t rb_gguf_alignment(const rb_gguf *g);   /* general.alignment, default 32 */
uint64_t rb_gguf_data_offset(const rb_gguf *g); /* file offset of the tensor data section */

/* ---- metadata ---- */
int64_t rb_gguf_kv_count(const rb_gguf *g);
const char *rb_gguf_kv_key(const rb_gguf *g, int64_t i);     /* NULL when out of range */
rb_gguf_type rb_gguf_kv_type(const rb_gguf *g, int64_t i);
/* Index of the key, or -1 when absent. */
int64_t rb_gguf_find_key(const rb_gguf *g, const char *key);
const char *rb_gguf_type_name(rb_gguf_type t); /* "uint32", "string", ... */
/* A one-line rendering of value i for listings ("64", "\"llama\"",
 * "array[512] of string"), truncated to cap bytes; returns buf. */
char *rb_gguf_kv_format(const rb_gguf *g, int64_t i, char *buf, size_t cap);

/* Typed getters. An absent key fails with RB_EFORMAT ("missing key"); use
 * rb_gguf_find_key first for optional keys. A value of another type fails
 * with RB_EFORMAT naming the key, the expected and the actual type. */
/* Any integer type; a uint64 above INT64_MAX fails. */
rb_status rb_gguf_get_int(const rb_gguf *g, const char *key, int64_t *v, rb_error *err);
/* float32 or float64. */
rb_status rb_gguf_get_float(const rb_gguf *g, const char *key, double *v, rb_error *err);
rb_status rb_gguf_get_bool(const rb_gguf *g, const char *key, int *v, rb_error *err);
rb_status rb_gguf_get_string(const rb_gguf *g, const char *key, const char **s, size_t *len,
                             rb_error *err);
/* An array's element type and length. */
rb_status rb_gguf_get_array(const rb_gguf *g, const char *key, rb_gguf_type *elem_type,
                            uint64_t *n, rb_error *err);
/* Copy an array of n elements (n must be its length) out of the file. The
 * string variant fills pointers into the file and lengths. The int32
 * variant takes int32 arrays, and uint32 arrays whose values fit. */
rb_status rb_gguf_get_string_array(const rb_gguf *g, const char *key, const char **s,
                                   size_t *lens, uint64_t n, rb_error *err);
rb_status rb_gguf_get_f32_array(const rb_gguf *g, const char *key, float *v, uint64_t n,
                                rb_error *err);
rb_status rb_gguf_get_i32_array(const rb_gguf *g, const char *key, int32_t *v, uint64_t n,
                                rb_error *err);

/* ---- tensors ---- */
typedef struct {
    const char *name;
    int n_dims;         /* 1..4 */
    int64_t ne[4];      /* ne[0] varies fastest (the columns of a matrix); unused dims are 1 */
    int64_t n_elements;
    uint32_t type;      /* ggml type number */
    uint64_t offset;    /* absolute file offset of the data */
    uint64_t nbytes;
    const void *data;   /* inside the mapping */
} rb_gguf_tensor_info;

int64_t rb_gguf_tensor_count(const rb_gguf *g);
/* Fill *out for tensor i (0 <= i < count); returns 0, or -1 when out of range. */
int rb_gguf_tensor(const rb_gguf *g, int64_t i, rb_gguf_tensor_info *out);
/* Index of the tensor, or -1 when absent. */
int64_t rb_gguf_find_tensor(const rb_gguf *g, const char *name);
/* "F32", "Q4_K", ...; "unknown" for numbers ggml does not define. */
const char *rb_ggml_type_name(uint32_t type);
/* Whether rb_gguf_tensor_to_f32 converts this type. */
int rb_ggml_type_supported(uint32_t type);
/* Convert tensor i to float32 into dst, which holds n floats; n must equal
 * its element count. Unsupported types fail with RB_EUNSUPPORTED naming the
 * tensor and the type. */
rb_status rb_gguf_tensor_to_f32(const rb_gguf *g, int64_t i, float *dst, size_t n,
                                rb_error *err);

/* The tokenizer a GGUF file embeds (tokenizer.ggml.model "llama" or
 * "gpt2"), with its BOS/EOS ids and add_bos flag. *out is NULL when the file
 * carries no vocabulary (no tokenizer.ggml.model, or "none"/"no_vocab"). */
rb_status rb_gguf_tokenizer(const rb_gguf *g, rb_tokenizer **out, rb_error *err);

/* rb_load_gguf over bytes in memory (for fuzzing and tests); name is used
 * as the source in messages. */
rb_status rb_load_gguf_memory(const void *data, size_t size, const char *name,
                              const rb_load_opts *opts, rb_loaded_model *out, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
