/* flops.c: training FLOPs per token for the compute-matched comparisons of
 * the retrofitting paper (METHOD.md section 3). */
#include "rb_sched.h"

double rb_flops_per_token_sampled(size_t prelude, size_t core, size_t coda, int n, int k)
{
    /* Forward + backward (6 FLOPs per parameter) for the parts that get
     * gradient; forward only (2 per parameter) for the no-grad iterations. */
    return 6.0 * ((double)prelude + (double)k * (double)core + (double)coda) +
           2.0 * (double)n * (double)core;
}

double rb_flops_per_token_scheduled(size_t prelude, size_t core, size_t coda, int rbar,
                                    int backprop_depth)
{
    int n = rbar > backprop_depth ? rbar - backprop_depth : 0;
    int k = rbar < backprop_depth ? rbar : backprop_depth;
    return rb_flops_per_token_sampled(prelude, core, coda, n, k);
}

double rb_flops_per_token_static(size_t non_embedding_params)
{
    return 6.0 * (double)non_embedding_params;
}

double rb_flops_schedule_total(size_t prelude, size_t core, size_t coda, int backprop_depth,
                               const rb_curriculum *c, int64_t total_steps,
                               double tokens_per_step)
{
    double sum = 0.0;
    for (int64_t step = 0; step < total_steps; step++) {
        int rbar = rb_curriculum_value(c, step, total_steps);
        sum += rb_flops_per_token_scheduled(prelude, core, coda, rbar, backprop_depth);
    }
    return sum * tokens_per_step;
}
