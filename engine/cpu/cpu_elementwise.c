/* cpu_elementwise.c: embedding lookup and its scatter-add, vector add,
 * scale and sum of squares. */
#include <omp.h>
#include <string.h>

#include "cpu_internal.h"

void rb_cpu_embedding_fwd(rb_backend *be, float *out, const int32_t *tokens, const float *table,
                          int N, int D)
{
    /* out[N, D] = table[tokens[n], :] */
#pragma omp parallel for schedule(static) if ((long)N * D > RB_PAR_MIN)
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * D, table + (size_t)tokens[n] * D, (size_t)D * sizeof(float));
}

void rb_cpu_embedding_bwd(rb_backend *be, float *dtable, const float *dout, const int32_t *tokens,
                          int N, int D)
{
    /* dtable[tokens[n], :] += dout[n, :]. Each thread owns a column range, so
     * rows that share a token never race and the summation order (n
     * ascending) is the same for any thread count. */
#pragma omp parallel if ((long)N * D > RB_PAR_MIN)
    {
        int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        int chunk = (D + nt - 1) / nt;
        int c0 = tid * chunk, c1 = c0 + chunk < D ? c0 + chunk : D;
        for (int n = 0; n < N && c0 < c1; n++) {
            float *dst = dtable + (size_t)tokens[n] * D;
            const float *src = dout + (size_t)n * D;
#pragma omp simd
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

void rb_cpu_add(rb_backend *be, float *y, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void rb_cpu_scale(rb_backend *be, float *x, float a, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

double rb_cpu_sumsq(rb_backend *be, const float *x, size_t n)
{
    /* Blocks of 4096 summed in float (vectorised), blocks combined in
     * double: accurate and fast, and the same result for any thread count
     * because each block's sum does not depend on the split. */
    const size_t blk = 4096;
    size_t nb = (n + blk - 1) / blk;
    double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (n > 65536)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * blk, i1 = i0 + blk < n ? i0 + blk : n;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t i = i0; i < i1; i++) s += x[i] * x[i];
        total += s;
    }
    return total;
}

void rb_cpu_axpy(rb_backend *be, float *y, float a, const float *x, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

void rb_cpu_transpose(rb_backend *be, float *out, const float *in, int rows, int cols)
{
    /* 32 x 32 tiles keep both sides in cache */
    const int B = 32;
#pragma omp parallel for collapse(2) schedule(static) if ((long)rows * cols > 65536)
    for (int i0 = 0; i0 < rows; i0 += B)
        for (int j0 = 0; j0 < cols; j0 += B) {
            int i1 = i0 + B < rows ? i0 + B : rows, j1 = j0 + B < cols ? j0 + B : cols;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++) out[(size_t)j * rows + i] = in[(size_t)i * cols + j];
        }
}

void rb_cpu_copy2d(rb_backend *be, float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
#pragma omp parallel for schedule(static) if ((long)rows * cols > 65536)
    for (int r = 0; r < rows; r++)
        memcpy(dst + (size_t)r * ldd, src + (size_t)r * lds, (size_t)cols * sizeof(float));
}
