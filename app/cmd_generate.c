/* cmd_generate.c: `retrobench generate`: the prompt followed by its
 * continuation on stdout, and nothing else there (diagnostics on stderr).
 *
 *   retrobench generate -m MODEL [--tokenizer TOK] (-p PROMPT | --prompt-file FILE) -n NEW
 *       [-r DEPTH] [-t TEMP] [--top-k K] [--top-p P] [--seed S] [--exit rel:0.03|kl:5e-4|argmax:5]
 *
 * --prompt-file - reads the prompt from standard input.
 *
 * Greedy by default (-t 0). A BOS token starts the sequence when the
 * tokenizer has one; generation stops at EOS (or a new BOS) or after NEW
 * tokens. The initial recurrent state is drawn afresh for every token from
 * the seed, so a seed fixes the whole output. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_model.h"
#include "cli.h"
#include "rb_infer.h"
#include "rb_tokenizer.h"

static volatile sig_atomic_t stop_requested;
static void on_sigint(int sig) { (void)sig; stop_requested = 1; }

static void usage(FILE *f)
{
    fprintf(f, "usage: retrobench generate -m MODEL [--tokenizer TOK] [-p PROMPT | --prompt-file FILE]\n"
               "         [-n NEW_TOKENS] [-r DEPTH] [-t TEMP] [--top-k K] [--top-p P] [--seed S]\n"
               "         [--exit rel:THRESHOLD|kl:THRESHOLD|argmax:PATIENCE]\n"
               "defaults: -n 256, -r 4 (recurrent models), -t 0 (greedy), --seed 42\n"
               "--prompt-file - reads standard input; one final newline is dropped.\n");
}

int app_parse_exit_rule(const char *cmd, const char *s, rb_exit_rule *ex)
{
    const char *colon = strchr(s, ':');
    size_t klen = colon ? (size_t)(colon - s) : strlen(s);
    double v = 0;
    memset(ex, 0, sizeof *ex);
    if (!strncmp(s, "rel", klen) && klen == 3) {
        ex->kind = RB_EXIT_REL_CHANGE;
        ex->threshold = 0.03f;
    } else if (!strncmp(s, "kl", klen) && klen == 2) {
        ex->kind = RB_EXIT_KL;
        ex->threshold = 5e-4f;
    } else if (!strncmp(s, "argmax", klen) && klen == 6) {
        ex->kind = RB_EXIT_ARGMAX;
        ex->patience = 5;
    } else {
        fprintf(stderr, "retrobench %s: --exit '%s': use rel[:0.03], kl[:5e-4] or argmax[:5]\n", cmd, s);
        return -1;
    }
    if (colon) {
        if (app_parse_float(cmd, "--exit", colon + 1, 0, 1e9, &v)) return -1;
        if (ex->kind == RB_EXIT_ARGMAX) ex->patience = (int)v;
        else ex->threshold = (float)v;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *tok_path = NULL, *prompt = "", *prompt_file = NULL;
    long n_new = 256, depth = 4, top_k = 0, seed = 42;
    double temp = 0, top_p = 1;
    int depth_given = 0, use_exit = 0;
    rb_exit_rule ex;
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"tokenizer", 1, 0, 'T'}, {"prompt", 1, 0, 'p'},
        {"tokens", 1, 0, 'n'}, {"depth", 1, 0, 'r'}, {"temperature", 1, 0, 't'},
        {"top-k", 1, 0, 'k'}, {"top-p", 1, 0, 'P'}, {"seed", 1, 0, 's'},
        {"exit", 1, 0, 'x'}, {"prompt-file", 1, 0, 'f'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:p:n:r:t:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'T': tok_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'f': prompt_file = optarg; break;
        case 'n': bad = app_parse_int("generate", "-n", optarg, 0, 1 << 24, &n_new); break;
        case 'r': bad = app_parse_int("generate", "-r", optarg, 1, 4096, &depth); depth_given = 1; break;
        case 't': bad = app_parse_float("generate", "-t", optarg, 0, 100, &temp); break;
        case 'k': bad = app_parse_int("generate", "--top-k", optarg, 0, 1 << 24, &top_k); break;
        case 'P': bad = app_parse_float("generate", "--top-p", optarg, 0, 1, &top_p); break;
        case 's': bad = app_parse_int("generate", "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case 'x': bad = app_parse_exit_rule("generate", optarg, &ex); use_exit = 1; break;
        case 'h': usage(stdout); return 0;
        default: return app_bad_option("generate", c, argv);
        }
        if (bad) return APP_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "retrobench generate: unexpected argument '%s' (the prompt goes after -p)\n", argv[optind]);
        return APP_EXIT_USAGE;
    }
    if (prompt_file && prompt[0]) {
        fprintf(stderr, "retrobench generate: give the prompt with -p or --prompt-file, not both\n");
        return APP_EXIT_USAGE;
    }
    char *prompt_owned = NULL;
    size_t prompt_len = strlen(prompt);
    if (prompt_file) {
        int prc = app_read_prompt("generate", prompt_file, &prompt_owned, &prompt_len);
        if (prc) return prc;
        prompt = prompt_owned;
    }
    app_model am;
    int rc = app_model_open(&am, "generate", model, tok_path, 1);
    if (rc) {
        free(prompt_owned);
        return rc;
    }
    const rb_config *cfg = &am.m->cfg;
    app_decode_threads(am.m);
    const int recurrent = rb_config_is_recurrent(cfg);
    if (!recurrent && depth_given && depth != 1)
        fprintf(stderr, "retrobench generate: %s is not recurrent; -r %ld has no effect\n", model, depth);
    rb_error err = {0};
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rb_tokenizer *tok = am.lm.tok;
    int bos = rb_tokenizer_bos(tok);
    /* BOS as the tokenizer's own configuration says; an empty prompt
     * starts from BOS when there is one */
    int add_bos = bos >= 0 && (rb_tokenizer_add_bos(tok) || !prompt[0]);
    if (rb_tokenizer_encode(tok, prompt, prompt_len, add_bos, &ids, &n_ids, &err) != RB_OK) {
        fprintf(stderr, "retrobench generate: prompt: %s\n", err.msg);
        app_model_close(&am);
        free(prompt_owned);
        return APP_EXIT_INPUT;
    }
    if (n_ids == 0) {
        fprintf(stderr, "retrobench generate: the prompt is empty and the tokenizer has no BOS "
                        "token to start from; give a prompt with -p\n");
        free(ids);
        app_model_close(&am);
        free(prompt_owned);
        return APP_EXIT_INPUT;
    }
    if ((long)n_ids > cfg->max_seq_len) {
        fprintf(stderr, "retrobench generate: the prompt is %zu tokens, longer than the model's "
                        "context of %d tokens; shorten it\n", n_ids, cfg->max_seq_len);
        free(ids);
        app_model_close(&am);
        free(prompt_owned);
        return APP_EXIT_INPUT;
    }
    long max_tokens = (long)n_ids + n_new;
    if (max_tokens > cfg->max_seq_len) {
        fprintf(stderr, "retrobench generate: the prompt (%zu tokens) and %ld new tokens exceed the "
                        "model's context of %d; generating at most %ld\n", n_ids, n_new,
                cfg->max_seq_len, (long)cfg->max_seq_len - (long)n_ids);
        max_tokens = cfg->max_seq_len;
        n_new = max_tokens - (long)n_ids;
    }
    rb_session *s = NULL;
    const int V = cfg->vocab_size;
    float *logits = malloc(sizeof(float) * (size_t)V), *scratch = malloc(sizeof(float) * 2 * (size_t)V);
    rb_detok *dt = NULL;
    if (!logits || !scratch || rb_session_create(&s, am.m, (int)(max_tokens > 0 ? max_tokens : 1),
                                                 recurrent ? (int)depth : 1, &err) != RB_OK ||
        rb_detok_create(&dt, tok, &err) != RB_OK) {
        fprintf(stderr, "retrobench generate: %s\n", err.msg[0] ? err.msg : "out of memory");
        rc = 1;
        goto done;
    }
    if (prompt[0]) rb_detok_mid_text(dt);
    signal(SIGINT, on_sigint);
    fwrite(prompt, 1, prompt_len, stdout);
    fflush(stdout);
    rb_sample_opts so = {(float)temp, (int)top_k, (float)top_p};
    rb_rng rng;
    rb_rng_seed(&rng, (uint64_t)seed);
    /* s_0 of the token at position p: rb_draw_state_row(seed, p), the rule
       every path shares (eval, trace, the workbench, Lua) */
    rb_infer_opts io = {.depth = (int)depth, .exit = use_exit ? &ex : NULL, .seed = (uint64_t)seed};
    double t0 = now_s();
    if (rb_session_feed(s, ids, (int)n_ids, &io, logits, NULL, &err) != RB_OK) {
        fprintf(stderr, "\nretrobench generate: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    double t_prefill = now_s() - t0, t1 = now_s();
    long generated = 0, depth_sum = 0;
    char *text = NULL;
    size_t text_len = 0;
    while (generated < n_new && !stop_requested) {
        int32_t next = rb_sample(logits, V, &so, &rng, scratch);
        int is_end = 0;
        for (int e = 0; e < am.lm.n_eos; e++) is_end |= next == am.lm.eos_ids[e];
        if (next == rb_tokenizer_eos(tok) || (bos >= 0 && next == bos)) is_end = 1;
        if (is_end) break;
        text_len = 0;
        if (rb_detok_push(dt, next, &text, &text_len, &err) != RB_OK) {
            fprintf(stderr, "\nretrobench generate: %s\n", err.msg);
            rc = 1;
            break;
        }
        fwrite(text, 1, text_len, stdout);
        fflush(stdout);
        generated++;
        if (generated == n_new) break;
        int used = 0;
        if (rb_session_feed(s, &next, 1, &io, logits, &used, &err) != RB_OK) {
            fprintf(stderr, "\nretrobench generate: %s\n", err.msg);
            rc = 1;
            break;
        }
        depth_sum += used;
    }
    text_len = 0;
    if (rb_detok_flush(dt, &text, &text_len, &err) == RB_OK && text_len) fwrite(text, 1, text_len, stdout);
    free(text);
    fputc('\n', stdout);
    fflush(stdout);
    double dt_s = now_s() - t1;
    fprintf(stderr, "retrobench generate: prompt %zu tokens in %.3f s; %ld new tokens in %.3f s "
                    "(%.1f tok/s)", n_ids, t_prefill, generated, dt_s, generated > 1 ? (generated - 1) / dt_s : 0.0);
    if (recurrent) fprintf(stderr, ", depth %ld", depth);
    if (recurrent && use_exit && generated > 1)
        fprintf(stderr, " (adaptive: mean %.2f iterations)", (double)depth_sum / (double)(generated - 1));
    fprintf(stderr, "%s\n", stop_requested ? " [interrupted]" : "");
    if (stop_requested && rc == 0) rc = APP_EXIT_SIGINT;
done:
    rb_detok_free(dt);
    rb_session_destroy(s);
    free(logits);
    free(scratch);
    free(ids);
    app_model_close(&am);
    free(prompt_owned);
    return rc;
}
