/* cmd_eval.c: `retrobench eval`: accuracy at every test-time depth with the
 * paper's GSM8K protocol (EVAL.md), decoded in batches.
 *
 *   retrobench eval -m MODEL --data FILE.jsonl [--depths 1,2,4,8,16,32] [--shots N]
 *       [--skip N] [--limit N] [--batch B] [--max-new N] [--max-length N] [-o OUT]
 *       [--seed S] [protocol options]
 *
 * OUT/answers.jsonl gets one line per answer (id, depth, prompt,
 * completion, extracted, gold, correct, tokens, FLOPs) as it finishes;
 * OUT/summary.json and OUT/summary.csv the accuracy per depth and rule with
 * standard errors; stdout the table. Progress with an ETA goes to stderr.
 * Run the same command again after an interruption (SIGINT, SIGTERM, or a
 * kill) and it continues where it stopped; settings that change answers
 * must be the same (OUT/run.json), depths and the limit may grow. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app_model.h"
#include "cli.h"
#include "eval_files.h"
#include "rb_eval.h"

#define CMD "retrobench eval"

static volatile int stop_flag;
static void on_signal(int sig) { stop_flag = sig; }

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrobench eval -m MODEL --data FILE.jsonl [-o OUT] [options]\n"
            "  --depths LIST        test-time depths (default 1,2,4,8,16,32; a plain model: 1)\n"
            "  --shots N            exemplars before each problem, the first N (default 1)\n"
            "  --skip N, --limit N  problems [N, N + limit) of the file (default all)\n"
            "  --batch B            sequences decoded together (default 32)\n"
            "  --max-new N          new tokens at most (default 256)\n"
            "  --max-length N       context + new tokens (default 1024: contexts keep 768)\n"
            "  --seed S             seed of the recurrent initial state (default 0)\n"
            "  -o OUT               output folder (default eval-out); rerun to resume\n"
            "protocol (defaults: EVAL.md):\n"
            "  --question-template T   default \"Q: {question}\\nA: Let's think step by step.\"\n"
            "  --exemplar-template T   default \"Q: {question}\\nA: Let's think step by step. {target}\\n\\n\"\n"
            "  --exemplars FILE.jsonl  exemplars with \"question\" and \"target\" (default: EVAL.md's eight)\n"
            "  --stop S                a stop string (repeat; replaces Q: </s> <|im_end|>)\n"
            "  --no-bos                do not prepend BOS\n"
            "  --flex-regex P, --strict-regex P   POSIX extended patterns instead of the exact built-in\n"
            "                          matchers (leftmost-longest; see docs/eval.md)\n"
            "  --question-field F, --answer-field F   JSONL field names (question, answer)\n"
            "  --tokenizer TOK, --quiet\n");
}

/* "\n", "\t" and "\\" in command-line templates become the characters. */
static char *unescape(const char *s)
{
    char *o = malloc(strlen(s) + 1), *w = o;
    if (!o) return NULL;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') *w++ = '\n', s++;
        else if (s[0] == '\\' && s[1] == 't') *w++ = '\t', s++;
        else if (s[0] == '\\' && s[1] == '\\') *w++ = '\\', s++;
        else *w++ = *s;
    }
    *w = '\0';
    return o;
}

static int parse_depths(const char *s, int *out, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 4096 || *n >= 64 || (*end && *end != ',')) {
            fprintf(stderr, CMD ": --depths '%s': give depths 1..4096 separated by commas, e.g. 1,2,4,8\n", s);
            return -1;
        }
        for (int i = 0; i < *n; i++)
            if (out[i] == v) {
                fprintf(stderr, CMD ": --depths '%s': depth %ld is listed twice\n", s, v);
                return -1;
            }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) {
        fprintf(stderr, CMD ": --depths is empty\n");
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct {
    FILE *f;
    char path[4200];
    const rb_eval_config *c;
    rb_eval_tally *tally;
    evf_done done;
    int64_t written;
    /* progress */
    int tty, quiet;
    double last;
    int64_t tokens;
} run_ctx;

static int skip_cb(void *ud, int64_t id, int depth) { return evf_done_has(&((run_ctx *)ud)->done, id, depth); }

static rb_status record_cb(void *ud, const rb_eval_record *r, rb_error *err)
{
    run_ctx *x = ud;
    if (evf_write_record(x->f, x->path, r, x->c) != 0)
        return rb_fail(err, RB_EIO, "cannot write %s", x->path);
    x->written++;
    return rb_eval_tally_add(x->tally, r->depth, r->correct, r->new_tokens, r->prompt_tokens, r->flops, err);
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "--:--");
    else if (s >= 3600) snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void progress_cb(void *ud, const rb_eval_progress *p)
{
    run_ctx *x = ud;
    x->tokens = p->tokens;
    if (x->quiet) return;
    double t = now_s();
    int final = p->done == p->total;
    if (t - x->last < (x->tty ? 0.25 : 10.0) && !final) return;
    x->last = t;
    double frac = p->total ? (double)p->done / (double)p->total : 1;
    int width = 24, fill = (int)(frac * width);
    char el[32], eta[32];
    fmt_time(el, sizeof el, p->seconds);
    fmt_time(eta, sizeof eta, p->done > 0 ? p->seconds * (double)(p->total - p->done) / (double)p->done : -1);
    fprintf(stderr, "%s  [%.*s%*s] %lld/%lld answers  %2d active  %.1f tok/s  %s elapsed  eta %s%s",
            x->tty ? "\r" : "", fill, "########################", width - fill, "", (long long)p->done,
            (long long)p->total, p->active, p->seconds > 0 ? (double)p->tokens / p->seconds : 0.0, el, eta,
            x->tty ? "\033[K" : "\n");
    if (final && x->tty) fputc('\n', stderr);
    fflush(stderr);
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *tok_path = NULL, *data = NULL, *out = "eval-out", *exemplars = NULL;
    const char *qf = "question", *af = "answer", *flex_re = NULL, *strict_re = NULL;
    char *qtmpl = NULL, *etmpl = NULL;
    long shots = 1, skip = 0, limit = -1, batch = 32, max_new = 256, max_length = 1024, seed = 0;
    int depths[64], n_depths = 0, no_bos = 0, quiet = 0;
    const char *stops[RB_EVAL_MAX_STOPS];
    int n_stops = -1;
    static const struct option opts[] = {
        {"model", 1, 0, 'm'},        {"tokenizer", 1, 0, 'T'},      {"data", 1, 0, 'd'},
        {"depths", 1, 0, 'r'},       {"shots", 1, 0, 'S'},          {"skip", 1, 0, 'k'},
        {"limit", 1, 0, 'l'},        {"batch", 1, 0, 'b'},          {"max-new", 1, 0, 'n'},
        {"max-length", 1, 0, 'L'},   {"seed", 1, 0, 's'},           {"out", 1, 0, 'o'},
        {"question-template", 1, 0, 'Q'}, {"exemplar-template", 1, 0, 'E'}, {"exemplars", 1, 0, 'X'},
        {"stop", 1, 0, 'p'},         {"no-bos", 0, 0, 'B'},         {"flex-regex", 1, 0, 'F'},
        {"strict-regex", 1, 0, 'R'}, {"question-field", 1, 0, 'q'}, {"answer-field", 1, 0, 'a'},
        {"quiet", 0, 0, 'z'},        {"help", 0, 0, 'h'},           {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'T': tok_path = optarg; break;
        case 'd': data = optarg; break;
        case 'r': bad = parse_depths(optarg, depths, &n_depths); break;
        case 'S': bad = app_parse_int(CMD, "--shots", optarg, 0, 1000, &shots); break;
        case 'k': bad = app_parse_int(CMD, "--skip", optarg, 0, 1L << 40, &skip); break;
        case 'l': bad = app_parse_int(CMD, "--limit", optarg, 1, 1L << 40, &limit); break;
        case 'b': bad = app_parse_int(CMD, "--batch", optarg, 1, 4096, &batch); break;
        case 'n': bad = app_parse_int(CMD, "--max-new", optarg, 1, 1 << 20, &max_new); break;
        case 'L': bad = app_parse_int(CMD, "--max-length", optarg, 2, 1 << 22, &max_length); break;
        case 's': bad = app_parse_int(CMD, "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case 'o': out = optarg; break;
        case 'Q': free(qtmpl); bad = !(qtmpl = unescape(optarg)); break;
        case 'E': free(etmpl); bad = !(etmpl = unescape(optarg)); break;
        case 'X': exemplars = optarg; break;
        case 'p':
            if (n_stops < 0) n_stops = 0;
            if (n_stops >= RB_EVAL_MAX_STOPS - 1 || !optarg[0]) {
                fprintf(stderr, CMD ": --stop: at most %d stop strings, none empty\n", RB_EVAL_MAX_STOPS - 1);
                bad = 1;
            } else {
                stops[n_stops++] = optarg;
            }
            break;
        case 'B': no_bos = 1; break;
        case 'F': flex_re = optarg; break;
        case 'R': strict_re = optarg; break;
        case 'q': qf = optarg; break;
        case 'a': af = optarg; break;
        case 'z': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) {
            free(qtmpl), free(etmpl);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, CMD ": unexpected argument '%s'\n", argv[optind]);
        free(qtmpl), free(etmpl);
        return 2;
    }
    if (!data) {
        fprintf(stderr, CMD ": no problems given; use --data FILE.jsonl (lines with \"question\" and \"answer\")\n");
        free(qtmpl), free(etmpl);
        return 2;
    }

    rb_eval_config cfg;
    rb_eval_config_default(&cfg);
    if (qtmpl) cfg.question_template = qtmpl;
    if (etmpl) cfg.exemplar_template = etmpl;
    cfg.shots = (int)shots;
    cfg.add_bos = !no_bos;
    cfg.max_new = (int)max_new;
    cfg.max_length = (int)max_length;
    cfg.batch = (int)batch;
    cfg.seed = (uint64_t)seed;
    if (n_stops >= 0) {
        for (int i = 0; i < n_stops; i++) cfg.stops[i] = stops[i];
        cfg.n_stops = n_stops;
    }
    if (flex_re) cfg.rules[0] = (rb_extract_rule){"flexible-extract", RB_EXTRACT_POSIX, flex_re, -1};
    if (strict_re) cfg.rules[1] = (rb_extract_rule){"strict-match", RB_EXTRACT_POSIX, strict_re, 0};
    rb_eval_exemplar *ex = NULL;
    char **ex_strings = NULL;
    int n_ex = 0, rc = 0;
    evf_problems probs = {0};
    app_model am = {0};
    run_ctx x;
    memset(&x, 0, sizeof x);
    if (exemplars) {
        if ((rc = evf_load_exemplars(exemplars, &ex, &n_ex, &ex_strings)) != 0) goto done;
        cfg.exemplars = ex;
        cfg.n_exemplars = n_ex;
    }
    if (cfg.shots > cfg.n_exemplars) {
        fprintf(stderr, CMD ": --shots %d but there are %d exemplars; use --shots 0..%d or --exemplars FILE\n",
                cfg.shots, cfg.n_exemplars, cfg.n_exemplars);
        rc = 2;
        goto done;
    }
    for (int k = 0; k < cfg.n_rules; k++) { /* bad patterns fail before the model loads */
        rb_extractor *t = NULL;
        rb_error err = {0};
        if (rb_extractor_create(&t, &cfg.rules[k], &err) != RB_OK) {
            fprintf(stderr, CMD ": %s\n", err.msg);
            rc = 2;
            goto done;
        }
        rb_extractor_free(t);
    }
    if ((rc = evf_load_problems(data, qf, af, skip, limit, &probs)) != 0) goto done;
    if ((rc = app_model_open(&am, "eval", model, tok_path, 1)) != 0) goto done;
    const int recurrent = rb_config_is_recurrent(&am.m->cfg);
    if (n_depths == 0) {
        static const int paper[] = {1, 2, 4, 8, 16, 32};
        n_depths = recurrent ? 6 : 1;
        memcpy(depths, recurrent ? paper : (const int[]){1}, sizeof(int) * (size_t)n_depths);
    } else if (!recurrent && (n_depths > 1 || depths[0] != 1)) {
        fprintf(stderr, CMD ": %s is not recurrent, so test-time depth has no effect: evaluating once, "
                        "reported as depth 1\n", model);
        depths[0] = 1;
        n_depths = 1;
    }
    cfg.depths = depths;
    cfg.n_depths = n_depths;
    int32_t eos_ids[64];
    cfg.n_eos = am.lm.n_eos < 64 ? am.lm.n_eos : 64;
    for (int i = 0; i < cfg.n_eos; i++) eos_ids[i] = am.lm.eos_ids[i];
    cfg.eos_ids = eos_ids;
    if (cfg.n_eos == 0 && rb_tokenizer_eos(am.lm.tok) < 0)
        fprintf(stderr, CMD ": the tokenizer has no end-of-sequence token; answers end at a stop string or "
                        "after %d tokens\n", cfg.max_new);

    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, CMD ": cannot create the output folder %s: %s\n", out, strerror(errno));
        rc = 1;
        goto done;
    }
    char path[4200], model_abs[4096], data_abs[4096];
    snprintf(path, sizeof path, "%s/run.json", out);
    /* files by their absolute paths, so a resume from another directory matches */
    const char *model_id = realpath(model, model_abs) ? model_abs : model;
    const char *data_id = realpath(data, data_abs) ? data_abs : data;
    if ((rc = evf_check_settings(path, model_id, data_id, qf, af, skip, &cfg)) != 0) goto done;
    x.c = &cfg;
    x.tally = rb_eval_tally_create(cfg.n_rules);
    if (!x.tally) {
        fprintf(stderr, CMD ": out of memory\n");
        rc = 1;
        goto done;
    }
    snprintf(x.path, sizeof x.path, "%s/answers.jsonl", out);
    int64_t n_old = 0;
    if ((rc = evf_resume(x.path, &cfg, &x.done, x.tally, &n_old)) != 0) goto done;
    x.f = fopen(x.path, "a");
    if (!x.f) {
        fprintf(stderr, CMD ": cannot write %s: %s\n", x.path, strerror(errno));
        rc = 1;
        goto done;
    }
    int64_t todo = 0;
    for (int64_t i = 0; i < probs.count; i++)
        for (int d = 0; d < n_depths; d++) todo += !evf_done_has(&x.done, probs.items[i].id, depths[d]);
    app_decode_threads(am.m);
    fprintf(stderr, CMD ": %lld problems x %d depth%s = %lld answers%s; batch %d, %d-shot, seed %lld -> %s/\n",
            (long long)probs.count, n_depths, n_depths > 1 ? "s" : "", (long long)todo,
            n_old ? " still to give (resuming)" : "", cfg.batch, cfg.shots, (long long)seed, out);
    x.tty = isatty(2);
    x.quiet = quiet;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rb_eval_hooks hooks = {skip_cb, record_cb, progress_cb, &x, &stop_flag};
    rb_error err = {0};
    double t0 = now_s();
    rb_status st = rb_eval_run(am.m, am.lm.tok, &cfg, probs.items, probs.count, &hooks, &err);
    double secs = now_s() - t0;
    if (st == RB_EINTERRUPTED) {
        fprintf(stderr, "\n" CMD ": %s; %lld answers are saved in %s; run the same command to continue\n",
                stop_flag == SIGTERM ? "SIGTERM" : "interrupted", (long long)(n_old + x.written), x.path);
        rc = 130;
    } else if (st != RB_OK) {
        fprintf(stderr, "\n" CMD ": %s\n", err.msg);
        rc = 1;
    }
    evf_run_info info = {model, data, probs.items[0].id, probs.count, x.written, x.tokens, secs, st == RB_OK};
    int src = evf_write_summary(out, &cfg, x.tally, &info, st == RB_OK);
    if (rc == 0) rc = src;
    if (st == RB_OK)
        fprintf(stderr, CMD ": %lld answers in %.1f s (%.1f new tokens/s); summary in %s/summary.json, .csv\n",
                (long long)x.written, secs, secs > 0 ? (double)x.tokens / secs : 0.0, out);
done:
    if (x.f) fclose(x.f);
    rb_eval_tally_free(x.tally);
    evf_done_free(&x.done);
    app_model_close(&am);
    evf_problems_free(&probs);
    for (int i = 0; ex_strings && i < 2 * n_ex; i++) free(ex_strings[i]);
    free(ex_strings);
    free(ex);
    free(qtmpl), free(etmpl);
    return rc;
}
