/* test_infer.c: cached inference (rb_session) against the batch forward.
 *
 * The batch forward (rb_forward, scoring mode) is itself checked against
 * PyTorch; here the KV-cache path must reproduce its logits for every
 * position, whether the prompt is fed at once, in chunks, or one token at
 * a time, at several depths; plus the trace, adaptive exit and sampling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rb_infer.h"
#include "rb_model.h"
#include "rb_test.h"

static rb_backend *be;

static rb_model *make_model(int recurrent, rb_block_kind kind, int max_seq)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 53;
    c.dim = 32;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.hidden_dim = 40;
    c.max_seq_len = max_seq;
    c.block = kind;
    c.n_prelude = 1;
    c.n_recur = recurrent ? 2 : 0;
    c.n_coda = recurrent ? 1 : 2;
    rb_model *m = NULL;
    rb_error err = {0};
    ck_assert_msg(rb_model_create(&m, &c, be, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_model_init_random(m, 5, 0.15f, &err) == RB_OK);
    return m;
}

static void tokens_fill(int32_t *t, int n, int V)
{
    for (int i = 0; i < n; i++) t[i] = (int32_t)((i * 7919 + 13) % V);
}

/* Logits of every position from the batch forward, depth r, zero state. */
static float *batch_logits(rb_model *m, const int32_t *tok, int T, int r)
{
    rb_error err = {0};
    rb_workspace *ws = NULL;
    ck_assert(rb_workspace_create(&ws, m, 1, T, 0, &err) == RB_OK);
    rb_step_opts o = {.n_nograd = r, .state_zero = 1};
    ck_assert_msg(rb_forward(m, ws, tok, NULL, &o, NULL, &err) == RB_OK, "%s", err.msg);
    size_t n = (size_t)T * m->cfg.vocab_size;
    float *out = malloc(n * sizeof(float));
    ck_assert(be->download(be, out, rb_workspace_logits(ws), n * sizeof(float), &err) == RB_OK);
    rb_workspace_destroy(ws);
    return out;
}

static void check_incremental(int recurrent, rb_block_kind kind, int r, int T, int prompt)
{
    rb_error err = {0};
    rb_model *m = make_model(recurrent, kind, 512);
    const int V = m->cfg.vocab_size;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)T);
    tokens_fill(tok, T, V);
    float *ref = batch_logits(m, tok, T, r);
    rb_session *s = NULL;
    ck_assert_msg(rb_session_create(&s, m, T, 8, &err) == RB_OK, "%s", err.msg);
    float *lg = malloc(sizeof(float) * (size_t)V);
    rb_infer_opts o = {.depth = r, .state_zero = 1};
    ck_assert_msg(rb_session_feed(s, tok, prompt, &o, lg, NULL, &err) == RB_OK, "%s", err.msg);
    double d = rb_test_rel_max_diff(lg, ref + (size_t)(prompt - 1) * V, (size_t)V);
    ck_assert_msg(d < 1e-5, "prefill of %d: last logits differ by %.3e", prompt, d);
    for (int t = prompt; t < T; t++) {
        ck_assert(rb_session_feed(s, tok + t, 1, &o, lg, NULL, &err) == RB_OK);
        d = rb_test_rel_max_diff(lg, ref + (size_t)t * V, (size_t)V);
        ck_assert_msg(d < 1e-5, "decode position %d (r %d): logits differ by %.3e", t, r, d);
    }
    ck_assert_int_eq(rb_session_pos(s), T);
    /* past the context: a clear error */
    ck_assert_int_eq(rb_session_feed(s, tok, 1, &o, lg, NULL, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "context") != NULL);
    free(lg);
    free(ref);
    free(tok);
    rb_session_destroy(s);
    rb_model_destroy(m);
}

START_TEST(plain_incremental_equals_batch) { check_incremental(0, RB_BLOCK_LLAMA, 1, 40, 7); }
END_TEST
START_TEST(recurrent_incremental_equals_batch)
{
    for (int r = 1; r <= 4; r++) check_incremental(1, RB_BLOCK_LLAMA, r, 30, 5);
    check_incremental(1, RB_BLOCK_OLMO2, 3, 30, 1);
}
END_TEST
START_TEST(long_prefill_is_chunked)
{
    /* longer than the 128-row prefill chunk */
    check_incremental(1, RB_BLOCK_LLAMA, 2, 300, 290);
}
END_TEST

START_TEST(seeded_state_matches_batch)
{
    /* a prefill of T rows draws s_0 row by row as rb_draw_state_row says
     * (seed, absolute position): a batch forward of 1 x T given those rows
     * as its initial state has the same logits */
    rb_error err = {0};
    rb_model *m = make_model(1, RB_BLOCK_LLAMA, 64);
    const int T = 20, V = m->cfg.vocab_size, h = m->cfg.dim;
    int32_t tok[20];
    tokens_fill(tok, T, V);
    rb_workspace *ws = NULL;
    ck_assert(rb_workspace_create(&ws, m, 1, T, 0, &err) == RB_OK);
    float *s0 = malloc(sizeof(float) * (size_t)T * h);
    for (int t = 0; t < T; t++) rb_draw_state_row(s0 + (size_t)t * h, h, m->cfg.state_sigma, 777, t);
    rb_step_opts so = {.n_nograd = 3, .state0 = s0};
    ck_assert(rb_forward(m, ws, tok, NULL, &so, NULL, &err) == RB_OK);
    float *ref = malloc(sizeof(float) * (size_t)T * V);
    ck_assert(be->download(be, ref, rb_workspace_logits(ws), sizeof(float) * (size_t)T * V, &err) == RB_OK);
    rb_session *s = NULL;
    ck_assert(rb_session_create(&s, m, T, 4, &err) == RB_OK);
    float lg[53];
    rb_infer_opts o = {.depth = 3, .seed = 777};
    ck_assert(rb_session_feed(s, tok, T, &o, lg, NULL, &err) == RB_OK);
    ck_assert(rb_test_rel_max_diff(lg, ref + (size_t)(T - 1) * V, (size_t)V) < 1e-5);
    /* another seed gives other logits: the state matters */
    rb_session_reset(s);
    o.seed = 778;
    ck_assert(rb_session_feed(s, tok, T, &o, lg, NULL, &err) == RB_OK);
    ck_assert(rb_test_rel_max_diff(lg, ref + (size_t)(T - 1) * V, (size_t)V) > 1e-7);
    free(s0);
    free(ref);
    rb_session_destroy(s);
    rb_workspace_destroy(ws);
    rb_model_destroy(m);
}
END_TEST

START_TEST(trace_and_adaptive_exit)
{
    rb_error err = {0};
    rb_model *m = make_model(1, RB_BLOCK_LLAMA, 64);
    const int V = m->cfg.vocab_size;
    int32_t tok[10];
    tokens_fill(tok, 10, V);
    rb_session *s = NULL;
    ck_assert(rb_session_create(&s, m, 10, 16, &err) == RB_OK);
    rb_trace tr;
    ck_assert(rb_trace_alloc(&tr, 16, &err) == RB_OK);
    float lg[53], lg2[53];
    int used = 0;
    rb_infer_opts o = {.depth = 6, .state_zero = 1, .trace = &tr};
    ck_assert(rb_session_feed(s, tok, 9, &o, lg, &used, &err) == RB_OK);
    ck_assert_int_eq(used, 6);
    ck_assert_int_eq(tr.iters, 6);
    ck_assert(isnan(tr.kl[0]));
    for (int i = 1; i < 6; i++) ck_assert(tr.kl[i] >= 0 && isfinite(tr.kl[i]));
    for (int i = 0; i < 6; i++) ck_assert(tr.rel_change[i] >= 0 && isfinite(tr.rel_change[i]));
    ck_assert_int_eq(tr.top_token[5], rb_argmax(lg, V));
    /* same tokens without trace give the same logits */
    rb_session_reset(s);
    o.trace = NULL;
    ck_assert(rb_session_feed(s, tok, 9, &o, lg2, NULL, &err) == RB_OK);
    ck_assert(rb_test_rel_max_diff(lg2, lg, (size_t)V) < 1e-6);
    /* adaptive exit: a huge threshold stops after the first iteration */
    rb_exit_rule ex = {RB_EXIT_REL_CHANGE, 1e9f, 0};
    o.exit = &ex;
    ck_assert(rb_session_feed(s, tok + 9, 1, &o, lg, &used, &err) == RB_OK);
    ck_assert_int_eq(used, 1);
    rb_trace_free(&tr);
    rb_session_destroy(s);
    rb_model_destroy(m);
}
END_TEST

START_TEST(sampling)
{
    float logits[5] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f};
    float scratch[10];
    rb_rng rng;
    rb_rng_seed(&rng, 3);
    ck_assert_int_eq(rb_sample(logits, 5, NULL, &rng, scratch), 1);
    rb_sample_opts o = {.temperature = 1.0f, .top_k = 2};
    int counts[5] = {0};
    for (int i = 0; i < 4000; i++) counts[rb_sample(logits, 5, &o, &rng, scratch)]++;
    ck_assert_int_eq(counts[0] + counts[2] + counts[4], 0); /* outside the top 2 */
    /* p(1)/p(3) = e^0.1 */
    double ratio = (double)counts[1] / counts[3];
    ck_assert_msg(fabs(ratio - exp(0.1)) < 0.15, "ratio %.3f", ratio);
    rb_sample_opts p = {.temperature = 1.0f, .top_p = 0.3f};
    for (int i = 0; i < 200; i++) ck_assert_int_eq(rb_sample(logits, 5, &p, &rng, scratch), 1);
}
END_TEST

START_TEST(bad_session_arguments)
{
    rb_error err = {0};
    rb_model *m = make_model(1, RB_BLOCK_LLAMA, 64);
    rb_session *s = NULL;
    ck_assert_int_eq(rb_session_create(&s, m, 100, 4, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "max_seq_len") != NULL);
    ck_assert(rb_session_create(&s, m, 10, 4, &err) == RB_OK);
    int32_t t = 0;
    rb_infer_opts o = {.depth = 5};
    ck_assert_int_eq(rb_session_feed(s, &t, 1, &o, NULL, NULL, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "depth") != NULL);
    o.depth = 0;
    ck_assert_int_eq(rb_session_feed(s, &t, 1, &o, NULL, NULL, &err), RB_EINVAL);
    o.depth = 1;
    t = 53;
    ck_assert_int_eq(rb_session_feed(s, &t, 1, &o, NULL, NULL, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "vocabulary") != NULL);
    rb_session_destroy(s);
    rb_model_destroy(m);
}
END_TEST

int main(void)
{
    be = rb_test_cpu_backend();
    Suite *s = suite_create("infer");
    TCase *tc = tcase_create("session");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, plain_incremental_equals_batch);
    tcase_add_test(tc, recurrent_incremental_equals_batch);
    tcase_add_test(tc, long_prefill_is_chunked);
    tcase_add_test(tc, seeded_state_matches_batch);
    tcase_add_test(tc, trace_and_adaptive_exit);
    tcase_add_test(tc, sampling);
    tcase_add_test(tc, bad_session_arguments);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    return rc;
}
