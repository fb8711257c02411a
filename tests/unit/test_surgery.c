/* test_surgery.c: rb_surgery against METHOD.md section 1.
 *   - the default rule reproduces the paper's layer table: (4,8,4) of 22
 *     layers is 0-3 | 10-17 | 18-21, (4,6,4) of 16 is 0-3 | 6-11 | 12-15,
 *     (2,4,2) of 16 is 0-1 | 10-13 | 14-15; every copied tensor holds its
 *     source layer's weights;
 *   - the result is always untied: a tied base gives an LM head that is a
 *     copy of its embedding;
 *   - the adapter (Linear 2h -> h) is nn.Linear's default, uniform in
 *     +-1/sqrt(2h): bounded by it, reaching it, with the uniform's mean and
 *     standard deviation (bound / sqrt(3), within 3%, ~4 standard errors);
 *   - the identity option is [0 | I]: the adapter's output is e. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_model.h"
#include "rb_rng.h"
#include "rb_surgery.h"
#include "rb_test.h"

#define H 64

static void base_config(rb_config *c, int layers, int tied, int dim)
{
    rb_config_defaults(c);
    c->vocab_size = 11;
    c->dim = dim;
    c->n_heads = 4;
    c->n_kv_heads = 2;
    c->hidden_dim = 16;
    c->max_seq_len = 16;
    c->n_prelude = layers;
    c->tied_head = tied;
    rb_error err = {0};
    ck_assert_msg(rb_config_finalize(c, &err) == RB_OK, "%s", err.msg);
}

/* Base weights: every element of layer l's tensors is l + 1; the rest random. */
static float *base_params(const rb_config *c, rb_param_table *t)
{
    rb_error err = {0};
    ck_assert(rb_param_table_build(t, c, &err) == RB_OK);
    float *p = malloc(t->total * sizeof(float));
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < t->count; i++) {
        const rb_param *q = &t->items[i];
        if (q->layer >= 0)
            for (size_t j = 0; j < q->numel; j++) p[q->offset + j] = (float)(q->layer + 1);
        else
            rb_test_fill_uniform(p + q->offset, q->numel, 1.0f, 40 + (uint64_t)i);
    }
    return p;
}

static void check_layout(int L, int P, int R, int C, const int *want)
{
    rb_config bc, rc;
    rb_param_table bt, rt;
    base_config(&bc, L, 0, 16);
    float *bp = base_params(&bc, &bt);
    rb_surgery_spec sp = {.n_prelude = P, .n_recur = R, .n_coda = C, .seed = 1};
    float *rp = NULL;
    rb_retrofit_plan plan;
    rb_error err = {0};
    ck_assert_msg(rb_surgery(&bc, bp, &sp, &rc, &rp, &plan, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(rc.n_prelude, P);
    ck_assert_int_eq(rc.n_recur, R);
    ck_assert_int_eq(rc.n_coda, C);
    ck_assert_int_eq(plan.n_blocks, P + R + C);
    for (int b = 0; b < P + R + C; b++)
        ck_assert_msg(plan.src_layer[b] == want[b], "(%d,%d,%d) of %d layers: block %d comes from "
                      "layer %d; METHOD.md's table says %d", P, R, C, L, b, plan.src_layer[b], want[b]);
    ck_assert(rb_param_table_build(&rt, &rc, &err) == RB_OK);
    for (int i = 0; i < rt.count; i++) {
        const rb_param *q = &rt.items[i];
        if (q->layer < 0) continue;
        for (size_t j = 0; j < q->numel; j++)
            ck_assert_msg(rp[q->offset + j] == (float)(want[q->layer] + 1),
                          "%s holds layer %g's weights, not layer %d's", q->name,
                          (double)rp[q->offset + j] - 1, want[q->layer]);
    }
    printf("(%d,%d,%d) of %d layers: blocks from layers", P, R, C, L);
    for (int b = 0; b < P + R + C; b++) printf(" %d", plan.src_layer[b]);
    printf("\n");
    rb_param_table_free(&bt);
    rb_param_table_free(&rt);
    rb_retrofit_plan_free(&plan);
    free(bp);
    free(rp);
}

START_TEST(default_rule_is_the_paper_table)
{
    /* METHOD.md section 1: TinyLlama-1.1B, Llama-3.2-1B / OLMo-2-1B, the ablation */
    const int tiny[16] = {0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
    const int llama[14] = {0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const int ablation[8] = {0, 1, 10, 11, 12, 13, 14, 15};
    check_layout(22, 4, 8, 4, tiny);
    check_layout(16, 4, 6, 4, llama);
    check_layout(16, 2, 4, 2, ablation);
}
END_TEST

/* the adapter tensor of a (1,1,1) surgery of a 3-layer base, and the result */
static float *adapter_of(rb_adapter_init init, int tied, rb_config *rc, float **rp, rb_param_table *rt,
                         float **bp, rb_param_table *bt)
{
    rb_config bc;
    base_config(&bc, 3, tied, H);
    *bp = base_params(&bc, bt);
    rb_surgery_spec sp = {.n_prelude = 1, .n_recur = 1, .n_coda = 1, .adapter_init = init, .seed = 77};
    rb_retrofit_plan plan;
    rb_error err = {0};
    ck_assert_msg(rb_surgery(&bc, *bp, &sp, rc, rp, &plan, &err) == RB_OK, "%s", err.msg);
    rb_retrofit_plan_free(&plan);
    ck_assert(rb_param_table_build(rt, rc, &err) == RB_OK);
    int a = rb_param_table_find(rt, "model.adapter.weight");
    ck_assert_int_ge(a, 0);
    ck_assert(rt->items[a].rows == H && rt->items[a].cols == 2 * H);
    return *rp + rt->items[a].offset;
}

START_TEST(tied_base_gives_untied_copy)
{
    rb_config rc;
    rb_param_table rt, bt;
    float *rp, *bp;
    adapter_of(RB_ADAPTER_UNIFORM, 1, &rc, &rp, &rt, &bp, &bt);
    ck_assert_msg(rc.tied_head == 0, "the retrofitted model of a tied base is tied (METHOD.md: untied)");
    int h = rb_param_table_find(&rt, "lm_head.weight");
    int e = rb_param_table_find(&bt, "model.embed_tokens.weight");
    ck_assert_int_ge(h, 0);
    ck_assert_int_ge(e, 0);
    ck_assert(rt.items[h].numel == bt.items[e].numel);
    ck_assert_msg(memcmp(rp + rt.items[h].offset, bp + bt.items[e].offset,
                         bt.items[e].numel * sizeof(float)) == 0,
                  "the untied LM head is not a copy of the base embedding");
    rb_param_table_free(&rt);
    rb_param_table_free(&bt);
    free(rp);
    free(bp);
}
END_TEST

START_TEST(adapter_default_init_is_nn_linear)
{
    rb_config rc;
    rb_param_table rt, bt;
    float *rp, *bp;
    const float *w = adapter_of(RB_ADAPTER_UNIFORM, 0, &rc, &rp, &rt, &bp, &bt);
    const size_t n = (size_t)H * 2 * H;
    const double bound = 1.0 / sqrt(2.0 * H); /* nn.Linear(2h, h): U(+-1/sqrt(fan_in)) */
    double sum = 0, ss = 0, mx = 0;
    for (size_t j = 0; j < n; j++) {
        sum += w[j];
        ss += (double)w[j] * w[j];
        mx = fmax(mx, fabs((double)w[j]));
    }
    const double mean = sum / (double)n, std = sqrt(ss / (double)n - mean * mean);
    printf("adapter init: max |w| %.5f, std %.5f, mean %.1e; U(+-1/sqrt(2h)): bound %.5f, std %.5f\n",
           mx, std, mean, bound, bound / sqrt(3.0));
    ck_assert_msg(mx <= bound * (1 + 1e-6) && mx >= 0.99 * bound,
                  "adapter init reaches %.5f; nn.Linear's default reaches 1/sqrt(2h) = %.5f", mx, bound);
    ck_assert_msg(fabs(std / (bound / sqrt(3.0)) - 1.0) <= 0.03,
                  "adapter init has std %.5f; U(+-1/sqrt(2h)) has %.5f", std, bound / sqrt(3.0));
    ck_assert_msg(fabs(mean) <= 5.0 * bound / sqrt(3.0 * n), "adapter init has mean %.3e", mean);
    rb_param_table_free(&rt);
    rb_param_table_free(&bt);
    free(rp);
    free(bp);
}
END_TEST

START_TEST(adapter_identity_init_passes_e)
{
    rb_config rc;
    rb_param_table rt, bt;
    float *rp, *bp;
    const float *w = adapter_of(RB_ADAPTER_IDENTITY, 0, &rc, &rp, &rt, &bp, &bt);
    /* x = W [s; e] for random s, e must be e */
    float s[H], e[H];
    rb_test_fill_uniform(s, H, 1.0f, 5);
    rb_test_fill_uniform(e, H, 1.0f, 6);
    for (int r = 0; r < H; r++) {
        double x = 0;
        for (int j = 0; j < H; j++) x += (double)w[(size_t)r * 2 * H + j] * s[j];
        for (int j = 0; j < H; j++) x += (double)w[(size_t)r * 2 * H + H + j] * e[j];
        ck_assert_msg(x == (double)e[r], "identity-like adapter: output %d is %g, not e = %g", r, x,
                      (double)e[r]);
    }
    rb_param_table_free(&rt);
    rb_param_table_free(&bt);
    free(rp);
    free(bp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("surgery");
    TCase *tc = tcase_create("method");
    tcase_add_test(tc, default_rule_is_the_paper_table);
    tcase_add_test(tc, tied_base_gives_untied_copy);
    tcase_add_test(tc, adapter_default_init_is_nn_linear);
    tcase_add_test(tc, adapter_identity_init_passes_e);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
