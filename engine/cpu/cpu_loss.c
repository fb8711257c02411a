/* cpu_loss.c: fused softmax + cross-entropy (and its gradient) per row. */
#include <math.h>

#include "cpu_internal.h"

void rb_cpu_cross_entropy(rb_backend *be, float *losses, float *dlogits, const float *logits,
                          const int32_t *targets, int N, int V, float grad_scale)
{
    /* One pass for the max, one for sum(exp), one writing the gradient
     * (softmax - onehot) * grad_scale in place of the logits if asked. */
#pragma omp parallel for schedule(static) if ((long)N * V > RB_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *d = dlogits ? dlogits + (size_t)n * V : NULL;
        int t = targets[n];
        if (t < 0 || t >= V) {
            losses[n] = 0;
            if (d)
                for (int i = 0; i < V; i++) d[i] = 0;
            continue;
        }
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < V; i++) sum += rb_expf(x[i] - mx);
        float lse = mx + logf(sum);
        float xt = x[t];
        losses[n] = lse - xt;
        if (d) {
#pragma omp simd
            for (int i = 0; i < V; i++) d[i] = rb_expf(x[i] - lse) * grad_scale;
            d[t] -= grad_scale;
        }
    }
}
