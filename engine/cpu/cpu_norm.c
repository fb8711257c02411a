/* cpu_norm.c: RMSNorm forward and backward over rows of width D. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "cpu_internal.h"

void rb_cpu_rmsnorm_fwd(rb_backend *be, float *out, int ldo, float *rstd, const float *x, int ldx,
                        const float *w, int N, int D, float eps)
{
    /* out[N, D] = x * r * w,  r = 1 / sqrt(mean(x^2) + eps) */
#pragma omp parallel for schedule(static) if ((long)N * D > RB_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * ldx;
        float *o = out + (size_t)n * ldo;
        float ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
        float r = 1.0f / sqrtf(ss / (float)D + eps);
        if (rstd) rstd[n] = r;
#pragma omp simd
        for (int i = 0; i < D; i++) o[i] = xr[i] * r * w[i];
    }
}

void rb_cpu_rmsnorm_bwd(rb_backend *be, float *dx, int lddx, float *dw, const float *dout,
                        int lddout, const float *x, int ldx, const float *w, const float *rstd,
                        int N, int D, int accumulate)
{
    /* With xh = x r and g = dout * w:
     *   dx = r (g - xh mean(g xh)),   dw += sum_n dout * xh.
     * dw is reduced through per-thread partial rows, combined in thread
     * order, so the result does not depend on scheduling. */
    if (rb_cpu_reserve(be, (size_t)D) != 0) return; /* reported by sync() */
    int used = 1;
#pragma omp parallel if ((long)N * D > RB_PAR_MIN)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#pragma omp single
        used = nth;
        float *part = rb_cpu_scratch(be, tid);
        memset(part, 0, (size_t)D * sizeof(float));
        int chunk = (N + nth - 1) / nth;
        int n0 = tid * chunk, n1 = n0 + chunk < N ? n0 + chunk : N;
        for (int n = n0; n < n1; n++) {
            const float *xr = x + (size_t)n * ldx;
            const float *dy = dout + (size_t)n * lddout;
            float *dxr = dx + (size_t)n * lddx;
            float r = rstd[n];
            float dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int i = 0; i < D; i++) dot += dy[i] * w[i] * xr[i];
            float m = dot * r * r / (float)D; /* mean(g xh) / r */
            /* dw's partial sum reads dout before dx (which may alias it) is written */
            if (accumulate) {
#pragma omp simd
                for (int i = 0; i < D; i++) {
                    float dyi = dy[i];
                    part[i] += dyi * xr[i] * r;
                    dxr[i] += r * (dyi * w[i] - xr[i] * m);
                }
            } else {
#pragma omp simd
                for (int i = 0; i < D; i++) {
                    float dyi = dy[i];
                    part[i] += dyi * xr[i] * r;
                    dxr[i] = r * (dyi * w[i] - xr[i] * m);
                }
            }
        }
    }
    for (int t = 0; t < used; t++) {
        const float *part = rb_cpu_scratch(be, t);
        for (int i = 0; i < D; i++) dw[i] += part[i];
    }
}
