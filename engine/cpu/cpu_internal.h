/* cpu_internal.h: shared pieces of the CPU backend's kernels. */
#ifndef RB_CPU_INTERNAL_H
#define RB_CPU_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "rb_backend.h"

/* Host threads that may call the backend at once (concurrent_calls). */
#define RB_CPU_MAX_CALLERS 64

/* Per-thread scratch, grown on demand and kept for the backend's life, so
 * that kernels like attention never allocate in the steady state. */
typedef struct {
    int n_threads;
    float **buf;    /* [n_threads] */
    size_t *cap;    /* floats per thread */
    int failed;     /* sticky: a kernel could not get scratch; sync() reports it */
    size_t failed_bytes;
    int has_bf16[3]; /* per rb_cpu_bf16_kernel: usable here (probed once at creation) */
    int bf16_kernel; /* the rb_cpu_bf16_kernel gemm_bf16 / syrk_bf16 use */
    void *bf16_buf[RB_CPU_MAX_CALLERS]; /* gemm_bf16's packed operands per calling thread */
    size_t bf16_cap[RB_CPU_MAX_CALLERS];
} rb_cpu_ctx;

/* gemm_bf16's operand buffer of at least `bytes` for the calling thread
 * (its OpenMP thread number: concurrent callers each have their own);
 * NULL on allocation failure, which is recorded for the next sync(). */
void *rb_cpu_bf16_buffer(rb_backend *be, size_t bytes);
/* 1 when AVX512-BF16 instructions can be used here. */
int rb_cpu_avx512bf16_probe(void);
/* 1 when AMX-BF16 tiles can be used here (asks the kernel for permission). */
int rb_cpu_amx_probe(void);

/* Make every thread's scratch at least n floats (call outside parallel
 * regions, then fetch inside with rb_cpu_scratch). On allocation failure it
 * returns -1 and records the failure for the next sync(); the kernel must
 * then return without touching its outputs. */
int rb_cpu_reserve(rb_backend *be, size_t n_per_thread);
float *rb_cpu_scratch(rb_backend *be, int tid);
/* For an op called concurrently from an outer parallel region
 * (concurrent_calls): the calling thread's own scratch of at least n
 * floats, grown if needed; NULL (recorded for sync) on failure. */
float *rb_cpu_scratch_mine(rb_backend *be, size_t n);
int rb_cpu_threads(rb_backend *be);

/* exp for float that GCC vectorises: range reduction by ln 2 in two parts
 * and a degree-7 Taylor polynomial on [-ln2/2, ln2/2] (relative error about
 * 2e-9 before rounding, i.e. within 1-2 ulp of expf). Inputs below -87.3
 * return 0, matching expf's underflow for softmax use. */
static inline float rb_expf(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;     /* ln 2 with trailing zeros */
    const float ln2_lo = 1.428606765330187e-06f; /* ln 2 - ln2_hi */
    const float shifter = 12582912.0f;           /* 1.5 * 2^23: rounds to an integer in the mantissa */
    int under = x < -87.3f;
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    /* k = round(x / ln 2) without a float->int cast (NaN stays harmless) */
    union { float f; uint32_t u; } t;
    t.f = __builtin_fmaf(x, log2e, shifter);
    uint32_t kbits = t.u - 0x4B400000u; /* k as two's complement in the low bits */
    float kf = t.f - shifter;
    float r = __builtin_fmaf(-kf, ln2_hi, x);
    r = __builtin_fmaf(-kf, ln2_lo, r);
    float p = 1.0f / 5040.0f;
    p = __builtin_fmaf(p, r, 1.0f / 720.0f);
    p = __builtin_fmaf(p, r, 1.0f / 120.0f);
    p = __builtin_fmaf(p, r, 1.0f / 24.0f);
    p = __builtin_fmaf(p, r, 1.0f / 6.0f);
    p = __builtin_fmaf(p, r, 0.5f);
    p = __builtin_fmaf(p, r, 1.0f);
    p = __builtin_fmaf(p, r, 1.0f);
    union { uint32_t u; float f; } two_k;
    two_k.u = (kbits + 127u) << 23; /* 2^k, k in [-126, 127] after the clamp */
    float y = p * two_k.f;
    return under ? 0.0f : y;
}

/* Parallel regions only pay off above some work: below this many elements
 * (or multiply-adds) a kernel runs on the calling thread, which keeps
 * single-token decoding free of fork/join and barrier costs. */
#define RB_PAR_MIN 32768L

/* kernels (one file each) */
void rb_cpu_gemm(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);
void rb_cpu_gemm_bf16(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void rb_cpu_syrk_bf16(rb_backend *be, int trans, int N, int K, float alpha, const float *A, int lda,
                      float *C, int ldc);
void rb_cpu_embedding_fwd(rb_backend *be, float *out, const int32_t *tokens, const float *table,
                          int N, int D);
void rb_cpu_embedding_bwd(rb_backend *be, float *dtable, const float *dout, const int32_t *tokens,
                          int N, int D);
void rb_cpu_rmsnorm_fwd(rb_backend *be, float *out, int ldo, float *rstd, const float *x, int ldx,
                        const float *w, int N, int D, float eps);
void rb_cpu_rmsnorm_bwd(rb_backend *be, float *dx, int lddx, float *dw, const float *dout,
                        int lddout, const float *x, int ldx, const float *w, const float *rstd,
                        int N, int D, int accumulate);
void rb_cpu_rope(rb_backend *be, float *x, int ld, const int32_t *pos, int N, int n_heads,
                 int head_dim, const float *cos_t, const float *sin_t, rb_rope_layout layout,
                 int inverse);
void rb_cpu_attention_fwd(rb_backend *be, float *out, float *lse, const float *qkv, int B, int T,
                          int H, int KV, int hd);
void rb_cpu_attention_bwd(rb_backend *be, float *dqkv, const float *dout, const float *qkv,
                          const float *out, const float *lse, int B, int T, int H, int KV, int hd);
/* Batch-invariant C[M,N] = A[M,K] W[N,K]^T (+ C when accumulate): see
 * cpu_gemm_rows.c for the fixed per-element operation sequence. _serial
 * runs on the calling thread; dot_rows_ref is that sequence written
 * plainly (the definition, for tests). */
void rb_cpu_gemm_rows(rb_backend *be, int M, int N, int K, const float *A, int lda, const float *W,
                      int ldw, int accumulate, float *C, int ldc);
void rb_cpu_gemm_rows_serial(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                             int accumulate, float *C, int ldc);
float rb_cpu_dot_rows_ref(const float *a, const float *w, int K);
void rb_cpu_attention_cached(rb_backend *be, float *out, const float *q, int ldq, const float *kc,
                             const float *vc, int n, int pos0, int H, int KV, int hd);
void rb_cpu_copy2d(rb_backend *be, float *dst, int ldd, const float *src, int lds, int rows, int cols);
void rb_cpu_swiglu_fwd(rb_backend *be, float *act, const float *gu, int N, int F);
void rb_cpu_swiglu_bwd(rb_backend *be, float *dgu, const float *dact, const float *gu, int N, int F);
void rb_cpu_add(rb_backend *be, float *y, const float *a, const float *b, size_t n);
void rb_cpu_scale(rb_backend *be, float *x, float a, size_t n);
double rb_cpu_sumsq(rb_backend *be, const float *x, size_t n);
void rb_cpu_axpy(rb_backend *be, float *y, float a, const float *x, size_t n);
void rb_cpu_transpose(rb_backend *be, float *out, const float *in, int rows, int cols);
void rb_cpu_adamw(rb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float wd, float bc1, float bc2);
void rb_cpu_muon_momentum(rb_backend *be, float *M, float *U, const float *G, size_t n, float beta,
                          int nesterov);
void rb_cpu_cross_entropy(rb_backend *be, float *losses, float *dlogits, const float *logits,
                          const int32_t *targets, int N, int V, float grad_scale);

#endif
