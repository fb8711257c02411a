/* cpu_rope.c: rotary position embedding applied in place, both pairings. */
#include "cpu_internal.h"

void rb_cpu_rope(rb_backend *be, float *x, int ld, const int32_t *pos, int N, int n_heads,
                 int head_dim, const float *cos_t, const float *sin_t, rb_rope_layout layout,
                 int inverse)
{
    /* x: N rows, each n_heads vectors of head_dim at row stride ld.
     * A pair (a, b) at frequency i and angle t = pos * inv_freq[i] becomes
     * (a cos t - b sin t, a sin t + b cos t); inverse uses -t. */
    const int half = head_dim / 2;
    const float sgn = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) if ((long)N * n_heads * head_dim > RB_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *c = cos_t + (size_t)pos[n] * half;
        const float *s = sin_t + (size_t)pos[n] * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)n * ld + (size_t)h * head_dim;
            if (layout == RB_ROPE_HALF) {
#pragma omp simd
                for (int i = 0; i < half; i++) {
                    float a = v[i], b = v[i + half], si = sgn * s[i];
                    v[i] = a * c[i] - b * si;
                    v[i + half] = a * si + b * c[i];
                }
            } else {
                for (int i = 0; i < half; i++) {
                    float a = v[2 * i], b = v[2 * i + 1], si = sgn * s[i];
                    v[2 * i] = a * c[i] - b * si;
                    v[2 * i + 1] = a * si + b * c[i];
                }
            }
        }
    }
}
