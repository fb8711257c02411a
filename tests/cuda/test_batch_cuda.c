/* test_batch_cuda.c: batched greedy decoding on the CUDA backend equals
 * single-sequence decoding on the CUDA backend, token for token and logit
 * byte for logit byte (rb_batch with B = 1 and 8 against rb_session_feed),
 * on stories260K and on stories260K surgered to (1,2,1) at depths 1 and 4
 * mixed in one batch; and the single path's tokens equal the CPU's.
 *
 * This holds only because the CUDA backend's gemm_rows and
 * attention_cached are row-invariant (rb_backend.h; the op-level checks of
 * tests/support/rb_parity.c test that bitwise). Run in fp32 mode, and the
 * mixed batch again in bf16 mode (inference computes in fp32 there too).
 *
 * Registered like test_parity_cuda: label cuda on the GPU module (skips,
 * exit 77, without a GPU), label emu on librbcuda_emu.so. Without libcheck:
 * the CUDA runtime must not be used across fork. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rb_io.h"
#include "rb_parity.h"
#include "rb_surgery.h"
#include "rb_test.h"

#define MAX_NEW 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static rb_backend *cuda_backend(rb_cuda_precision prec, int *skip)
{
    rb_cuda_options co;
    rb_cuda_options_default(&co);
    co.precision = prec;
    rb_backend *be = NULL;
    rb_error err = {0};
    rb_status st = rb_backend_cuda_create(&be, &co, &err);
    if (st != RB_OK) {
        printf("SKIP: %s\n", err.msg);
        *skip = st == RB_EUNSUPPORTED;
        return NULL;
    }
    return be;
}

/* Story openings of different lengths (so sequences sit at different
 * positions in each step). */
static const char *const texts[] = {
    "Once upon a time, there was a little girl named Lily.",
    "Tom had a red ball.",
    "One day, a big dog came to the park and",
    "The sun was shining and the birds were singing in the tall green trees.",
    "Sue and her mom went",
    "There was a small cat who liked to play with",
    "Ben was sad because his toy was broken. His dad said",
    "A bird",
};
#define N_TEXTS ((int)(sizeof texts / sizeof texts[0]))

int main(void)
{
    const double t0 = now_s();
    const char *path = rb_test_asset("stories260K/stories260K.bin");
    const char *tokp = rb_test_asset("stories260K/tok512.bin");
    if (!path || !tokp) {
        printf("SKIP: stories260K is absent under RB_ASSETS_DIR\n");
        return RB_TEST_SKIP;
    }
    int skip = 0;
    rb_backend *gpu = cuda_backend(RB_CUDA_FP32, &skip);
    if (!gpu) return skip ? RB_TEST_SKIP : 1;
    rb_backend *cpu = rb_test_cpu_backend();
    rb_loaded_model lm;
    rb_error err = {0};
    rb_load_opts lo = {.tokenizer_path = tokp};
    if (rb_model_file_load(path, &lo, &lm, &err) != RB_OK) {
        printf("FAILED: loading stories260K: %s\n", err.msg);
        return 1;
    }
    int32_t *prompts[N_TEXTS];
    int lens[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++) {
        size_t n = 0;
        if (rb_tokenizer_encode(lm.tok, texts[i], strlen(texts[i]), 1, &prompts[i], &n, &err) != RB_OK) {
            printf("FAILED: tokenizing: %s\n", err.msg);
            return 1;
        }
        lens[i] = (int)n;
    }
    rb_parity_opts o;
    rb_parity_opts_default(&o);
    rb_parity_report rep;
    rb_parity_report_init(&rep);
    const int Bs[] = {1, 8}, one[] = {1}, two[] = {1, 4};

    printf("== [%.1f s] stories260K, fp32 mode\n", now_s() - t0);
    rb_parity_batch(cpu, gpu, &lm.cfg, lm.params, prompts, lens, N_TEXTS, one, 1, MAX_NEW, Bs, 2, &o, &rep);

    rb_surgery_spec sp = {.n_prelude = 1, .n_recur = 2, .n_coda = 1, .seed = 3};
    rb_config rc;
    float *rp = NULL;
    rb_retrofit_plan plan;
    memset(&plan, 0, sizeof plan);
    if (rb_surgery(&lm.cfg, lm.params, &sp, &rc, &rp, &plan, &err) != RB_OK) {
        rb_parity_record(&rep, &o, "batch_decode", "surgery (1,2,1)", NAN, 0);
    } else {
        printf("== [%.1f s] stories260K surgered to (1,2,1), depths 1 and 4 in one batch, fp32 mode\n", now_s() - t0);
        rb_parity_batch(cpu, gpu, &rc, rp, prompts, lens, N_TEXTS, two, 2, MAX_NEW, Bs, 2, &o, &rep);
        rb_backend_destroy(gpu);
        gpu = cuda_backend(RB_CUDA_BF16, &skip);
        if (gpu) {
            printf("== [%.1f s] the same in bf16 mode, 4 prompts, B = 8\n", now_s() - t0);
            rb_parity_batch(cpu, gpu, &rc, rp, prompts, lens, 4, two, 2, MAX_NEW, Bs + 1, 1, &o, &rep);
        }
    }
    rb_backend_destroy(gpu);
    free(rp);
    rb_retrofit_plan_free(&plan);
    for (int i = 0; i < N_TEXTS; i++) free(prompts[i]);
    rb_loaded_model_free(&lm);
    printf("== [%.1f s] done\n%d passed, %d failed\n", now_s() - t0, rep.n - rep.failures, rep.failures);
    for (int i = 0; i < rep.n; i++)
        if (!rep.r[i].pass)
            printf("FAILED: %s %s: %.3e > %.1e\n", rep.r[i].op, rep.r[i].what, rep.r[i].err, rep.r[i].tol);
    return rep.failures ? 1 : 0;
}
