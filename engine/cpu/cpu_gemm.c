/* cpu_gemm.c: row-major GEMM through OpenBLAS.
 *
 * Inside an OpenMP parallel region (attention calls GEMM per head) the
 * OpenMP build of OpenBLAS runs single-threaded, so nesting is safe. */
#include <cblas.h>

#include "cpu_internal.h"

void rb_cpu_gemm(rb_backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        /* OpenBLAS requires K >= 1; C = beta C is the defined result. */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
        return;
    }
    if (M == 1 && !ta) {
        /* one row (decoding): matrix-vector, C[1,N] = alpha A[1,K] op(B) + beta C */
        if (tb) cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, 1, beta, C, 1);
        else cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, 1, beta, C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}
