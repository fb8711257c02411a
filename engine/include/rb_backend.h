/* rb_backend.h: the table of operations the model code is written against.
 *
 * Every tensor argument is a pointer into the backend's own memory (host
 * memory for the CPU backend, device memory for CUDA), float32, row-major,
 * densely packed unless a leading dimension says otherwise. Shapes are given
 * in comments as [rows, cols]; N is the number of token positions (B * T).
 *
 * Conventions:
 *  - Weight gradients ("+=") always accumulate, so a shared weight used by
 *    several iterations simply receives several contributions.
 *  - Activation gradients overwrite unless the op takes an accumulate flag.
 *  - Launch-style ops return nothing; failures (CUDA only) are reported by the
 *    next sync(). Memory ops and sync return a status.
 *  - Linear layers keep PyTorch's layout: W is [out_features, in_features],
 *    y = x W^T.
 */
#ifndef RB_BACKEND_H
#define RB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "rb_config.h"
#include "rb_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_backend rb_backend;

struct rb_backend {
    const char *name;
    void *ctx;
    /* How many host threads may call operations at once, each call then
     * running on its caller's thread (the CPU: its OpenMP threads); 1 when
     * only one caller is allowed. Work made of independent pieces (Muon's
     * matrices) is shared out this way instead of parallelising each op. */
    int concurrent_calls;

    /* ---- memory ---- */
    rb_status (*alloc)(rb_backend *be, void **ptr, size_t bytes, rb_error *err);
    void (*free)(rb_backend *be, void *ptr);
    rb_status (*upload)(rb_backend *be, void *dst, const void *src, size_t bytes, rb_error *err);
    rb_status (*download)(rb_backend *be, void *dst, const void *src, size_t bytes, rb_error *err);
    void (*copy)(rb_backend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(rb_backend *be, void *ptr, size_t bytes);
    /* dst[rows, cols] (row stride ldd) = src[rows, cols] (row stride lds), floats */
    void (*copy2d)(rb_backend *be, float *dst, int ldd, const float *src, int lds, int rows, int cols);
    rb_status (*sync)(rb_backend *be, rb_error *err);
    void (*destroy)(rb_backend *be);

    /* ---- dense linear algebra ----
     * C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [M,K],
     * op(B) is [K,N]; lda/ldb/ldc are row strides of the stored matrices. */
    void (*gemm)(rb_backend *be, int trans_a, int trans_b, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
    /* The same product at bf16 precision (Muon's Newton-Schulz): every
     * element of op(A) and op(B) is rounded to bfloat16 (nearest, ties to
     * even), products are summed in fp32. gemm_bf16_impl names how.
     * Unlike gemm, C may be the very matrix stored as A (trans_a 0) or B
     * (trans_b 0), same shape and stride: every backend reads all operands
     * before it writes C (Newton-Schulz's X <- a X + B X, in place). */
    void (*gemm_bf16)(rb_backend *be, int trans_a, int trans_b, int M, int N, int K,
                      float alpha, const float *A, int lda, const float *B, int ldb,
                      float beta, float *C, int ldc);
    const char *gemm_bf16_impl;
    /* C[N,N] = alpha * op(A) op(A)^T at gemm_bf16's precision, op(A) [N,K]
     * being A (trans 0, A stored [N,K]) or A^T (trans 1, A stored [K,N]);
     * both triangles are written and C is exactly symmetric (Newton-Schulz's
     * X X^T or X^T X, and A A for a symmetric A). */
    void (*syrk_bf16)(rb_backend *be, int trans, int N, int K, float alpha, const float *A,
                      int lda, float *C, int ldc);

    /* ---- batch-invariant product, for inference ----
     * C[M,N] = A[M,K] W[N,K]^T, or C += A W^T when accumulate (row strides
     * lda, ldw, ldc). Unlike gemm, every element of C must be bitwise a
     * function of its row of A, its row of W and K alone: the same whatever
     * M, the row's index among the M rows, the other rows and the thread
     * count. Inference runs every weight product through it, so a token's
     * logits do not depend on which other tokens share the call: batched
     * decoding gives the single-sequence path's tokens exactly, and a
     * prefill equals a token-by-token feed. The CPU computes each element as
     * eight lane sums (lane l takes k = l, l + 8, ... in order, fused
     * multiply-adds) reduced as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7))
     * (cpu_gemm_rows.c); another backend may use any order that is fixed
     * per element in that sense. NULL: inference uses gemm, and batched
     * results then equal single ones only up to rounding. */
    void (*gemm_rows)(rb_backend *be, int M, int N, int K, const float *A, int lda, const float *W,
                      int ldw, int accumulate, float *C, int ldc);

    /* ---- embedding ----
     * out[N,D] = table[tokens[n], :];   dtable[V,D] += scatter of dout */
    void (*embedding_fwd)(rb_backend *be, float *out, const int32_t *tokens,
                          const float *table, int N, int D);
    void (*embedding_bwd)(rb_backend *be, float *dtable, const float *dout,
                          const int32_t *tokens, int N, int D);

    /* ---- RMSNorm over N rows of width D (row strides ldo, ldx, ...) ----
     * out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps); rstd[N] may be NULL.
     * Backward: dx = (accumulate ? dx : 0) + d/dx; dw[D] += d/dw. dx may
     * alias dout. */
    void (*rmsnorm_fwd)(rb_backend *be, float *out, int ldo, float *rstd, const float *x, int ldx,
                        const float *w, int N, int D, float eps);
    void (*rmsnorm_bwd)(rb_backend *be, float *dx, int lddx, float *dw, const float *dout,
                        int lddout, const float *x, int ldx, const float *w, const float *rstd,
                        int N, int D, int accumulate);

    /* ---- rotary embedding, in place ----
     * x: N rows of n_heads * head_dim values at row stride ld; pos[N] the
     * position of each row; cos/sin: [max_seq, head_dim/2] tables.
     * inverse rotates by -angle (the backward of the forward rotation). */
    void (*rope)(rb_backend *be, float *x, int ld, const int32_t *pos, int N,
                 int n_heads, int head_dim, const float *cos_t, const float *sin_t,
                 rb_rope_layout layout, int inverse);

    /* ---- causal grouped-query attention over B sequences of length T ----
     * qkv[N, (H + 2 KV) * hd]: per row q heads, then k heads, then v heads.
     * out[N, H * hd]; lse[B, H, T] softmax log-sum-exp (kept for backward).
     * Scale 1/sqrt(hd). Backward writes dqkv[N, (H + 2 KV) * hd]. */
    void (*attention_fwd)(rb_backend *be, float *out, float *lse, const float *qkv,
                          int B, int T, int H, int KV, int hd);
    void (*attention_bwd)(rb_backend *be, float *dqkv, const float *dout,
                          const float *qkv, const float *out, const float *lse,
                          int B, int T, int H, int KV, int hd);

    /* ---- attention of n new query rows against a KV cache ----
     * q[n, H * hd] at row stride ldq (the q part of a qkv buffer); kc, vc:
     * [>= pos0 + n, KV * hd] cache rows of one (iteration, layer) slot, with
     * the new rows already written at pos0 .. pos0 + n - 1. New row t sees
     * cache rows 0 .. pos0 + t. out[n, H * hd].
     * Batch-invariant like gemm_rows: row t's output must be bitwise a
     * function of its q row, its position pos0 + t and cache rows
     * 0 .. pos0 + t alone, not of n or of how the rows were chunked. */
    void (*attention_cached)(rb_backend *be, float *out, const float *q, int ldq, const float *kc,
                             const float *vc, int n, int pos0, int H, int KV, int hd);

    /* ---- SwiGLU ----
     * gu[N, 2F] = [gate | up]; act[N, F] = silu(gate) * up.  dgu written. */
    void (*swiglu_fwd)(rb_backend *be, float *act, const float *gu, int N, int F);
    void (*swiglu_bwd)(rb_backend *be, float *dgu, const float *dact, const float *gu,
                       int N, int F);

    /* ---- elementwise ---- */
    void (*add)(rb_backend *be, float *y, const float *a, const float *b, size_t n); /* y = a + b */
    void (*scale)(rb_backend *be, float *x, float a, size_t n);                   /* x *= a */
    /* sum of squares of x[n], in double, returned to the host */
    double (*sumsq)(rb_backend *be, const float *x, size_t n);

    void (*axpy)(rb_backend *be, float *y, float a, const float *x, size_t n);     /* y += a x */
    /* out[cols, rows] = in[rows, cols]^T */
    void (*transpose)(rb_backend *be, float *out, const float *in, int rows, int cols);

    /* ---- optimizer updates (METHOD.md section 2) ----
     * AdamW (PyTorch semantics, decoupled decay):
     *   p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
     *   p -= lr (m / bc1) / (sqrt(v / bc2) + eps),  bc = 1 - beta^step. */
    void (*adamw)(rb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float wd, float bc1, float bc2);
    /* Muon momentum as the reference: M = beta M + (1-beta) G; then
     * U = (1-beta) G + beta M (nesterov) or U = M. */
    void (*muon_momentum)(rb_backend *be, float *M, float *U, const float *G, size_t n, float beta,
                          int nesterov);

    /* ---- fused softmax + cross-entropy over rows of V logits ----
     * losses[N] = logsumexp(row) - row[target] (0 where target < 0).
     * If dlogits is non-NULL it receives grad_scale * (softmax - onehot)
     * (zero rows where target < 0); it may alias logits. */
    void (*cross_entropy)(rb_backend *be, float *losses, float *dlogits,
                          const float *logits, const int32_t *targets, int N, int V,
                          float grad_scale);
};

/* The CPU reference backend (OpenBLAS + OpenMP); always available. */
rb_status rb_backend_cpu_create(rb_backend **out, rb_error *err);
/* How the CPU backend computes gemm_bf16 / syrk_bf16 (same numbers, up to
 * summation order): AMX tiles where the CPU and kernel allow them, else
 * SGEMM on rounded copies, chosen at creation; AVX512-BF16 dot products
 * only when asked for (on Intel cores they run no faster than SGEMM).
 * Asking for a kernel the CPU lacks fails with RB_EUNSUPPORTED. */
typedef enum {
    RB_CPU_BF16_SGEMM = 0,  /* SGEMM on bf16-rounded copies (any CPU) */
    RB_CPU_BF16_AVX512 = 1, /* VDPBF16PS (Cooper Lake, Sapphire Rapids, Zen 4 ...) */
    RB_CPU_BF16_AMX = 2     /* TDPBF16PS tiles (Sapphire Rapids and later) */
} rb_cpu_bf16_kernel;
rb_status rb_backend_cpu_set_bf16(rb_backend *be, rb_cpu_bf16_kernel k, rb_error *err);
int rb_backend_cpu_has_bf16(const rb_backend *be, rb_cpu_bf16_kernel k);

/* The CUDA backend (engine/cuda, built as the module librbcuda.so whenever
 * nvcc exists, and opened with dlopen only here, so a program that never
 * asks for a GPU needs no CUDA library). Precision of the model's GEMMs:
 *   RB_CUDA_FP32  fp32 products (cuBLAS SGEMM semantics, no TF32): the parity
 *                 mode, every op within 1e-5 of the CPU backend;
 *   RB_CUDA_TF32  fp32 storage, TF32 tensor-core products (10-bit mantissa);
 *   RB_CUDA_BF16  mixed precision: fp32 master weights, activations and
 *                 optimizer state; every gemm operand rounded to bf16 (nearest
 *                 even) and summed in fp32, i.e. gemm behaves as gemm_bf16.
 * Every other op computes in fp32 in all three (docs/cuda.md). */
/* Bumped whenever rb_backend or rb_cuda_options change shape: the engine
 * refuses a module built from other headers. */
#define RB_CUDA_MODULE_VERSION 1
typedef enum { RB_CUDA_FP32 = 0, RB_CUDA_TF32 = 1, RB_CUDA_BF16 = 2 } rb_cuda_precision;
typedef struct {
    int device;                  /* CUDA device index (0) */
    rb_cuda_precision precision; /* RB_CUDA_BF16 by default (rb_cuda_options_default) */
    const char *module_path;     /* librbcuda.so to open; NULL: $RB_CUDA_MODULE, else the
                                    executable's folder, the build folder, the loader's
                                    search path */
} rb_cuda_options;
void rb_cuda_options_default(rb_cuda_options *o);
/* "fp32", "tf32", "bf16" -> precision; -1 for anything else. */
int rb_cuda_precision_parse(const char *s);
const char *rb_cuda_precision_name(rb_cuda_precision p);
/* Fails with RB_EUNSUPPORTED (module absent, no driver, no device), naming
 * the reason and the fix. */
rb_status rb_backend_cuda_create(rb_backend **out, const rb_cuda_options *o, rb_error *err);
/* 1 when be is a CUDA backend (its memory is device memory); its name is
 * then "cuda:DEVICE (GPU name, precision)". */
int rb_backend_is_cuda(const rb_backend *be);

static inline void rb_backend_destroy(rb_backend *be)
{
    if (be && be->destroy) be->destroy(be);
}

#ifdef __cplusplus
}
#endif
#endif
