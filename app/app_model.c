/* app_model.c: see app_model.h. */
#include "app_model.h"
#include "device.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int app_model_open(app_model *am, const char *cmd, const char *path, const char *tok_path,
                   int need_tok)
{
    memset(am, 0, sizeof *am);
    rb_error err = {0};
    if (!path) {
        fprintf(stderr, "retrobench %s: no model given; use -m MODEL (a Hugging Face folder, a "
                        ".gguf, a llama2.c .bin or a retrobench .safetensors)\n", cmd);
        return 2;
    }
    rb_load_opts lo = {.tokenizer_path = tok_path};
    if (rb_model_file_load(path, &lo, &am->lm, &err) != RB_OK) {
        fprintf(stderr, "retrobench %s: %s\n", cmd, err.msg);
        return 1;
    }
    if (need_tok && !am->lm.tok) {
        fprintf(stderr, "retrobench %s: %s carries no tokenizer; give one with --tokenizer "
                        "(tokenizer.json, tokenizer.bin, or the base model's .gguf)\n", cmd, path);
        rb_loaded_model_free(&am->lm);
        return 2;
    }
    int brc = app_backend_create(cmd, &am->be);
    if (brc) {
        rb_loaded_model_free(&am->lm);
        return brc;
    }
    if (rb_model_create(&am->m, &am->lm.cfg, am->be, &err) != RB_OK ||
        rb_model_set_params(am->m, am->lm.params, &err) != RB_OK) {
        fprintf(stderr, "retrobench %s: %s: %s\n", cmd, path, err.msg);
        app_model_close(am);
        return 1;
    }
    return 0;
}

void app_model_close(app_model *am)
{
    rb_model_destroy(am->m);
    rb_backend_destroy(am->be);
    rb_loaded_model_free(&am->lm);
    memset(am, 0, sizeof *am);
}

int app_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi) {
        fprintf(stderr, "retrobench %s: %s expects an integer in %ld..%ld, got '%s'\n", cmd, opt, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int app_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "retrobench %s: %s expects a number in [%g, %g], got '%s'\n", cmd, opt, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int app_decode_threads(const rb_model *m)
{
    if (!getenv("OMP_NUM_THREADS") && m->table.total < 20u * 1000 * 1000) omp_set_num_threads(1);
    return omp_get_max_threads();
}

int app_open_tokenizer(const char *cmd, const char *path, const char *tok_path, rb_tokenizer **tok,
                       rb_loaded_model *lm)
{
    rb_error err = {0};
    memset(lm, 0, sizeof *lm);
    *tok = NULL;
    if (!path) path = tok_path;
    if (!path) {
        fprintf(stderr, "retrobench %s: no tokenizer; use -m MODEL_OR_TOKENIZER\n", cmd);
        return 2;
    }
    rb_model_format f = rb_detect_format(path);
    /* a llama2.c tokenizer.bin and a llama2.c model share the extension:
     * try reading a tokenizer first, which fails fast on a model */
    if (f == RB_FORMAT_LLAMA2C && rb_tokenizer_load_llama2c(tok, path, 0, NULL) == RB_OK) return 0;
    if (f == RB_FORMAT_UNKNOWN) {
        if (rb_tokenizer_load_file(tok, path, &err) != RB_OK) {
            fprintf(stderr, "retrobench %s: %s\n", cmd, err.msg);
            return 1;
        }
        return 0;
    }
    rb_load_opts lo = {.tokenizer_path = tok_path};
    if (rb_model_file_load(path, &lo, lm, &err) != RB_OK) {
        fprintf(stderr, "retrobench %s: %s\n", cmd, err.msg);
        return 1;
    }
    if (!lm->tok) {
        fprintf(stderr, "retrobench %s: %s carries no tokenizer; give --tokenizer\n", cmd, path);
        rb_loaded_model_free(lm);
        return 2;
    }
    *tok = lm->tok;
    return 0;
}
