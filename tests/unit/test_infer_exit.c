/* test_infer_exit.c: the KV cache when tokens run fewer iterations than
 * later ones (adaptive exit, or a shallower depth), METHOD.md section 3 and
 * Huginn: a token that stops at iteration i leaves its keys and values of
 * iteration i in every deeper iteration's slot, so that a later token
 * running deeper attends to it there.
 *
 * Reference: with the adapter set to [0 | I] every iteration's input is e,
 * so a token's keys and values are the same at every iteration, and the
 * copy into deeper slots must give exactly what the token would have
 * written had it run all the way. The logits of a token decoded at full
 * depth after an early-exited (or shallower) one must therefore equal the
 * batch forward's at full depth (which rb_forward computes without a cache
 * and test_ref_model_grads checks against PyTorch). Without the copy the
 * deeper slots hold zeros at that position and the logits differ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_infer.h"
#include "rb_model.h"
#include "rb_test.h"

#define DEPTH 4
#define T 12

static rb_backend *be;

static rb_model *make_model(void)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 41;
    c.dim = 32;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.hidden_dim = 40;
    c.max_seq_len = 64;
    c.n_prelude = 1;
    c.n_recur = 2;
    c.n_coda = 1;
    rb_model *m = NULL;
    rb_error err = {0};
    ck_assert_msg(rb_model_create(&m, &c, be, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_model_init_random(m, 17, 0.2f, &err) == RB_OK);
    /* adapter [0 | I]: x = e at every iteration */
    float *p = malloc(m->table.total * sizeof(float));
    ck_assert_ptr_nonnull(p);
    ck_assert(rb_model_get_params(m, p, &err) == RB_OK);
    int a = rb_param_table_find(&m->table, "model.adapter.weight");
    ck_assert_int_ge(a, 0);
    float *w = p + m->table.items[a].offset;
    const int h = c.dim;
    memset(w, 0, (size_t)h * 2 * h * sizeof(float));
    for (int r = 0; r < h; r++) w[(size_t)r * 2 * h + h + r] = 1.0f;
    ck_assert(rb_model_set_params(m, p, &err) == RB_OK);
    free(p);
    return m;
}

/* mode 0: the middle token exits after one iteration (adaptive exit);
 * mode 1: it is decoded at depth 2 of the session's 4 */
static void check(int mode)
{
    rb_error err = {0};
    rb_model *m = make_model();
    const int V = m->cfg.vocab_size, mid = T - 2;
    int32_t tok[T];
    for (int i = 0; i < T; i++) tok[i] = (int32_t)((i * 13 + 5) % V);

    rb_workspace *ws = NULL;
    ck_assert(rb_workspace_create(&ws, m, 1, T, 0, &err) == RB_OK);
    rb_step_opts so = {.n_nograd = DEPTH, .state_zero = 1};
    ck_assert_msg(rb_forward(m, ws, tok, NULL, &so, NULL, &err) == RB_OK, "%s", err.msg);
    float *ref = malloc(sizeof(float) * (size_t)T * V);
    ck_assert_ptr_nonnull(ref);
    ck_assert(be->download(be, ref, rb_workspace_logits(ws), sizeof(float) * (size_t)T * V, &err) == RB_OK);

    rb_session *s = NULL;
    ck_assert_msg(rb_session_create(&s, m, T, DEPTH, &err) == RB_OK, "%s", err.msg);
    float lg[64];
    int used = 0;
    rb_infer_opts o = {.depth = DEPTH, .state_zero = 1};
    ck_assert(rb_session_feed(s, tok, mid, &o, lg, &used, &err) == RB_OK);
    /* the middle token runs fewer iterations */
    rb_exit_rule ex = {RB_EXIT_REL_CHANGE, 1e9f, 0};
    rb_infer_opts shallow = o;
    if (mode == 0) shallow.exit = &ex;
    else shallow.depth = 2;
    ck_assert(rb_session_feed(s, tok + mid, 1, &shallow, lg, &used, &err) == RB_OK);
    ck_assert_int_eq(used, mode == 0 ? 1 : 2);
    double d_mid = rb_test_rel_max_diff(lg, ref + (size_t)mid * V, (size_t)V);
    /* the last token at full depth attends to it in the deeper slots */
    ck_assert(rb_session_feed(s, tok + mid + 1, 1, &o, lg, &used, &err) == RB_OK);
    ck_assert_int_eq(used, DEPTH);
    double d_last = rb_test_rel_max_diff(lg, ref + (size_t)(mid + 1) * V, (size_t)V);
    printf("%s: the token after it, at depth %d, vs the batch forward: rel %.2e (the shallow "
           "token itself: %.2e)\n", mode == 0 ? "exit after 1 iteration" : "decoded at depth 2",
           DEPTH, d_last, d_mid);
    ck_assert_msg(d_mid < 1e-5, "the shallow token's logits differ by %.3e", d_mid);
    ck_assert_msg(d_last < 1e-5, "a token decoded at depth %d after a shallower one differs from the "
                  "batch forward by %.3e: the deeper KV slots lack the shallow token's keys and values",
                  DEPTH, d_last);
    free(ref);
    rb_session_destroy(s);
    rb_workspace_destroy(ws);
    rb_model_destroy(m);
}

START_TEST(exit_fills_deeper_slots) { check(_i); }
END_TEST

int main(void)
{
    be = rb_test_cpu_backend();
    Suite *s = suite_create("infer_exit");
    TCase *tc = tcase_create("cache");
    tcase_add_loop_test(tc, exit_fills_deeper_slots, 0, 2);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
