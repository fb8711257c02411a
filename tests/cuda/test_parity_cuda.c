/* test_parity_cuda.c: the CUDA backend against the CPU reference, through
 * the parity harness (tests/support/rb_parity.c):
 *   1. every op, forward and backward, in fp32 mode (1e-5), in bf16 mode
 *      (the model's gemm is gemm_bf16 there: checked against the CPU's
 *      gemm_bf16 at 1e-5, every other op is still fp32) and in tf32 mode
 *      (gemm within 5e-3 of fp32);
 *   2. one training step (loss, gradients, parameters after the step) and a
 *      20-step loss trajectory, AdamW and Muon, fp32 and bf16 modes;
 *   3. greedy generation identical to the CPU's in fp32 on stories260K and
 *      on a surgered (1,2,1) stories260K at depths 1 and 8.
 * docs/cuda.md justifies the bf16 tolerances.
 *
 * Registered twice (tests/CMakeLists.txt): as test_parity_cuda (label
 * cuda) on the GPU module, which skips (exit 77) where no GPU or driver is
 * present and says why; and as test_parity_cuda_emu (label emu) on
 * librbcuda_emu.so, the same kernels run on the CPU, which is how CI checks
 * them. Without libcheck: the CUDA runtime must not be used across fork. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_parity.h"
#include "rb_surgery.h"
#include "rb_test.h"
#include <time.h>

/* bf16 mode's tensor-core attention against the fp32 CPU (docs/cuda.md,
 * "Tolerances"; u = 2^-9, bf16's unit roundoff): on bf16-representable
 * inputs only the roundings of P (forward: |dO| <= 2u/(1-u) max|v|, |dlse|
 * <= u) and of P and dS (backward: ~3u per term, with cancellation in dQ
 * and dK) remain; arbitrary inputs add the roundings of q, k, v and dO. */
#define TOL_ATT_FWD_BF16_IN 5e-3
#define TOL_ATT_BWD_BF16_IN 1e-2
#define TOL_ATT_FWD_BF16 1e-2
#define TOL_ATT_BWD_BF16 2e-2

static double t_start;
static int gen_tokens = 64;
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
#define SECTION(title) printf("== [%.1f s] %s\n", now_s() - t_start, title)

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

static rb_config small_model(void)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 97, c.dim = 48, c.n_heads = 4, c.n_kv_heads = 2, c.hidden_dim = 80, c.max_seq_len = 64;
    c.n_prelude = 1, c.n_recur = 2, c.n_coda = 1;
    return c;
}

static void generation(rb_backend *cpu, rb_backend *gpu, const rb_parity_opts *o, rb_parity_report *rep)
{
    const char *path = rb_test_asset("stories260K/stories260K.bin");
    const char *tok = rb_test_asset("stories260K/tok512.bin");
    if (!path || !tok) {
        printf("  generation: stories260K absent under RB_ASSETS_DIR; those checks were not run\n");
        return;
    }
    rb_loaded_model lm;
    rb_error err = {0};
    rb_load_opts lo = {.tokenizer_path = tok};
    if (rb_model_file_load(path, &lo, &lm, &err) != RB_OK) {
        rb_parity_record(rep, o, "generate", "loading stories260K", NAN, 0);
        printf("  %s\n", err.msg);
        return;
    }
    const int32_t bos = lm.bos_id >= 0 ? lm.bos_id : 1;
    printf("stories260K, greedy from BOS:\n");
    rb_parity_generate(cpu, gpu, &lm.cfg, lm.params, 1, gen_tokens, bos, 2e-5, o, rep);
    rb_surgery_spec sp = {.n_prelude = 1, .n_recur = 2, .n_coda = 1, .seed = 3};
    rb_config rc;
    float *rp = NULL;
    rb_retrofit_plan plan;
    memset(&plan, 0, sizeof plan);
    if (rb_surgery(&lm.cfg, lm.params, &sp, &rc, &rp, &plan, &err) != RB_OK) {
        rb_parity_record(rep, o, "generate", "surgery (1,2,1)", NAN, 0);
    } else {
        printf("stories260K surgered to (1,2,1), greedy from BOS:\n");
        rb_parity_generate(cpu, gpu, &rc, rp, 1, gen_tokens, bos, 2e-5, o, rep);
        rb_parity_generate(cpu, gpu, &rc, rp, 8, gen_tokens, bos, 1e-4, o, rep);
    }
    free(rp);
    rb_retrofit_plan_free(&plan);
    rb_loaded_model_free(&lm);
}

int main(void)
{
    t_start = now_s();
    rb_backend *cpu = rb_test_cpu_backend();
    int skip = 0;
    rb_backend *gpu = cuda_backend(RB_CUDA_FP32, &skip);
    if (!gpu) return skip ? RB_TEST_SKIP : 1;
    rb_parity_opts o;
    rb_parity_opts_default(&o);
    rb_parity_report rep;
    rb_parity_report_init(&rep);
    const rb_config cfg = small_model();
    /* RB_PARITY_STEPS shortens the trajectories (the emulated run in CI) */
    const char *se = getenv("RB_PARITY_STEPS");
    const int steps = se && atoi(se) > 0 ? atoi(se) : 20;
    const char *ge = getenv("RB_PARITY_TOKENS");
    gen_tokens = ge && atoi(ge) > 0 ? atoi(ge) : 64;

    /* RB_PARITY_MODEL_ONLY: the model-level checks in fp32 only (the emulated
     * run with device memory out of the host's reach, RB_EMU_PROTECT) */
    const int model_only = getenv("RB_PARITY_MODEL_ONLY") && atoi(getenv("RB_PARITY_MODEL_ONLY")) > 0;
    SECTION("every op, fp32 mode");
    if (!model_only) rb_parity_ops(cpu, gpu, &o, &rep);
    SECTION("training, fp32 mode");
    rb_parity_train(cpu, gpu, &cfg, RB_OPTIM_ADAMW, 0, steps, 1e-5, 1e-5, 1e-4, 1e-4, &o, &rep);
    rb_parity_train(cpu, gpu, &cfg, RB_OPTIM_MUON, 0, steps, 1e-5, 1e-5, 1e-4, 1e-4, &o, &rep);
    SECTION("generation, fp32 mode");
    generation(cpu, gpu, &o, &rep);
    rb_backend_destroy(gpu);

    gpu = model_only ? NULL : cuda_backend(RB_CUDA_BF16, &skip);
    if (gpu) {
        SECTION("every op, bf16 mode (gemm against the CPU's gemm_bf16, attention on tensor cores)");
        rb_parity_opts ob = o;
        ob.gemm_as_bf16 = 1;
        ob.tol_att = TOL_ATT_FWD_BF16;
        ob.tol_att_bwd = TOL_ATT_BWD_BF16;
        rb_parity_ops(cpu, gpu, &ob, &rep);
        SECTION("bf16 mode: attention on bf16-representable inputs (only P and dS roundings remain)");
        rb_parity_opts oa = o;
        oa.att_bf16_inputs = 1;
        oa.tol_att = TOL_ATT_FWD_BF16_IN;
        oa.tol_att_bwd = TOL_ATT_BWD_BF16_IN;
        rb_parity_attention(cpu, gpu, &oa, &rep);
        /* the reference for mixed precision: the CPU with gemm_bf16 as its gemm */
        rb_backend cpu_bf16 = *cpu;
        cpu_bf16.gemm = cpu->gemm_bf16;
        cpu_bf16.destroy = NULL;
        SECTION("training, bf16 mode against the CPU with bf16 GEMMs");
        rb_parity_train(&cpu_bf16, gpu, &cfg, RB_OPTIM_ADAMW, 0, steps, 1e-3, 1e-2, 1e-2, 1e-1, &o, &rep);
        rb_parity_train(&cpu_bf16, gpu, &cfg, RB_OPTIM_MUON, 1, steps, 1e-3, 1e-2, 1e-2, 1e-1, &o, &rep);
        SECTION("training, bf16 mode against the all-fp32 CPU (what mixed precision itself changes)");
        rb_parity_train(cpu, gpu, &cfg, RB_OPTIM_ADAMW, 0, steps, 1e-3, 3e-2, 3e-2, 1e-1, &o, &rep);
        rb_backend_destroy(gpu);
    }
    gpu = model_only ? NULL : cuda_backend(RB_CUDA_TF32, &skip);
    if (gpu) {
        SECTION("every op, tf32 mode (gemm within 5e-3 of fp32)");
        rb_parity_opts ot = o;
        ot.tol_gemm = 5e-3;
        rb_parity_ops(cpu, gpu, &ot, &rep);
        rb_backend_destroy(gpu);
    }
    SECTION("done");
    int passed = rep.n - rep.failures;
    printf("%d passed, %d failed\n", passed, rep.failures);
    for (int i = 0; i < rep.n; i++)
        if (!rep.r[i].pass)
            printf("FAILED: %s %s: %.3e > %.1e\n", rep.r[i].op, rep.r[i].what, rep.r[i].err, rep.r[i].tol);
    return rep.failures ? 1 : 0;
}
