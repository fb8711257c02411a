/* rng.c: xoshiro256** with splitmix64 seeding; normal, truncated normal and
 * Poisson variates (see rb_rng.h). */
#include "rb_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rb_rng_seed(rb_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

void rb_rng_seed2(rb_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t a = splitmix64(&x);
    uint64_t y = stream ^ 0xD1B54A32D192ED03ull;
    uint64_t b = splitmix64(&y);
    rb_rng_seed(r, a ^ (b * 0x2545F4914F6CDD1Dull));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rb_rng_u64(rb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rb_rng_uniform(rb_rng *r)
{
    return (double)(rb_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

double rb_rng_normal(rb_rng *r)
{
    double u1;
    do {
        u1 = rb_rng_uniform(r);
    } while (u1 <= 0.0);
    double u2 = rb_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double rb_rng_truncnormal(rb_rng *r, double sigma, double a)
{
    for (;;) {
        double z = rb_rng_normal(r);
        if (fabs(z) <= a) return z * sigma;
    }
}

/* PTRS: W. Hormann, "The transformed rejection method for generating Poisson
 * random variables" (1993), valid for lambda >= 10. */
static uint64_t poisson_ptrs(rb_rng *r, double lam)
{
    double slam = sqrt(lam);
    double loglam = log(lam);
    double b = 0.931 + 2.53 * slam;
    double a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4);
    double vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double U = rb_rng_uniform(r) - 0.5;
        double V = rb_rng_uniform(r);
        double us = 0.5 - fabs(U);
        double k = floor((2 * a / us + b) * U + lam + 0.43);
        if (us >= 0.07 && V <= vr) return (uint64_t)k;
        if (k < 0 || (us < 0.013 && V > us)) continue;
        if (log(V) + log(invalpha) - log(a / (us * us) + b) <= -lam + k * loglam - lgamma(k + 1))
            return (uint64_t)k;
    }
}

uint64_t rb_rng_poisson(rb_rng *r, double lambda)
{
    if (!(lambda > 0)) return 0;
    if (lambda >= 10.0) return poisson_ptrs(r, lambda);
    /* inversion by sequential search */
    double p = exp(-lambda), F = p, u = rb_rng_uniform(r);
    uint64_t k = 0;
    while (u > F && k < 1000) {
        k++;
        p *= lambda / (double)k;
        F += p;
    }
    return k;
}
