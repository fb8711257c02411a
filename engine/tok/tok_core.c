/* tok_core.c: tokenizer allocation, freeing, accessors and shared helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tok/tok_internal.h"

rb_status rb_tok_ids_push(rb_tok_ids *o, int32_t id, rb_error *err)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) return rb_fail(err, RB_ENOMEM, "tokenizer: out of memory for %zu token ids", cap);
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = id;
    return RB_OK;
}

rb_status rb_tok_alloc(rb_tokenizer **out, int n, const char *source, rb_error *err)
{
    *out = NULL;
    if (n <= 0 || n > RB_TOK_MAX_VOCAB)
        return rb_fail(err, RB_EFORMAT, "%s: vocabulary size %d is outside 1..%d", source, n,
                       RB_TOK_MAX_VOCAB);
    rb_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return rb_fail(err, RB_ENOMEM, "%s: out of memory for the tokenizer", source);
    snprintf(t->source, sizeof t->source, "%s", source);
    t->n = n;
    t->piece = calloc((size_t)n, sizeof *t->piece);
    t->piece_len = calloc((size_t)n, sizeof *t->piece_len);
    t->type = calloc((size_t)n, 1);
    if (!t->piece || !t->piece_len || !t->type) {
        rb_tokenizer_free(t);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory for %d vocabulary entries", source, n);
    }
    for (int i = 0; i < n; i++) t->type[i] = RB_TOKTYPE_NORMAL;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    t->unk_id = t->bos = t->eos = -1;
    *out = t;
    return RB_OK;
}

rb_status rb_tok_set_piece(rb_tokenizer *t, int id, const char *s, size_t len, rb_error *err)
{
    if (len > RB_TOK_MAX_PIECE)
        return rb_fail(err, RB_EFORMAT, "%s: piece of id %d is %zu bytes long (limit %d)", t->source,
                       id, len, RB_TOK_MAX_PIECE);
    char *p = malloc(len + 1);
    if (!p) return rb_fail(err, RB_ENOMEM, "%s: out of memory for piece %d", t->source, id);
    if (len) memcpy(p, s, len);
    p[len] = 0;
    free(t->piece[id]);
    t->piece[id] = p;
    t->piece_len[id] = (uint32_t)len;
    return RB_OK;
}

void rb_tok_clean_msg(rb_error *err)
{
    if (!err) return;
    /* file content quoted in a message (a merge, a type name) may hold
     * control characters; the message must stay one printable line */
    char out[RB_ERROR_MSG_MAX];
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)err->msg; *p && k + 5 < sizeof out; p++) {
        if (*p < 0x20 || *p == 0x7F) k += (size_t)snprintf(out + k, sizeof out - k, "\\x%02X", *p);
        else out[k++] = (char)*p;
    }
    out[k] = 0;
    memcpy(err->msg, out, k + 1);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int rb_tok_parse_byte_piece(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    if (hi < 0 || lo < 0) return -1;
    return hi * 16 + lo;
}

static int added_cmp(const void *a, const void *b)
{
    const rb_tok_added *x = a, *y = b;
    /* longest first, so the first match found at a position is the longest;
     * ties by id keep the order deterministic */
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

void rb_tok_finish_added(rb_tokenizer *t)
{
    if (t->n_added > 1) qsort(t->added, (size_t)t->n_added, sizeof *t->added, added_cmp);
    memset(t->added_first_raw, 0, sizeof t->added_first_raw);
    memset(t->added_first_norm, 0, sizeof t->added_first_norm);
    for (int i = 0; i < t->n_added; i++) {
        const rb_tok_added *a = &t->added[i];
        int on_norm = rb_tok_added_on_norm(t, a);
        if (on_norm && a->norm_len) t->added_first_norm[(unsigned char)a->norm[0]] = 1;
        if (!on_norm && a->len) t->added_first_raw[(unsigned char)a->content[0]] = 1;
    }
}

void rb_tokenizer_free(rb_tokenizer *t)
{
    if (!t) return;
    if (t->piece)
        for (int i = 0; i < t->n; i++) free(t->piece[i]);
    free(t->piece);
    free(t->piece_len);
    free(t->type);
    free(t->score);
    rb_tok_strmap_free(&t->vocab);
    rb_tok_pairmap_free(&t->merges);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    for (int i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].norm);
    }
    free(t->added);
    for (int i = 0; i < t->n_dec_replace; i++) {
        free(t->dec_replace[i].from);
        free(t->dec_replace[i].to);
    }
    free(t);
}

int rb_tokenizer_vocab_size(const rb_tokenizer *t) { return t ? t->n : 0; }
int rb_tokenizer_bos(const rb_tokenizer *t) { return t ? t->bos : -1; }
int rb_tokenizer_eos(const rb_tokenizer *t) { return t ? t->eos : -1; }
int rb_tokenizer_add_bos(const rb_tokenizer *t) { return t ? t->add_bos : 0; }

void rb_tokenizer_set_special(rb_tokenizer *t, int bos, int eos)
{
    if (!t) return;
    t->bos = (bos >= 0 && bos < t->n) ? bos : -1;
    t->eos = (eos >= 0 && eos < t->n) ? eos : -1;
}

const char *rb_tokenizer_piece(const rb_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n) return NULL;
    return t->piece[id] ? t->piece[id] : "";
}

int rb_tokenizer_token_type(const rb_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n) return 0;
    return t->type[id];
}

/* Whole file into memory, refusing what cannot be a tokenizer (> 1 GiB). */
rb_status rb_tok_read_file(const char *path, char **data, size_t *len, rb_error *err)
{
    *data = NULL;
    *len = 0;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return rb_fail(err, RB_EIO, "%s: no such tokenizer file; check the path", path);
    if (S_ISDIR(sb.st_mode))
        return rb_fail(err, RB_EIO, "%s: is a folder, not a tokenizer file; give the file inside "
                       "it (tokenizer.json or tokenizer.bin)", path);
    if (!S_ISREG(sb.st_mode))
        return rb_fail(err, RB_EIO, "%s: not a regular file; give a tokenizer file", path);
    if (sb.st_size == 0)
        return rb_fail(err, RB_EFORMAT, "%s: the tokenizer file is empty (0 bytes)", path);
    FILE *f = fopen(path, "rb");
    if (!f) return rb_fail(err, RB_EIO, "%s: cannot open the tokenizer file; check the path", path);
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return rb_fail(err, RB_EIO, "%s: cannot seek in the tokenizer file", path);
    }
    long size = ftell(f);
    if (size < 0 || size > (1L << 30)) {
        fclose(f);
        return rb_fail(err, RB_EFORMAT, "%s: file size %ld is not that of a tokenizer (limit 1 GiB)",
                       path, size);
    }
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory reading %ld bytes", path, size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(buf);
        return rb_fail(err, RB_EIO, "%s: read %zu of %ld bytes", path, got, size);
    }
    buf[size] = 0;
    *data = buf;
    *len = (size_t)size;
    return RB_OK;
}

rb_status rb_tokenizer_load_file(rb_tokenizer **out, const char *path, rb_error *err)
{
    *out = NULL;
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return rb_tokenizer_load_json(out, path, err);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0) {
        char magic[4] = {0};
        FILE *f = fopen(path, "rb");
        int opened = f != NULL;
        size_t got = f ? fread(magic, 1, 4, f) : 0;
        if (f) fclose(f);
        if (got == 4 && !memcmp(magic, "GGUF", 4))
            return rb_fail(err, RB_EUNSUPPORTED,
                           "%s: a GGUF file; rb_tokenizer_load_any (rb_io.h) reads its vocabulary, "
                           "or build one with rb_tokenizer_from_spm_scores / rb_tokenizer_from_bpe",
                           path);
        return rb_fail(err, RB_EFORMAT, "%s: named .gguf but does not start with \"GGUF\": the "
                       "file is %s", path, opened ? "truncated or damaged" : "missing or unreadable");
    }
    return rb_tokenizer_load_llama2c(out, path, 0, err);
}
