/* cmd_tokenize.c: `retrobench tokenize -m MODEL_OR_TOKENIZER [--bos] TEXT`:
 * the ids separated by spaces. A tokenizer.json, a llama2.c tokenizer.bin,
 * or any model file carrying a tokenizer is accepted (a model is read
 * headers only: its weights are never loaded). The text comes from the
 * argument or from --prompt-file FILE ("-": standard input). --identity
 * prints the tokenizer's size and identity instead. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_model.h"
#include "cli.h"
#include "rb_tokenizer.h"

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *tok_path = NULL, *prompt_file = NULL;
    int bos = 0, identity = 0;
    static const struct option opts[] = {{"model", 1, 0, 'm'},       {"tokenizer", 1, 0, 'T'},
                                         {"bos", 0, 0, 'b'},         {"prompt-file", 1, 0, 'f'},
                                         {"identity", 0, 0, 'I'},    {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        if (c == 'm') path = optarg;
        else if (c == 'T') tok_path = optarg;
        else if (c == 'b') bos = 1;
        else if (c == 'f') prompt_file = optarg;
        else if (c == 'I') identity = 1;
        else if (c == 'h') {
            printf("usage: retrobench tokenize -m MODEL_OR_TOKENIZER [--tokenizer TOK] [--bos] "
                   "(TEXT | --prompt-file FILE)\n"
                   "       retrobench tokenize -m MODEL_OR_TOKENIZER --identity\n"
                   "--prompt-file - reads standard input; one final newline is dropped.\n");
            return 0;
        } else return app_bad_option("tokenize", c, argv);
    }
    int want_args = identity || prompt_file ? 0 : 1;
    if (argc - optind != want_args) {
        fprintf(stderr, "retrobench tokenize: %s\n",
                want_args ? "give exactly one TEXT argument (quote it), or --prompt-file FILE"
                          : "--identity and --prompt-file take no TEXT argument");
        return APP_EXIT_USAGE;
    }
    if (identity && prompt_file) {
        fprintf(stderr, "retrobench tokenize: --identity prints no ids; drop --prompt-file\n");
        return APP_EXIT_USAGE;
    }
    rb_error err = {0};
    rb_tokenizer *tok = NULL;
    rb_loaded_model lm;
    int rc = app_open_tokenizer("tokenize", path, tok_path, &tok, &lm);
    if (rc) return rc;
    char *owned = NULL;
    size_t len = 0;
    const char *text = NULL;
    if (!identity) {
        if (prompt_file) {
            rc = app_read_prompt("tokenize", prompt_file, &owned, &len);
            text = owned;
        } else {
            text = argv[optind];
            len = strlen(text);
        }
    }
    if (!rc && identity) {
        char id[96];
        printf("%s\n", app_tok_identity(tok, id, sizeof id));
    } else if (!rc) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (rb_tokenizer_encode(tok, text, len, bos, &ids, &n, &err) != RB_OK) {
            fprintf(stderr, "retrobench tokenize: %s\n", err.msg);
            rc = APP_EXIT_INPUT;
        } else {
            for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
            printf("\n");
        }
        free(ids);
    }
    free(owned);
    if (lm.tok) rb_loaded_model_free(&lm);
    else rb_tokenizer_free(tok);
    return rc;
}
