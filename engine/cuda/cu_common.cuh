/* cu_common.cuh: what every file of the CUDA backend shares: the backend's
 * context, launch and error bookkeeping, scratch memory, and the warp and
 * block reductions the kernels use.
 *
 * The same sources build two ways:
 *  - by nvcc into librbcuda.so, the GPU backend;
 *  - by the host C++ compiler with RB_CUDA_EMU into librbcuda_emu.so, where
 *    emu/emu.h runs each kernel on the CPU (one fiber per CUDA thread,
 *    barriers and warp shuffles honoured) against emu/emu_runtime.cpp's
 *    stand-ins for the CUDA runtime and cuBLAS. CI has no GPU: the emulated
 *    module is how the kernels' indexing is tested there (docs/cuda.md).
 * Kernels are therefore written in the common subset: launches go through
 * RB_LAUNCH, block-shared arrays are declared RB_SHARED, warp shuffles go
 * through shfl_xor / shfl_idx below, and no thread leaves a kernel before a
 * barrier the others still reach. */
#ifndef RB_CU_COMMON_CUH
#define RB_CU_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "rb_backend.h"

#ifdef RB_CUDA_EMU
#include "emu/emu.h"
#endif

/* ---- the backend's context ---- */
typedef struct {
    int device;
    rb_cuda_precision precision;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;          /* cuBLAS workspace (32 MiB, Hopper's recommendation) */
    void *scratch;          /* per-op scratch, reused in stream order; grown on demand */
    size_t scratch_bytes;
    double *host_double;    /* pinned: sumsq's result */
    size_t smem_optin;      /* largest dynamic shared memory a block may ask for */
    int n_sm;
    int att_mma;            /* training's attention on tensor cores (bf16 mode, cuda_attention_mma.cu) */
    int failed;             /* sticky: the first deferred failure, reported by sync() */
    char fail_msg[512];
    char name[320];         /* "cuda:0 (NVIDIA H200, bf16)" */
    char bf16_impl[96];
} rb_cuda_ctx;

static inline rb_cuda_ctx *cuda_ctx(rb_backend *be) { return (rb_cuda_ctx *)be->ctx; }

/* Record the first failure of a launch-style op (reported by sync()). */
void rb_cuda_fail(rb_cuda_ctx *c, const char *what, const char *detail);
/* After a launch: a configuration error (too many threads, too much shared
 * memory) shows up here at once, without synchronising. */
void rb_cuda_check_launch(rb_cuda_ctx *c, const char *kernel);
void rb_cuda_check_blas(rb_cuda_ctx *c, cublasStatus_t st, const char *what);
/* Scratch of at least `bytes` (grows with a stream synchronisation, which
 * happens only while sizes still grow); NULL and a recorded failure when
 * memory runs out. Valid until the next call; one op uses it at a time. */
void *rb_cuda_scratch(rb_cuda_ctx *c, size_t bytes);

/* Blocks for n elements at `threads` per block, capped; kernels loop
 * (grid-stride). The emulation caps at 3 blocks: the loops then run many
 * rounds, which tests them harder and keeps the CPU's work small. */
#ifdef RB_CUDA_EMU
#define RB_CUDA_MAX_BLOCKS 3
#else
#define RB_CUDA_MAX_BLOCKS 65536
#endif
static inline unsigned rb_cuda_blocks(size_t n, int threads)
{
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    if (b < 1) b = 1;
    return b > RB_CUDA_MAX_BLOCKS ? (unsigned)RB_CUDA_MAX_BLOCKS : (unsigned)b;
}

#ifdef RB_CUDA_EMU
#define RB_LAUNCH(c, kern, grid, block, smem, ...)                                                 \
    do {                                                                                           \
        rb_emu_launch(dim3(grid), dim3(block), (size_t)(smem), (const void *)(kern), #kern,        \
                      [=]() { kern(__VA_ARGS__); });                                               \
        rb_cuda_check_launch((c), #kern);                                                          \
    } while (0)
#define RB_SHARED static
#define RB_DYN_SMEM(type, name) type *name = (type *)rb_emu_dyn_smem()
#else
#define RB_LAUNCH(c, kern, grid, block, smem, ...)                                                 \
    do {                                                                                           \
        kern<<<(grid), (block), (smem), (c)->stream>>>(__VA_ARGS__);                              \
        rb_cuda_check_launch((c), #kern);                                                          \
    } while (0)
#define RB_SHARED __shared__
#define RB_DYN_SMEM(type, name)                                                                    \
    extern __shared__ float4 rb_dyn_smem_[];                                                       \
    type *name = (type *)rb_dyn_smem_
#endif

/* ---- warp and block primitives (blockDim.x a multiple of 32) ---- */
#ifdef RB_CUDA_EMU
template <typename T> static inline T shfl_xor(T v, int m) { return rb_emu_shfl_xor(v, m); }
template <typename T> static inline T shfl_idx(T v, int src) { return rb_emu_shfl_idx(v, src); }
#else
template <typename T> __device__ __forceinline__ T shfl_xor(T v, int m)
{
    return __shfl_xor_sync(0xffffffffu, v, m);
}
template <typename T> __device__ __forceinline__ T shfl_idx(T v, int src)
{
    return __shfl_sync(0xffffffffu, v, src);
}
#endif

template <typename T> __device__ __forceinline__ T warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1) v += shfl_xor(v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, shfl_xor(v, o));
    return v;
}

/* Sum over the block, returned to every thread. sh: 32 shared values, free
 * for the call. Deterministic: a fixed tree for a given blockDim. */
template <typename T> __device__ __forceinline__ T block_sum(T v, T *sh)
{
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* sh may still be read by a previous call */
    if (lane == 0) sh[w] = v;
    __syncthreads();
    T t = lane < nw ? sh[lane] : (T)0;
    return warp_sum(t);
}

__device__ __forceinline__ float block_max(float v, float *sh)
{
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float t = lane < nw ? sh[lane] : -INFINITY;
    return warp_max(t);
}

/* Threads per block for a per-row kernel over rows of width D. */
static inline int rb_cuda_row_threads(int D, int max_threads)
{
    int t = (D + 31) / 32 * 32;
    if (t < 32) t = 32;
    return t > max_threads ? max_threads : t;
}

/* ---- the op table's entries, one file each ---- */
void rb_cuda_gemm(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);
void rb_cuda_gemm_bf16(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void rb_cuda_syrk_bf16(rb_backend *be, int trans, int N, int K, float alpha, const float *A, int lda,
                       float *C, int ldc);
/* the batch-invariant product of inference (cuda_rows.cu) */
void rb_cuda_gemm_rows(rb_backend *be, int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                       int accumulate, float *C, int ldc);
void rb_cuda_embedding_fwd(rb_backend *be, float *out, const int32_t *tokens, const float *table,
                           int N, int D);
void rb_cuda_embedding_bwd(rb_backend *be, float *dtable, const float *dout, const int32_t *tokens,
                           int N, int D);
void rb_cuda_rmsnorm_fwd(rb_backend *be, float *out, int ldo, float *rstd, const float *x, int ldx,
                         const float *w, int N, int D, float eps);
void rb_cuda_rmsnorm_bwd(rb_backend *be, float *dx, int lddx, float *dw, const float *dout,
                         int lddout, const float *x, int ldx, const float *w, const float *rstd,
                         int N, int D, int accumulate);
void rb_cuda_rope(rb_backend *be, float *x, int ld, const int32_t *pos, int N, int n_heads,
                  int head_dim, const float *cos_t, const float *sin_t, rb_rope_layout layout,
                  int inverse);
void rb_cuda_attention_fwd(rb_backend *be, float *out, float *lse, const float *qkv, int B, int T,
                           int H, int KV, int hd);
void rb_cuda_attention_bwd(rb_backend *be, float *dqkv, const float *dout, const float *qkv,
                           const float *out, const float *lse, int B, int T, int H, int KV, int hd);
void rb_cuda_attention_cached(rb_backend *be, float *out, const float *q, int ldq, const float *kc,
                              const float *vc, int n, int pos0, int H, int KV, int hd);
/* Raise the kernels' dynamic shared-memory limits once (at creation). */
void rb_cuda_attention_init(rb_cuda_ctx *c);
/* The tensor-core attention of bf16 mode (cuda_attention_mma.cu): whether
 * it takes head_dim hd on this device, its init, forward and backward (Dr:
 * the row dots rowsum(dO o O), [B, H, T]). */
int rb_cuda_att_mma_ok(const rb_cuda_ctx *c, int hd);
void rb_cuda_att_mma_init(rb_cuda_ctx *c);
void rb_cuda_att_fwd_mma(rb_cuda_ctx *c, float *out, float *lse, const float *qkv, int B, int T, int H, int KV,
                         int hd);
void rb_cuda_att_bwd_mma(rb_cuda_ctx *c, float *dqkv, const float *dout, const float *qkv, const float *lse,
                         const float *Dr, int B, int T, int H, int KV, int hd);
void rb_cuda_swiglu_fwd(rb_backend *be, float *act, const float *gu, int N, int F);
void rb_cuda_swiglu_bwd(rb_backend *be, float *dgu, const float *dact, const float *gu, int N, int F);
void rb_cuda_add(rb_backend *be, float *y, const float *a, const float *b, size_t n);
void rb_cuda_scale(rb_backend *be, float *x, float a, size_t n);
double rb_cuda_sumsq(rb_backend *be, const float *x, size_t n);
void rb_cuda_axpy(rb_backend *be, float *y, float a, const float *x, size_t n);
void rb_cuda_transpose(rb_backend *be, float *out, const float *in, int rows, int cols);
void rb_cuda_adamw(rb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                   float beta1, float beta2, float eps, float wd, float bc1, float bc2);
void rb_cuda_muon_momentum(rb_backend *be, float *M, float *U, const float *G, size_t n, float beta,
                           int nesterov);
void rb_cuda_cross_entropy(rb_backend *be, float *losses, float *dlogits, const float *logits,
                           const int32_t *targets, int N, int V, float grad_scale);

#endif
