/* cpu_gemm_rows.c: the batch-invariant product C[M,N] = A[M,K] W[N,K]^T used
 * by inference (rb_backend.gemm_rows).
 *
 * Why not OpenBLAS: its SGEMM picks micro-kernels, edge paths and thread
 * partitions by the shape, so row i of a 32-row product is not bitwise the
 * row computed alone (measured on OpenBLAS 0.3.21, Haswell and Zen
 * kernels: most rows differ in the last bits). Batched decoding must give
 * exactly the single-sequence tokens, so every element here is computed by
 * one fixed sequence of operations that depends only on K:
 *
 *   eight lane sums, lane l accumulating k = l, l + 8, l + 16, ... in order
 *   with fused multiply-adds (a K % 8 tail enters as fma(0, 0, acc) in the
 *   unused lanes), then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)),
 *   then C = sum or C = C + sum.
 *
 * The AVX2 kernel and the portable one below compute exactly that, so they
 * agree bit for bit (tests/unit/test_cpu_gemm_rows.c checks it). Tiles of
 * 4 rows of A by 3 rows of W keep 12 accumulators and the 3 rows of W in
 * registers (each A vector is loaded once per step: 7 loads per 12 FMAs); which tile
 * an element falls in never changes its operation sequence. Threads share
 * out blocks of W rows; A is blocked by rows so that a block stays in the
 * L2 cache while W streams past. */
#include <math.h>
#include <omp.h>

#include "cpu_internal.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define RB_ROWS_AVX2 1
#endif

#define MR 4   /* rows of A per tile */
#define NR 3   /* rows of W per tile */
#define MB 48  /* rows of A per cache block */

/* The fixed reduction of eight lane sums. */
static inline float lanes_sum(const float l[8])
{
    float t0 = l[0] + l[4], t1 = l[1] + l[5], t2 = l[2] + l[6], t3 = l[3] + l[7];
    float u0 = t0 + t2, u1 = t1 + t3;
    return u0 + u1;
}

/* Portable form of one element: the definition the kernels must match. */
static float dot_rows_ref(const float *a, const float *w, int K)
{
    float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int k0 = 0; k0 < K; k0 += 8)
        for (int j = 0; j < 8; j++) {
            int k = k0 + j;
            l[j] = k < K ? fmaf(a[k], w[k], l[j]) : fmaf(0.0f, 0.0f, l[j]);
        }
    return lanes_sum(l);
}

#ifdef RB_ROWS_AVX2
static inline float hsum8(__m256 v)
{
    /* lanes l + (l+4), then (0+2, 1+3), then 0+1: the order of lanes_sum */
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Tile of mr rows of A by nr rows of W (mr <= MR, nr <= NR, compile-time
 * constants after inlining). */
static inline __attribute__((always_inline)) void tile_avx2(int mr, int nr, const float *A, int lda,
                                                             const float *W, int ldw, int K,
                                                             __m256i tail_mask, int accumulate,
                                                             float *C, int ldc)
{
    __m256 acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = _mm256_setzero_ps();
    const int K8 = K & ~7;
    for (int k = 0; k < K8; k += 8) {
        __m256 w[NR];
        for (int j = 0; j < nr; j++) {
            w[j] = _mm256_loadu_ps(W + (size_t)j * ldw + k);
            /* keep it in a register: otherwise GCC folds the load into each
             * FMA and reads W once per row of A (15-16 loads per 12 FMAs) */
            __asm__("" : "+x"(w[j]));
        }
        for (int i = 0; i < mr; i++) {
            __m256 a = _mm256_loadu_ps(A + (size_t)i * lda + k);
            __asm__("" : "+x"(a)); /* likewise: one load of A per step */
            for (int j = 0; j < nr; j++) acc[i][j] = _mm256_fmadd_ps(a, w[j], acc[i][j]);
        }
    }
    if (K8 < K) { /* masked lanes load 0: fma(0, 0, acc) as in the definition */
        __m256 w[NR];
        for (int j = 0; j < nr; j++) w[j] = _mm256_maskload_ps(W + (size_t)j * ldw + K8, tail_mask);
        for (int i = 0; i < mr; i++) {
            __m256 a = _mm256_maskload_ps(A + (size_t)i * lda + K8, tail_mask);
            for (int j = 0; j < nr; j++) acc[i][j] = _mm256_fmadd_ps(a, w[j], acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float s = hsum8(acc[i][j]);
            float *c = C + (size_t)i * ldc + j;
            *c = accumulate ? *c + s : s;
        }
}

#define TILE_FN(mr, nr)                                                                           \
    static void tile_##mr##_##nr(const float *A, int lda, const float *W, int ldw, int K,          \
                                 __m256i m, int acc, float *C, int ldc)                           \
    {                                                                                             \
        tile_avx2(mr, nr, A, lda, W, ldw, K, m, acc, C, ldc);                                     \
    }
TILE_FN(4, 3) TILE_FN(4, 2) TILE_FN(4, 1)
TILE_FN(3, 3) TILE_FN(3, 2) TILE_FN(3, 1)
TILE_FN(2, 3) TILE_FN(2, 2) TILE_FN(2, 1)
TILE_FN(1, 3) TILE_FN(1, 2) TILE_FN(1, 1)

typedef void (*tile_fn)(const float *, int, const float *, int, int, __m256i, int, float *, int);
static const tile_fn tiles[MR][NR] = {{tile_1_1, tile_1_2, tile_1_3},
                                      {tile_2_1, tile_2_2, tile_2_3},
                                      {tile_3_1, tile_3_2, tile_3_3},
                                      {tile_4_1, tile_4_2, tile_4_3}};
#endif

/* Columns [n0, n1) of C for rows [i0, i1). */
static void block(int i0, int i1, int n0, int n1, int K, const float *A, int lda, const float *W,
                  int ldw, int accumulate, float *C, int ldc)
{
#ifdef RB_ROWS_AVX2
    const int tail = K & 7;
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int n = n0; n < n1; n += NR) {
        int nr = n1 - n < NR ? n1 - n : NR;
        for (int i = i0; i < i1; i += MR) {
            int mr = i1 - i < MR ? i1 - i : MR;
            tiles[mr - 1][nr - 1](A + (size_t)i * lda, lda, W + (size_t)n * ldw, ldw, K, mask,
                                  accumulate, C + (size_t)i * ldc + n, ldc);
        }
    }
#else
    for (int n = n0; n < n1; n++)
        for (int i = i0; i < i1; i++) {
            float s = dot_rows_ref(A + (size_t)i * lda, W + (size_t)n * ldw, K);
            float *c = C + (size_t)i * ldc + n;
            *c = accumulate ? *c + s : s;
        }
#endif
}

void rb_cpu_gemm_rows(rb_backend *be, int M, int N, int K, const float *A, int lda, const float *W,
                      int ldw, int accumulate, float *C, int ldc)
{
    (void)be;
    if (M <= 0 || N <= 0) return;
    /* W in blocks of 15 rows per task: whole tiles, enough tasks to balance */
    const int nb = 5 * NR, tasks = (N + nb - 1) / nb;
    for (int i0 = 0; i0 < M; i0 += MB) {
        int i1 = M - i0 < MB ? M : i0 + MB;
        long work = (long)(i1 - i0) * N * (K > 0 ? K : 1);
        /* a parallel region costs microseconds: worth it from ~0.25M multiply-adds */
#pragma omp parallel for schedule(static) if (work > 8 * RB_PAR_MIN)
        for (int t = 0; t < tasks; t++) {
            int n0 = t * nb, n1 = n0 + nb < N ? n0 + nb : N;
            block(i0, i1, n0, n1, K, A, lda, W, ldw, accumulate, C, ldc);
        }
    }
}

void rb_cpu_gemm_rows_serial(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                             int accumulate, float *C, int ldc)
{
    if (M > 0 && N > 0) block(0, M, 0, N, K, A, lda, W, ldw, accumulate, C, ldc);
}

float rb_cpu_dot_rows_ref(const float *a, const float *w, int K) { return dot_rows_ref(a, w, K); }
