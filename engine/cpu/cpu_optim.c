/* cpu_optim.c: elementwise parts of the optimizers (AdamW update, Muon
 * momentum); Muon's Newton-Schulz iteration is GEMMs in engine/train. */
#include <math.h>

#include "cpu_internal.h"

void rb_cpu_adamw(rb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float wd, float bc1, float bc2)
{
    const float decay = 1.0f - lr * wd, step = lr / bc1, rbc2 = 1.0f / sqrtf(bc2);
#pragma omp parallel for simd schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

void rb_cpu_muon_momentum(rb_backend *be, float *M, float *U, const float *G, size_t n, float beta,
                          int nesterov)
{
#pragma omp parallel for simd schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) {
        float mi = beta * M[i] + (1.0f - beta) * G[i];
        M[i] = mi;
        U[i] = nesterov ? (1.0f - beta) * G[i] + beta * mi : mi;
    }
}
