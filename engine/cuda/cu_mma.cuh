/* cu_mma.cuh: bf16 tensor-core building blocks for the attention kernels of
 * bf16 mode (cuda_attention_mma.cu): rounding to bf16, packing pairs, and
 * the warp-wide product mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
 * (sm_80 and later, so legal on sm_90), which the emulation provides from
 * the PTX ISA's fragment layouts (emu/emu_runtime.cpp).
 *
 * Fragment layouts relied on (PTX ISA, "Matrix Fragments for mma.m16n8k16
 * with floating point type"; g = lane >> 2, t = lane % 4; a register holds
 * two bf16 values, the lower-numbered element in the low 16 bits):
 *   A, 16 x 16 row-major, registers a[0..3]:
 *     a[0] = (row g,     cols 2t, 2t+1)   a[1] = (row g + 8, cols 2t, 2t+1)
 *     a[2] = (row g,     cols 2t+8, 2t+9) a[3] = (row g + 8, cols 2t+8, 2t+9)
 *   B, 16 x 8 "col" (k by n), registers b[0..1]:
 *     b[0] = (rows k = 2t, 2t+1, col g)   b[1] = (rows 2t+8, 2t+9, col g)
 *   C / D, 16 x 8 fp32, c[0..3]:
 *     c[0], c[1] = (row g, cols 2t, 2t+1) c[2], c[3] = (row g + 8, cols 2t, 2t+1)
 * So an element pair of A or B is two adjacent bf16 values of one row of a
 * row-major array whose rows run along k: one aligned 32-bit load from
 * shared memory. And the accumulators of two adjacent 16 x 8 products (cols
 * 0-7 and 8-15) are, rounded and paired, exactly the A fragment of a
 * 16 x 16 operand: scores become the left operand of the next product
 * without leaving registers (FlashAttention-2's layout). */
#ifndef RB_CU_MMA_CUH
#define RB_CU_MMA_CUH

#include "cu_common.cuh"

/* fp32 -> bf16 bits, round to nearest even (inputs are finite or inf) */
static __device__ __forceinline__ uint16_t bf16_bits(float x)
{
#ifdef RB_CUDA_EMU
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
#else
    return __bfloat16_as_ushort(__float2bfloat16_rn(x));
#endif
}

/* x rounded to the nearest bf16 value, as a float */
static __device__ __forceinline__ float bf16_round(float x)
{
    const uint32_t u = (uint32_t)bf16_bits(x) << 16;
#ifdef RB_CUDA_EMU
    float r;
    memcpy(&r, &u, 4);
    return r;
#else
    return __uint_as_float(u);
#endif
}

/* (lo, hi) rounded to bf16 and packed, lo in the low half */
static __device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
    return (uint32_t)bf16_bits(lo) | ((uint32_t)bf16_bits(hi) << 16);
}

/* 32 bits at an even index of a bf16 array in shared memory */
static __device__ __forceinline__ uint32_t ld_pair(const uint16_t *p) { return *(const uint32_t *)p; }

/* d += A B for one warp (see the layouts above) */
static __device__ __forceinline__ void mma_16816(float d[4], const uint32_t a[4], const uint32_t b[2])
{
#ifdef RB_CUDA_EMU
    rb_emu_mma_bf16_16816(d, a, b);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

/* A fragment of rows r0 .. r0+15, columns c0 .. c0+15 of a row-major bf16
 * array with row stride ld (elements) */
static __device__ __forceinline__ void frag_a(uint32_t a[4], const uint16_t *s, int ld, int r0, int c0, int lane)
{
    const int g = lane >> 2, t = lane & 3;
    const uint16_t *p = s + (size_t)(r0 + g) * ld + c0 + 2 * t;
    a[0] = ld_pair(p);
    a[1] = ld_pair(p + 8 * ld);
    a[2] = ld_pair(p + 8);
    a[3] = ld_pair(p + 8 * ld + 8);
}

/* B fragment (k c0 .. c0+15 by n r0 .. r0+7) of an array stored n-major:
 * row n of s holds the k values of column n of B */
static __device__ __forceinline__ void frag_b(uint32_t b[2], const uint16_t *s, int ld, int r0, int c0, int lane)
{
    const int g = lane >> 2, t = lane & 3;
    const uint16_t *p = s + (size_t)(r0 + g) * ld + c0 + 2 * t;
    b[0] = ld_pair(p);
    b[1] = ld_pair(p + 8);
}

/* The A fragment (16 rows by 16 k) made of two accumulator tiles x0 (k 0-7)
 * and x1 (k 8-15), rounded to bf16 */
static __device__ __forceinline__ void acc_to_a(uint32_t a[4], const float x0[4], const float x1[4])
{
    a[0] = pack_bf16(x0[0], x0[1]);
    a[1] = pack_bf16(x0[2], x0[3]);
    a[2] = pack_bf16(x1[0], x1[1]);
    a[3] = pack_bf16(x1[2], x1[3]);
}

#endif
