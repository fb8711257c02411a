/* dequant.c: ggml type table and float32 conversion of the tensor formats
 * retrobench loads from GGUF (F32, F16, BF16, Q8_0, Q4_0, Q4_1).
 *
 * Block layouts (ggml's reference, as documented by gguf-py):
 *   Q8_0: fp16 scale d, then 32 int8 q;            x = q * d
 *   Q4_0: fp16 scale d, then 16 bytes of nibbles;  x = (nibble - 8) * d
 *   Q4_1: fp16 scale d, fp16 minimum m, 16 bytes;  x = nibble * d + m
 * In the 4-bit formats byte j holds element j in its low nibble and element
 * j + 16 in its high nibble.
 *
 * The arithmetic is the reference's, in float32, one rounding per operation:
 * results must equal gguf.quants.dequantize bit for bit, so fused
 * multiply-add contraction is switched off for this file. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "io/dequant.h"

#include <string.h>

/* Block sizes and bytes per block of every type number ggml defines
 * (gguf-py GGML_QUANT_SIZES). Unsupported types are listed so that files
 * holding them still parse and the loader can name the type it refuses. */
static const struct {
    uint32_t type;
    rb_ggml_type_traits t;
} type_table[] = {
    {0, {"F32", 1, 4, 1}},
    {1, {"F16", 1, 2, 1}},
    {2, {"Q4_0", 32, 18, 1}},
    {3, {"Q4_1", 32, 20, 1}},
    {6, {"Q5_0", 32, 22, 0}},
    {7, {"Q5_1", 32, 24, 0}},
    {8, {"Q8_0", 32, 34, 1}},
    {9, {"Q8_1", 32, 40, 0}},
    {10, {"Q2_K", 256, 84, 0}},
    {11, {"Q3_K", 256, 110, 0}},
    {12, {"Q4_K", 256, 144, 0}},
    {13, {"Q5_K", 256, 176, 0}},
    {14, {"Q6_K", 256, 210, 0}},
    {15, {"Q8_K", 256, 292, 0}},
    {16, {"IQ2_XXS", 256, 66, 0}},
    {17, {"IQ2_XS", 256, 74, 0}},
    {18, {"IQ3_XXS", 256, 98, 0}},
    {19, {"IQ1_S", 256, 50, 0}},
    {20, {"IQ4_NL", 32, 18, 0}},
    {21, {"IQ3_S", 256, 110, 0}},
    {22, {"IQ2_S", 256, 82, 0}},
    {23, {"IQ4_XS", 256, 136, 0}},
    {24, {"I8", 1, 1, 0}},
    {25, {"I16", 1, 2, 0}},
    {26, {"I32", 1, 4, 0}},
    {27, {"I64", 1, 8, 0}},
    {28, {"F64", 1, 8, 0}},
    {29, {"IQ1_M", 256, 56, 0}},
    {30, {"BF16", 1, 2, 1}},
    {34, {"TQ1_0", 256, 54, 0}},
    {35, {"TQ2_0", 256, 66, 0}},
    {39, {"MXFP4", 32, 17, 0}},
    {40, {"NVFP4", 64, 36, 0}},
    {41, {"Q1_0", 128, 18, 0}},
};

const rb_ggml_type_traits *rb_ggml_traits(uint32_t type)
{
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
        if (type_table[i].type == type) return &type_table[i].t;
    return NULL;
}

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float rb_fp16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 is exact in float32 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) /* inf / NaN, payload kept */
        return bits_to_f32(sign | 0x7f800000u | (mant << 13));
    return bits_to_f32(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

float rb_bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void deq_q8_0(const uint8_t *src, float *dst, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++, src += 34, dst += 32) {
        const float d = rb_fp16_to_f32(rd16(src));
        for (int j = 0; j < 32; j++) dst[j] = (float)(int8_t)src[2 + j] * d;
    }
}

static void deq_q4_0(const uint8_t *src, float *dst, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++, src += 18, dst += 32) {
        const float d = rb_fp16_to_f32(rd16(src));
        const uint8_t *qs = src + 2;
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)((int)(qs[j] & 0x0f) - 8) * d;
            dst[j + 16] = (float)((int)(qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const uint8_t *src, float *dst, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++, src += 20, dst += 32) {
        const float d = rb_fp16_to_f32(rd16(src));
        const float m = rb_fp16_to_f32(rd16(src + 2));
        const uint8_t *qs = src + 4;
        for (int j = 0; j < 16; j++) {
            float lo = d * (float)(qs[j] & 0x0f);
            float hi = d * (float)(qs[j] >> 4);
            dst[j] = lo + m;
            dst[j + 16] = hi + m;
        }
    }
}

void rb_dequantize(uint32_t type, const uint8_t *src, float *dst, int64_t n)
{
    switch (type) {
    case 0: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case 1:
        for (int64_t i = 0; i < n; i++) dst[i] = rb_fp16_to_f32(rd16(src + 2 * i));
        break;
    case 30:
        for (int64_t i = 0; i < n; i++) dst[i] = rb_bf16_to_f32(rd16(src + 2 * i));
        break;
    case 8: deq_q8_0(src, dst, n / 32); break;
    case 2: deq_q4_0(src, dst, n / 32); break;
    case 3: deq_q4_1(src, dst, n / 32); break;
    default: break; /* callers check rb_ggml_traits()->supported first */
    }
}
