/* cuda_rows.cu: gemm_rows, the batch-invariant product of inference,
 * C[M,N] = A[M,K] W[N,K]^T (or C += A W^T), in fp32 in every precision mode
 * (weights are fp32 in memory and decoding is bound by reading them, so
 * rounding operands to bf16 would save nothing; inference then computes
 * the same numbers in fp32, tf32 and bf16 modes).
 *
 * The per-element order (rb_backend.h asks for one that depends on K
 * alone). Element (i, n) is computed by one warp:
 *   1. lane l (0..31) accumulates, from +0, with fused multiply-adds, the
 *      products A[i,k] W[n,k] for k = 128 q + 4 l + s in the order
 *      q = 0, 1, 2, ... and s = 0, 1, 2, 3 within each q; a k >= K enters as
 *      fma(0, 0, acc);
 *   2. the 32 lane sums are added pairwise as the butterfly
 *      x = x + shfl_xor(x, o) for o = 16, 8, 4, 2, 1 pairs them (lane l's
 *      partial sum with lane l ^ o's; addition is commutative, so which of
 *      the two lanes does it does not change the bits);
 *   3. C = x, or C = C + x when accumulating.
 * Which warp computes the element, which other elements it computes with
 * it (MR rows of A by NR rows of W, chosen from M and N), whether its loads
 * are float4 or scalar (alignment), and the grid only decide where and
 * how fast this sequence runs, never the sequence itself. The arithmetic is
 * written with fmaf and explicit adds, so no compiler contraction choice
 * can differ between the kernel's instantiations.
 *
 * Speed at decoding sizes (M <= 64): memory-bound, GEMV-like. A warp keeps
 * MR x NR accumulators and, per step of 128 k, loads one float4 of each of
 * its NR rows of W and of its MR rows of A: W is read from memory once per
 * block of MR = 8 rows of A (the blocks of one W tile are adjacent in the
 * grid, so further row blocks find it in L2). NR grows with N so that long
 * matrices (the vocabulary head) use fewer, longer warps. */
#include <stdio.h>

#include "cu_common.cuh"

#define ROWS_WARPS 4 /* warps per block, each with its own rows of W */

template <int MR, int NR>
__global__ void __launch_bounds__(32 * ROWS_WARPS)
    k_gemm_rows(int M, int N, int K, const float *A, int lda, const float *W, int ldw, int accumulate,
                float *C, int ldc, int vec)
{
    const int lane = threadIdx.x & 31;
    const int n0 = (blockIdx.y * ROWS_WARPS + (threadIdx.x >> 5)) * NR, i0 = blockIdx.x * MR;
    if (n0 >= N) return; /* the whole warp; no barrier follows */
    /* rows past the ends read row 0 of the tile (in bounds); their sums are dropped */
    const float *ar[MR], *wr[NR];
#pragma unroll
    for (int i = 0; i < MR; i++) ar[i] = A + (size_t)(i0 + (i0 + i < M ? i : 0)) * lda;
#pragma unroll
    for (int j = 0; j < NR; j++) wr[j] = W + (size_t)(n0 + (n0 + j < N ? j : 0)) * ldw;
    float acc[MR][NR];
#pragma unroll
    for (int i = 0; i < MR; i++)
#pragma unroll
        for (int j = 0; j < NR; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += 128) {
        const int k = k0 + 4 * lane;
        float w[NR][4];
        const int full = vec && k + 4 <= K;
#pragma unroll
        for (int j = 0; j < NR; j++) {
            if (full) {
                const float4 v = *(const float4 *)(wr[j] + k);
                w[j][0] = v.x, w[j][1] = v.y, w[j][2] = v.z, w[j][3] = v.w;
            } else {
#pragma unroll
                for (int s = 0; s < 4; s++) w[j][s] = k + s < K ? wr[j][k + s] : 0.0f;
            }
        }
#pragma unroll
        for (int i = 0; i < MR; i++) {
            float a[4];
            if (full) {
                const float4 v = *(const float4 *)(ar[i] + k);
                a[0] = v.x, a[1] = v.y, a[2] = v.z, a[3] = v.w;
            } else {
#pragma unroll
                for (int s = 0; s < 4; s++) a[s] = k + s < K ? ar[i][k + s] : 0.0f;
            }
#pragma unroll
            for (int j = 0; j < NR; j++)
#pragma unroll
                for (int s = 0; s < 4; s++) acc[i][j] = fmaf(a[s], w[j][s], acc[i][j]);
        }
    }
    /* Step 2, transposed: while a lane holds several partial sums, each
     * xor step sends half of them to the partner and adds the half it keeps
     * to the partner's (the same two addends as the butterfly, so the same
     * bits), which needs E - 1 shuffles for E = MR NR sums instead of 5 E;
     * the last steps are the plain butterfly on the one sum left. */
    constexpr int E = MR * NR, LG = E >= 32 ? 5 : E >= 16 ? 4 : E >= 8 ? 3 : E >= 4 ? 2 : E >= 2 ? 1 : 0;
    float v[E];
#pragma unroll
    for (int i = 0; i < MR; i++)
#pragma unroll
        for (int j = 0; j < NR; j++) v[i * NR + j] = acc[i][j];
    int e = 0; /* which sum this lane ends with */
#pragma unroll
    for (int st = 0; st < LG; st++) {
        const int half = E >> (st + 1), o = 16 >> st, up = (lane & o) != 0;
#pragma unroll
        for (int q = 0; q < half; q++) {
            const float send = up ? v[q] : v[q + half], keep = up ? v[q + half] : v[q];
            v[q] = keep + shfl_xor(send, o);
        }
        e += up ? half : 0;
    }
#pragma unroll
    for (int o = 16 >> LG; o > 0; o >>= 1) v[0] = v[0] + shfl_xor(v[0], o);
    const int i = e / NR, j = e % NR;
    if ((lane & ((32 >> LG) - 1)) == 0 && i0 + i < M && n0 + j < N) {
        float *c = C + (size_t)(i0 + i) * ldc + n0 + j;
        *c = accumulate ? *c + v[0] : v[0];
    }
}

template <int MR>
static void launch_mr(rb_cuda_ctx *c, int nr, dim3 grid, int M, int N, int K, const float *A, int lda,
                      const float *W, int ldw, int accumulate, float *C, int ldc, int vec)
{
    if (nr == 4) RB_LAUNCH(c, (k_gemm_rows<MR, 4>), grid, 32 * ROWS_WARPS, 0, M, N, K, A, lda, W, ldw, accumulate, C, ldc, vec);
    else if (nr == 2) RB_LAUNCH(c, (k_gemm_rows<MR, 2>), grid, 32 * ROWS_WARPS, 0, M, N, K, A, lda, W, ldw, accumulate, C, ldc, vec);
    else RB_LAUNCH(c, (k_gemm_rows<MR, 1>), grid, 32 * ROWS_WARPS, 0, M, N, K, A, lda, W, ldw, accumulate, C, ldc, vec);
}

static int aligned16(const void *p, int ld) { return ((uintptr_t)p & 15) == 0 && ld % 4 == 0; }

void rb_cuda_gemm_rows(rb_backend *be, int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                       int accumulate, float *C, int ldc)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (M <= 0 || N <= 0) return;
    const int mr = M >= 8 ? 8 : M >= 4 ? 4 : M >= 2 ? 2 : 1;
    /* fewer, longer warps for long matrices; enough warps for short ones */
    const int nr = N >= 16384 ? 4 : N >= 4096 ? 2 : 1;
    const long long wblocks = ((long long)N + nr * ROWS_WARPS - 1) / (nr * ROWS_WARPS);
    if (wblocks > 65535) {
        char msg[96];
        snprintf(msg, sizeof msg, "N = %d rows of W is above the kernel's %d", N, 65535 * 4 * ROWS_WARPS);
        rb_cuda_fail(c, "gemm_rows", msg);
        return;
    }
    const dim3 grid((unsigned)((M + mr - 1) / mr), (unsigned)wblocks);
    const int vec = aligned16(A, lda) && aligned16(W, ldw);
    if (mr == 8) launch_mr<8>(c, nr, grid, M, N, K, A, lda, W, ldw, accumulate, C, ldc, vec);
    else if (mr == 4) launch_mr<4>(c, nr, grid, M, N, K, A, lda, W, ldw, accumulate, C, ldc, vec);
    else if (mr == 2) launch_mr<2>(c, nr, grid, M, N, K, A, lda, W, ldw, accumulate, C, ldc, vec);
    else launch_mr<1>(c, nr, grid, M, N, K, A, lda, W, ldw, accumulate, C, ldc, vec);
}
