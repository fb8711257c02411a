/* cmd_trace.c: `retrobench trace -m MODEL (-p PROMPT | --prompt-file F) [-r DEPTH] [-n TOKENS]`:
 * the latent state converging, iteration by iteration (METHOD.md section
 * 3): for the next token after the prompt (and for each of n further
 * greedy tokens), the relative change of the state, the KL divergence
 * between successive decoded distributions and the top token at each depth. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_model.h"
#include "cli.h"
#include "rb_infer.h"
#include "rb_tokenizer.h"

/* A token's text, with control characters made visible, quoted. */
static void print_piece(const rb_tokenizer *tok, int32_t id)
{
    rb_detok *d = NULL;
    char *s = NULL;
    size_t n = 0;
    if (rb_detok_create(&d, tok, NULL) == RB_OK) {
        rb_detok_mid_text(d);
        rb_detok_push(d, id, &s, &n, NULL);
        rb_detok_flush(d, &s, &n, NULL);
    }
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n') fputs("\\n", stdout);
        else if (ch == '"') fputs("\\\"", stdout);
        else if (ch < 0x20) printf("\\x%02x", ch);
        else putchar(ch);
    }
    putchar('"');
    free(s);
    rb_detok_free(d);
}

int cmd_trace(int argc, char **argv)
{
    const char *model = NULL, *tok_path = NULL, *prompt = "", *prompt_file = NULL;
    long depth = 16, n_more = 0, seed = 42;
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"tokenizer", 1, 0, 'T'}, {"prompt", 1, 0, 'p'}, {"depth", 1, 0, 'r'},
        {"tokens", 1, 0, 'n'}, {"seed", 1, 0, 's'}, {"prompt-file", 1, 0, 'f'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:p:r:n:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'T': tok_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'f': prompt_file = optarg; break;
        case 'r': bad = app_parse_int("trace", "-r", optarg, 1, 4096, &depth); break;
        case 'n': bad = app_parse_int("trace", "-n", optarg, 0, 100000, &n_more); break;
        case 's': bad = app_parse_int("trace", "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case 'h':
            printf("usage: retrobench trace -m MODEL [--tokenizer TOK] (-p PROMPT | --prompt-file FILE) "
                   "[-r DEPTH (16)] [-n MORE_TOKENS] [--seed S]\n"
                   "--prompt-file - reads standard input; one final newline is dropped.\n");
            return 0;
        default: return app_bad_option("trace", c, argv);
        }
        if (bad) return APP_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "retrobench trace: unexpected argument '%s' (the prompt goes after -p)\n", argv[optind]);
        return APP_EXIT_USAGE;
    }
    if (prompt_file && prompt[0]) {
        fprintf(stderr, "retrobench trace: give the prompt with -p or --prompt-file, not both\n");
        return APP_EXIT_USAGE;
    }
    char *prompt_owned = NULL;
    size_t prompt_len = strlen(prompt);
    if (prompt_file) {
        int prc = app_read_prompt("trace", prompt_file, &prompt_owned, &prompt_len);
        if (prc) return prc;
        prompt = prompt_owned;
    }
    app_model am;
    int rc = app_model_open(&am, "trace", model, tok_path, 1);
    if (rc) {
        free(prompt_owned);
        return rc;
    }
    if (!rb_config_is_recurrent(&am.m->cfg)) {
        fprintf(stderr, "retrobench trace: %s is not recurrent; there is no latent iteration to "
                        "trace (make one with retrobench surgery)\n", model);
        app_model_close(&am);
        free(prompt_owned);
        return APP_EXIT_INPUT;
    }
    app_decode_threads(am.m);
    rb_error err = {0};
    rb_tokenizer *tok = am.lm.tok;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int add_bos = rb_tokenizer_bos(tok) >= 0 && (rb_tokenizer_add_bos(tok) || !prompt[0]);
    const char *why = NULL;
    if (rb_tokenizer_encode(tok, prompt, prompt_len, add_bos, &ids, &n_ids, &err) != RB_OK)
        why = err.msg;
    else if (n_ids == 0)
        why = "the prompt is empty and the tokenizer has no BOS token to start from; give a prompt with -p";
    else if ((long)n_ids > am.m->cfg.max_seq_len) {
        snprintf(err.msg, sizeof err.msg, "the prompt is %zu tokens, longer than the model's context "
                 "of %d tokens; shorten it", n_ids, am.m->cfg.max_seq_len);
        why = err.msg;
    }
    if (why) {
        fprintf(stderr, "retrobench trace: prompt: %s\n", why);
        free(ids);
        app_model_close(&am);
        free(prompt_owned);
        return APP_EXIT_INPUT;
    }
    const int V = am.m->cfg.vocab_size;
    rb_session *s = NULL;
    rb_trace tr;
    float *logits = malloc(sizeof(float) * (size_t)V);
    long total = (long)n_ids + n_more;
    if (total > am.m->cfg.max_seq_len) total = am.m->cfg.max_seq_len;
    if (!logits || rb_trace_alloc(&tr, (int)depth, &err) != RB_OK ||
        rb_session_create(&s, am.m, (int)total, (int)depth, &err) != RB_OK) {
        fprintf(stderr, "retrobench trace: %s\n", err.msg);
        free(logits);
        free(ids);
        app_model_close(&am);
        free(prompt_owned);
        return APP_EXIT_INPUT;
    }
    rb_infer_opts io = {.depth = (int)depth, .seed = (uint64_t)seed, .trace = &tr};
    rc = 0;
    int32_t next = 0;
    for (long t = 0; t <= n_more && rb_session_pos(s) < total; t++) {
        rb_status st = t == 0 ? rb_session_feed(s, ids, (int)n_ids, &io, logits, NULL, &err)
                              : rb_session_feed(s, &next, 1, &io, logits, NULL, &err);
        if (st != RB_OK) {
            fprintf(stderr, "retrobench trace: %s\n", err.msg);
            rc = 1;
            break;
        }
        printf("position %d (%s), depth %d\n", rb_session_pos(s) - 1, t == 0 ? "after the prompt" : "generated",
               tr.iters);
        printf("  iter  rel_change  KL(p_i||p_i-1)  top token\n");
        for (int i = 0; i < tr.iters; i++) {
            printf("  %4d  %10.6f  ", i + 1, (double)tr.rel_change[i]);
            if (isnan(tr.kl[i])) printf("%14s  ", "-");
            else printf("%14.3e  ", (double)tr.kl[i]);
            printf("%6d ", tr.top_token[i]);
            print_piece(tok, tr.top_token[i]);
            printf(" p=%.3f\n", (double)tr.top_prob[i]);
        }
        next = rb_argmax(logits, V);
    }
    rb_trace_free(&tr);
    rb_session_destroy(s);
    free(logits);
    free(ids);
    app_model_close(&am);
    free(prompt_owned);
    return rc;
}
