/* sample.c: choosing the next token from logits: greedy, temperature,
 * top-k and nucleus (top-p), from a seeded generator. */
#include <math.h>
#include <stdlib.h>

#include "rb_infer.h"

int32_t rb_argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef struct {
    float p;
    int32_t id;
} prob_id;

static int by_prob_desc(const void *a, const void *b)
{
    float pa = ((const prob_id *)a)->p, pb = ((const prob_id *)b)->p;
    if (pa != pb) return pa < pb ? 1 : -1;
    return ((const prob_id *)a)->id - ((const prob_id *)b)->id; /* ties: lower id first */
}

int32_t rb_sample(const float *logits, int V, const rb_sample_opts *o, rb_rng *rng, float *scratch)
{
    if (!o || o->temperature <= 0) return rb_argmax(logits, V);
    prob_id *pi = (prob_id *)scratch; /* 2 * V floats hold V (float, int32) pairs */
    float mx = logits[rb_argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        float e = expf((logits[i] - mx) / o->temperature);
        pi[i].p = e;
        pi[i].id = i;
        sum += e;
    }
    int n = V;
    int truncate = (o->top_k > 0 && o->top_k < V) || (o->top_p > 0 && o->top_p < 1);
    if (truncate) {
        qsort(pi, (size_t)V, sizeof *pi, by_prob_desc);
        if (o->top_k > 0 && o->top_k < n) n = o->top_k;
        double kept = 0;
        for (int i = 0; i < n; i++) kept += pi[i].p;
        if (o->top_p > 0 && o->top_p < 1) {
            double acc = 0;
            for (int i = 0; i < n; i++) {
                acc += pi[i].p;
                if (acc >= o->top_p * kept) {
                    n = i + 1;
                    break;
                }
            }
        }
        sum = 0;
        for (int i = 0; i < n; i++) sum += pi[i].p;
    }
    double u = rb_rng_uniform(rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += pi[i].p;
        if (u < acc) return pi[i].id;
    }
    return pi[n - 1].id;
}
