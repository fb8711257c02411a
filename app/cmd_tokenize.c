/* cmd_tokenize.c: `retrobench tokenize -m MODEL_OR_TOKENIZER [--bos] TEXT`:
 * the ids separated by spaces. A tokenizer.json, a llama2.c tokenizer.bin,
 * or any model file carrying a tokenizer is accepted. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_model.h"
#include "cli.h"
#include "rb_tokenizer.h"

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *tok_path = NULL;
    int bos = 0;
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"tokenizer", 1, 0, 'T'},
                                         {"bos", 0, 0, 'b'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'm') path = optarg;
        else if (c == 'T') tok_path = optarg;
        else if (c == 'b') bos = 1;
        else if (c == 'h') {
            printf("usage: retrobench tokenize -m MODEL_OR_TOKENIZER [--bos] TEXT\n");
            return 0;
        } else return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "retrobench tokenize: give exactly one TEXT argument (quote it)\n");
        return 2;
    }
    const char *text = argv[optind];
    rb_error err = {0};
    rb_tokenizer *tok = NULL;
    rb_loaded_model lm;
    int orc = app_open_tokenizer("tokenize", path, tok_path, &tok, &lm);
    if (orc) return orc;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 0;
    if (rb_tokenizer_encode(tok, text, strlen(text), bos, &ids, &n, &err) != RB_OK) {
        fprintf(stderr, "retrobench tokenize: %s\n", err.msg);
        rc = 1;
    } else {
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
        printf("\n");
    }
    free(ids);
    if (lm.tok) rb_loaded_model_free(&lm);
    else rb_tokenizer_free(tok);
    return rc;
}
