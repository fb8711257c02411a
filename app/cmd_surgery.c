/* cmd_surgery.c: `retrobench surgery -m BASE -o OUT.safetensors`: cut a
 * pretrained plain model into prelude / recurrent block / coda.
 *
 *   --prc P,R,C            default rule: first P, last C, the R before the coda
 *   --layers "0|2,3|4"     explicit base layers per part (ranges allowed: 0-3)
 *   --adapter-init uniform|identity   (uniform: nn.Linear default, the paper's)
 *   --seed S               adapter initialisation
 *   --static               the paper's static baseline: the whole base model
 *                          (every layer, head untied), no --prc / --layers
 *   --static-ablation surgery-layers   the ablation: the surgery's layers once each
 *
 * The checkpoint carries the base model's tokenizer (embedded in its
 * metadata) and records the base model by file name only, so it can be
 * moved anywhere. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_model.h"
#include "cli.h"
#include "rb_surgery.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: retrobench surgery -m BASE -o OUT.safetensors (--prc P,R,C | --layers "
               "\"PRELUDE|RECURRENT|CODA\")\n"
               "         [--adapter-init uniform|identity] [--seed S] [--tokenizer TOK]\n"
               "       retrobench surgery -m BASE -o OUT.safetensors --static\n"
               "       retrobench surgery -m BASE -o OUT.safetensors --static-ablation surgery-layers "
               "(--prc P,R,C | --layers ...)\n"
               "--static writes the paper's non-recurrent baseline: the whole base model, every layer,\n"
               "head untied (training then runs Muon on q, k, v, o, gate, up, down separately);\n"
               "--static-ablation surgery-layers: the ablation made of the surgery's layers in sequence\n"
               "example: --prc 1,2,1 on stories260K gives layers 0 | 2,3 | 4\n");
}

int cmd_surgery(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *tok = NULL, *prc = NULL, *layers = NULL;
    long seed = 0;
    rb_surgery_spec sp;
    memset(&sp, 0, sizeof sp);
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"output", 1, 0, 'o'}, {"prc", 1, 0, 'P'}, {"layers", 1, 0, 'L'},
        {"adapter-init", 1, 0, 'a'}, {"seed", 1, 0, 's'}, {"tokenizer", 1, 0, 'T'},
        {"static", 0, 0, 'S'}, {"static-ablation", 1, 0, 'A'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'P': prc = optarg; break;
        case 'L': layers = optarg; break;
        case 'T': tok = optarg; break;
        case 'S':
            if (!sp.static_model) sp.static_model = RB_STATIC_BASELINE;
            break;
        case 'A':
            if (strcmp(optarg, "surgery-layers")) {
                fprintf(stderr, "retrobench surgery: --static-ablation must be surgery-layers, not '%s'\n", optarg);
                return APP_EXIT_USAGE;
            }
            sp.static_model = RB_STATIC_SURGERY_LAYERS;
            break;
        case 's':
            if (app_parse_int("surgery", "--seed", optarg, 0, 0x7fffffffffffffffL, &seed)) return APP_EXIT_USAGE;
            break;
        case 'a':
            if (!strcmp(optarg, "uniform")) sp.adapter_init = RB_ADAPTER_UNIFORM;
            else if (!strcmp(optarg, "identity")) sp.adapter_init = RB_ADAPTER_IDENTITY;
            else {
                fprintf(stderr, "retrobench surgery: --adapter-init must be uniform or identity, not '%s'\n", optarg);
                return APP_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: return app_bad_option("surgery", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "retrobench surgery: unexpected argument '%s'\n", argv[optind]);
        return APP_EXIT_USAGE;
    }
    if (!model) {
        fprintf(stderr, "retrobench surgery: no model given; use -m BASE\n");
        return APP_EXIT_USAGE;
    }
    if (!out) {
        fprintf(stderr, "retrobench surgery: no output; use -o OUT.safetensors\n");
        return APP_EXIT_USAGE;
    }
    if (sp.static_model == RB_STATIC_BASELINE && (prc || layers)) {
        fprintf(stderr, "retrobench surgery: --static is the whole base model, so --prc / --layers do not "
                        "apply; drop them, or add --static-ablation surgery-layers for the baseline made "
                        "of the surgery's layers\n");
        return APP_EXIT_USAGE;
    }
    if (sp.static_model != RB_STATIC_BASELINE && !!prc == !!layers) {
        fprintf(stderr, "retrobench surgery: give exactly one of --prc P,R,C or --layers \"P|R|C\"\n");
        return APP_EXIT_USAGE;
    }
    rb_error err = {0};
    int *storage = NULL;
    if (prc) {
        int p, r, cc;
        char tail;
        if (sscanf(prc, "%d,%d,%d%c", &p, &r, &cc, &tail) != 3) {
            fprintf(stderr, "retrobench surgery: --prc '%s': expected three integers P,R,C\n", prc);
            return APP_EXIT_USAGE;
        }
        sp.n_prelude = p;
        sp.n_recur = r;
        sp.n_coda = cc;
    } else if (layers && rb_surgery_parse_layers(layers, &sp, &storage, &err) != RB_OK) {
        fprintf(stderr, "retrobench surgery: %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    sp.seed = (uint64_t)seed;
    /* the base by name, not by a path that moving the file would break */
    char base[256];
    size_t ml = strlen(model);
    while (ml > 1 && model[ml - 1] == '/') ml--;
    const char *slash = memrchr(model, '/', ml);
    const char *bn = slash ? slash + 1 : model;
    snprintf(base, sizeof base, "%.*s", (int)(model + ml - bn), bn);
    sp.base_name = base;
    app_model am;
    int rc = app_model_load(&am, "surgery", model, tok, 0, APP_LOAD_HOST);
    if (rc) {
        free(storage);
        return rc;
    }
    rb_config cfg;
    float *params = NULL;
    rb_retrofit_plan plan;
    if (rb_surgery(&am.lm.cfg, am.lm.params, &sp, &cfg, &params, &plan, &err) != RB_OK) {
        fprintf(stderr, "retrobench surgery: %s: %s\n", model, err.msg);
        rc = APP_EXIT_INPUT;
    } else {
        const char *keys[3], *vals[3];
        int n = 0;
        char *tok_value = NULL;
        rc = app_checkpoint_meta("surgery", &am.lm, keys, vals, &n, &tok_value);
        if (rc) {
            /* printed */
        } else if (rb_checkpoint_save(out, &cfg, params, &plan, keys, vals, n, &err) != RB_OK) {
            fprintf(stderr, "retrobench surgery: %s\n", err.msg);
            rc = APP_EXIT_INPUT;
        } else {
            fprintf(stderr, "retrobench surgery: %s -> %s: prelude %d, recurrent %d, coda %d "
                            "(base layers", model, out, cfg.n_prelude, cfg.n_recur, cfg.n_coda);
            for (int i = 0; i < plan.n_blocks; i++)
                fprintf(stderr, "%s%d", i == 0 ? " " : i == cfg.n_prelude || i == cfg.n_prelude + cfg.n_recur ? " | " : ",",
                        plan.src_layer[i]);
            fprintf(stderr, "), adapter %s%s%s%s\n", plan.adapter_init, plan.kind[0] ? ", " : "", plan.kind,
                    am.lm.tok ? "; tokenizer embedded" : "; no tokenizer (give one with --tokenizer)");
        }
        free(tok_value);
        free(params);
        rb_retrofit_plan_free(&plan);
    }
    free(storage);
    app_model_close(&am);
    return rc;
}
