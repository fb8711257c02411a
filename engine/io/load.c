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

rb_status rb_model_file_load(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                             rb_error *err)
{
    memset(out, 0, sizeof *out);
    out->bos_id = -1;
    struct stat sb;
    if (!path || stat(path, &sb) != 0)
        return rb_fail(err, RB_EIO, "%s: no such file or folder", path ? path : "(null)");
    switch (rb_detect_format(path)) {
    case RB_FORMAT_HF: return rb_load_hf_folder(path, opts, out, err);
    case RB_FORMAT_CHECKPOINT: return rb_load_checkpoint(path, opts, out, err);
    case RB_FORMAT_GGUF: return rb_load_gguf(path, opts, out, err);
    case RB_FORMAT_LLAMA2C: return rb_load_llama2c(path, opts, out, err);
    case RB_FORMAT_UNKNOWN: break;
    }
    if (S_ISDIR(sb.st_mode))
        return rb_fail(err, RB_EFORMAT, "%s: a folder without config.json; a Hugging Face model "
                       "folder holds config.json and model.safetensors", path);
    return rb_fail(err, RB_EFORMAT, "%s: not a model file retrobench knows (a Hugging Face "
                   "folder, a .gguf file, a llama2.c .bin or a retrobench .safetensors "
                   "checkpoint)", path);
}

rb_status rb_tokenizer_load_any(rb_tokenizer **out, const char *path, rb_error *err)
{
    *out = NULL;
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

rb_status rb_io_attach_tokenizer(rb_loaded_model *out, const char *path, int json, rb_error *err)
{
    rb_tokenizer *t = NULL;
    rb_status rc = json ? rb_tokenizer_load_json(&t, path, err) : rb_tokenizer_load_any(&t, path, err);
    if (rc != RB_OK) return rc;
    int tv = rb_tokenizer_vocab_size(t);
    if (tv > out->cfg.vocab_size) {
        rb_tokenizer_free(t);
        return rb_fail(err, RB_EFORMAT, "%s: the tokenizer has %d tokens, more than the %d rows "
                       "of the embedding of %s; it belongs to another model", path, tv,
                       out->cfg.vocab_size, out->source);
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
    snprintf(out->tokenizer_path, sizeof out->tokenizer_path, "%s", path);
    return RB_OK;
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
    free(m->params);
    if (m->tok) rb_tokenizer_free(m->tok);
    rb_retrofit_plan_free(&m->plan);
    free(m->metadata_json);
    memset(m, 0, sizeof *m);
    m->bos_id = -1;
}
