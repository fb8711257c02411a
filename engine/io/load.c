/* load.c: one entry point for every model file retrobench reads: format
 * detection, dispatch to the per-format loaders, the tokenizer attached to
 * a loaded model, and freeing what a loader returned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "rb_gguf.h"

const char *rb_model_format_name(rb_model_format f)
{
    switch (f) {
    case RB_FORMAT_HF: return "Hugging Face folder";
    case RB_FORMAT_CHECKPOINT: return "retrobench checkpoint";
    case RB_FORMAT_GGUF: return "GGUF";
    case RB_FORMAT_LLAMA2C: return "llama2.c";
    case RB_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

static int32_t le32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static int has_ext(const char *path, const char *ext)
{
    size_t a = strlen(path), b = strlen(ext);
    return a > b && !strcmp(path + a - b, ext);
}

/* llama2.c has no magic: seven int32 that look like a model header. */
static int plausible_llama2c(const unsigned char *h)
{
    int32_t dim = le32(h), hidden = le32(h + 4), layers = le32(h + 8), heads = le32(h + 12),
            kv = le32(h + 16), vocab = le32(h + 20), seq = le32(h + 24);
    return dim > 0 && hidden > 0 && layers > 0 && heads > 0 && kv > 0 && kv <= heads &&
           dim % heads == 0 && vocab != 0 && vocab != INT32_MIN && seq > 0 && dim <= (1 << 20) &&
           layers <= 4096;
}

rb_model_format rb_detect_format(const char *path)
{
    struct stat sb;
    if (!path || stat(path, &sb) != 0) return RB_FORMAT_UNKNOWN;
    if (S_ISDIR(sb.st_mode)) {
        char cfg[RB_IO_PATH_MAX];
        if (rb_io_join(cfg, sizeof cfg, path, "config.json") != 0) return RB_FORMAT_UNKNOWN;
        return rb_io_is_file(cfg) ? RB_FORMAT_HF : RB_FORMAT_UNKNOWN;
    }
    if (!S_ISREG(sb.st_mode)) return RB_FORMAT_UNKNOWN;
    unsigned char h[32] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return RB_FORMAT_UNKNOWN;
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    if (n >= 4 && !memcmp(h, "GGUF", 4)) return RB_FORMAT_GGUF;
    if (n >= 10 && h[8] == '{') {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | h[i];
        if (hl >= 2 && hl <= (uint64_t)sb.st_size - 8) return RB_FORMAT_CHECKPOINT;
    }
    if (n >= 28 && (has_ext(path, ".bin") || plausible_llama2c(h))) return RB_FORMAT_LLAMA2C;
    return RB_FORMAT_UNKNOWN;
}

/* Whether path holds a tokenizer rather than a model (a tokenizer.json or a
 * llama2.c tokenizer.bin), to say so when one is given as the model. */
static int is_tokenizer_file(const char *path)
{
    rb_tokenizer *t = NULL;
    rb_status st = has_ext(path, ".json") ? rb_tokenizer_load_json(&t, path, NULL)
                                          : rb_tokenizer_load_llama2c(&t, path, 0, NULL);
    rb_tokenizer_free(t);
    return st == RB_OK;
}

static rb_status tokenizer_not_model(const char *path, rb_error *err)
{
    return rb_fail(err, RB_EFORMAT, "%s: this is a tokenizer, not a model; give the model with "
                   "-m and this file with --tokenizer", path);
}

rb_status rb_model_file_load(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                             rb_error *err)
{
    memset(out, 0, sizeof *out);
    out->bos_id = -1;
    struct stat sb;
    if (!path || stat(path, &sb) != 0)
        return rb_fail(err, RB_EIO, "%s: no such file or folder", path ? path : "(null)");
    if (S_ISREG(sb.st_mode) && sb.st_size == 0)
        return rb_fail(err, RB_EFORMAT, "%s: the file is empty (0 bytes), not a model: a download "
                       "or copy did not finish; fetch it again", path);
    rb_status st = RB_EFORMAT;
    rb_model_format f = rb_detect_format(path);
    switch (f) {
    case RB_FORMAT_HF: st = rb_load_hf_folder(path, opts, out, err); break;
    case RB_FORMAT_CHECKPOINT: st = rb_load_checkpoint(path, opts, out, err); break;
    case RB_FORMAT_GGUF: st = rb_load_gguf(path, opts, out, err); break;
    case RB_FORMAT_LLAMA2C:
        st = rb_load_llama2c(path, opts, out, err);
        /* a tokenizer.bin shares the extension and has no magic */
        if (st != RB_OK && is_tokenizer_file(path)) return tokenizer_not_model(path, err);
        break;
    case RB_FORMAT_UNKNOWN:
        if (S_ISDIR(sb.st_mode))
            return rb_fail(err, RB_EFORMAT, "%s: a folder without config.json; a Hugging Face "
                           "model folder holds config.json and model.safetensors (give a model "
                           "file, not the folder it is in)", path);
        if (is_tokenizer_file(path)) return tokenizer_not_model(path, err);
        if (sb.st_size < 32 && (has_ext(path, ".gguf") || has_ext(path, ".safetensors") ||
                                has_ext(path, ".bin")))
            return rb_fail(err, RB_EFORMAT, "%s: only %lld bytes: the file is truncated (a "
                           "download or copy did not finish); fetch it again", path,
                           (long long)sb.st_size);
        return rb_fail(err, RB_EFORMAT, "%s: not a model file retrobench knows (a Hugging Face "
                       "folder, a .gguf file, a llama2.c .bin or a retrobench .safetensors "
                       "checkpoint)", path);
    }
    if (st != RB_OK) return st;
    /* every format: the tokenizer's ids must have embedding rows */
    if (out->tok && rb_tokenizer_vocab_size(out->tok) > out->cfg.vocab_size) {
        st = rb_fail(err, RB_EFORMAT, "%s: the tokenizer has %d ids, more than the %d rows of "
                     "the embedding of %s; it belongs to another model: use the model's own "
                     "tokenizer", out->tokenizer_path[0] ? out->tokenizer_path : path,
                     rb_tokenizer_vocab_size(out->tok), out->cfg.vocab_size, path);
        rb_loaded_model_free(out);
        return st;
    }
    return RB_OK;
}

rb_status rb_tokenizer_load_any(rb_tokenizer **out, const char *path, rb_error *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return rb_fail(err, RB_EIO, "%s: no such tokenizer file; check the path", path);
    if (rb_detect_format(path) != RB_FORMAT_GGUF) return rb_tokenizer_load_file(out, path, err);
    /* the vocabulary a GGUF model embeds (a retrofit of a GGUF base points here) */
    rb_gguf *g = NULL;
    rb_status st = rb_gguf_open(&g, path, err);
    if (st != RB_OK) return st;
    st = rb_gguf_tokenizer(g, out, err);
    rb_gguf_close(g);
    if (st == RB_OK && !*out)
        st = rb_fail(err, RB_EFORMAT, "%s: this GGUF file embeds no vocabulary "
                     "(tokenizer.ggml.model absent or \"none\"); give a tokenizer file", path);
    return st;
}

rb_status rb_io_adopt_tokenizer(rb_loaded_model *out, rb_tokenizer *t, const char *what,
                                rb_error *err)
{
    int tv = rb_tokenizer_vocab_size(t);
    if (tv > out->cfg.vocab_size) {
        rb_tokenizer_free(t);
        return rb_fail(err, RB_EFORMAT, "%s: the tokenizer has %d ids, more than the %d rows "
                       "of the embedding of %s; it belongs to another model: use the model's own "
                       "tokenizer", what, tv, out->cfg.vocab_size, out->source[0] ? out->source : "the model");
    }
    /* The model's own ids (config.json, checkpoint metadata) are the
     * authority; the tokenizer's fill what the model left unsaid. */
    if (out->bos_id >= 0 || out->n_eos > 0)
        rb_tokenizer_set_special(t, out->bos_id >= 0 ? out->bos_id : rb_tokenizer_bos(t),
                                 out->n_eos > 0 ? out->eos_ids[0] : rb_tokenizer_eos(t));
    if (out->bos_id < 0) out->bos_id = rb_tokenizer_bos(t);
    if (out->n_eos == 0 && rb_tokenizer_eos(t) >= 0) {
        out->eos_ids[0] = rb_tokenizer_eos(t);
        out->n_eos = 1;
    }
    out->tok = t;
    return RB_OK;
}

rb_status rb_io_attach_tokenizer(rb_loaded_model *out, const char *path, int json, rb_error *err)
{
    rb_tokenizer *t = NULL;
    rb_status rc = json ? rb_tokenizer_load_json(&t, path, err) : rb_tokenizer_load_any(&t, path, err);
    if (rc != RB_OK) return rc;
    if ((rc = rb_io_adopt_tokenizer(out, t, path, err)) != RB_OK) return rc;
    snprintf(out->tokenizer_path, sizeof out->tokenizer_path, "%s", path);
    return RB_OK;
}

float *rb_io_params_alloc(const rb_load_opts *opts, const rb_config *cfg, size_t n_floats,
                          const char *src, int *borrowed, rb_error *err)
{
    *borrowed = 0;
    if (opts && opts->params_alloc) {
        rb_error e2 = {0};
        float *p = opts->params_alloc(opts->params_ctx, cfg, n_floats, &e2);
        if (!p) {
            rb_fail(err, e2.code ? e2.code : RB_ENOMEM, "%s: %s", src,
                    e2.msg[0] ? e2.msg : "no memory for the parameters");
            return NULL;
        }
        *borrowed = 1;
        return p;
    }
    float *p = malloc(n_floats * sizeof(float) + 1);
    if (!p) rb_fail(err, RB_ENOMEM, "%s: out of memory for %zu parameters", src, n_floats);
    return p;
}

void rb_retrofit_plan_free(rb_retrofit_plan *p)
{
    if (!p) return;
    free(p->src_layer);
    memset(p, 0, sizeof *p);
}

void rb_loaded_model_free(rb_loaded_model *m)
{
    if (!m) return;
    if (!m->params_borrowed) free(m->params);
    if (m->tok) rb_tokenizer_free(m->tok);
    rb_retrofit_plan_free(&m->plan);
    free(m->metadata_json);
    free(m->tok_embed_value);
    memset(m, 0, sizeof *m);
    m->bos_id = -1;
}
