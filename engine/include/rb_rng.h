/* rb_rng.h: the engine's one random number generator.
 *
 * xoshiro256** seeded through splitmix64: fast, small state, and the same
 * stream on every platform, so a seed fixes a run on CPU and GPU alike
 * (values that need randomness are drawn on the host). */
#ifndef RB_RNG_H
#define RB_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t s[4];
} rb_rng;

void rb_rng_seed(rb_rng *r, uint64_t seed);
/* Seed from two integers (e.g. base seed and step) without correlation. */
void rb_rng_seed2(rb_rng *r, uint64_t seed, uint64_t stream);
uint64_t rb_rng_u64(rb_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rb_rng_uniform(rb_rng *r);
/* Standard normal (Box-Muller; no cached second value, so the stream
 * position depends only on the number of calls). */
double rb_rng_normal(rb_rng *r);
/* Normal(0, sigma) truncated to [-a sigma, a sigma] by rejection. */
double rb_rng_truncnormal(rb_rng *r, double sigma, double a);
/* Poisson(lambda), exact for any lambda >= 0 (inversion for small lambda,
 * Hormann's PTRS transformed rejection for large). */
uint64_t rb_rng_poisson(rb_rng *r, double lambda);

#ifdef __cplusplus
}
#endif
#endif
