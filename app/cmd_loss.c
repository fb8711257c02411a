/* cmd_loss.c: `retrobench loss -m MODEL --data FILE.rbtok --depths 1,2,4,8`:
 * mean held-out cross-entropy at each test depth, on exactly the rows that
 * `retrobench train` holds out of the same file (the last --val-fraction),
 * with the same fixed initial-state seeds. The data must have been packed
 * by the model's tokenizer (app_data.c). Progress goes to stderr: a line per
 * depth, and while a depth runs, its elapsed time against an estimate
 * scaled from the depths already done by their FLOPs per token. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_data.h"
#include "app_model.h"
#include "cli.h"
#include "rb_train.h"

#define MAX_DEPTHS 64

/* "1,2,4,8" -> depths; an empty list or an empty item is a usage error. */
static int parse_depths(const char *s, long *d, int *n)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        if (len == 0 || len >= sizeof item) {
            fprintf(stderr, "retrobench loss: --depths '%s' %s; give test depths like 1,2,4,8\n", s,
                    !*s ? "lists no depth" : len ? "has an item too long" : "has an empty item");
            return -1;
        }
        if (*n == MAX_DEPTHS) {
            fprintf(stderr, "retrobench loss: --depths lists more than %d depths\n", MAX_DEPTHS);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = 0;
        if (app_parse_int("loss", "--depths", item, 1, 4096, &d[*n])) return -1;
        (*n)++;
        if (!comma) return 0;
        p = comma + 1;
    }
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The progress ticker: a thread that reports the running depth's time. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, quit, tty;
    long depth;
    int index, count;
    double t0, estimate; /* estimate <= 0: none yet */
} ticker;

static void *tick_main(void *arg)
{
    ticker *k = arg;
    pthread_mutex_lock(&k->mu);
    double last = 0;
    while (!k->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (k->quit || !k->running) continue;
        double el = now_s() - k->t0;
        /* a terminal gets a live line; a log a line every 30 s */
        if (!k->tty && el - last < 30) continue;
        last = el;
        if (k->estimate > 0)
            fprintf(stderr, "%sretrobench loss: depth %ld (%d of %d): %.0f s of about %.0f s%s",
                    k->tty ? "\r" : "", k->depth, k->index, k->count, el, k->estimate, k->tty ? "" : "\n");
        else
            fprintf(stderr, "%sretrobench loss: depth %ld (%d of %d): %.0f s%s", k->tty ? "\r" : "",
                    k->depth, k->index, k->count, el, k->tty ? "" : "\n");
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* Held-out rows of each source, as the trainer splits them. */
static uint64_t held_out_rows(const rb_train_config *c)
{
    uint64_t total = 0;
    for (int i = 0; i < c->n_sources; i++) {
        rb_tokfile_info in;
        uint64_t tr = 0, va = 0;
        if (rb_tokfile_read_info(c->sources[i].path, &in, NULL) == RB_OK &&
            rb_split_rows(in.n_rows, c->val_fraction, &tr, &va, NULL) == RB_OK)
            total += va;
    }
    return total;
}

int cmd_loss(int argc, char **argv)
{
    const char *model = NULL, *tok = NULL;
    rb_train_config c;
    rb_train_config_default(&c, 4);
    c.n_sources = 0;
    c.steps = 1000; /* never stepped; only for the schedule checks */
    const char *depths_arg = "1,2,4,8";
    long v;
    double d;
    static const struct option opts[] = {{"model", 1, 0, 'm'},       {"tokenizer", 1, 0, 'T'},
                                         {"data", 1, 0, 'D'},        {"depths", 1, 0, 'd'},
                                         {"val-fraction", 1, 0, 'F'}, {"batch", 1, 0, 'B'},
                                         {"seed", 1, 0, 's'},        {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        int bad = 0;
        if (ch == 'm') model = optarg;
        else if (ch == 'T') tok = optarg;
        else if (ch == 'D') {
            if (c.n_sources == RB_TRAIN_MAX_SOURCES || strlen(optarg) >= sizeof c.sources[0].path) {
                fprintf(stderr, "retrobench loss: at most %d --data files, paths under %zu bytes\n",
                        RB_TRAIN_MAX_SOURCES, sizeof c.sources[0].path);
                bad = 1;
            } else {
                snprintf(c.sources[c.n_sources].path, sizeof c.sources[0].path, "%s", optarg);
                c.sources[c.n_sources++].weight = 1;
            }
        } else if (ch == 'd') depths_arg = optarg;
        else if (ch == 'F') bad = app_parse_float("loss", "--val-fraction", optarg, 0.0001, 1, &d), c.val_fraction = d;
        else if (ch == 'B') bad = app_parse_int("loss", "--batch", optarg, 1, 4096, &v), c.batch = (int)v;
        else if (ch == 's') bad = app_parse_int("loss", "--seed", optarg, 0, 0x7fffffffffffffffL, &v), c.seed = (uint64_t)v;
        else if (ch == 'h') {
            printf("usage: retrobench loss -m MODEL --data FILE.rbtok [--data ...] [--depths 1,2,4,8]\n"
                   "         [--val-fraction 0.05] [--batch 8] [--seed 1]\n"
                   "--val-fraction 1 scores every row of the file.\n");
            return 0;
        } else return app_bad_option("loss", ch, argv);
        if (bad) return APP_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "retrobench loss: unexpected argument '%s'\n", argv[optind]);
        return APP_EXIT_USAGE;
    }
    long depths[MAX_DEPTHS];
    int n_depths = 0;
    if (parse_depths(depths_arg, depths, &n_depths)) return APP_EXIT_USAGE;
    if (!model) {
        fprintf(stderr, "retrobench loss: no model given; use -m MODEL\n");
        return APP_EXIT_USAGE;
    }
    if (c.n_sources == 0) {
        fprintf(stderr, "retrobench loss: give the rows to score with --data FILE.rbtok\n");
        return APP_EXIT_USAGE;
    }
    app_model am;
    int rc = app_model_open(&am, "loss", model, tok, 0);
    if (rc) return rc;
    if ((rc = app_check_data("loss", &am.lm, c.sources, c.n_sources))) {
        app_model_close(&am);
        return rc;
    }
    rb_error err = {0};
    rb_trainer *t = NULL;
    /* val_fraction 1 would leave no training rows, which the trainer refuses:
     * score "all rows" as the held-out part of a split with one train row */
    int all = c.val_fraction >= 1;
    if (all) c.val_fraction = 0.999999;
    c.score_only = 1; /* no gradients, optimizer state or gradient-iteration activations */
    if (rb_trainer_create(&t, am.m, &c, NULL, &err) != RB_OK) {
        fprintf(stderr, "retrobench loss: %s\n", err.msg);
        app_model_close(&am);
        return APP_EXIT_INPUT;
    }
    const int recurrent = rb_config_is_recurrent(&am.m->cfg);
    rb_param_counts pc;
    rb_model_param_counts(am.m, &pc);
    const double head = (double)am.m->cfg.vocab_size * am.m->cfg.dim;
    uint64_t rows = held_out_rows(&c);
    ticker k = {.tty = isatty(2), .count = n_depths};
    pthread_mutex_init(&k.mu, NULL);
    pthread_cond_init(&k.cv, NULL);
    pthread_t th;
    int have_thread = pthread_create(&th, NULL, tick_main, &k) == 0;
    double secs_per_flop = 0;
    printf("model=%s\n", model);
    fflush(stdout);
    for (int i = 0; i < n_depths; i++) {
        long r = depths[i];
        int run_depth = recurrent ? (int)r : 1;
        double cost = 2.0 * ((double)pc.prelude + (double)run_depth * pc.recur + pc.coda + head);
        pthread_mutex_lock(&k.mu);
        k.running = 1;
        k.depth = r;
        k.index = i + 1;
        k.t0 = now_s();
        k.estimate = secs_per_flop * cost;
        pthread_mutex_unlock(&k.mu);
        fprintf(stderr, "retrobench loss: depth %ld (%d of %d): %llu held-out rows of %d tokens%s\n",
                r, i + 1, n_depths, (unsigned long long)rows, rb_trainer_seq_len(t),
                recurrent ? "" : " (not recurrent: every depth is depth 1)");
        double l;
        rb_status st = rb_trainer_validate(t, run_depth, &l, &err);
        pthread_mutex_lock(&k.mu);
        k.running = 0;
        double el = now_s() - k.t0;
        pthread_mutex_unlock(&k.mu);
        if (st != RB_OK) {
            fprintf(stderr, "%sretrobench loss: %s\n", k.tty ? "\n" : "", err.msg);
            rc = APP_EXIT_INPUT;
            break;
        }
        if (cost > 0) secs_per_flop = el / cost;
        fprintf(stderr, "%sretrobench loss: depth %ld done in %.1f s\n", k.tty && el >= 1 ? "\n" : "", r, el);
        printf("depth=%ld loss=%.5f\n", r, l);
        fflush(stdout);
    }
    pthread_mutex_lock(&k.mu);
    k.quit = 1;
    pthread_cond_signal(&k.cv);
    pthread_mutex_unlock(&k.mu);
    if (have_thread) pthread_join(th, NULL);
    pthread_cond_destroy(&k.cv);
    pthread_mutex_destroy(&k.mu);
    rb_trainer_destroy(t);
    app_model_close(&am);
    return rc;
}
