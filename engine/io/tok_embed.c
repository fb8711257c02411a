/* tok_embed.c: a checkpoint carries its tokenizer. The tokenizer file's own
 * bytes go into the checkpoint's __metadata__ under one of three keys
 * (rb_io.h), so the checkpoint tokenizes exactly as its base model did, with
 * no path to any other file:
 *   "tokenizer.json"         a tokenizer.json, as text;
 *   "tokenizer.bin.base64"   a llama2.c tokenizer.bin, base64;
 *   "tokenizer.gguf.base64"  a GGUF file holding only the base model's
 *                            tokenizer.* metadata entries (copied byte for
 *                            byte, no tensors), base64.
 * The same module gives a loaded model's tokenizer as tokenizer.json text for
 * a Hugging Face folder: the source's own file when it was one, otherwise
 * written by rb_tokenizer_to_json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "io/tok_embed.h"

#define TOKENIZER_MAX ((size_t)1 << 30)

/* The tokenizer.* entries of a GGUF as a GGUF of their own (v3, no tensors). */
static rb_status gguf_vocab_only(const rb_gguf *g, unsigned char **out, size_t *len, rb_error *err)
{
    size_t total = 24;
    uint64_t n = 0;
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strncmp(g->kv[i].key, "tokenizer.", 10)) {
            total += g->kv[i].end - g->kv[i].start;
            n++;
        }
    if (n == 0)
        return rb_fail(err, RB_EFORMAT, "%s: this GGUF file embeds no vocabulary (no tokenizer.* "
                       "entries); give a tokenizer file", g->path);
    unsigned char *b = malloc(total);
    if (!b) return rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
    memcpy(b, "GGUF", 4);
    uint32_t version = 3;
    uint64_t zero = 0;
    for (int k = 0; k < 4; k++) b[4 + k] = (unsigned char)(version >> (8 * k));
    for (int k = 0; k < 8; k++) b[8 + k] = (unsigned char)(zero >> (8 * k));
    for (int k = 0; k < 8; k++) b[16 + k] = (unsigned char)(n >> (8 * k));
    size_t at = 24;
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strncmp(g->kv[i].key, "tokenizer.", 10)) {
            size_t sz = g->kv[i].end - g->kv[i].start;
            memcpy(b + at, g->file.data + g->kv[i].start, sz);
            at += sz;
        }
    *out = b;
    *len = total;
    return RB_OK;
}

static int looks_like_json(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
    return i < n && s[i] == '{';
}

/* The embedding of the tokenizer file at path (tokenizer.json, llama2.c
 * tokenizer.bin, or a GGUF model whose vocabulary is taken). */
static rb_status embed_file(const char *path, const char **key, char **value, rb_error *err)
{
    *value = NULL;
    if (rb_detect_format(path) == RB_FORMAT_GGUF) {
        rb_gguf *g = NULL;
        rb_status st = rb_gguf_open(&g, path, err);
        if (st) return st;
        unsigned char *b = NULL;
        size_t n = 0;
        st = gguf_vocab_only(g, &b, &n, err);
        rb_gguf_close(g);
        if (st) return st;
        *value = rb_base64_encode(b, n);
        free(b);
        *key = RB_CKPT_TOKENIZER_GGUF;
        return *value ? RB_OK : rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    }
    char *data = NULL;
    size_t n = 0;
    rb_status st = rb_io_read_file(path, TOKENIZER_MAX, &data, &n, err);
    if (st) return st;
    if (looks_like_json(data, n)) {
        *key = RB_CKPT_TOKENIZER_JSON;
        *value = data; /* NUL-terminated by rb_io_read_file */
        if (strlen(data) != n) {
            free(data);
            *value = NULL;
            return rb_fail(err, RB_EFORMAT, "%s: a NUL byte inside a tokenizer.json", path);
        }
        return RB_OK;
    }
    *key = RB_CKPT_TOKENIZER_BIN;
    *value = rb_base64_encode(data, n);
    free(data);
    return *value ? RB_OK : rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
}

rb_status rb_tokenizer_embedding(const rb_loaded_model *lm, const char **key, char **value,
                                 rb_error *err)
{
    *key = NULL;
    *value = NULL;
    if (!lm || !lm->tok) return rb_fail(err, RB_EINVAL, "no tokenizer to embed");
    if (lm->tok_embed_value) { /* a checkpoint's own: passed on unchanged */
        *key = lm->tok_embed_key;
        *value = strdup(lm->tok_embed_value);
        return *value ? RB_OK : rb_fail(err, RB_ENOMEM, "out of memory");
    }
    if (!lm->tokenizer_path[0])
        return rb_fail(err, RB_EINVAL, "%s: the tokenizer's file is not known; give it with "
                       "--tokenizer", lm->source);
    return embed_file(lm->tokenizer_path, key, value, err);
}

rb_status rb_tokenizer_from_embedding(const char *key, const char *value, const char *source,
                                      rb_tokenizer **out, rb_error *err)
{
    *out = NULL;
    char what[1200];
    snprintf(what, sizeof what, "%s (__metadata__ \"%s\")", source, key);
    if (!strcmp(key, RB_CKPT_TOKENIZER_JSON))
        return rb_tokenizer_load_json_mem(out, value, strlen(value), what, err);
    unsigned char *b = NULL;
    size_t n = 0;
    rb_status st = rb_base64_decode(value, &b, &n, what, err);
    if (st) return st;
    if (!strcmp(key, RB_CKPT_TOKENIZER_BIN)) {
        st = rb_tokenizer_load_llama2c_mem(out, b, n, 0, what, err);
        if (st == RB_OK) rb_tokenizer_set_special(*out, 1, 2); /* llama2.c's convention */
    } else {
        rb_gguf *g = NULL;
        st = rb_gguf_open_memory(&g, b, n, what, err);
        if (st == RB_OK) st = rb_gguf_tokenizer(g, out, err);
        rb_gguf_close(g);
        if (st == RB_OK && !*out)
            st = rb_fail(err, RB_EFORMAT, "%s: the embedded GGUF holds no vocabulary", what);
    }
    free(b);
    return st;
}

rb_status rb_loaded_model_tokenizer_json(const rb_loaded_model *lm, char **text, size_t *len,
                                         rb_error *err)
{
    *text = NULL;
    *len = 0;
    if (!lm || !lm->tok) return rb_fail(err, RB_EINVAL, "no tokenizer");
    /* a tokenizer.json source is copied: the file is the authority on itself */
    if (lm->tok_embed_value && !strcmp(lm->tok_embed_key, RB_CKPT_TOKENIZER_JSON)) {
        *text = strdup(lm->tok_embed_value);
        if (!*text) return rb_fail(err, RB_ENOMEM, "out of memory");
        *len = strlen(*text);
        return RB_OK;
    }
    if (!lm->tok_embed_value && lm->tokenizer_path[0] &&
        rb_detect_format(lm->tokenizer_path) != RB_FORMAT_GGUF) {
        char *data = NULL;
        size_t n = 0;
        rb_status st = rb_io_read_file(lm->tokenizer_path, TOKENIZER_MAX, &data, &n, err);
        if (st) return st;
        if (looks_like_json(data, n)) {
            *text = data;
            *len = n;
            return RB_OK;
        }
        free(data);
    }
    return rb_tokenizer_to_json(lm->tok, text, len, err);
}

rb_status rb_tokenizer_save_json(const rb_loaded_model *lm, const char *path, rb_error *err)
{
    char *text = NULL;
    size_t len = 0;
    rb_status st = rb_loaded_model_tokenizer_json(lm, &text, &len, err);
    if (st == RB_OK) st = rb_atomic_file_write_all(path, text, len, err);
    free(text);
    return st;
}
