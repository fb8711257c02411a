/* bench_eval.c: `retrobench bench eval`: generation throughput of the
 * evaluator's batched decoder (rb_batch) against llama.cpp measured in the
 * same run, and the single-stream rate against the memory-bandwidth limit.
 *
 *   retrobench bench eval -m MODEL.gguf [--prc 4,6,4] [--depth 4] [--batch 32]
 *       [--prompt 64] [--gen 64] [--threads T] [--peer llama-batched-bench]
 *
 * For the plain model and for the same model cut by surgery (at --depth):
 * B sequences of --prompt distinct tokens each are started (prefill, not
 * timed as generation), then --gen decode steps are timed: generation
 * tokens/s = B * gen / time, at B = 1 and B = --batch. llama.cpp's
 * llama-batched-bench runs on the same GGUF with the same threads and
 * prompt / generation lengths (-npp, -ntg, -npl 1,8,B) and its S_TG column
 * is read back. Bandwidth: a STREAM-style triad a = b + s c over three
 * arrays far larger than the caches, best of 5; bytes per single-stream
 * token = every weight the token reads (the recurrent block once per
 * iteration) + the KV cache rows it attends to, at fp32.
 * Key=value lines on stdout; progress on stderr. A benchmark, not a test:
 * take figures under `flock /work/bench.lock` on a shared machine. */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_model.h"
#include "blas_env.h"
#include "cli.h"
#include "rb_batch.h"
#include "rb_surgery.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* STREAM triad a = b + s c over n floats each, best of reps, in GB/s
 * (3 arrays x 4 bytes per element, as STREAM counts). */
static double triad_gbs(size_t n, int reps)
{
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return -1;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = 0, b[i] = 1.0f, c[i] = 2.0f;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0f * c[i];
        double dt = now_s() - t0, gbs = 3.0 * 4.0 * (double)n / dt / 1e9;
        best = gbs > best ? gbs : best;
    }
    volatile float sink = a[n / 2];
    (void)sink;
    free(a), free(b), free(c);
    return best;
}

typedef struct {
    double prefill_s, gen_tok_s;
} gen_result;

/* B sequences of P distinct pseudo-random tokens, G timed decode steps. */
static int measure(rb_model *m, int depth, int B, int P, int G, gen_result *out)
{
    rb_error err = {0};
    rb_batch *b = NULL;
    rb_batch_opts bo = {.max_seqs = B, .max_tokens = P + G + 1, .max_depth = depth, .seed = 1};
    if (rb_batch_create(&b, m, &bo, &err) != RB_OK) {
        fprintf(stderr, "retrobench bench eval: %s\n", err.msg);
        return 1;
    }
    const int V = m->cfg.vocab_size;
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)P), *tok = malloc(sizeof(int32_t) * (size_t)B),
            *nxt = malloc(sizeof(int32_t) * (size_t)B);
    uint64_t s = 0x2545F4914F6CDD1Dull;
    double t0 = now_s();
    int rc = 0;
    for (int q = 0; q < B && rc == 0; q++) {
        for (int i = 0; i < P; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            prompt[i] = (int32_t)(100 + s % (uint64_t)(V - 200)); /* clear of special tokens */
        }
        int id;
        if (rb_batch_add_prompt(b, prompt, P, &id, NULL, &err) != RB_OK ||
            rb_batch_start(b, q, id, m->cfg.n_recur > 0 ? depth : 1, G + 1, &tok[q], &err) != RB_OK)
            rc = 1;
        else
            rb_batch_drop_prompt(b, id);
    }
    double t1 = now_s();
    for (int g = 0; g < G && rc == 0; g++) {
        if (rb_batch_step(b, tok, nxt, &err) != RB_OK) rc = 1;
        memcpy(tok, nxt, sizeof(int32_t) * (size_t)B);
    }
    double t2 = now_s();
    if (rc) fprintf(stderr, "retrobench bench eval: %s\n", err.msg);
    out->prefill_s = t1 - t0;
    out->gen_tok_s = (double)B * G / (t2 - t1);
    free(prompt), free(tok), free(nxt);
    rb_batch_destroy(b);
    return rc;
}

/* fp32 bytes one single-stream token reads: weights (the recurrent block
 * and adapter once per iteration, the head) and the KV rows it attends to
 * at an average position ctx. */
static double bytes_per_token(const rb_model *m, int depth, double ctx)
{
    rb_param_counts pc;
    rb_model_param_counts(m, &pc);
    const rb_config *c = &m->cfg;
    int r = c->n_recur > 0 ? depth : 0;
    double head = (double)c->vocab_size * c->dim; /* tied or not, the head matrix is read */
    double w = (double)pc.prelude + (double)r * pc.recur + (double)pc.coda + head + pc.final_norm;
    double blocks = c->n_prelude + (double)r * c->n_recur + c->n_coda;
    double kv = blocks * 2.0 * rb_config_kv_dim(c) * ctx;
    return 4.0 * (w + kv);
}

/* llama-batched-bench's S_TG (generation tokens/s) per batch size. */
static int run_peer(const char *peer, const char *model, int threads, int P, int G, int B, double *tg, int n)
{
    char cmd[8192];
    int ctx = B * (P + G + 16);
    snprintf(cmd, sizeof cmd, "%s -m '%s' -c %d -b 2048 -ub 512 -npp %d -ntg %d -npl 1,8,%d -t %d -tb %d 2>&1",
             peer, model, ctx, P, G, B, threads, threads);
    fprintf(stderr, "retrobench bench eval: peer: %s\n", cmd);
    FILE *f = popen(cmd, "r");
    if (!f) return 1;
    char line[4096];
    int col = -1, found = 0;
    for (int i = 0; i < n; i++) tg[i] = -1;
    while (fgets(line, sizeof line, f)) {
        if (line[0] != '|') continue;
        /* split on '|' */
        char *cells[32];
        int nc = 0;
        for (char *p = strtok(line, "|"); p && nc < 32; p = strtok(NULL, "|")) cells[nc++] = p;
        if (col < 0) {
            for (int i = 0; i < nc; i++)
                if (strstr(cells[i], "S_TG")) col = i;
            continue;
        }
        if (nc <= col || nc < 3) continue;
        int b = atoi(cells[2]);
        double v = atof(cells[col]);
        if (b == 1 && n > 0) tg[0] = v, found++;
        if (b == 8 && n > 1) tg[1] = v, found++;
        if (b == B && n > 2) tg[2] = v, found++;
    }
    int st = pclose(f);
    if (st != 0 || found == 0) {
        fprintf(stderr, "retrobench bench eval: the peer failed or printed no S_TG table (status %d)\n", st);
        return 1;
    }
    return 0;
}

int bench_eval(int argc, char **argv)
{
    const char *model = NULL, *tok = NULL, *peer = NULL, *prc = "4,6,4";
    long depth = 4, batch = 32, P = 64, G = 64, threads = omp_get_max_threads(), bw_mib = 256;
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"tokenizer", 1, 0, 'T'}, {"prc", 1, 0, 'p'},      {"depth", 1, 0, 'r'},
        {"batch", 1, 0, 'b'}, {"prompt", 1, 0, 'P'},    {"gen", 1, 0, 'g'},      {"threads", 1, 0, 't'},
        {"peer", 1, 0, 'x'},  {"bw-mib", 1, 0, 'w'},    {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'T': tok = optarg; break;
        case 'p': prc = optarg; break;
        case 'r': bad = app_parse_int("bench eval", "--depth", optarg, 1, 4096, &depth); break;
        case 'b': bad = app_parse_int("bench eval", "--batch", optarg, 2, 4096, &batch); break;
        case 'P': bad = app_parse_int("bench eval", "--prompt", optarg, 1, 1 << 16, &P); break;
        case 'g': bad = app_parse_int("bench eval", "--gen", optarg, 1, 1 << 16, &G); break;
        case 't': bad = app_parse_int("bench eval", "--threads", optarg, 1, 1024, &threads); break;
        case 'x': peer = optarg; break;
        case 'w': bad = app_parse_int("bench eval", "--bw-mib", optarg, 16, 1 << 16, &bw_mib); break;
        case 'h':
            printf("usage: retrobench bench eval -m MODEL [--prc P,R,C (4,6,4)] [--depth R (4)] [--batch B (32)]\n"
                   "         [--prompt N (64)] [--gen N (64)] [--threads T] [--peer PATH/llama-batched-bench]\n"
                   "         [--bw-mib M (256: each triad array)]\n");
            return 0;
        default: return 2;
        }
        if (bad) return 2;
    }
    int p_, r_, c_;
    char tail;
    if (sscanf(prc, "%d,%d,%d%c", &p_, &r_, &c_, &tail) != 3) {
        fprintf(stderr, "retrobench bench eval: --prc '%s': expected P,R,C\n", prc);
        return 2;
    }
    app_model am;
    int rc = app_model_open(&am, "bench eval", model, tok, 0);
    if (rc) return rc;
    omp_set_num_threads((int)threads);
    rb_error err = {0};
    printf("model=%s params=%zu threads=%ld prompt=%ld gen=%ld batch=%ld blas=\"%s\"\n", model, am.m->table.total,
           threads, P, G, batch, rb_blas_env_note());
    fflush(stdout);

    double bw = triad_gbs((size_t)bw_mib << 18, 5);
    printf("bandwidth_triad_gbs=%.2f\n", bw);

    /* plain and surgered models */
    rb_model *models[2] = {am.m, NULL};
    rb_config scfg;
    float *sparams = NULL;
    rb_retrofit_plan plan;
    memset(&plan, 0, sizeof plan);
    rb_surgery_spec sp = {.n_prelude = p_, .n_recur = r_, .n_coda = c_, .seed = 1};
    if (rb_config_is_recurrent(&am.m->cfg)) {
        models[1] = am.m, models[0] = NULL; /* already recurrent: only that one */
    } else if (rb_surgery(&am.lm.cfg, am.lm.params, &sp, &scfg, &sparams, &plan, &err) != RB_OK ||
               rb_model_create(&models[1], &scfg, am.be, &err) != RB_OK ||
               rb_model_set_params(models[1], sparams, &err) != RB_OK) {
        fprintf(stderr, "retrobench bench eval: surgery %s: %s\n", prc, err.msg);
        app_model_close(&am);
        return 1;
    }
    free(sparams);
    rb_retrofit_plan_free(&plan);
    double ours_b1[2] = {-1, -1}, ours_bb[2] = {-1, -1};
    for (int k = 0; k < 2 && rc == 0; k++) {
        if (!models[k]) continue;
        int d = k == 1 ? (int)depth : 1;
        const char *name = k == 0 ? "plain" : "surgered";
        gen_result g1, gb;
        fprintf(stderr, "retrobench bench eval: %s%s, B = 1 ...\n", name, k ? "" : "");
        if ((rc = measure(models[k], d, 1, (int)P, (int)G, &g1)) != 0) break;
        fprintf(stderr, "retrobench bench eval: %s, B = %ld ...\n", name, batch);
        if ((rc = measure(models[k], d, (int)batch, (int)P, (int)G, &gb)) != 0) break;
        ours_b1[k] = g1.gen_tok_s;
        ours_bb[k] = gb.gen_tok_s;
        double bpt = bytes_per_token(models[k], d, (double)P + G / 2.0);
        double limit = bw * 1e9 / bpt;
        if (k == 1) printf("surgery=%s depth=%d\n", prc, d);
        printf("%s_b1_tok_s=%.1f %s_b%ld_tok_s=%.1f %s_batch_ratio=%.2f\n", name, g1.gen_tok_s, name, batch,
               gb.gen_tok_s, name, gb.gen_tok_s / g1.gen_tok_s);
        printf("%s_b1_bytes_per_token_mb=%.1f %s_b1_bandwidth_limit_tok_s=%.1f %s_b1_fraction_of_bandwidth_limit=%.3f\n",
               name, bpt / 1e6, name, limit, name, g1.gen_tok_s / limit);
        printf("%s_prefill_s_b1=%.2f %s_prefill_s_b%ld=%.2f\n", name, g1.prefill_s, name, batch, gb.prefill_s);
        fflush(stdout);
    }
    if (rc == 0 && peer) {
        double tg[3];
        if (run_peer(peer, model, (int)threads, (int)P, (int)G, (int)batch, tg, 3) == 0) {
            double best = tg[0];
            for (int i = 1; i < 3; i++) best = tg[i] > best ? tg[i] : best;
            printf("peer=llama.cpp peer_b1_tok_s=%.1f peer_b8_tok_s=%.1f peer_b%ld_tok_s=%.1f peer_best_batched_tok_s=%.1f\n",
                   tg[0], tg[1], batch, tg[2], best);
            if (ours_bb[0] > 0)
                printf("plain_b%ld_vs_peer_best=%.2f plain_b1_vs_peer_b1=%.2f\n", batch, ours_bb[0] / best,
                       ours_b1[0] / tg[0]);
        } else {
            rc = 1;
        }
    } else if (rc == 0) {
        printf("peer=none (give --peer PATH/llama-batched-bench; bench/eval_vs_llamacpp.sh builds it)\n");
    }
    if (models[1] && models[1] != am.m) rb_model_destroy(models[1]);
    app_model_close(&am);
    return rc;
}
