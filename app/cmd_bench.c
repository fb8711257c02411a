/* cmd_bench.c: `retrobench bench train|gemm`: throughput measurements.
 *
 * bench gemm   measures OpenBLAS SGEMM's peak on this machine (the
 *              denominator of MFU), over a few large shapes.
 * bench train  times full training steps (forward, backward, optimizer) of
 *              a random model of a named shape on the CPU backend and
 *              reports tokens/s, model FLOPs/s and MFU against the SGEMM
 *              peak measured in the same process.
 * Results go to stdout as key=value lines; progress to stderr. */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_model.h"
#include "blas_env.h"
#include "device.h"
#include "rb_infer.h"
#include "cli.h"
#include "rb_backend.h"
#include "rb_model.h"
#include "rb_optim.h"
#include "rb_rng.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* GFLOP/s of one shape through gemm (the backend's precision) or
 * gemm_bf16, timed over ~0.4 s after one warm-up call, in the backend's own
 * memory (device memory on a GPU, where the timing ends with a sync); 0
 * when memory runs out. */
static double gemm_rate(rb_backend *be, int bf16, int M, int N, int K, int tb)
{
    const size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *hA = malloc(sizeof(float) * na), *hB = malloc(sizeof(float) * nb);
    float *A = NULL, *B = NULL, *C = NULL;
    double gf = 0;
    if (hA && hB && be->alloc(be, (void **)&A, na * sizeof(float), NULL) == RB_OK &&
        be->alloc(be, (void **)&B, nb * sizeof(float), NULL) == RB_OK &&
        be->alloc(be, (void **)&C, nc * sizeof(float), NULL) == RB_OK) {
        for (size_t i = 0; i < na; i++) hA[i] = (float)(i % 13) * 1e-3f;
        for (size_t i = 0; i < nb; i++) hB[i] = (float)(i % 7) * 1e-3f;
        const int ldb = tb ? K : N;
        if (be->upload(be, A, hA, na * sizeof(float), NULL) == RB_OK &&
            be->upload(be, B, hB, nb * sizeof(float), NULL) == RB_OK) {
            (bf16 ? be->gemm_bf16 : be->gemm)(be, 0, tb, M, N, K, 1.0f, A, K, B, ldb, 0.0f, C, N);
            int reps = 0;
            double t0 = now_s(), t;
            if (be->sync(be, NULL) == RB_OK) {
                t0 = now_s();
                do {
                    (bf16 ? be->gemm_bf16 : be->gemm)(be, 0, tb, M, N, K, 1.0f, A, K, B, ldb, 0.0f, C, N);
                    reps++;
                    if (reps % 8 == 0 && be->sync(be, NULL) != RB_OK) break;
                    t = now_s() - t0;
                } while (t < 0.4 || reps % 8);
                if (be->sync(be, NULL) == RB_OK) gf = 2.0 * M * N * K * reps / (now_s() - t0) / 1e9;
            }
        }
    }
    if (A) be->free(be, A);
    if (B) be->free(be, B);
    if (C) be->free(be, C);
    free(hA), free(hB);
    return gf;
}

/* Best GFLOP/s of the GPU's gemm (its precision mode) over large shapes
 * and the model's: the denominator of MFU there. RB_BENCH_PEAK_MAX caps
 * every dimension (the tests' emulated GPU cannot multiply 8192^3). */
static double gpu_gemm_peak(rb_backend *be, int extra_m, int extra_n, int extra_k)
{
    int shapes[4][3] = {{4096, 4096, 4096}, {8192, 8192, 8192}, {16384, 4096, 1024},
                        {extra_m, extra_n, extra_k}};
    const char *cap = getenv("RB_BENCH_PEAK_MAX");
    const int mx = cap && atoi(cap) > 0 ? atoi(cap) : 1 << 30;
    double best = 0;
    for (int s = 0; s < 4; s++) {
        if (shapes[s][0] <= 0) continue;
        for (int d = 0; d < 3; d++) shapes[s][d] = shapes[s][d] < mx ? shapes[s][d] : mx;
        double gf = gemm_rate(be, 0, shapes[s][0], shapes[s][1], shapes[s][2], 1);
        if (gf > best) best = gf;
    }
    return best;
}

/* Best GFLOP/s of SGEMM (A B^T) over a few shapes and the given one. */
static double sgemm_peak(rb_backend *be, int extra_m, int extra_n, int extra_k)
{
    const int shapes[4][3] = {{1024, 1024, 1024}, {2048, 2048, 2048}, {2048, 1024, 512},
                              {extra_m, extra_n, extra_k}};
    double best = 0;
    for (int s = 0; s < 4; s++) {
        if (shapes[s][0] <= 0) continue;
        double gf = gemm_rate(be, 0, shapes[s][0], shapes[s][1], shapes[s][2], 1);
        if (gf > best) best = gf;
    }
    return best;
}

/* The bf16 GEMM (Muon's Newton-Schulz) against SGEMM on the same shapes:
 * X X^T and B X of a 256 x 1376 matrix (the issue-2 model's gate|up), and a
 * large square product; every bf16 kernel this CPU can run. Leaves the
 * backend on whichever kernel ran last (the caller destroys it). */
static void bf16_gemm_report(rb_backend *be)
{
    static const int shapes[][4] = {{256, 256, 1376, 1}, {256, 1376, 256, 0}, {1024, 1024, 1024, 0}};
    static const char *const names[] = {"sgemm_rounded", "avx512_bf16", "amx"};
    printf("bf16_gemm=\"%s\"\n", be->gemm_bf16_impl);
    for (int s = 0; s < 3; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], tb = shapes[s][3];
        double f32 = gemm_rate(be, 0, M, N, K, tb), best = 0;
        printf("gemm M%d N%d K%d%s: sgemm_gflops=%.1f", M, N, K, tb ? " (B^T)" : "", f32);
        for (int k = 0; k < 3; k++) {
            if (rb_backend_cpu_set_bf16(be, (rb_cpu_bf16_kernel)k, NULL) != RB_OK) {
                printf(" bf16_%s_gflops=absent", names[k]);
                continue;
            }
            double g = gemm_rate(be, 1, M, N, K, tb);
            if (g > best) best = g;
            printf(" bf16_%s_gflops=%.1f", names[k], g);
        }
        printf(" best_bf16_vs_sgemm=%.2f\n", f32 > 0 ? best / f32 : 0);
    }
}

typedef struct {
    int dim, heads, kv_heads, hidden, vocab, P, R, C, n, k, B, T, steps, warmup, olmo;
    rb_optim_kind optim;
    int no_optim, paired, ns_gram, ns_prec; /* ns_prec: -1 default, 0 fp32, 1 bf16 */
    int bf16_kernel;                /* -1: the best this CPU has; else rb_cpu_bf16_kernel */
    int batch_max;                  /* --batch max: the largest batch a full step fits (GPU) */
    char decode_depths[64];         /* --decode-depths: greedy decoding of the same model after */
    int decode_tokens;
} train_bench;

static void usage_bench(FILE *f)
{
    fprintf(f,
            "usage: retrobench bench gemm\n"
            "       retrobench bench decode -m MODEL [-n TOKENS] [--threads T] [--depths 1,4,16,32]\n"
            "       retrobench bench eval -m MODEL [--prc 4,6,4] [--depth 4] [--batch 32] [--prompt N] [--gen N]\n"
            "                             [--peer PATH/llama-batched-bench]   batched decoding vs llama.cpp\n"
            "       retrobench bench train [options]\n"
            "options (defaults: the issue-2 configuration):\n"
            "  --dim H (256) --heads 8 --kv-heads 4 --hidden 688 --vocab 512\n"
            "  --prelude 2 --recur 2 --coda 2 --nograd-iters N (0) --grad-iters K (4)\n"
            "  --batch B (8) --seq T (256) --steps S (8) --warmup W (2)\n"
            "  --optim adamw|muon|paired|none (adamw)  --block llama|olmo2 (llama)  --ns-gram\n"
            "  (paired: Muon trains; AdamW steps on the same gradients are timed too, and\n"
            "   tokens/s is reported for both from the same forward/backward times)\n"
            "  --ns-precision bf16|fp32 (bf16, the paper's; fp32 with --ns-gram)\n"
            "  --bf16-kernel amx|avx512|sgemm (default: the best this CPU has)\n"
            "  --batch max (GPU: the largest batch a whole step fits)\n"
            "  --decode-depths 1,8,32 [--decode-tokens 128]: then greedy decoding tokens/s per depth\n"
            "  " APP_DEVICE_USAGE "\n");
}

static int parse_int(const char *opt, const char *s, int lo, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > 1000000000) {
        fprintf(stderr, "retrobench bench: %s expects an integer >= %d, got '%s'\n", opt, lo, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int bench_train(int argc, char **argv)
{
    train_bench b = {256, 8, 4, 688, 512, 2, 2, 2, 0, 4, 8, 256, 8, 2, 0, RB_OPTIM_ADAMW, 0, 0, 0, -1, -1, 0, "", 128};
    static const struct option opts[] = {
        {"dim", 1, 0, 'd'},      {"heads", 1, 0, 'H'},     {"kv-heads", 1, 0, 'K'},
        {"hidden", 1, 0, 'F'},   {"vocab", 1, 0, 'V'},     {"prelude", 1, 0, 'P'},
        {"recur", 1, 0, 'R'},    {"coda", 1, 0, 'C'},      {"nograd-iters", 1, 0, 'n'},
        {"grad-iters", 1, 0, 'k'}, {"batch", 1, 0, 'B'},   {"seq", 1, 0, 'T'},
        {"steps", 1, 0, 's'},    {"warmup", 1, 0, 'w'},    {"optim", 1, 0, 'o'},
        {"block", 1, 0, 'b'},    {"ns-gram", 0, 0, 'G'},   {"help", 0, 0, 'h'},
        {"ns-precision", 1, 0, 'p'}, {"bf16-kernel", 1, 0, 'E'}, {"decode-depths", 1, 0, 'D'},
        {"decode-tokens", 1, 0, 'N'}, {0, 0, 0, 0}};
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': rc = parse_int("--dim", optarg, 1, &b.dim); break;
        case 'H': rc = parse_int("--heads", optarg, 1, &b.heads); break;
        case 'K': rc = parse_int("--kv-heads", optarg, 1, &b.kv_heads); break;
        case 'F': rc = parse_int("--hidden", optarg, 1, &b.hidden); break;
        case 'V': rc = parse_int("--vocab", optarg, 1, &b.vocab); break;
        case 'P': rc = parse_int("--prelude", optarg, 0, &b.P); break;
        case 'R': rc = parse_int("--recur", optarg, 0, &b.R); break;
        case 'C': rc = parse_int("--coda", optarg, 0, &b.C); break;
        case 'n': rc = parse_int("--nograd-iters", optarg, 0, &b.n); break;
        case 'k': rc = parse_int("--grad-iters", optarg, 0, &b.k); break;
        case 'B':
            if (!strcmp(optarg, "max")) b.batch_max = 1;
            else rc = parse_int("--batch", optarg, 1, &b.B);
            break;
        case 'D': snprintf(b.decode_depths, sizeof b.decode_depths, "%s", optarg); break;
        case 'N': rc = parse_int("--decode-tokens", optarg, 1, &b.decode_tokens); break;
        case 'T': rc = parse_int("--seq", optarg, 1, &b.T); break;
        case 's': rc = parse_int("--steps", optarg, 1, &b.steps); break;
        case 'w': rc = parse_int("--warmup", optarg, 0, &b.warmup); break;
        case 'o':
            if (!strcmp(optarg, "adamw")) b.optim = RB_OPTIM_ADAMW;
            else if (!strcmp(optarg, "muon")) b.optim = RB_OPTIM_MUON;
            else if (!strcmp(optarg, "none")) b.no_optim = 1;
            else if (!strcmp(optarg, "paired")) b.optim = RB_OPTIM_MUON, b.paired = 1;
            else {
                fprintf(stderr, "retrobench bench: --optim must be adamw, muon, paired or none, not '%s'\n", optarg);
                rc = -1;
            }
            break;
        case 'b':
            if (!strcmp(optarg, "llama")) b.olmo = 0;
            else if (!strcmp(optarg, "olmo2")) b.olmo = 1;
            else {
                fprintf(stderr, "retrobench bench: --block must be llama or olmo2, not '%s'\n", optarg);
                rc = -1;
            }
            break;
        case 'G': b.ns_gram = 1; break;
        case 'p':
            if (!strcmp(optarg, "bf16")) b.ns_prec = 1;
            else if (!strcmp(optarg, "fp32")) b.ns_prec = 0;
            else {
                fprintf(stderr, "retrobench bench: --ns-precision must be bf16 or fp32, not '%s'\n", optarg);
                rc = -1;
            }
            break;
        case 'E':
            if (!strcmp(optarg, "amx")) b.bf16_kernel = RB_CPU_BF16_AMX;
            else if (!strcmp(optarg, "avx512")) b.bf16_kernel = RB_CPU_BF16_AVX512;
            else if (!strcmp(optarg, "sgemm")) b.bf16_kernel = RB_CPU_BF16_SGEMM;
            else {
                fprintf(stderr, "retrobench bench: --bf16-kernel must be amx, avx512 or sgemm, not '%s'\n", optarg);
                rc = -1;
            }
            break;
        case 'h': usage_bench(stdout); return 0;
        default: usage_bench(stderr); return 2;
        }
        if (rc) return 2;
    }

    rb_error err = {0};
    rb_backend *be = NULL;
    int brc = app_backend_create("bench train", &be);
    if (brc) return brc;
    const int gpu = rb_backend_is_cuda(be);
    if (b.batch_max && !gpu) {
        fprintf(stderr, "retrobench bench: --batch max searches the GPU's memory; give --device cuda "
                        "or a number\n");
        rb_backend_destroy(be);
        return 2;
    }
    if (b.bf16_kernel >= 0 && rb_backend_cpu_set_bf16(be, (rb_cpu_bf16_kernel)b.bf16_kernel, &err) != RB_OK) {
        fprintf(stderr, "retrobench bench: %s\n", err.msg);
        rb_backend_destroy(be);
        return 1;
    }
    rb_config cfg;
    rb_config_defaults(&cfg);
    cfg.vocab_size = b.vocab;
    cfg.dim = b.dim;
    cfg.n_heads = b.heads;
    cfg.n_kv_heads = b.kv_heads;
    cfg.hidden_dim = b.hidden;
    cfg.max_seq_len = b.T;
    cfg.block = b.olmo ? RB_BLOCK_OLMO2 : RB_BLOCK_LLAMA;
    cfg.n_prelude = b.P;
    cfg.n_recur = b.R;
    cfg.n_coda = b.C;
    rb_model *m = NULL;
    rb_workspace *ws = NULL;
    rb_optimizer *opt = NULL, *opt_adam = NULL;
    float *save = NULL; /* paired: params | grads before the AdamW step */
    int status = 1;
    if (rb_model_create(&m, &cfg, be, &err) != RB_OK || rb_model_enable_grads(m, &err) != RB_OK ||
        rb_model_init_random(m, 1, 0.02f, &err) != RB_OK ||
        (!b.batch_max && rb_workspace_create(&ws, m, b.B, b.T, b.k, &err) != RB_OK)) {
        fprintf(stderr, "retrobench bench: %s\n", err.msg);
        goto done;
    }
    if (!b.no_optim) {
        rb_optim_config oc;
        rb_optim_config_default(&oc, b.optim);
        oc.ns_gram = b.ns_gram;
        oc.ns_bf16 = b.ns_prec >= 0 ? b.ns_prec : !b.ns_gram;
        if (rb_optimizer_create(&opt, m, &oc, &err) != RB_OK) {
            fprintf(stderr, "retrobench bench: %s\n", err.msg);
            goto done;
        }
    }
    if (b.paired) {
        rb_optim_config ac;
        rb_optim_config_default(&ac, RB_OPTIM_ADAMW);
        if (rb_optimizer_create(&opt_adam, m, &ac, &err) != RB_OK ||
            be->alloc(be, (void **)&save, 2 * m->table.total * sizeof(float), &err) != RB_OK) {
            fprintf(stderr, "retrobench bench: %s\n", err.msg);
            goto done;
        }
    }
    if (b.batch_max) { /* the largest batch whose whole step (optimizer included) runs */
        static const int tries[] = {512, 384, 256, 192, 160, 128, 96, 80, 64, 48, 40, 32, 24, 16, 12, 8, 6, 4, 2, 1};
        b.B = 0;
        for (size_t i = 0; i < sizeof tries / sizeof tries[0] && !b.B; i++) {
            const int Bt = tries[i];
            rb_workspace_destroy(ws);
            ws = NULL;
            rb_error e2 = {0};
            int32_t *tk = calloc((size_t)Bt * b.T + 1, sizeof(int32_t));
            double l = 0;
            rb_step_opts so0 = {.n_nograd = b.n, .n_grad = b.k, .grad = 1, .seed = 1};
            if (tk && rb_workspace_create(&ws, m, Bt, b.T, b.k, &e2) == RB_OK &&
                rb_model_zero_grads(m, &e2) == RB_OK && rb_forward(m, ws, tk, tk + 1, &so0, &l, &e2) == RB_OK &&
                rb_backward(m, ws, &e2) == RB_OK && (!opt || rb_optimizer_step(opt, 0.0f, NULL, &e2) == RB_OK))
                b.B = Bt;
            else
                fprintf(stderr, "bench train: batch %d does not fit (%s)\n", Bt, e2.msg);
            free(tk);
        }
        if (!b.B) {
            fprintf(stderr, "retrobench bench: not even batch 1 fits\n");
            goto done;
        }
        fprintf(stderr, "bench train: batch %d is the largest that fits\n", b.B);
    }
    const int N = b.B * b.T;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(N + 1));
    rb_rng rng;
    rb_rng_seed(&rng, 7);
    for (int i = 0; i <= N; i++) tokens[i] = (int32_t)(rb_rng_u64(&rng) % (uint64_t)b.vocab);

    fprintf(stderr, "bench train: %s, %s, %d threads, model %zu params, workspace %.1f MiB\n",
            app_backend_describe(be), rb_blas_env_note(), omp_get_max_threads(), m->table.total,
            (double)rb_workspace_bytes(ws) / 1048576.0);
    double peak0 = gpu ? gpu_gemm_peak(be, N, b.hidden * 2, b.dim) : sgemm_peak(be, N, b.hidden * 2, b.dim);
    rb_step_opts so = {.n_nograd = b.n, .n_grad = b.k, .grad = 1, .seed = 1};
    double t_fwd = 0, t_bwd = 0, t_opt = 0, t_adam = 0, loss = 0;
    int timed = 0;
    for (int step = 0; step < b.warmup + b.steps; step++) {
        double t0 = now_s();
        if (rb_model_zero_grads(m, &err) != RB_OK ||
            rb_forward(m, ws, tokens, tokens + 1, &so, &loss, &err) != RB_OK) {
            fprintf(stderr, "retrobench bench: %s\n", err.msg);
            free(tokens);
            goto done;
        }
        double t1 = now_s();
        if (rb_backward(m, ws, &err) != RB_OK) {
            fprintf(stderr, "retrobench bench: %s\n", err.msg);
            free(tokens);
            goto done;
        }
        double t2 = now_s(), ta = 0;
        if (opt_adam) { /* AdamW on these gradients, then undo it for Muon (untimed copies) */
            const size_t P = m->table.total;
            be->copy(be, save, m->params, P * sizeof(float));
            be->copy(be, save + P, m->grads, P * sizeof(float));
            double a0 = now_s();
            if (rb_optimizer_step(opt_adam, 1.0f, NULL, &err) != RB_OK) {
                fprintf(stderr, "retrobench bench: %s\n", err.msg);
                free(tokens);
                goto done;
            }
            ta = now_s() - a0;
            be->copy(be, m->params, save, P * sizeof(float));
            be->copy(be, m->grads, save + P, P * sizeof(float));
            t2 = now_s();
        }
        if (opt && rb_optimizer_step(opt, 1.0f, NULL, &err) != RB_OK) {
            fprintf(stderr, "retrobench bench: %s\n", err.msg);
            free(tokens);
            goto done;
        }
        double t3 = now_s();
        so.seed++;
        if (step >= b.warmup) {
            t_fwd += t1 - t0;
            t_bwd += t2 - t1;
            t_opt += t3 - t2;
            t_adam += ta;
            timed++;
        }
        fprintf(stderr, "  step %d/%d loss %.4f  %.0f ms\n", step + 1, b.warmup + b.steps, loss,
                (t3 - t0 - ta) * 1e3);
    }
    free(tokens);
    double peak1 = gpu ? gpu_gemm_peak(be, N, b.hidden * 2, b.dim) : sgemm_peak(be, N, b.hidden * 2, b.dim);
    double peak = peak0 > peak1 ? peak0 : peak1;

    /* model FLOPs per token: 6 x parameters on the gradient path, 2 x on the
     * no-gradient iterations, plus causal attention (fwd 2 Dq (T+1), x3 with
     * backward); embeddings excluded, the head included. */
    rb_param_counts pc;
    rb_model_param_counts(m, &pc);
    const double Dq = (double)cfg.n_heads * (cfg.head_dim ? cfg.head_dim : cfg.dim / cfg.n_heads);
    double grad_params = (double)pc.prelude + pc.coda + (double)b.k * pc.recur +
                         (double)cfg.vocab_size * cfg.dim;
    double nograd_params = (double)b.n * pc.recur;
    double att = 2.0 * Dq * (b.T + 1);
    double grad_layers = b.P + b.C + (double)b.k * b.R, nograd_layers = (double)b.n * b.R;
    double flops_tok = 6.0 * grad_params + 2.0 * nograd_params + 3.0 * att * grad_layers +
                       att * nograd_layers;
    double step_s = (t_fwd + t_bwd + t_opt) / timed;
    double tps = N / step_s;
    double mfu = tps * flops_tok / (peak * 1e9);
    const int muon = !b.no_optim && b.optim == RB_OPTIM_MUON;
    const int ns_bf16 = b.ns_prec >= 0 ? b.ns_prec : !b.ns_gram;
    printf("config=dim%d_h%d_kv%d_f%d_v%d_P%dR%dC%d_n%dk%d_B%dT%d optim=%s%s%s\n", b.dim, b.heads,
           b.kv_heads, b.hidden, b.vocab, b.P, b.R, b.C, b.n, b.k, b.B, b.T,
           b.no_optim ? "none" : b.optim == RB_OPTIM_MUON ? "muon" : "adamw",
           muon && b.ns_gram ? "+gram" : "", muon ? (ns_bf16 ? "+ns_bf16" : "+ns_fp32") : "");
    if (muon && ns_bf16) printf("bf16_gemm=\"%s\"\n", be->gemm_bf16_impl);
    printf("device=\"%s\" blas=\"%s\" threads=%d\n", app_backend_describe(be), rb_blas_env_note(),
           omp_get_max_threads());
    printf("forward_ms=%.1f backward_ms=%.1f optimizer_ms=%.1f step_ms=%.1f\n",
           t_fwd / timed * 1e3, t_bwd / timed * 1e3, t_opt / timed * 1e3, step_s * 1e3);
    printf("model_flops_per_token=%.4g %s=%.1f model_gflops=%.1f\n", flops_tok,
           gpu ? "gemm_peak_gflops" : "sgemm_peak_gflops", peak, tps * flops_tok / 1e9);
    printf("final_loss=%.4f\n", loss);
    printf("mfu=%.3f tokens_per_s=%.0f\n", mfu, tps);
    if (b.paired) {
        /* the same forward and backward, with AdamW's step instead of Muon's */
        double step_a = (t_fwd + t_bwd + t_adam) / timed;
        printf("adamw_optimizer_ms=%.1f tokens_per_s_adamw=%.0f muon_tokens_per_s_vs_adamw=%.3f\n",
               t_adam / timed * 1e3, N / step_a, step_a / step_s);
    }
    status = 0;
    if (b.decode_depths[0]) { /* greedy decoding of this model, one token at a time */
        rb_workspace_destroy(ws);
        ws = NULL;
        char list[64];
        snprintf(list, sizeof list, "%s", b.decode_depths);
        char *save_p = NULL;
        float *lg = malloc(sizeof(float) * (size_t)b.vocab);
        int max_tok = b.decode_tokens + 1 < b.T ? b.decode_tokens + 1 : b.T;
        for (char *d = strtok_r(list, ",", &save_p); d && lg; d = strtok_r(NULL, ",", &save_p)) {
            int r = atoi(d);
            rb_session *s = NULL;
            if (r < 1 || rb_session_create(&s, m, max_tok, r, &err) != RB_OK) {
                fprintf(stderr, "retrobench bench: decode depth '%s': %s\n", d, r < 1 ? "not a depth" : err.msg);
                status = 1;
                break;
            }
            rb_infer_opts io = {.depth = r, .seed = 1};
            int32_t tok = 1;
            double t0 = 0;
            int i = 0;
            for (; i < max_tok; i++) {
                if (i == 1) t0 = now_s(); /* from the second token: the first pays one-time setup */
                io.seed = (uint64_t)i + 1;
                if (rb_session_feed(s, &tok, 1, &io, lg, NULL, &err) != RB_OK) break;
                tok = rb_argmax(lg, b.vocab);
            }
            double dt = now_s() - t0;
            rb_session_destroy(s);
            if (i < max_tok) {
                fprintf(stderr, "retrobench bench: decoding: %s\n", err.msg);
                status = 1;
                break;
            }
            printf("decode_depth=%d decode_tokens_per_s=%.1f\n", r, (i - 1) / dt);
        }
        free(lg);
    }
done:
    rb_optimizer_destroy(opt);
    rb_optimizer_destroy(opt_adam);
    if (save) be->free(be, save);
    rb_workspace_destroy(ws);
    rb_model_destroy(m);
    rb_backend_destroy(be);
    return status;
}

/* Greedy decoding from BOS for n tokens (llama2.c's run.c measures the
 * same thing), timed from the first token; returns tokens/s. */
static double decode_run(app_model *am, int depth, int n, int32_t bos, int *generated, rb_error *err)
{
    const int V = am->m->cfg.vocab_size;
    int max_tokens = n + 1 < am->m->cfg.max_seq_len ? n + 1 : am->m->cfg.max_seq_len;
    rb_session *s = NULL;
    float *logits = malloc(sizeof(float) * (size_t)V);
    if (!logits || rb_session_create(&s, am->m, max_tokens, depth, err) != RB_OK) {
        free(logits);
        return -1;
    }
    rb_infer_opts io = {.depth = depth, .seed = 1};
    int32_t tok = bos;
    double t0 = now_s();
    int i = 0;
    for (; i < max_tokens; i++) {
        io.seed = (uint64_t)i + 1;
        if (rb_session_feed(s, &tok, 1, &io, logits, NULL, err) != RB_OK) {
            i = -1;
            break;
        }
        tok = rb_argmax(logits, V);
    }
    double dt = now_s() - t0;
    rb_session_destroy(s);
    free(logits);
    *generated = i;
    return i > 0 ? i / dt : -1;
}

static int bench_decode(int argc, char **argv)
{
    const char *model = NULL, *tok = NULL;
    long n = 256, threads = 1;
    char depths_arg[256] = "1,4,16,32";
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"tokenizer", 1, 0, 'T'},
                                         {"tokens", 1, 0, 'n'}, {"threads", 1, 0, 't'},
                                         {"depths", 1, 0, 'd'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:n:h", opts, NULL)) != -1) {
        int bad = 0;
        if (c == 'm') model = optarg;
        else if (c == 'T') tok = optarg;
        else if (c == 'n') bad = app_parse_int("bench decode", "-n", optarg, 1, 1 << 20, &n);
        else if (c == 't') bad = app_parse_int("bench decode", "--threads", optarg, 1, 1024, &threads);
        else if (c == 'd') snprintf(depths_arg, sizeof depths_arg, "%s", optarg);
        else if (c == 'h') {
            printf("usage: retrobench bench decode -m MODEL [-n TOKENS (256)] [--threads T (1)] "
                   "[--depths 1,4,16,32]\n");
            return 0;
        } else return 2;
        if (bad) return 2;
    }
    app_model am;
    int rc = app_model_open(&am, "bench decode", model, tok, 0);
    if (rc) return rc;
    omp_set_num_threads((int)threads);
    int32_t bos = am.lm.bos_id >= 0 ? am.lm.bos_id : (am.lm.tok ? rb_tokenizer_bos(am.lm.tok) : 1);
    if (bos < 0) bos = 0;
    rb_error err = {0};
    int gen = 0;
    printf("model=%s params=%zu threads=%ld tokens=%ld blas=\"%s\"\n", model, am.m->table.total,
           threads, n, rb_blas_env_note());
    double last = -1;
    if (!rb_config_is_recurrent(&am.m->cfg)) {
        last = decode_run(&am, 1, (int)n, bos, &gen, &err);
    } else {
        char *save = NULL, *list = strdup(depths_arg);
        for (char *d = strtok_r(list, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
            long r;
            if (app_parse_int("bench decode", "--depths", d, 1, 4096, &r)) {
                free(list);
                app_model_close(&am);
                return 2;
            }
            double tps = decode_run(&am, (int)r, (int)n, bos, &gen, &err);
            if (tps < 0) break;
            printf("depth=%ld decode_tokens_per_s=%.1f\n", r, tps);
            if (last < 0 || r == 4) last = tps; /* the summary line is r = 4 when measured */
        }
        free(list);
    }
    if (last < 0) {
        fprintf(stderr, "retrobench bench decode: %s\n", err.msg);
        app_model_close(&am);
        return 1;
    }
    printf("decode_tokens_per_s=%.1f\n", last);
    app_model_close(&am);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage_bench(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "train")) return bench_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "decode")) return bench_decode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return bench_eval(argc - 1, argv + 1); /* bench_eval.c */
    if (!strcmp(argv[1], "gemm")) {
        rb_backend *be = NULL;
        int brc = app_backend_create("bench gemm", &be);
        if (brc) return brc;
        if (rb_backend_is_cuda(be)) {
            /* the GPU: its gemm in the chosen precision, and gemm_bf16, at a few shapes */
            static const int sh[][3] = {{4096, 4096, 4096}, {8192, 8192, 8192}, {16384, 2304, 768}, {768, 768, 2304}};
            printf("device=\"%s\"\n", app_backend_describe(be));
            for (int i = 0; i < 4; i++)
                printf("gemm M%d N%d K%d: gemm_gflops=%.1f gemm_bf16_gflops=%.1f\n", sh[i][0], sh[i][1], sh[i][2],
                       gemm_rate(be, 0, sh[i][0], sh[i][1], sh[i][2], 1), gemm_rate(be, 1, sh[i][0], sh[i][1], sh[i][2], 1));
            rb_backend_destroy(be);
            return 0;
        }
        printf("blas=\"%s\" threads=%d\n", rb_blas_env_note(), omp_get_max_threads());
        printf("sgemm_peak_gflops=%.1f\n", sgemm_peak(be, 0, 0, 0));
        bf16_gemm_report(be);
        rb_backend_destroy(be);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage_bench(stdout);
        return 0;
    }
    fprintf(stderr, "retrobench bench: unknown benchmark '%s' (train, gemm, decode, eval)\n", argv[1]);
    return 2;
}
