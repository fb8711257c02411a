/* cuda_gemm.cu: the backend's GEMMs through cuBLAS (cublasGemmEx).
 *
 * Row-major C[M,N] = alpha op(A) op(B) + beta C is the column-major product
 * C^T = op(B)^T op(A)^T, so cuBLAS receives B first, with the same
 * transpose flags, and M and N swapped; leading dimensions are unchanged.
 *
 * Precisions (rb_cuda_precision):
 *  - fp32: CUBLAS_COMPUTE_32F_PEDANTIC, plain fp32 products, the parity mode;
 *  - tf32: CUBLAS_COMPUTE_32F_FAST_TF32, tensor cores on fp32 data;
 *  - bf16: the operands are rounded to bf16 (nearest even, one small kernel
 *    per operand into scratch) and multiplied with fp32 sums: exactly the
 *    gemm_bf16 contract, which Muon's Newton-Schulz uses in every mode.
 * Converting first also makes gemm_bf16 safe in place (C may be A or B):
 * the product reads only the converted copies, and C through beta.
 * syrk_bf16 is one such product of a matrix with itself, after which the
 * lower triangle is overwritten by the upper, so C is exactly symmetric. */
#include "cu_common.cuh"

/* dst[rows, cols] (dense bf16) = round(src[rows, cols] at row stride ld) */
__global__ void k_to_bf16(__nv_bfloat16 *dst, const float *src, int rows, int cols, int ld)
{
    const size_t n = (size_t)rows * cols;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / (size_t)cols, col = i % (size_t)cols;
        dst[i] = __float2bfloat16_rn(src[r * (size_t)ld + col]);
    }
}

/* C[r][c] = C[c][r] for r > c: the lower triangle copies the upper */
__global__ void k_mirror_upper(float *C, int N, int ldc)
{
    const size_t n = (size_t)N * N;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        int r = (int)(i / (size_t)N), col = (int)(i % (size_t)N);
        if (r > col) C[(size_t)r * ldc + col] = C[(size_t)col * ldc + r];
    }
}

/* C[M,N] = beta C (the product of an empty sum) */
__global__ void k_scale_2d(float *C, int M, int N, int ldc, float beta)
{
    const size_t n = (size_t)M * N;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float *p = C + (i / (size_t)N) * (size_t)ldc + i % (size_t)N;
        *p = beta == 0.0f ? 0.0f : beta * *p;
    }
}

static void gemm_ex(rb_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const void *A,
                    cudaDataType at, int lda, const void *B, cudaDataType bt, int ldb, float beta, float *C,
                    int ldc, cublasComputeType_t ct, const char *what)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        RB_LAUNCH(c, k_scale_2d, rb_cuda_blocks((size_t)M * N, 256), 256, 0, C, M, N, ldc, beta);
        return;
    }
    cublasStatus_t st = cublasGemmEx(c->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N,
                                     M, K, &alpha, B, bt, ldb, A, at, lda, &beta, C, CUDA_R_32F, ldc, ct,
                                     CUBLAS_GEMM_DEFAULT);
    rb_cuda_check_blas(c, st, what);
}

static size_t round256(size_t b) { return (b + 255) / 256 * 256; }

/* The bf16 product; A16 == B16 when both operands are the same matrix. */
static void gemm_rounded(rb_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc, const char *what)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        gemm_ex(c, ta, tb, M, N, K, alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, beta, C, ldc,
                CUBLAS_COMPUTE_32F_PEDANTIC, what);
        return;
    }
    /* stored shapes: A is [M,K] or [K,M], B is [K,N] or [N,K] */
    const int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    const int same = A == B && lda == ldb && ar == br && ac == bc;
    const size_t na = round256((size_t)ar * ac * 2), nb = same ? 0 : round256((size_t)br * bc * 2);
    unsigned char *s = (unsigned char *)rb_cuda_scratch(c, na + nb);
    if (!s) return;
    __nv_bfloat16 *A16 = (__nv_bfloat16 *)s, *B16 = same ? A16 : (__nv_bfloat16 *)(s + na);
    RB_LAUNCH(c, k_to_bf16, rb_cuda_blocks((size_t)ar * ac, 256), 256, 0, A16, A, ar, ac, lda);
    if (!same) RB_LAUNCH(c, k_to_bf16, rb_cuda_blocks((size_t)br * bc, 256), 256, 0, B16, B, br, bc, ldb);
    gemm_ex(c, ta, tb, M, N, K, alpha, A16, CUDA_R_16BF, ac, B16, CUDA_R_16BF, bc, beta, C, ldc,
            CUBLAS_COMPUTE_32F, what);
}

void rb_cuda_gemm(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (c->precision == RB_CUDA_BF16) {
        gemm_rounded(c, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, "gemm (bf16)");
        return;
    }
    gemm_ex(c, ta, tb, M, N, K, alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, beta, C, ldc,
            c->precision == RB_CUDA_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_PEDANTIC,
            c->precision == RB_CUDA_TF32 ? "gemm (tf32)" : "gemm (fp32)");
}

void rb_cuda_gemm_bf16(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    gemm_rounded(cuda_ctx(be), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, "gemm_bf16");
}

void rb_cuda_syrk_bf16(rb_backend *be, int trans, int N, int K, float alpha, const float *A, int lda,
                       float *C, int ldc)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (N <= 0) return;
    /* op(A) op(A)^T: A A^T (A stored [N,K]) or A^T A (A stored [K,N]) */
    gemm_rounded(c, trans ? 1 : 0, trans ? 0 : 1, N, N, K, alpha, A, lda, A, lda, 0.0f, C, ldc, "syrk_bf16");
    RB_LAUNCH(c, k_mirror_upper, rb_cuda_blocks((size_t)N * N, 256), 256, 0, C, N, ldc);
}
