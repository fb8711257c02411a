/* cmd_train.c: `retrobench train`: the paper's recipe from the command
 * line (the Lua layer will drive the same engine API).
 *
 * Progress goes to stderr, one JSON object per step to OUT/metrics.jsonl,
 * checkpoints to OUT (or OUT/phase1 and OUT/phase2 for a two-phase run)
 * every --ckpt-every steps, at the end, and on SIGINT / SIGTERM. --resume
 * continues from the newest checkpoint and repeats an uninterrupted run
 * exactly. Two phases (healing, then a mixture) restart the optimizer and
 * the schedules between them, as in METHOD.md. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app_model.h"
#include "cli.h"
#include "rb_train.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { stop_flag = sig; }

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrobench train -m MODEL --data FILE[:WEIGHT] [--data ...] --steps N --out DIR [options]\n"
            "data      --batch B (8) --accum A (1) --val-fraction F (0.05) --seed S (1)\n"
            "depth     --rbar R (4) --curriculum 1-sqrt|linear|constant (1-sqrt) --curriculum-warmup F (0.75)\n"
            "          --backprop B (8) --backprop-curriculum constant|linear (constant)\n"
            "          --backprop-warmup F (0.75) --depth-mode sampled|fixed (sampled) --sigma S (0.5)\n"
            "optimizer --optim muon|adamw (muon) --lr-muon X (1e-3) --lr-adam X (5e-5) --wd X (1e-4)\n"
            "          --no-fuse | --fuse (q,k,v and gate,up orthogonalised separately | as one matrix\n"
            "          each; default: fused, separate for the static baseline as the paper) --clip X (1.0)\n"
            "          --ns-gram (Newton-Schulz on the Gram matrix of wide matrices: fewer FLOPs,\n"
            "          rounding up to ~3e-4 relative on ill-conditioned inputs; off = the reference)\n"
            "          --ns-precision bf16|fp32 (bf16: the paper's; GEMM operands rounded to bf16,\n"
            "          fp32 sums; fp32 with --ns-gram)\n"
            "schedule  --schedule wsd|cosine (wsd) --warmup-frac F (0.0025) --decay-frac F (0.6)\n"
            "          --decay cosine|linear (cosine) --min-lr-ratio F (0.001)\n"
            "eval      --val-every N (0: at the end) --val-depths 1,2,4,8 --val-rows N (all)\n"
            "output    --ckpt-every N (0: at the end) --resume --quiet\n"
            "phase 2   --phase2-data FILE[:W] (repeatable) --phase2-steps N --phase2-rbar R (4)\n"
            "          (optimizer and schedules restart; the other settings carry over)\n");
}

typedef struct {
    rb_train_config cfg;
    int present;
} phase;

static int add_source(rb_train_config *c, const char *spec)
{
    if (c->n_sources >= RB_TRAIN_MAX_SOURCES) {
        fprintf(stderr, "retrobench train: at most %d data sources\n", RB_TRAIN_MAX_SOURCES);
        return -1;
    }
    rb_train_source *s = &c->sources[c->n_sources];
    const char *colon = strrchr(spec, ':');
    double w = 1;
    size_t len = strlen(spec);
    if (colon && colon[1]) {
        char *end;
        w = strtod(colon + 1, &end);
        if (*end == '\0') len = (size_t)(colon - spec);
        else w = 1;
    }
    if (len >= sizeof s->path || !(w > 0)) {
        fprintf(stderr, "retrobench train: bad data source '%s' (FILE or FILE:WEIGHT with WEIGHT > 0)\n", spec);
        return -1;
    }
    memcpy(s->path, spec, len);
    s->path[len] = '\0';
    s->weight = w;
    c->n_sources++;
    return 0;
}

static int parse_depths(const char *s, rb_train_config *c)
{
    char *list = strdup(s), *save = NULL;
    c->n_val_depths = 0;
    for (char *d = strtok_r(list, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        long v;
        if (c->n_val_depths >= RB_TRAIN_MAX_VAL_DEPTHS ||
            app_parse_int("train", "--val-depths", d, 1, 4096, &v)) {
            free(list);
            return -1;
        }
        c->val_depths[c->n_val_depths++] = (int)v;
    }
    free(list);
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void write_metrics(FILE *f, int phase_no, const rb_train_metrics *mt, double elapsed)
{
    fprintf(f, "{\"phase\":%d,\"step\":%lld,\"loss\":%.6g,\"lr_mult\":%.6g,\"lr_muon\":%.6g,"
               "\"lr_adam\":%.6g,\"rbar\":%d,\"backprop\":%d,\"n\":%d,\"k\":%d,\"grad_norm\":%.6g,"
               "\"tokens_per_s\":%.1f,\"flops\":%.6g,\"skipped\":%s,\"time\":%.3f",
            phase_no, (long long)mt->step, mt->loss, mt->lr_mult, mt->lr_muon, mt->lr_adam, mt->rbar,
            mt->backprop, mt->n, mt->k, mt->grad_norm, mt->seconds > 0 ? mt->tokens / mt->seconds : 0,
            mt->flops_total, mt->skipped ? "true" : "false", elapsed);
    if (mt->n_val > 0) {
        fprintf(f, ",\"val_loss\":{");
        for (int i = 0; i < mt->n_val; i++)
            fprintf(f, "%s\"%d\":%.6g", i ? "," : "", mt->val_depth[i], mt->val_loss[i]);
        fprintf(f, "}");
    }
    fprintf(f, "}\n");
    fflush(f);
}

/* OUT/metrics.jsonl, open for appending */
typedef struct {
    FILE *f;
    char path[4096];
} metrics_file;

/* On resume, drop the metrics lines that an interrupted run wrote after its
 * last checkpoint (the resumed run writes those steps again) and a line torn
 * by a kill, so the file holds each (phase, step) once. The file is
 * rewritten beside itself, renamed over, and reopened for appending.
 * Returns the number of lines dropped, or -1 (errno set). */
static long metrics_rewind(metrics_file *mf, int phase_no, long long step)
{
    const char *path = mf->path;
    fflush(mf->f);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *in = fopen(path, "r"), *out = in ? fopen(tmp, "w") : NULL;
    if (!in || !out) {
        if (in) fclose(in);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long dropped = 0;
    while ((len = getline(&line, &cap, in)) > 0) {
        int ph = 0;
        long long st = 0;
        const int complete = len >= 2 && line[len - 1] == '\n' && line[len - 2] == '}';
        const int later = sscanf(line, "{\"phase\":%d,\"step\":%lld", &ph, &st) == 2 &&
                          (ph > phase_no || (ph == phase_no && st > step));
        if (!complete || later) {
            dropped++;
            continue;
        }
        fwrite(line, 1, (size_t)len, out);
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    FILE *nf = freopen(path, "a", mf->f);
    if (!nf) return -1;
    mf->f = nf;
    return dropped;
}

/* Train one phase to completion (or interruption). Returns the exit status. */
static int run_phase(app_model *am, phase *ph, int phase_no, const char *dir, int ckpt_every, int resume,
                     int quiet, metrics_file *mf, const char *const *meta_k, const char *const *meta_v,
                     int n_meta)
{
    rb_error err = {0};
    rb_trainer *t = NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "retrobench train: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (rb_trainer_create(&t, am->m, &ph->cfg, &stop_flag, &err) != RB_OK) {
        fprintf(stderr, "retrobench train: %s\n", err.msg);
        return 2;
    }
    const rb_retrofit_plan *plan = am->lm.has_plan ? &am->lm.plan : NULL;
    char name[256];
    if (resume && rb_train_latest_checkpoint(dir, name, sizeof name, NULL) == RB_OK) {
        if (rb_trainer_restore(t, dir, &err) != RB_OK) {
            fprintf(stderr, "retrobench train: resume: %s\n", err.msg);
            rb_trainer_destroy(t);
            return 1;
        }
        fprintf(stderr, "retrobench train: phase %d resumed from %s/%s at step %lld\n", phase_no, dir,
                name, (long long)rb_trainer_step_count(t));
        long dropped = metrics_rewind(mf, phase_no, (long long)rb_trainer_step_count(t));
        if (dropped < 0) {
            fprintf(stderr, "retrobench train: cannot rewrite %s: %s\n", mf->path, strerror(errno));
            rb_trainer_destroy(t);
            return 1;
        }
        if (dropped > 0)
            fprintf(stderr, "retrobench train: %ld metrics line(s) after that step dropped from %s "
                            "(they are trained again)\n", dropped, mf->path);
    }
    FILE *metrics = mf->f;
    const rb_train_config *c = &ph->cfg;
    char ns[160] = "";
    if (c->optim.kind == RB_OPTIM_MUON)
        snprintf(ns, sizeof ns, " (Newton-Schulz %s%s%s%s)", c->optim.ns_bf16 ? "bf16: " : "fp32",
                 c->optim.ns_bf16 ? am->m->be->gemm_bf16_impl : "", c->optim.ns_gram ? ", Gram form" : "",
                 c->optim.muon_fuse ? "" : ", unfused");
    fprintf(stderr, "retrobench train: phase %d, %lld steps of %d x %d x %d tokens, rbar to %d (%s), "
                    "optimizer %s%s, checkpoints in %s\n", phase_no, (long long)c->steps, c->grad_accum,
            c->batch, rb_trainer_seq_len(t), rb_config_is_recurrent(&am->m->cfg) ? c->rbar.max_value : 0,
            c->rbar.shape == RB_CURRIC_1SQRT ? "1-sqrt" : c->rbar.shape == RB_CURRIC_LINEAR ? "linear" : "constant",
            c->optim.kind == RB_OPTIM_MUON ? "Muon + AdamW" : "AdamW", ns, dir);
    int rc = 0;
    double t0 = now_s(), tok_acc = 0, sec_acc = 0;
    while (!rb_trainer_done(t)) {
        rb_train_metrics mt;
        rb_status st = rb_trainer_step(t, &mt, &err);
        if (st == RB_EINTERRUPTED) {
            fprintf(stderr, "\nretrobench train: %s; saving a checkpoint at step %lld\n",
                    stop_flag == SIGTERM ? "SIGTERM" : "interrupted", (long long)rb_trainer_step_count(t));
            if (rb_trainer_save(t, dir, plan, meta_k, meta_v, n_meta, &err) != RB_OK)
                fprintf(stderr, "retrobench train: checkpoint failed: %s\n", err.msg);
            rc = 130;
            break;
        }
        if (st != RB_OK) {
            fprintf(stderr, "\nretrobench train: %s\n", err.msg);
            rc = 1;
            break;
        }
        write_metrics(metrics, phase_no, &mt, now_s() - t0);
        tok_acc += mt.tokens;
        sec_acc += mt.seconds;
        if (!quiet) {
            fprintf(stderr, "phase %d step %lld/%lld loss %.4f%s lr x%.3f rbar %d n,k %d,%d gn %.3f  %.0f tok/s",
                    phase_no, (long long)mt.step, (long long)c->steps, mt.loss, mt.skipped ? " (skipped)" : "",
                    mt.lr_mult, mt.rbar, mt.n, mt.k, mt.grad_norm, sec_acc > 0 ? tok_acc / sec_acc : 0.0);
            for (int i = 0; i < mt.n_val; i++)
                fprintf(stderr, "%s r=%d %.4f", i ? "" : "  val", mt.val_depth[i], mt.val_loss[i]);
            fputc('\n', stderr);
        }
        if ((ckpt_every > 0 && mt.step % ckpt_every == 0) || rb_trainer_done(t)) {
            if (rb_trainer_save(t, dir, plan, meta_k, meta_v, n_meta, &err) != RB_OK) {
                fprintf(stderr, "retrobench train: checkpoint failed: %s\n", err.msg);
                rc = 1;
                break;
            }
        }
    }
    if (rc == 0 && rb_trainer_done(t) && c->val_every == 0 && c->n_val_depths > 0) {
        /* final validation at every depth */
        fprintf(stderr, "phase %d final validation:", phase_no);
        for (int i = 0; i < c->n_val_depths; i++) {
            double l;
            int depth = rb_config_is_recurrent(&am->m->cfg) ? c->val_depths[i] : 1;
            if (rb_trainer_validate(t, depth, &l, &err) != RB_OK) {
                fprintf(stderr, " %s", err.msg);
                break;
            }
            fprintf(stderr, " r=%d %.4f", depth, l);
            fprintf(metrics, "{\"phase\":%d,\"step\":%lld,\"final_val_loss\":{\"%d\":%.6g}}\n", phase_no,
                    (long long)rb_trainer_step_count(t), depth, l);
            if (!rb_config_is_recurrent(&am->m->cfg)) break;
        }
        fputc('\n', stderr);
        fflush(metrics);
    }
    rb_trainer_destroy(t);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    const char *model = NULL, *tok = NULL, *out = NULL;
    phase p1, p2;
    rb_train_config_default(&p1.cfg, 4);
    p1.cfg.n_sources = 0;
    p1.present = 1;
    memset(&p2, 0, sizeof p2);
    long v, ckpt_every = 0, p2_steps = 0, p2_rbar = 4;
    double d;
    int resume = 0, quiet = 0, ns_prec = -1; /* -1: bf16, or fp32 with --ns-gram */
    int fuse_given = 0;
    const char *optim = "muon";
    rb_train_config *c = &p1.cfg;
    rb_train_config p2src;
    memset(&p2src, 0, sizeof p2src);
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"tokenizer", 1, 0, 'T'}, {"data", 1, 0, 'D'}, {"steps", 1, 0, 'n'},
        {"out", 1, 0, 'o'}, {"batch", 1, 0, 'B'}, {"accum", 1, 0, 'A'}, {"val-fraction", 1, 0, 'F'},
        {"seed", 1, 0, 's'}, {"rbar", 1, 0, 'r'}, {"curriculum", 1, 0, 'c'},
        {"curriculum-warmup", 1, 0, 'W'}, {"backprop", 1, 0, 'b'}, {"backprop-curriculum", 1, 0, 'C'},
        {"backprop-warmup", 1, 0, 'X'}, {"depth-mode", 1, 0, 'M'}, {"sigma", 1, 0, 'g'},
        {"optim", 1, 0, 'O'}, {"lr-muon", 1, 0, 'u'}, {"lr-adam", 1, 0, 'a'}, {"wd", 1, 0, 'w'},
        {"no-fuse", 0, 0, 'f'}, {"fuse", 0, 0, 'j'}, {"ns-gram", 0, 0, 'G'}, {"ns-precision", 1, 0, 'P'}, {"clip", 1, 0, 'L'}, {"schedule", 1, 0, 'S'},
        {"warmup-frac", 1, 0, 'H'}, {"decay-frac", 1, 0, 'Y'}, {"decay", 1, 0, 'y'},
        {"min-lr-ratio", 1, 0, 'R'}, {"val-every", 1, 0, 'e'}, {"val-depths", 1, 0, 'd'},
        {"val-rows", 1, 0, 'V'}, {"ckpt-every", 1, 0, 'k'}, {"resume", 0, 0, 'z'},
        {"quiet", 0, 0, 'q'}, {"phase2-data", 1, 0, '2'}, {"phase2-steps", 1, 0, '3'},
        {"phase2-rbar", 1, 0, '4'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:n:o:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'm': model = optarg; break;
        case 'T': tok = optarg; break;
        case 'o': out = optarg; break;
        case 'D': bad = add_source(c, optarg); break;
        case '2': bad = add_source(&p2src, optarg); break;
        case 'n': bad = app_parse_int("train", "--steps", optarg, 1, 1L << 40, &v); c->steps = v; break;
        case '3': bad = app_parse_int("train", "--phase2-steps", optarg, 1, 1L << 40, &p2_steps); break;
        case '4': bad = app_parse_int("train", "--phase2-rbar", optarg, 1, 65536, &p2_rbar); break;
        case 'B': bad = app_parse_int("train", "--batch", optarg, 1, 1 << 20, &v); c->batch = (int)v; break;
        case 'A': bad = app_parse_int("train", "--accum", optarg, 1, 1 << 20, &v); c->grad_accum = (int)v; break;
        case 'F': bad = app_parse_float("train", "--val-fraction", optarg, 0, 0.99, &c->val_fraction); break;
        case 's': bad = app_parse_int("train", "--seed", optarg, 0, 0x7fffffffffffffffL, &v); c->seed = (uint64_t)v; break;
        case 'r': bad = app_parse_int("train", "--rbar", optarg, 1, 65536, &v); c->rbar.max_value = (int)v; break;
        case 'c':
            if (!strcmp(optarg, "1-sqrt")) c->rbar.shape = RB_CURRIC_1SQRT;
            else if (!strcmp(optarg, "linear")) c->rbar.shape = RB_CURRIC_LINEAR;
            else if (!strcmp(optarg, "constant")) c->rbar.shape = RB_CURRIC_CONSTANT;
            else bad = 1, fprintf(stderr, "retrobench train: --curriculum must be 1-sqrt, linear or constant\n");
            break;
        case 'W': bad = app_parse_float("train", "--curriculum-warmup", optarg, 0, 1, &c->rbar.warmup_fraction); break;
        case 'b': bad = app_parse_int("train", "--backprop", optarg, 1, 65536, &v); c->backprop.max_value = (int)v; break;
        case 'C':
            if (!strcmp(optarg, "constant")) c->backprop.shape = RB_CURRIC_CONSTANT;
            else if (!strcmp(optarg, "linear")) {
                c->backprop.shape = RB_CURRIC_LINEAR;
                if (c->backprop.warmup_fraction == 0) c->backprop.warmup_fraction = 0.75;
            } else bad = 1, fprintf(stderr, "retrobench train: --backprop-curriculum must be constant or linear\n");
            break;
        case 'X': bad = app_parse_float("train", "--backprop-warmup", optarg, 0, 1, &c->backprop.warmup_fraction); break;
        case 'M':
            if (!strcmp(optarg, "sampled")) c->depth.mode = RB_DEPTH_SAMPLED;
            else if (!strcmp(optarg, "fixed")) c->depth.mode = RB_DEPTH_FIXED_TRAIN;
            else bad = 1, fprintf(stderr, "retrobench train: --depth-mode must be sampled or fixed\n");
            break;
        case 'g': bad = app_parse_float("train", "--sigma", optarg, 0, 1, &c->depth.sigma); break;
        case 'O': optim = optarg; break;
        case 'u': bad = app_parse_float("train", "--lr-muon", optarg, 0, 10, &d); c->optim.muon_lr = (float)d; break;
        case 'a': bad = app_parse_float("train", "--lr-adam", optarg, 0, 10, &d); c->optim.adam_lr = (float)d; break;
        case 'w': bad = app_parse_float("train", "--wd", optarg, 0, 10, &d); c->optim.muon_wd = c->optim.adam_wd = (float)d; break;
        case 'f': c->optim.muon_fuse = 0, fuse_given = 1; break;
        case 'j': c->optim.muon_fuse = 1, fuse_given = 1; break;
        case 'G': c->optim.ns_gram = 1; break;
        case 'P':
            if (!strcmp(optarg, "bf16")) ns_prec = 1;
            else if (!strcmp(optarg, "fp32")) ns_prec = 0;
            else bad = 1, fprintf(stderr, "retrobench train: --ns-precision must be bf16 or fp32\n");
            break;
        case 'L': bad = app_parse_float("train", "--clip", optarg, 0, 1e9, &d); c->optim.clip_norm = (float)d; break;
        case 'S':
            if (!strcmp(optarg, "wsd")) c->lr.kind = RB_LR_WSD;
            else if (!strcmp(optarg, "cosine")) c->lr.kind = RB_LR_COSINE;
            else bad = 1, fprintf(stderr, "retrobench train: --schedule must be wsd or cosine\n");
            break;
        case 'H': bad = app_parse_float("train", "--warmup-frac", optarg, 0, 1, &c->lr.warmup_fraction); break;
        case 'Y': bad = app_parse_float("train", "--decay-frac", optarg, 0, 1, &c->lr.decay_fraction); break;
        case 'y':
            if (!strcmp(optarg, "cosine")) c->lr.decay = RB_LR_DECAY_COSINE;
            else if (!strcmp(optarg, "linear")) c->lr.decay = RB_LR_DECAY_LINEAR;
            else bad = 1, fprintf(stderr, "retrobench train: --decay must be cosine or linear\n");
            break;
        case 'R': bad = app_parse_float("train", "--min-lr-ratio", optarg, 0, 1, &c->lr.min_ratio); break;
        case 'e': bad = app_parse_int("train", "--val-every", optarg, 0, 1L << 40, &v); c->val_every = (int)v; break;
        case 'd': bad = parse_depths(optarg, c); break;
        case 'V': bad = app_parse_int("train", "--val-rows", optarg, 0, 1L << 30, &v); c->val_rows = (int)v; break;
        case 'k': bad = app_parse_int("train", "--ckpt-every", optarg, 0, 1L << 40, &ckpt_every); break;
        case 'z': resume = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) return 2;
    }
    if (!model || !out || c->n_sources == 0) {
        fprintf(stderr, "retrobench train: need -m MODEL, --data FILE and --out DIR (see --help)\n");
        return 2;
    }
    if (!strcmp(optim, "adamw")) {
        /* the paper's AdamW-only comparison: eps 1e-8; the other settings as given */
        rb_optim_config o = c->optim;
        rb_optim_config_default(&c->optim, RB_OPTIM_ADAMW);
        c->optim.adam_lr = o.adam_lr;
        c->optim.adam_wd = o.adam_wd;
        c->optim.clip_norm = o.clip_norm;
    } else if (strcmp(optim, "muon")) {
        fprintf(stderr, "retrobench train: --optim must be muon or adamw, not '%s'\n", optim);
        return 2;
    }
    c->optim.ns_bf16 = ns_prec >= 0 ? ns_prec : !c->optim.ns_gram;
    if (p2src.n_sources > 0 || p2_steps > 0) {
        if (p2src.n_sources == 0 || p2_steps == 0) {
            fprintf(stderr, "retrobench train: a second phase needs both --phase2-data and --phase2-steps\n");
            return 2;
        }
        p2.cfg = p1.cfg;
        p2.present = 1;
        memcpy(p2.cfg.sources, p2src.sources, sizeof p2src.sources);
        p2.cfg.n_sources = p2src.n_sources;
        p2.cfg.steps = p2_steps;
        p2.cfg.rbar.max_value = (int)p2_rbar;
    }
    app_model am;
    int rc = app_model_open(&am, "train", model, tok, 0);
    if (rc) return rc;
    if (!fuse_given && c->optim.kind == RB_OPTIM_MUON) { /* the static baseline: unfused (METHOD.md) */
        c->optim.muon_fuse = p2.cfg.optim.muon_fuse = rb_optim_default_fuse(am.lm.has_plan ? am.lm.plan.kind : NULL);
        if (!c->optim.muon_fuse)
            fprintf(stderr, "retrobench train: %s is the static baseline: Muon on q, k, v, o, gate, up, down "
                            "as separate matrices (--fuse to fuse)\n", model);
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "retrobench train: cannot create %s: %s\n", out, strerror(errno));
        app_model_close(&am);
        return 1;
    }
    /* metadata that makes the checkpoints usable by generate */
    const char *mk[3], *mv[3];
    char abs_tok[4096], bos[32], eos[32];
    int nm = 0;
    const char *tp = tok ? tok : am.lm.tokenizer_path[0] ? am.lm.tokenizer_path : NULL;
    if (tp && realpath(tp, abs_tok)) mk[nm] = "tokenizer", mv[nm++] = abs_tok;
    if (am.lm.bos_id >= 0) snprintf(bos, sizeof bos, "%d", am.lm.bos_id), mk[nm] = "bos_token_id", mv[nm++] = bos;
    if (am.lm.n_eos > 0) snprintf(eos, sizeof eos, "%d", am.lm.eos_ids[0]), mk[nm] = "eos_token_id", mv[nm++] = eos;

    metrics_file metrics;
    snprintf(metrics.path, sizeof metrics.path, "%s/metrics.jsonl", out);
    metrics.f = fopen(metrics.path, resume ? "a" : "w");
    if (!metrics.f) {
        fprintf(stderr, "retrobench train: cannot write %s: %s\n", metrics.path, strerror(errno));
        app_model_close(&am);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (!p2.present) {
        rc = run_phase(&am, &p1, 1, out, (int)ckpt_every, resume, quiet, &metrics, mk, mv, nm);
    } else {
        char d1[4096], d2[4096], name[256];
        snprintf(d1, sizeof d1, "%s/phase1", out);
        snprintf(d2, sizeof d2, "%s/phase2", out);
        int p2_started = resume && rb_train_latest_checkpoint(d2, name, sizeof name, NULL) == RB_OK;
        if (!p2_started) rc = run_phase(&am, &p1, 1, d1, (int)ckpt_every, resume, quiet, &metrics, mk, mv, nm);
        if (rc == 0) {
            fprintf(stderr, "retrobench train: phase 2: optimizer and schedules restart\n");
            rc = run_phase(&am, &p2, 2, d2, (int)ckpt_every, resume, quiet, &metrics, mk, mv, nm);
        }
    }
    fclose(metrics.f);
    app_model_close(&am);
    return rc;
}
