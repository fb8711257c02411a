/* test_static_baseline.c: the paper's static baseline (METHOD.md section 2,
 * issue 10 item 4) from the real stories260K.
 *  - surgery with RB_STATIC_BASELINE keeps every layer of the base model in
 *    order, unties the head, and computes exactly the base model's logits;
 *  - the plan says "static-baseline" and keeps saying it through a
 *    checkpoint round trip, so training knows to run Muon unfused;
 *  - the surgery-layers ablation keeps only the P + R + C layers, labelled
 *    as such, and is fused by default like a retrofit;
 *  - layer lists with the whole-model baseline are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_model.h"
#include "rb_optim.h"
#include "rb_surgery.h"
#include "rb_test.h"

#define T 40

static float *logits_of(const rb_config *cfg, const float *params)
{
    rb_error err = {0};
    rb_backend *be = rb_test_cpu_backend();
    rb_model *m = NULL;
    rb_workspace *ws = NULL;
    int32_t tok[T];
    for (int i = 0; i < T; i++) tok[i] = i == 0 ? 1 : (int32_t)((i * 97 + 3) % cfg->vocab_size);
    ck_assert_msg(rb_model_create(&m, cfg, be, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_model_set_params(m, params, &err) == RB_OK);
    ck_assert(rb_workspace_create(&ws, m, 1, T, 0, &err) == RB_OK);
    rb_step_opts o = {0};
    ck_assert_msg(rb_forward(m, ws, tok, NULL, &o, NULL, &err) == RB_OK, "%s", err.msg);
    size_t n = (size_t)T * cfg->vocab_size;
    float *out = malloc(n * sizeof(float));
    ck_assert(be->download(be, out, rb_workspace_logits(ws), n * sizeof(float), &err) == RB_OK);
    rb_workspace_destroy(ws);
    rb_model_destroy(m);
    return out;
}

START_TEST(paper_baseline_is_the_whole_model)
{
    rb_loaded_model lm;
    rb_error err = {0};
    rb_load_opts lo = {.tokenizer_path = rb_test_asset_or_skip("stories260K/tok512.bin")};
    ck_assert_msg(rb_model_file_load(rb_test_asset_or_skip("stories260K/stories260K.bin"), &lo, &lm, &err) == RB_OK,
                  "%s", err.msg);
    const int L = rb_config_n_layers(&lm.cfg);
    ck_assert_int_eq(L, 5);

    rb_surgery_spec sp = {.static_model = RB_STATIC_BASELINE, .seed = 3};
    rb_config cfg;
    float *params = NULL;
    rb_retrofit_plan plan;
    ck_assert_msg(rb_surgery(&lm.cfg, lm.params, &sp, &cfg, &params, &plan, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(cfg.n_prelude, L);
    ck_assert_int_eq(cfg.n_recur, 0);
    ck_assert_int_eq(cfg.n_coda, 0);
    ck_assert_int_eq(cfg.tied_head, 0);
    for (int i = 0; i < L; i++) ck_assert_int_eq(plan.src_layer[i], i);
    ck_assert_str_eq(plan.kind, RB_PLAN_KIND_STATIC_BASELINE);
    float *a = logits_of(&lm.cfg, lm.params), *b = logits_of(&cfg, params);
    ck_assert_msg(memcmp(a, b, sizeof(float) * (size_t)T * cfg.vocab_size) == 0,
                  "the static baseline's logits differ from the base model's");
    ck_assert_int_eq(rb_optim_default_fuse(plan.kind), 0);

    /* the kind survives a checkpoint */
    char path[4200];
    snprintf(path, sizeof path, "%s/static.safetensors", rb_test_tmpdir());
    ck_assert_msg(rb_checkpoint_save(path, &cfg, params, &plan, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    rb_loaded_model back;
    ck_assert_msg(rb_model_file_load(path, NULL, &back, &err) == RB_OK, "%s", err.msg);
    ck_assert(back.has_plan);
    ck_assert_str_eq(back.plan.kind, RB_PLAN_KIND_STATIC_BASELINE);
    ck_assert_int_eq(rb_optim_default_fuse(back.plan.kind), 0);
    rb_loaded_model_free(&back);

    /* the ablation: the surgery's layers only, labelled, fused by default */
    rb_surgery_spec ab = {.n_prelude = 1, .n_recur = 2, .n_coda = 1, .static_model = RB_STATIC_SURGERY_LAYERS};
    rb_config acfg;
    float *aparams = NULL;
    rb_retrofit_plan aplan;
    ck_assert(rb_surgery(&lm.cfg, lm.params, &ab, &acfg, &aparams, &aplan, &err) == RB_OK);
    ck_assert_int_eq(acfg.n_prelude, 4);
    ck_assert_str_eq(aplan.kind, RB_PLAN_KIND_STATIC_SURGERY_LAYERS);
    ck_assert_int_eq(rb_optim_default_fuse(aplan.kind), 1);
    /* a retrofit: no kind, fused */
    rb_surgery_spec rf = {.n_prelude = 1, .n_recur = 2, .n_coda = 1};
    rb_config rcfg;
    float *rparams = NULL;
    rb_retrofit_plan rplan;
    ck_assert(rb_surgery(&lm.cfg, lm.params, &rf, &rcfg, &rparams, &rplan, &err) == RB_OK);
    ck_assert_str_eq(rplan.kind, "");
    ck_assert_int_eq(rb_optim_default_fuse(rplan.kind), 1);
    ck_assert_int_eq(rb_optim_default_fuse(NULL), 1);

    /* layer lists do not apply to the whole-model baseline */
    int layers[1] = {0};
    rb_surgery_spec bad = {.static_model = RB_STATIC_BASELINE, .recur_layers = layers, .n_recur_layers = 1};
    float *bp = NULL;
    rb_retrofit_plan bplan;
    ck_assert_int_eq(rb_surgery(&lm.cfg, lm.params, &bad, &rcfg, &bp, &bplan, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "whole base model") != NULL);

    free(a), free(b), free(params), free(aparams), free(rparams);
    rb_retrofit_plan_free(&plan), rb_retrofit_plan_free(&aplan), rb_retrofit_plan_free(&rplan);
    rb_loaded_model_free(&lm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("static_baseline");
    TCase *tc = tcase_create("static");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, paper_baseline_is_the_whole_model);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
