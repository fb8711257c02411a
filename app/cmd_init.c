/* cmd_init.c: `retrobench init`: a plain Llama-architecture model with random
 * weights, to pretrain from scratch (the embedded default's base model,
 * docs/default-experiment.md).
 *
 *   retrobench init -o OUT.safetensors --tokenizer TOK --layers L --hidden H
 *                   --heads N [--kv-heads K] --mlp F [--seq T] [--vocab V]
 *                   [--tied] [--rope-theta X] [--seed S] [--std X]
 *   retrobench init -o OUT.safetensors --tokenizer TOK --config config.json
 *                   [--seed S] [--std X]
 *
 * The weights come from rb_model_init_random (matrices N(0, std), norms 1),
 * computed on the CPU backend; the checkpoint embeds the tokenizer file's
 * bytes like every other checkpoint, so it is usable on its own. The
 * vocabulary is the tokenizer's size unless --vocab (or the config) asks for
 * more rows. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_model.h"
#include "cli.h"
#include "rb_io.h"
#include "rb_safetensors.h"

#define CMD "init"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrobench init -o OUT.safetensors --tokenizer TOK --layers L --hidden H --heads N\n"
            "                       [--kv-heads K] --mlp F [--seq T] [--vocab V] [--tied] [--rope-theta X]\n"
            "                       [--seed S] [--std X]\n"
            "       retrobench init -o OUT.safetensors --tokenizer TOK --config config.json [--seed S] [--std X]\n"
            "A plain Llama-architecture model with random weights (matrices N(0, std), norms 1), to\n"
            "pretrain with `retrobench train`; the checkpoint carries the tokenizer.\n"
            "  --tokenizer TOK   tokenizer.json, llama2.c tokenizer.bin, or a model carrying one\n"
            "  --layers L        decoder blocks            --hidden H   width h\n"
            "  --heads N         attention heads (h %% N == 0)\n"
            "  --kv-heads K      key/value heads, dividing N (default N)\n"
            "  --mlp F           SwiGLU inner width        --seq T      longest sequence, the RoPE table (256)\n"
            "  --vocab V         embedding rows (default: the tokenizer's size; not fewer)\n"
            "  --tied            LM head tied to the embedding (default untied)\n"
            "  --rope-theta X    RoPE base (10000)\n"
            "  --config FILE     a Hugging Face config.json (LlamaForCausalLM) instead of the shape options\n"
            "  --seed S          initialisation seed (0)    --std X   standard deviation of the matrices (0.02)\n");
}

/* A config.json file into cfg; prints errors. */
static int read_hf_config(const char *path, rb_config *cfg)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "retrobench " CMD ": --config %s: cannot open it\n", path);
        return APP_EXIT_INPUT;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *nb = cap <= (1u << 24) ? realloc(buf, cap) : NULL;
            if (!nb) {
                fprintf(stderr, "retrobench " CMD ": --config %s: too large for a config.json\n", path);
                free(buf);
                fclose(f);
                return APP_EXIT_INPUT;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    rb_error err = {0};
    rb_hf_config hc;
    rb_status st = rb_hf_config_parse(buf, n, path, &hc, &err);
    free(buf);
    if (st != RB_OK) {
        fprintf(stderr, "retrobench " CMD ": %s\n", err.msg);
        return APP_EXIT_INPUT;
    }
    *cfg = hc.cfg;
    return 0;
}

int cmd_init(int argc, char **argv)
{
    const char *out = NULL, *tok_path = NULL, *config = NULL;
    long layers = -1, hidden = -1, heads = -1, kv_heads = -1, mlp = -1, seq = 256, vocab = -1, seed = 0;
    double std = 0.02, theta = 10000.0;
    int tied = 0, shape_given = 0;
    static const struct option opts[] = {
        {"output", 1, 0, 'o'}, {"tokenizer", 1, 0, 'T'}, {"layers", 1, 0, 'L'}, {"hidden", 1, 0, 'H'},
        {"heads", 1, 0, 'N'},  {"kv-heads", 1, 0, 'K'},  {"mlp", 1, 0, 'F'},    {"seq", 1, 0, 'q'},
        {"vocab", 1, 0, 'V'},  {"tied", 0, 0, 't'},      {"rope-theta", 1, 0, 'R'},
        {"config", 1, 0, 'C'}, {"seed", 1, 0, 's'},      {"std", 1, 0, 'd'},    {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    int c, bad = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'T': tok_path = optarg; break;
        case 'C': config = optarg; break;
        case 'L': bad = app_parse_int(CMD, "--layers", optarg, 1, 1024, &layers); shape_given = 1; break;
        case 'H': bad = app_parse_int(CMD, "--hidden", optarg, 1, 65536, &hidden); shape_given = 1; break;
        case 'N': bad = app_parse_int(CMD, "--heads", optarg, 1, 4096, &heads); shape_given = 1; break;
        case 'K': bad = app_parse_int(CMD, "--kv-heads", optarg, 1, 4096, &kv_heads); shape_given = 1; break;
        case 'F': bad = app_parse_int(CMD, "--mlp", optarg, 1, 1 << 20, &mlp); shape_given = 1; break;
        case 'q': bad = app_parse_int(CMD, "--seq", optarg, 1, 1 << 20, &seq); shape_given = 1; break;
        case 'V': bad = app_parse_int(CMD, "--vocab", optarg, 1, 1 << 24, &vocab); shape_given = 1; break;
        case 't': tied = 1; shape_given = 1; break;
        case 'R':
            bad = app_parse_float(CMD, "--rope-theta", optarg, 1.0, 1e12, &theta);
            shape_given = 1;
            break;
        case 's': bad = app_parse_int(CMD, "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case 'd': bad = app_parse_float(CMD, "--std", optarg, 0.0, 10.0, &std); break;
        case 'h': usage(stdout); return 0;
        default: return app_bad_option(CMD, c, argv);
        }
        if (bad) return APP_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "retrobench " CMD ": unexpected argument '%s'\n", argv[optind]);
        return APP_EXIT_USAGE;
    }
    if (!out) {
        fprintf(stderr, "retrobench " CMD ": no output; use -o OUT.safetensors\n");
        return APP_EXIT_USAGE;
    }
    if (!tok_path) {
        fprintf(stderr, "retrobench " CMD ": no tokenizer; use --tokenizer tokenizer.json (the model's "
                        "vocabulary and the checkpoint's embedded tokenizer come from it)\n");
        return APP_EXIT_USAGE;
    }
    if (config && shape_given) {
        fprintf(stderr, "retrobench " CMD ": --config gives the whole shape; drop --layers, --hidden, "
                        "--heads, --kv-heads, --mlp, --seq, --vocab, --tied and --rope-theta, or drop --config\n");
        return APP_EXIT_USAGE;
    }
    if (!config) {
        const char *missing = layers < 0 ? "--layers L" : hidden < 0 ? "--hidden H" : heads < 0 ? "--heads N"
                            : mlp < 0 ? "--mlp F" : NULL;
        if (missing) {
            fprintf(stderr, "retrobench " CMD ": the shape needs %s (or --config config.json)\n", missing);
            return APP_EXIT_USAGE;
        }
    }

    /* the tokenizer: a tokenizer file, or the one a model file carries */
    rb_tokenizer *tok = NULL;
    rb_loaded_model tlm;
    int rc = app_open_tokenizer(CMD, tok_path, NULL, &tok, &tlm);
    if (rc) return rc;
    const int n_tok = rb_tokenizer_vocab_size(tok);

    rb_config cfg;
    if (config) {
        if ((rc = read_hf_config(config, &cfg)) != 0) goto close_tok;
        if (cfg.n_recur != 0) {
            fprintf(stderr, "retrobench " CMD ": --config %s describes a retrofitted model; init makes plain "
                            "models (cut one with `retrobench surgery` afterwards)\n", config);
            rc = APP_EXIT_INPUT;
            goto close_tok;
        }
    } else {
        rb_config_defaults(&cfg);
        cfg.vocab_size = (int)(vocab > 0 ? vocab : n_tok);
        cfg.dim = (int)hidden;
        cfg.n_heads = (int)heads;
        cfg.n_kv_heads = (int)(kv_heads > 0 ? kv_heads : heads);
        cfg.hidden_dim = (int)mlp;
        cfg.max_seq_len = (int)seq;
        cfg.rope_theta = (float)theta;
        cfg.tied_head = tied;
        cfg.n_prelude = (int)layers;
        if (hidden % heads) {
            fprintf(stderr, "retrobench " CMD ": --hidden %ld is not a multiple of --heads %ld; choose heads "
                            "dividing the width\n", hidden, heads);
            rc = APP_EXIT_USAGE;
            goto close_tok;
        }
    }
    if (cfg.vocab_size < n_tok) {
        fprintf(stderr, "retrobench " CMD ": %s: the tokenizer has %d ids, more than the %d embedding rows "
                        "asked for; use --vocab %d or more (or the tokenizer's size, the default)\n",
                tok_path, n_tok, cfg.vocab_size, n_tok);
        rc = config ? APP_EXIT_INPUT : APP_EXIT_USAGE;
        goto close_tok;
    }
    rb_error err = {0};
    if (rb_config_finalize(&cfg, &err) != RB_OK) {
        fprintf(stderr, "retrobench " CMD ": %s%s\n", config ? "" : "the shape options: ", err.msg);
        rc = config ? APP_EXIT_INPUT : APP_EXIT_USAGE;
        goto close_tok;
    }

    rb_backend *be = NULL;
    rb_model *m = NULL;
    float *host = NULL;
    char *tok_value = NULL;
    if (rb_backend_cpu_create(&be, &err) != RB_OK || rb_model_create(&m, &cfg, be, &err) != RB_OK ||
        rb_model_init_random(m, (uint64_t)seed, (float)std, &err) != RB_OK) {
        fprintf(stderr, "retrobench " CMD ": %s\n", err.msg);
        rc = APP_EXIT_INPUT;
        goto done;
    }
    if (!(host = malloc(m->table.total * sizeof(float)))) {
        fprintf(stderr, "retrobench " CMD ": out of memory for %zu parameters\n", m->table.total);
        rc = APP_EXIT_INPUT;
        goto done;
    }
    if (rb_model_get_params(m, host, &err) != RB_OK) {
        fprintf(stderr, "retrobench " CMD ": %s\n", err.msg);
        rc = APP_EXIT_INPUT;
        goto done;
    }
    /* the checkpoint's metadata: the tokenizer's own file (or the embedding of
     * the model it came from, passed on) and the special ids */
    rb_loaded_model lm;
    memset(&lm, 0, sizeof lm);
    if (tlm.tok) {
        lm = tlm;
    } else {
        lm.tok = tok;
        snprintf(lm.tokenizer_path, sizeof lm.tokenizer_path, "%s", tok_path);
        snprintf(lm.source, sizeof lm.source, "%s", tok_path);
        lm.bos_id = rb_tokenizer_bos(tok);
        lm.n_eos = rb_tokenizer_eos(tok) >= 0;
        lm.eos_ids[0] = rb_tokenizer_eos(tok);
    }
    const char *keys[3], *vals[3];
    int n = 0;
    if ((rc = app_checkpoint_meta(CMD, &lm, keys, vals, &n, &tok_value)) != 0) goto done;
    if (rb_checkpoint_save(out, &cfg, host, NULL, keys, vals, n, &err) != RB_OK) {
        fprintf(stderr, "retrobench " CMD ": %s\n", err.msg);
        rc = APP_EXIT_INPUT;
        goto done;
    }
    rb_param_counts pc;
    rb_model_param_counts(m, &pc);
    fprintf(stderr, "retrobench " CMD ": %s: %d layers, h %d, %d heads (%d kv), mlp %d, vocab %d, seq %d, %s head; "
                    "%zu parameters (%zu without embeddings and head); seed %ld, std %g; tokenizer embedded\n",
            out, cfg.n_prelude, cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.hidden_dim, cfg.vocab_size,
            cfg.max_seq_len, cfg.tied_head ? "tied" : "untied", pc.total, pc.total - pc.embed - pc.head, seed,
            std);
done:
    free(tok_value);
    free(host);
    rb_model_destroy(m);
    rb_backend_destroy(be);
close_tok:
    if (tlm.tok) rb_loaded_model_free(&tlm);
    else rb_tokenizer_free(tok);
    return rc;
}
