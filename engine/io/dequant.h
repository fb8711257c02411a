/* dequant.h (internal): the ggml tensor type table (block size, bytes per
 * block, name) and the conversion of the block formats retrobench reads to
 * float32. */
#ifndef RB_IO_DEQUANT_H
#define RB_IO_DEQUANT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;  /* "F32", "Q4_K", ... */
    int block_size;    /* elements per block */
    int type_size;     /* bytes per block */
    int supported;     /* rb_dequantize handles it */
} rb_ggml_type_traits;

/* Traits of a ggml type number, or NULL for numbers ggml does not define
 * (or no longer defines). */
const rb_ggml_type_traits *rb_ggml_traits(uint32_t type);

/* Exact conversions of the 16-bit float formats. */
float rb_fp16_to_f32(uint16_t h);
float rb_bf16_to_f32(uint16_t b);

/* Convert n elements (a whole number of blocks) of a supported type
 * starting at src to float32. src needs no alignment. */
void rb_dequantize(uint32_t type, const uint8_t *src, float *dst, int64_t n);

#endif
