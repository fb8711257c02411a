/* gguf.h (internal): the parsed GGUF file shared by the parser (gguf.c),
 * the accessors (gguf_meta.c), the model mapping (gguf_load.c) and the
 * tokenizer builder (gguf_tokenizer.c); and the read-only file mapping also
 * used by the llama2.c reader. */
#ifndef RB_IO_GGUF_H
#define RB_IO_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"
#include "rb_gguf.h"

/* ---- read-only file mapping (gguf_mmap.c) ---- */
typedef struct {
    const uint8_t *data;
    size_t size;
    void *map;       /* mmap'd region or NULL */
    size_t map_size;
} rb_mapped_file;

/* Map a whole regular file; an empty file or a folder is an error naming path. */
rb_status rb_map_file(rb_mapped_file *m, const char *path, rb_error *err);
void rb_unmap_file(rb_mapped_file *m);

/* ---- parsed GGUF ---- */
typedef struct {
    char *key;            /* NUL-terminated copy */
    rb_gguf_type type;
    rb_gguf_type elem_type; /* arrays */
    uint64_t count;       /* arrays: number of elements */
    size_t value_off;     /* scalars and strings: offset of the value (a string's u64 length);
                             arrays: offset of the first element */
    size_t *str_offs;     /* string arrays: offset of each element's u64 length */
    size_t start, end;    /* the whole entry (key, type, value) in the file: [start, end) */
} rb_gguf_kv;

typedef struct {
    char *name;           /* NUL-terminated copy */
    int n_dims;
    int64_t ne[4];
    int64_t n_elements;
    uint32_t type;
    uint64_t rel_offset;  /* as stored: relative to the data section */
    uint64_t nbytes;
} rb_gguf_tensor_rec;

struct rb_gguf {
    rb_mapped_file file;  /* file.map is NULL for in-memory opens */
    char path[1024];
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    rb_gguf_kv *kv;
    rb_gguf_kv **kv_by_key;          /* kv sorted by key, for lookup */
    int64_t n_tensors;
    rb_gguf_tensor_rec *tensors;
    rb_gguf_tensor_rec **t_by_name;  /* tensors sorted by name */
};

/* Little-endian reads at a known-valid offset. */
static inline uint32_t rb_gguf_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rb_gguf_rd64(const uint8_t *p)
{
    return (uint64_t)rb_gguf_rd32(p) | (uint64_t)rb_gguf_rd32(p + 4) << 32;
}

/* A GGUF string made safe for a one-line message: control bytes become
 * \xNN and long strings are cut with "..."; returns buf. */
const char *rb_gguf_printable(const char *s, size_t n, char *buf, size_t cap);

/* Parse g->file (already set) into g. */
rb_status rb_gguf_parse(rb_gguf *g, rb_error *err);

/* The embedded tokenizer plus the ids the model needs: bos (-1 if none) and
 * up to RB_MAX_EOS_IDS end-of-generation ids (eos, eot, eom). *tok is NULL
 * when the file carries no vocabulary. n_vocab_model > 0 requires the
 * vocabulary to have at most that many tokens. */
rb_status rb_gguf_build_tokenizer(const rb_gguf *g, int n_vocab_model, rb_tokenizer **tok,
                                  int *bos, int *n_eos, int *eos_ids, rb_error *err);

#endif
