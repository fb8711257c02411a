/* cpu_gemm_bf16.c: GEMM on bfloat16 inputs with fp32 accumulation, the
 * precision Muon's Newton-Schulz iteration runs at in the paper (METHOD.md:
 * "run in bf16").
 *
 * The definition every backend implements: each element of op(A) and op(B)
 * is rounded to bfloat16 (round to nearest, ties to even), the products are
 * exact in fp32 and are summed in fp32, and C = alpha * sum + beta * C.
 *
 * Three implementations: AMX where present, else SGEMM on rounded copies,
 * chosen when the backend is created; AVX512-BF16 only on request. The
 * AMX and AVX512-BF16 kernels share the packed operands: op(A) in 16 x 32
 * bf16 tiles, op(B) in "VNNI" tiles (16 pairs of k-rows by 16 columns, the
 * two values of a pair adjacent); both compute C in 32 x 32 blocks.
 *  - AMX (Intel Sapphire Rapids and later): each block accumulates in four
 *    tile registers by TDPBF16PS.
 *  - AVX512-BF16 (Cooper Lake, Sapphire Rapids, AMD Zen 4 and later): 8 x 32
 *    strips of the block accumulate in 16 vector registers by VDPBF16PS,
 *    each multiplying one broadcast pair of A by a row of B's tile. On
 *    Intel cores VDPBF16PS issues at the FMA rate, so this runs at about
 *    SGEMM's speed there (measured); it can pay where it issues twice as
 *    fast as FMA, which is not verified here.
 *  - Everywhere else: the rounded operands are written out as fp32 and
 *    multiplied by OpenBLAS's SGEMM, at fp32 speed.
 * The bf16 instructions treat denormals as zero; Newton-Schulz never
 * produces any (its matrices have unit scale).
 * Debian's OpenBLAS is built without its bf16 GEMM (sbgemm), hence this file.
 */
#include <cblas.h>
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu_internal.h"

#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* round-to-nearest-even fp32 -> bf16 (NaN stays NaN) */
static inline uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf16_round(float f)
{
    uint32_t u = (uint32_t)f32_to_bf16(f) << 16;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

/* ---- capability: CPUID, XCR0 and the kernel's permission for tile data ---- */

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* AVX-512 F/BW and BF16 on the CPU, ZMM and opmask state enabled by the OS */
int rb_cpu_avx512bf16_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0; /* OSXSAVE */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!((b >> 16) & 1) || !((b >> 30) & 1)) return 0; /* AVX512F, AVX512BW */
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !((a >> 5) & 1)) return 0; /* AVX512_BF16 */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    const unsigned need = (1u << 1) | (1u << 2) | (7u << 5);
    return (lo & need) == need;
}

/* AMX needs what AVX512-BF16 needs (the packing uses it) plus the tile
 * instructions, tile state enabled in XCR0 and the kernel's permission. */
int rb_cpu_amx_probe(void)
{
    if (!rb_cpu_avx512bf16_probe()) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((d >> 22) & 1) || !((d >> 24) & 1))
        return 0; /* AMX-BF16, AMX-TILE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3u) != 3u) return 0; /* tile config and tile data state */
    /* Linux hands out the 8 KiB tile state only on request (per process) */
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

/* ---- packing ----
 * Ap: for each 16-row block ib and 32-column chunk kc, a 16 x 32 bf16 tile
 *     at Ap + (ib * KC + kc) * 512 (rows of 64 bytes).
 * Bp: for each 16-column block jb and chunk kc, a tile of 16 rows p, each
 *     holding (op(B)[2p][j], op(B)[2p+1][j]) for j = 0..15, at
 *     Bp + (jb * KC + kc) * 512.
 * Rows, columns and k beyond the matrix are zero. */

typedef struct {
    int M, N, K, KC, Mp, Np;
    int sym; /* C = alpha A A^T: only blocks on or above the diagonal are computed */
    int ta, tb, lda, ldb, ldc;
    const float *A, *B;
    float *C;
    float alpha, beta;
    uint16_t *Ap, *Bp;
} amx_job;

static inline __mmask16 first_n(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* lanes 2c and 2c+1 of the result take lane c of row0 and of row1: two
 * rows of 16 values become 16 (row0, row1) pairs, as TDPBF16PS wants them */
BF16_TARGET static inline __m512i pair_rows(__m512 row0, __m512 row1)
{
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(row1, row0));
}

/* 16 x 16 transpose of 32-bit units (bf16 pairs): dst[a * 16 + b] = src[b][a] */
static inline void transpose_pairs(uint32_t *dst, const uint32_t src[16][16])
{
    for (int a = 0; a < 16; a++)
        for (int b = 0; b < 16; b++) dst[a * 16 + b] = src[b][a];
}

/* A tiles for 16-row blocks [ib0, ib1) */
BF16_TARGET static void pack_a(const amx_job *j, int ib0, int ib1)
{
    for (int ib = ib0; ib < ib1; ib++) {
        const int i0 = ib * 16, ni = j->M - i0;
        for (int kc = 0; kc < j->KC; kc++) {
            uint16_t *tile = j->Ap + ((size_t)ib * j->KC + kc) * 512;
            const int k0 = kc * 32;
            if (!j->ta) { /* tile row r is 32 consecutive values of A's row i0 + r */
                for (int r = 0; r < 16; r++) {
                    uint16_t *dst = tile + r * 32;
                    if (r >= ni) {
                        memset(dst, 0, 64);
                        continue;
                    }
                    const float *src = j->A + (size_t)(i0 + r) * j->lda + k0;
                    __m512 lo = _mm512_maskz_loadu_ps(first_n(j->K - k0), src);
                    __m512 hi = _mm512_maskz_loadu_ps(first_n(j->K - k0 - 16), src + 16);
                    _mm512_storeu_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                }
            } else { /* op(A)[i][k] = A[k][i]: pair A's rows k, k+1, then transpose */
                uint32_t t[16][16]; /* [p][i]: (A[k0 + 2p][i0 + i], A[k0 + 2p + 1][i0 + i]) */
                for (int p = 0; p < 16; p++) {
                    const int k = k0 + 2 * p;
                    const __mmask16 mi = first_n(ni);
                    __m512 r0 = k < j->K ? _mm512_maskz_loadu_ps(mi, j->A + (size_t)k * j->lda + i0)
                                         : _mm512_setzero_ps();
                    __m512 r1 = k + 1 < j->K ? _mm512_maskz_loadu_ps(mi, j->A + (size_t)(k + 1) * j->lda + i0)
                                             : _mm512_setzero_ps();
                    _mm512_storeu_si512(t[p], pair_rows(r0, r1));
                }
                transpose_pairs((uint32_t *)tile, t);
            }
        }
    }
}

/* B tiles for 16-column blocks [jb0, jb1) */
BF16_TARGET static void pack_b(const amx_job *j, int jb0, int jb1)
{
    for (int jb = jb0; jb < jb1; jb++) {
        const int c0 = jb * 16, nc = j->N - c0;
        const __mmask16 mc = first_n(nc);
        for (int kc = 0; kc < j->KC; kc++) {
            uint16_t *tile = j->Bp + ((size_t)jb * j->KC + kc) * 512;
            const int k0 = kc * 32;
            if (!j->tb) { /* op(B) rows are B rows: tile row p pairs rows k0 + 2p, k0 + 2p + 1 */
                for (int p = 0; p < 16; p++) {
                    const int k = k0 + 2 * p;
                    __m512 r0 = k < j->K ? _mm512_maskz_loadu_ps(mc, j->B + (size_t)k * j->ldb + c0)
                                         : _mm512_setzero_ps();
                    __m512 r1 = k + 1 < j->K ? _mm512_maskz_loadu_ps(mc, j->B + (size_t)(k + 1) * j->ldb + c0)
                                             : _mm512_setzero_ps();
                    _mm512_storeu_si512(tile + p * 32, pair_rows(r0, r1));
                }
            } else { /* op(B)[k][c] = B[c][k]: column c's 32 k values are contiguous */
                uint32_t t[16][16]; /* [c][p]: the pair (2p, 2p+1) of column c */
                for (int c = 0; c < 16; c++) {
                    if (c >= nc) {
                        memset(t[c], 0, sizeof t[c]);
                        continue;
                    }
                    const float *src = j->B + (size_t)(c0 + c) * j->ldb + k0;
                    __m512 lo = _mm512_maskz_loadu_ps(first_n(j->K - k0), src);
                    __m512 hi = _mm512_maskz_loadu_ps(first_n(j->K - k0 - 16), src + 16);
                    _mm512_storeu_si512(t[c], (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                }
                transpose_pairs((uint32_t *)tile, t);
            }
        }
    }
}

/* ---- the tile kernel ---- */

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64))) tile_config;

/* Block number b of the job: row-block-major over the whole grid, or over
 * the blocks on and above the diagonal (bi <= bj) for a symmetric product. */
static void block_at(const amx_job *j, int b, int *bi, int *bj)
{
    const int nbj = j->Np / 32;
    if (!j->sym) {
        *bi = b / nbj;
        *bj = b % nbj;
        return;
    }
    int row = 0;
    while (b >= nbj - row) b -= nbj - row++;
    *bi = row;
    *bj = row + b;
}

/* Write a finished 32 x 32 block (buf, row stride 32) into C:
 * alpha * buf + beta * C, clipped to the matrix; for a symmetric product
 * the mirror image goes below the diagonal as well. */
BF16_TARGET static void store_block(const amx_job *j, int bi, int bj, float *buf)
{
    const int M = j->M, N = j->N, ldc = j->ldc;
    const float alpha = j->alpha, beta = j->beta;
    float *const C = j->C;
    const int i0 = bi * 32, c0 = bj * 32;
    const int ni = M - i0 < 32 ? M - i0 : 32, nc = N - c0 < 32 ? N - c0 : 32;
    if (j->sym) { /* beta = 0; the block and its mirror image, exactly symmetric */
        if (bi == bj)
            for (int r = 1; r < 32; r++)
                for (int c = 0; c < r; c++) buf[r * 32 + c] = buf[c * 32 + r];
        else
            for (int c = 0; c < nc; c++)
                for (int r = 0; r < ni; r++) C[(size_t)(c0 + c) * ldc + i0 + r] = alpha * buf[r * 32 + c];
    }
    const __mmask16 m0 = first_n(nc), m1 = first_n(nc - 16);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < ni; r++) {
        float *crow = C + (size_t)(i0 + r) * ldc + c0;
        __m512 s0 = _mm512_mul_ps(va, _mm512_load_ps(buf + r * 32));
        __m512 s1 = _mm512_mul_ps(va, _mm512_load_ps(buf + r * 32 + 16));
        if (beta != 0.0f) { /* beta = 0 never reads C (BLAS semantics: NaN in C does not leak) */
            s0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, crow), s0);
            s1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, crow + 16), s1);
        }
        _mm512_mask_storeu_ps(crow, m0, s0);
        _mm512_mask_storeu_ps(crow + 16, m1, s1);
    }
}

/* 32 x 32 blocks of C numbered b0 .. b1 - 1 (see block_at). Tiles 0-3
 * accumulate C, 4-5 hold two A tiles, 6-7 two B tiles. */
AMX_TARGET static void amx_blocks(const amx_job *j, int b0, int b1)
{
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
    float buf[32 * 32] __attribute__((aligned(64)));
    for (int b = b0; b < b1; b++) {
        int bi, bj;
        block_at(j, b, &bi, &bj);
        const uint16_t *a0 = j->Ap + (size_t)(2 * bi) * j->KC * 512, *a1 = a0 + (size_t)j->KC * 512;
        const uint16_t *p0 = j->Bp + (size_t)(2 * bj) * j->KC * 512, *p1 = p0 + (size_t)j->KC * 512;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int kc = 0; kc < j->KC; kc++) {
            /* each product starts as soon as its two tiles are in */
            _tile_loadd(4, a0 + (size_t)kc * 512, 64);
            _tile_loadd(6, p0 + (size_t)kc * 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(7, p1 + (size_t)kc * 512, 64);
            _tile_dpbf16ps(1, 4, 7);
            _tile_loadd(5, a1 + (size_t)kc * 512, 64);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, buf, 128);
        _tile_stored(1, buf + 16, 128);
        _tile_stored(2, buf + 512, 128);
        _tile_stored(3, buf + 528, 128);
        store_block(j, bi, bj, buf);
    }
    _tile_release();
}

/* The same blocks with AVX512-BF16: a strip of 8 rows x 32 columns keeps
 * 16 accumulators; for each k-pair p, one row of each B tile (16 columns'
 * pairs) is multiplied by the broadcast pair p of each of the 8 A rows. */
BF16_TARGET static void avx512_blocks(const amx_job *j, int b0, int b1)
{
    float buf[32 * 32] __attribute__((aligned(64)));
    const size_t KC = (size_t)j->KC;
    for (int b = b0; b < b1; b++) {
        int bi, bj;
        block_at(j, b, &bi, &bj);
        const uint32_t *A2 = (const uint32_t *)(j->Ap + (size_t)(2 * bi) * KC * 512);
        const uint32_t *B2 = (const uint32_t *)(j->Bp + (size_t)(2 * bj) * KC * 512);
        for (int strip = 0; strip < 4; strip++) {
            const int half = strip >> 1, r0 = (strip & 1) * 8; /* A tile row block, first row */
            __m512 acc[8][2];
            for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
            for (size_t kc = 0; kc < KC; kc++) {
                const uint32_t *at = A2 + ((size_t)half * KC + kc) * 256 + r0 * 16;
                const uint32_t *bt0 = B2 + kc * 256, *bt1 = B2 + (KC + kc) * 256;
                for (int p = 0; p < 16; p++) {
                    const __m512bh w0 = (__m512bh)_mm512_load_si512(bt0 + p * 16);
                    const __m512bh w1 = (__m512bh)_mm512_load_si512(bt1 + p * 16);
                    for (int r = 0; r < 8; r++) {
                        const __m512bh a = (__m512bh)_mm512_set1_epi32((int)at[r * 16 + p]);
                        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, w0);
                        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, w1);
                    }
                }
            }
            for (int r = 0; r < 8; r++) {
                float *row = buf + (size_t)(half * 16 + r0 + r) * 32;
                _mm512_store_ps(row, acc[r][0]);
                _mm512_store_ps(row + 16, acc[r][1]);
            }
        }
        store_block(j, bi, bj, buf);
    }
}

/* the blocks of one thread with the chosen kernel */
static void run_blocks(const amx_job *j, int b0, int b1, int kernel)
{
    if (kernel == RB_CPU_BF16_AMX) amx_blocks(j, b0, b1);
    else avx512_blocks(j, b0, b1);
}

/* Split [0, n) evenly over the team; returns this thread's range. */
static void share(int n, int *lo, int *hi)
{
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    *lo = (int)((long)n * t / nt);
    *hi = (int)((long)n * (t + 1) / nt);
}

static void gemm_bf16_packed(rb_backend *be, int kernel, int ta, int tb, int M, int N, int K,
                             float alpha, const float *A, int lda, const float *B, int ldb,
                             float beta, float *C, int ldc)
{
    amx_job j = {.M = M, .N = N, .K = K, .ta = ta, .tb = tb, .lda = lda, .ldb = ldb, .ldc = ldc,
                 .A = A, .B = B, .C = C, .alpha = alpha, .beta = beta};
    j.KC = (K + 31) / 32;
    j.Mp = (M + 31) / 32 * 32;
    j.Np = (N + 31) / 32 * 32;
    size_t elems = ((size_t)j.Mp + j.Np) * j.KC * 32;
    uint16_t *buf = rb_cpu_bf16_buffer(be, elems * sizeof(uint16_t));
    if (!buf) return; /* recorded for the next sync() */
    j.Ap = buf;
    j.Bp = buf + (size_t)j.Mp * j.KC * 32;
    const int nblocks = (j.Mp / 32) * (j.Np / 32);
    const long work = (long)M * N * (K / 16 + 1);
#pragma omp parallel if (work > 64 * RB_PAR_MIN)
    {
        int lo, hi;
        share(j.Mp / 16, &lo, &hi);
        pack_a(&j, lo, hi);
        share(j.Np / 16, &lo, &hi);
        pack_b(&j, lo, hi);
#pragma omp barrier
        share(nblocks, &lo, &hi);
        run_blocks(&j, lo, hi, kernel);
    }
}

/* Rounded copies of op(A) [M,K] and op(B) [K,N], then SGEMM. */
static void gemm_bf16_emulated(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha,
                               const float *A, int lda, const float *B, int ldb, float beta,
                               float *C, int ldc)
{
    float *ra = rb_cpu_bf16_buffer(be, ((size_t)M * K + (size_t)K * N) * sizeof(float));
    if (!ra) return;
    float *rb = ra + (size_t)M * K;
#pragma omp parallel for schedule(static) if ((long)M * K > RB_PAR_MIN)
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++)
            ra[(size_t)i * K + k] = bf16_round(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]);
#pragma omp parallel for schedule(static) if ((long)K * N > RB_PAR_MIN)
    for (int k = 0; k < K; k++)
        for (int c = 0; c < N; c++)
            rb[(size_t)k * N + c] = bf16_round(tb ? B[(size_t)c * ldb + k] : B[(size_t)k * ldb + c]);
    rb_cpu_gemm(be, 0, 0, M, N, K, alpha, ra, K, rb, N, beta, C, ldc);
}

/* C[N,N] = alpha op(A) op(A)^T: pack A once as the left operand and once as
 * the right, compute the blocks on and above the diagonal, mirror. */
static void syrk_bf16_packed(rb_backend *be, int kernel, int trans, int N, int K, float alpha,
                             const float *A, int lda, float *C, int ldc)
{
    amx_job j = {.M = N, .N = N, .K = K, .sym = 1, .ta = trans, .tb = !trans, .lda = lda, .ldb = lda,
                 .ldc = ldc, .A = A, .B = A, .C = C, .alpha = alpha, .beta = 0.0f};
    j.KC = (K + 31) / 32;
    j.Mp = j.Np = (N + 31) / 32 * 32;
    uint16_t *buf = rb_cpu_bf16_buffer(be, (size_t)2 * j.Mp * j.KC * 32 * sizeof(uint16_t));
    if (!buf) return;
    j.Ap = buf;
    j.Bp = buf + (size_t)j.Mp * j.KC * 32;
    const int nb = j.Mp / 32, nblocks = nb * (nb + 1) / 2;
    const long work = (long)N * N * (K / 32 + 1);
#pragma omp parallel if (work > 64 * RB_PAR_MIN)
    {
        int lo, hi;
        share(j.Mp / 16, &lo, &hi);
        pack_a(&j, lo, hi);
        pack_b(&j, lo, hi);
#pragma omp barrier
        share(nblocks, &lo, &hi);
        run_blocks(&j, lo, hi, kernel);
    }
}

static void syrk_bf16_emulated(rb_backend *be, int trans, int N, int K, float alpha,
                               const float *A, int lda, float *C, int ldc)
{
    float *ra = rb_cpu_bf16_buffer(be, (size_t)N * K * sizeof(float));
    if (!ra) return;
    const int rows = trans ? K : N, cols = trans ? N : K; /* A as stored */
#pragma omp parallel for schedule(static) if ((long)N * K > RB_PAR_MIN)
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < cols; k++) ra[(size_t)i * cols + k] = bf16_round(A[(size_t)i * lda + k]);
    cblas_ssyrk(CblasRowMajor, CblasUpper, trans ? CblasTrans : CblasNoTrans, N, K, alpha, ra, cols,
                0.0f, C, ldc);
    for (int i = 1; i < N; i++)
        for (int c = 0; c < i; c++) C[(size_t)i * ldc + c] = C[(size_t)c * ldc + i];
}

void rb_cpu_syrk_bf16(rb_backend *be, int trans, int N, int K, float alpha, const float *A, int lda,
                      float *C, int ldc)
{
    if (N <= 0) return;
    if (K <= 0) {
        for (int i = 0; i < N; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    const int kernel = ((rb_cpu_ctx *)be->ctx)->bf16_kernel;
    if (kernel != RB_CPU_BF16_SGEMM) syrk_bf16_packed(be, kernel, trans, N, K, alpha, A, lda, C, ldc);
    else syrk_bf16_emulated(be, trans, N, K, alpha, A, lda, C, ldc);
}

void rb_cpu_gemm_bf16(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* no products: the same C = beta C as rb_cpu_gemm */
        rb_cpu_gemm(be, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int kernel = ((rb_cpu_ctx *)be->ctx)->bf16_kernel;
    if (kernel != RB_CPU_BF16_SGEMM)
        gemm_bf16_packed(be, kernel, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        gemm_bf16_emulated(be, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
