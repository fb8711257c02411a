/* app_model.c: see app_model.h. */
#include "app_model.h"
#include "device.h"
#include "rb_train.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

/* params_alloc for APP_LOAD_RUN: the model is created as soon as the
 * loader knows its configuration, and the weights are read straight into its
 * parameter memory. The CPU backend's memory is host memory (rb_backend.h),
 * so no second copy is ever made: generation holds the weights once. */
static float *alloc_in_model(void *ctx, const rb_config *cfg, size_t n_floats, rb_error *err)
{
    app_model *am = ctx;
    if (rb_model_create(&am->m, cfg, am->be, err) != RB_OK) return NULL;
    if (am->m->table.total != n_floats) {
        rb_fail(err, RB_EINVAL, "parameter table of %zu floats, the loader expects %zu",
                am->m->table.total, n_floats);
        return NULL;
    }
    return am->m->params;
}


/* A run folder (OUT of `train`: a `latest` file naming a step-NNNNNNNN
 * folder, or phase1/, phase2/ ... for a multi-phase run) or one checkpoint
 * folder stands for its model: the newest checkpoint's model.safetensors.
 * Anything else (files, Hugging Face folders) is returned unchanged. */
static const char *resolve_run_folder(const char *cmd, const char *path, char *buf, size_t len)
{
    struct stat st;
    char probe[4096], name[256];
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return path;
    snprintf(probe, sizeof probe, "%s/config.json", path);
    if (access(probe, F_OK) == 0) return path; /* a Hugging Face folder */
    snprintf(probe, sizeof probe, "%s/model.safetensors", path);
    if (access(probe, F_OK) == 0) {
        int n = snprintf(buf, len, "%s", probe);
        return n < 0 || (size_t)n >= len ? path : buf;
    }
    for (int phase = 9; phase >= 0; phase--) { /* the last phase that has a checkpoint */
        char dir[4096];
        if (phase > 0) snprintf(dir, sizeof dir, "%s/phase%d", path, phase);
        else snprintf(dir, sizeof dir, "%s", path);
        if (rb_train_latest_checkpoint(dir, name, sizeof name, NULL) != RB_OK) continue;
        int n = snprintf(buf, len, "%s/%s/model.safetensors", dir, name);
        if (n < 0 || (size_t)n >= len) return path;
        fprintf(stderr, "retrobench %s: %s is a run folder: using its latest checkpoint, %s\n", cmd, path, buf);
        return buf;
    }
    return path;
}

int app_model_load(app_model *am, const char *cmd, const char *path, const char *tok_path,
                   int need_tok, app_load_mode mode)
{
    memset(am, 0, sizeof *am);
    rb_error err = {0};
    if (!path) {
        fprintf(stderr, "retrobench %s: no model given; use -m MODEL (a Hugging Face folder, a "
                        ".gguf, a llama2.c .bin or a retrobench .safetensors)\n", cmd);
        return APP_EXIT_USAGE;
    }
    char resolved[4200];
    path = resolve_run_folder(cmd, path, resolved, sizeof resolved);
    rb_load_opts lo = {.tokenizer_path = tok_path, .headers_only = mode == APP_LOAD_HEADERS};
    /* Backends whose memory is host memory (the CPU) receive the weights
     * straight from the loader; a GPU gets them uploaded from a host copy. */
    int direct = 0;
    if (mode == APP_LOAD_RUN) {
        int brc = app_backend_create(cmd, &am->be);
        if (brc) return brc;
        direct = am->be->name && strcmp(am->be->name, "cpu") == 0;
        if (direct) {
            lo.params_alloc = alloc_in_model;
            lo.params_ctx = am;
        }
    }
    if (rb_model_file_load(path, &lo, &am->lm, &err) != RB_OK) {
        fprintf(stderr, "retrobench %s: %s\n", cmd, err.msg);
        app_model_close(am);
        return APP_EXIT_INPUT;
    }
    if (need_tok && !am->lm.tok) {
        fprintf(stderr, "retrobench %s: %s carries no tokenizer; give one with --tokenizer "
                        "(tokenizer.json, tokenizer.bin, or the base model's .gguf)\n", cmd, path);
        app_model_close(am);
        return APP_EXIT_INPUT;
    }
    if (mode == APP_LOAD_RUN && !direct) {
        if (rb_model_create(&am->m, &am->lm.cfg, am->be, &err) != RB_OK ||
            rb_model_set_params(am->m, am->lm.params, &err) != RB_OK) {
            fprintf(stderr, "retrobench %s: %s: %s\n", cmd, path, err.msg);
            app_model_close(am);
            return APP_EXIT_INPUT;
        }
        /* the weights live on the device now: drop the host copy */
        free(am->lm.params);
        am->lm.params = NULL;
    } else if (mode == APP_LOAD_RUN) {
        /* the weights are in the model's memory; the loaded model only borrowed it */
        am->lm.params = NULL;
        am->lm.params_borrowed = 0;
    }
    return 0;
}

int app_model_open(app_model *am, const char *cmd, const char *path, const char *tok_path,
                   int need_tok)
{
    return app_model_load(am, cmd, path, tok_path, need_tok, APP_LOAD_RUN);
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

/* A tokenizer file rather than a model: a llama2.c tokenizer.bin (which
 * shares the .bin extension with models) or anything that is no model. */
static int open_tokenizer_file(const char *path, rb_tokenizer **tok, rb_error *err)
{
    rb_model_format f = rb_detect_format(path);
    if (f == RB_FORMAT_LLAMA2C && rb_tokenizer_load_llama2c(tok, path, 0, NULL) == RB_OK) {
        rb_tokenizer_set_special(*tok, 1, 2);
        return 1;
    }
    if (f != RB_FORMAT_UNKNOWN) return 0;
    rb_tokenizer_load_file(tok, path, err);
    return 1;
}

int app_open_tokenizer(const char *cmd, const char *path, const char *tok_path, rb_tokenizer **tok,
                       rb_loaded_model *lm)
{
    rb_error err = {0};
    memset(lm, 0, sizeof *lm);
    *tok = NULL;
    const char *model = path;
    if (!path) path = tok_path;
    if (!path) {
        fprintf(stderr, "retrobench %s: no tokenizer; use -m MODEL_OR_TOKENIZER\n", cmd);
        return APP_EXIT_USAGE;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "retrobench %s: %s: no such file or folder\n", cmd, path);
        return APP_EXIT_INPUT;
    }
    if (S_ISREG(sb.st_mode) && sb.st_size > 0 && open_tokenizer_file(path, tok, &err)) {
        if (!*tok) {
            fprintf(stderr, "retrobench %s: %s\n", cmd, err.msg);
            return APP_EXIT_INPUT;
        }
        if (model && tok_path) {
            fprintf(stderr, "retrobench %s: -m %s is a tokenizer already; give --tokenizer only "
                            "with a model\n", cmd, model);
            rb_tokenizer_free(*tok);
            *tok = NULL;
            return APP_EXIT_USAGE;
        }
        return 0;
    }
    /* a model: its headers and tokenizer only, never its weights */
    rb_load_opts lo = {.tokenizer_path = tok_path, .headers_only = 1};
    if (rb_model_file_load(path, &lo, lm, &err) != RB_OK) {
        fprintf(stderr, "retrobench %s: %s\n", cmd, err.msg);
        return APP_EXIT_INPUT;
    }
    if (!lm->tok) {
        fprintf(stderr, "retrobench %s: %s carries no tokenizer; give one with --tokenizer\n", cmd,
                path);
        rb_loaded_model_free(lm);
        return APP_EXIT_INPUT;
    }
    *tok = lm->tok;
    return 0;
}

const char *app_tok_identity(const rb_tokenizer *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%d pieces, identity %016llx", rb_tokenizer_vocab_size(t),
             (unsigned long long)rb_tokenizer_identity(t));
    return buf;
}

int app_checkpoint_meta(const char *cmd, const rb_loaded_model *lm, const char **keys,
                        const char **vals, int *n, char **owned)
{
    static char bos[32], eos[32];
    *owned = NULL;
    if (lm->tok) {
        rb_error err = {0};
        const char *key = NULL;
        if (rb_tokenizer_embedding(lm, &key, owned, &err) != RB_OK) {
            fprintf(stderr, "retrobench %s: cannot carry the tokenizer into the checkpoint: %s\n",
                    cmd, err.msg);
            return APP_EXIT_INPUT;
        }
        keys[*n] = key;
        vals[(*n)++] = *owned;
    }
    if (lm->bos_id >= 0) {
        snprintf(bos, sizeof bos, "%d", lm->bos_id);
        keys[*n] = "bos_token_id";
        vals[(*n)++] = bos;
    }
    if (lm->n_eos > 0) {
        snprintf(eos, sizeof eos, "%d", lm->eos_ids[0]);
        keys[*n] = "eos_token_id";
        vals[(*n)++] = eos;
    }
    return 0;
}

int app_read_prompt(const char *cmd, const char *file, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    int from_stdin = !strcmp(file, "-");
    FILE *f = stdin;
    if (!from_stdin) {
        struct stat sb;
        if (stat(file, &sb) != 0) {
            fprintf(stderr, "retrobench %s: --prompt-file %s: no such file\n", cmd, file);
            return APP_EXIT_INPUT;
        }
        if (S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "retrobench %s: --prompt-file %s is a folder; give a text file (or - "
                            "for standard input)\n", cmd, file);
            return APP_EXIT_INPUT;
        }
        if (!(f = fopen(file, "rb"))) {
            fprintf(stderr, "retrobench %s: --prompt-file %s: %s\n", cmd, file, strerror(errno));
            return APP_EXIT_INPUT;
        }
    }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 >= cap) {
            char *nb = cap < ((size_t)1 << 30) ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    if (!from_stdin) fclose(f);
    if (!b || bad) {
        fprintf(stderr, "retrobench %s: --prompt-file %s: %s\n", cmd, from_stdin ? "(standard input)" : file,
                b ? "read error" : "too large (over 1 GiB) or out of memory");
        free(b);
        return APP_EXIT_INPUT;
    }
    if (n > 0 && b[n - 1] == '\n') n--;
    if (n > 0 && b[n - 1] == '\r') n--;
    b[n] = 0;
    if (strlen(b) != n) {
        fprintf(stderr, "retrobench %s: --prompt-file %s holds a NUL byte at offset %zu; a prompt "
                        "is UTF-8 text\n", cmd, from_stdin ? "-" : file, strlen(b));
        free(b);
        return APP_EXIT_INPUT;
    }
    *text = b;
    *len = n;
    return 0;
}

int app_bad_option(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    char shown[64];
    if (optopt && (!arg || strncmp(arg, "--", 2) != 0)) snprintf(shown, sizeof shown, "-%c", optopt);
    else {
        /* --name=value: name the option only */
        snprintf(shown, sizeof shown, "%.*s", (int)strcspn(arg, "="), arg);
    }
    if (c == ':')
        fprintf(stderr, "retrobench %s: option %s needs a value; see retrobench %s --help\n", cmd,
                shown, cmd);
    else
        fprintf(stderr, "retrobench %s: unknown option '%s'; see retrobench %s --help\n", cmd,
                shown, cmd);
    return APP_EXIT_USAGE;
}
