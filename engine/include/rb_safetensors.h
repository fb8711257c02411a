/* rb_safetensors.h: the safetensors file format (read, validate, write) and
 * the Hugging Face config.json <-> rb_config mapping, for modules beyond
 * engine/io that need them (training checkpoints of optimizer state, fuzz
 * targets, tools).
 *
 * safetensors layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON
 * (starting with '{', possibly padded with spaces), then the data area. The
 * JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin,
 * end)} (offsets relative to the data area) and may hold "__metadata__", an
 * object of string -> string. The reader checks every number against the
 * real file before using it: the header fits the file and is under 100 MB,
 * each tensor's byte span equals its element count times its dtype size and
 * lies inside the data area, and the spans tile the data area exactly (no
 * overlap, no hole, nothing after the last one). Names must be unique. */
#ifndef RB_SAFETENSORS_H
#define RB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "rb_config.h"
#include "rb_error.h"
#include "rb_io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RB_ST_MAX_DIMS 8
#define RB_ST_MAX_HEADER ((uint64_t)100 << 20) /* the reference implementation's limit */

/* Every dtype the format defines with a whole-byte element size. Only F32,
 * F16 and BF16 can be read as floats; the others are recognised so that a
 * file holding them validates, and reading them fails with RB_EUNSUPPORTED. */
typedef enum {
    RB_ST_BOOL = 0,
    RB_ST_U8,
    RB_ST_I8,
    RB_ST_F8_E4M3,
    RB_ST_F8_E5M2,
    RB_ST_I16,
    RB_ST_U16,
    RB_ST_F16,
    RB_ST_BF16,
    RB_ST_I32,
    RB_ST_U32,
    RB_ST_F32,
    RB_ST_I64,
    RB_ST_U64,
    RB_ST_F64,
    RB_ST_DTYPE_COUNT
} rb_st_dtype;

const char *rb_st_dtype_name(rb_st_dtype d); /* "F32", ...; "?" when out of range */
size_t rb_st_dtype_size(rb_st_dtype d);      /* bytes per element; 0 when out of range */

typedef struct {
    const char *name;              /* owned by the file handle */
    rb_st_dtype dtype;
    int ndim;                      /* 0 (a scalar) .. RB_ST_MAX_DIMS */
    int64_t shape[RB_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;           /* byte span inside the data area */
} rb_st_tensor;

typedef struct rb_safetensors rb_safetensors;

/* Map and validate a file. Every failure names the file and what is wrong. */
rb_status rb_st_open(rb_safetensors **out, const char *path, rb_error *err);
/* Validate bytes already in memory (not copied: they must outlive the
 * handle). source names them in messages. */
rb_status rb_st_open_memory(rb_safetensors **out, const void *bytes, size_t size,
                            const char *source, rb_error *err);
void rb_st_close(rb_safetensors *st);

const char *rb_st_source(const rb_safetensors *st);
int rb_st_count(const rb_safetensors *st);
/* The i-th tensor in the order of the header. */
const rb_st_tensor *rb_st_at(const rb_safetensors *st, int i);
/* The tensor with this exact name, or NULL. */
const rb_st_tensor *rb_st_find(const rb_safetensors *st, const char *name);

/* __metadata__: whether the header has it, and its pairs in header order. */
int rb_st_has_metadata(const rb_safetensors *st);
int rb_st_metadata_count(const rb_safetensors *st);
const char *rb_st_metadata_key(const rb_safetensors *st, int i);
const char *rb_st_metadata_value(const rb_safetensors *st, int i);
/* Value of key, or NULL when absent. */
const char *rb_st_metadata_get(const rb_safetensors *st, const char *key);

/* Raw little-endian bytes of a tensor (t->end - t->begin of them). */
const void *rb_st_data(const rb_safetensors *st, const rb_st_tensor *t);
/* Zero-copy view of an F32 tensor whose bytes are 4-byte aligned in
 * memory; NULL otherwise (then use rb_st_read_f32). */
const float *rb_st_f32_view(const rb_safetensors *st, const rb_st_tensor *t);
/* Convert a tensor to float32 into dst[t->numel]. F16 and BF16 convert
 * exactly (every value, subnormals, infinities and NaN payloads included);
 * any other dtype fails with RB_EUNSUPPORTED naming the tensor and dtype. */
rb_status rb_st_read_f32(const rb_safetensors *st, const rb_st_tensor *t, float *dst,
                         rb_error *err);

float rb_st_f16_to_f32(uint16_t h);
float rb_st_bf16_to_f32(uint16_t b);

/* One tensor to write: data holds numel * dtype size little-endian bytes. */
typedef struct {
    const char *name;
    rb_st_dtype dtype;
    int ndim;
    int64_t shape[RB_ST_MAX_DIMS];
    const void *data;
} rb_st_write_tensor;

/* Write a safetensors file: the header lists __metadata__ (when n_meta > 0,
 * pairs in the given order) and then the tensors in the given order, whose
 * data follows in the same order; the header is padded with spaces so the
 * data area starts at a multiple of 8 bytes. Written to a temporary file in
 * the same folder, fsync'd and renamed over path (an interrupted save never
 * destroys the previous file). Names must be unique, non-empty, valid
 * UTF-8 and not "__metadata__"; metadata strings must be valid UTF-8. */
rb_status rb_st_write(const char *path, const rb_st_write_tensor *tensors, int n_tensors,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta,
                      rb_error *err);

/* ---------------- Hugging Face config.json ---------------- */

typedef struct {
    rb_config cfg;                  /* finalized; n_prelude = num_hidden_layers */
    char architecture[64];          /* "LlamaForCausalLM" or "Olmo2ForCausalLM" */
    int bos_id;                     /* -1 when absent or null */
    int n_eos;                      /* 0 when absent or null */
    int eos_ids[RB_MAX_EOS_IDS];
} rb_hf_config;

/* Parse config.json text (len bytes, need not be NUL-terminated). source
 * names the file in messages. */
rb_status rb_hf_config_parse(const char *json, size_t len, const char *source, rb_hf_config *out,
                             rb_error *err);
/* config.json text (malloc'd, caller frees) for a plain model; bos_id or
 * eos_id < 0 are written as null. NULL on failure (err says why). */
char *rb_hf_config_to_json(const rb_config *cfg, int bos_id, int eos_id, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
