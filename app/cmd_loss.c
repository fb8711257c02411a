/* cmd_loss.c: `retrobench loss -m MODEL --data FILE.rbtok --depths 1,2,4,8`:
 * mean held-out cross-entropy at each test depth, on exactly the rows that
 * `retrobench train` holds out of the same file (the last --val-fraction),
 * with the same fixed initial-state seeds. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_model.h"
#include "cli.h"
#include "rb_train.h"

int cmd_loss(int argc, char **argv)
{
    const char *model = NULL, *tok = NULL;
    rb_train_config c;
    rb_train_config_default(&c, 4);
    c.n_sources = 0;
    c.steps = 1000; /* never stepped; only for the schedule checks */
    char depths[256] = "1,2,4,8";
    long v;
    double d;
    static const struct option opts[] = {{"model", 1, 0, 'm'},       {"tokenizer", 1, 0, 'T'},
                                         {"data", 1, 0, 'D'},        {"depths", 1, 0, 'd'},
                                         {"val-fraction", 1, 0, 'F'}, {"batch", 1, 0, 'B'},
                                         {"seed", 1, 0, 's'},        {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        int bad = 0;
        if (ch == 'm') model = optarg;
        else if (ch == 'T') tok = optarg;
        else if (ch == 'D') {
            if (c.n_sources == RB_TRAIN_MAX_SOURCES || strlen(optarg) >= sizeof c.sources[0].path) bad = 1;
            else {
                snprintf(c.sources[c.n_sources].path, sizeof c.sources[0].path, "%s", optarg);
                c.sources[c.n_sources++].weight = 1;
            }
        } else if (ch == 'd') snprintf(depths, sizeof depths, "%s", optarg);
        else if (ch == 'F') bad = app_parse_float("loss", "--val-fraction", optarg, 0.0001, 1, &d), c.val_fraction = d;
        else if (ch == 'B') bad = app_parse_int("loss", "--batch", optarg, 1, 4096, &v), c.batch = (int)v;
        else if (ch == 's') bad = app_parse_int("loss", "--seed", optarg, 0, 0x7fffffffffffffffL, &v), c.seed = (uint64_t)v;
        else if (ch == 'h') {
            printf("usage: retrobench loss -m MODEL --data FILE.rbtok [--data ...] [--depths 1,2,4,8]\n"
                   "         [--val-fraction 0.05] [--batch 8] [--seed 1]\n"
                   "--val-fraction 1 scores every row of the file.\n");
            return 0;
        } else return 2;
        if (bad) return 2;
    }
    if (c.n_sources == 0) {
        fprintf(stderr, "retrobench loss: give the rows to score with --data FILE.rbtok\n");
        return 2;
    }
    app_model am;
    int rc = app_model_open(&am, "loss", model, tok, 0);
    if (rc) return rc;
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
        return 1;
    }
    char *save = NULL;
    printf("model=%s\n", model);
    for (char *s = strtok_r(depths, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        long r;
        if (app_parse_int("loss", "--depths", s, 1, 4096, &r)) {
            rc = 2;
            break;
        }
        double l;
        if (rb_trainer_validate(t, rb_config_is_recurrent(&am.m->cfg) ? (int)r : 1, &l, &err) != RB_OK) {
            fprintf(stderr, "retrobench loss: %s\n", err.msg);
            rc = 1;
            break;
        }
        printf("depth=%ld loss=%.5f\n", r, l);
    }
    rb_trainer_destroy(t);
    app_model_close(&am);
    return rc;
}
