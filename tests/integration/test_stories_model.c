/* test_stories_model.c: the real stories260K through the engine.
 *  - its llama2.c .bin, GGUF and Hugging Face files give the same logits
 *    (within 1e-5) on the same tokens;
 *  - surgery to (1,2,1) (layers 0 | 2,3 | 4) with the adapter bypassed, a
 *    zero initial state and r = 1 equals the pruned model (the same layers
 *    in sequence) to 1e-6 (METHOD.md's port check), and the surgered
 *    checkpoint round-trips bit-exactly through save and load. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_model.h"
#include "rb_surgery.h"
#include "rb_test.h"

#define T 48

static const int32_t *tokens(void)
{
    static int32_t t[T];
    for (int i = 0; i < T; i++) t[i] = i == 0 ? 1 : (int32_t)((i * 131 + 7) % 512);
    return t;
}

/* Logits [T, V] of a plain or recurrent model on tokens(). */
static float *logits_of(const rb_config *cfg, const float *params, const rb_step_opts *o)
{
    rb_error err = {0};
    rb_backend *be = rb_test_cpu_backend();
    rb_model *m = NULL;
    rb_workspace *ws = NULL;
    ck_assert_msg(rb_model_create(&m, cfg, be, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_model_set_params(m, params, &err) == RB_OK);
    ck_assert(rb_workspace_create(&ws, m, 1, T, 0, &err) == RB_OK);
    ck_assert_msg(rb_forward(m, ws, tokens(), NULL, o, NULL, &err) == RB_OK, "%s", err.msg);
    size_t n = (size_t)T * cfg->vocab_size;
    float *out = malloc(n * sizeof(float));
    ck_assert(be->download(be, out, rb_workspace_logits(ws), n * sizeof(float), &err) == RB_OK);
    rb_workspace_destroy(ws);
    rb_model_destroy(m);
    return out;
}

static void load(const char *rel, rb_loaded_model *lm)
{
    rb_error err = {0};
    rb_load_opts o = {.tokenizer_path = rb_test_asset_or_skip("stories260K/tok512.bin")};
    ck_assert_msg(rb_model_file_load(rb_test_asset_or_skip(rel), &o, lm, &err) == RB_OK, "%s", err.msg);
}

START_TEST(three_files_same_logits)
{
    const char *files[3] = {"stories260K/stories260K.bin", "stories260K-gguf/stories260K.gguf",
                            "stories260K-hf"};
    float *ref = NULL;
    for (int i = 0; i < 3; i++) {
        rb_loaded_model lm;
        load(files[i], &lm);
        float *lg = logits_of(&lm.cfg, lm.params, NULL);
        if (!ref) {
            ref = lg;
        } else {
            double d = rb_test_rel_max_diff(lg, ref, (size_t)T * lm.cfg.vocab_size);
            printf("%s vs %s: logits rel %.2e\n", files[i], files[0], d);
            ck_assert_msg(d <= 1e-5, "%s: logits differ from the .bin's by %.3e", files[i], d);
            free(lg);
        }
        rb_loaded_model_free(&lm);
    }
    free(ref);
}
END_TEST

START_TEST(surgery_bypass_equals_pruned_model)
{
    rb_loaded_model lm;
    load("stories260K/stories260K.bin", &lm);
    rb_error err = {0};
    rb_surgery_spec sp = {.n_prelude = 1, .n_recur = 2, .n_coda = 1, .seed = 5};
    rb_config rc, pc;
    float *rp = NULL, *pp = NULL;
    rb_retrofit_plan plan, pplan;
    ck_assert_msg(rb_surgery(&lm.cfg, lm.params, &sp, &rc, &rp, &plan, &err) == RB_OK, "%s", err.msg);
    int want[4] = {0, 2, 3, 4};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(plan.src_layer[i], want[i]);
    sp.static_model = 1;
    ck_assert(rb_surgery(&lm.cfg, lm.params, &sp, &pc, &pp, &pplan, &err) == RB_OK);
    ck_assert_int_eq(pc.n_recur, 0);
    ck_assert_int_eq(pc.n_prelude, 4);

    rb_step_opts bypass = {.n_nograd = 1, .state_zero = 1, .bypass_adapter = 1};
    float *a = logits_of(&rc, rp, &bypass);
    float *b = logits_of(&pc, pp, NULL);
    double d = rb_test_rel_max_diff(a, b, (size_t)T * rc.vocab_size);
    printf("surgered (1,2,1), adapter bypassed, s0 = 0, r = 1 vs pruned model: rel %.2e\n", d);
    ck_assert_msg(d <= 1e-6, "bypass identity off by %.3e", d);
    /* and the adapter, once used, changes the result */
    rb_step_opts real = {.n_nograd = 1, .state_zero = 1};
    float *c = logits_of(&rc, rp, &real);
    ck_assert(rb_test_rel_max_diff(c, b, (size_t)T * rc.vocab_size) > 1e-3);

    /* checkpoint round trip, bit for bit */
    char path[4200];
    snprintf(path, sizeof path, "%s/s121.safetensors", rb_test_tmpdir());
    ck_assert_msg(rb_checkpoint_save(path, &rc, rp, &plan, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    rb_loaded_model back;
    ck_assert_msg(rb_model_file_load(path, NULL, &back, &err) == RB_OK, "%s", err.msg);
    ck_assert(memcmp(back.params, rp, back.n_params * sizeof(float)) == 0);
    ck_assert_int_eq(back.cfg.n_recur, 2);
    ck_assert(back.has_plan && back.plan.src_layer[1] == 2 && back.plan.src_layer[3] == 4);
    rb_loaded_model_free(&back);
    free(a);
    free(b);
    free(c);
    free(rp);
    free(pp);
    rb_retrofit_plan_free(&plan);
    rb_retrofit_plan_free(&pplan);
    rb_loaded_model_free(&lm);
}
END_TEST

int main(void)
{
    rb_test_asset_or_skip("stories260K/stories260K.bin");
    Suite *s = suite_create("stories_model");
    TCase *tc = tcase_create("real");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, three_files_same_logits);
    tcase_add_test(tc, surgery_bypass_equals_pruned_model);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
