/* cpu_swiglu.c: SwiGLU activation, act = silu(gate) * up, fused over the
 * [gate | up] output of one GEMM. */
#include "cpu_internal.h"

void rb_cpu_swiglu_fwd(rb_backend *be, float *act, const float *gu, int N, int F)
{
    /* gu[N, 2F] = [gate | up] -> act[N, F] */
#pragma omp parallel for schedule(static) if ((long)N * F > RB_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        float *a = act + (size_t)n * F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float sig = 1.0f / (1.0f + rb_expf(-g[i]));
            a[i] = g[i] * sig * u[i];
        }
    }
}

void rb_cpu_swiglu_bwd(rb_backend *be, float *dgu, const float *dact, const float *gu, int N, int F)
{
    /* d gate = dact * up * sig (1 + g (1 - sig)),  d up = dact * g sig.
     * dgu may alias gu (each element is read before it is written). */
#pragma omp parallel for schedule(static) if ((long)N * F > RB_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        const float *da = dact + (size_t)n * F;
        float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float gi = g[i], ui = u[i];
            float sig = 1.0f / (1.0f + rb_expf(-gi));
            float silu = gi * sig;
            dg[i] = da[i] * ui * sig * (1.0f + gi * (1.0f - sig));
            du[i] = da[i] * silu;
        }
    }
}
