/* gguf_tokenizer.c: the vocabulary a GGUF file embeds, handed to the
 * tokenizer module: tokenizer.ggml.model "llama" (score-based SentencePiece:
 * tokens, scores, token types) or "gpt2" (byte-level BPE: tokens, merges,
 * the tokenizer.ggml.pre split rule), with the special ids and add_bos flag.
 *
 * Defaults for absent keys follow llama.cpp: a "llama" vocabulary has BOS 1,
 * EOS 2 and adds BOS; a "gpt2" vocabulary adds no BOS and has no special ids
 * unless the file names them. An id of -1 or 0xFFFFFFFF means "none". */
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "rb_tokenizer.h"

/* Read a token id key into *v: def when absent, -1 for "none"; ids outside
 * the vocabulary are an error. */
static rb_status read_id(const rb_gguf *g, const char *key, int def, int64_t n, int *v,
                         rb_error *err)
{
    *v = def;
    if (rb_gguf_find_key(g, key) < 0) return RB_OK;
    int64_t x;
    rb_status st = rb_gguf_get_int(g, key, &x, err);
    if (st) return st;
    if (x < 0 || x == 0xFFFFFFFFll) {
        *v = -1;
        return RB_OK;
    }
    if (x >= n)
        return rb_fail(err, RB_EFORMAT,
                       "%s: GGUF %s = %lld is outside the vocabulary of %lld tokens", g->path, key,
                       (long long)x, (long long)n);
    *v = (int)x;
    return RB_OK;
}

static int str_is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && !memcmp(s, lit, n);
}

/* A NUL-terminated copy of a GGUF string. */
static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* gpt2: merges as NUL-terminated "left right" strings in one block. */
static rb_status build_bpe(const rb_gguf *g, int n, const char **pieces, const size_t *lens,
                           const int32_t *types, int bos, int eos, int add_bos, rb_tokenizer **tok,
                           rb_error *err)
{
    rb_gguf_type et;
    uint64_t nm;
    rb_status st = rb_gguf_get_array(g, "tokenizer.ggml.merges", &et, &nm, err);
    if (st) return st;
    if (nm > INT32_MAX)
        return rb_fail(err, RB_EFORMAT, "%s: GGUF tokenizer.ggml.merges has %llu entries", g->path,
                       (unsigned long long)nm);
    const char **m = malloc((nm ? nm : 1) * sizeof *m);
    size_t *ml = malloc((nm ? nm : 1) * sizeof *ml);
    char **copies = calloc(nm ? nm : 1, sizeof *copies);
    char *pre = NULL;
    if (!m || !ml || !copies) {
        st = rb_fail(err, RB_ENOMEM, "%s: out of memory for %llu merges", g->path,
                     (unsigned long long)nm);
        goto done;
    }
    if ((st = rb_gguf_get_string_array(g, "tokenizer.ggml.merges", m, ml, nm, err))) goto done;
    for (uint64_t i = 0; i < nm; i++)
        if (!(copies[i] = dup_n(m[i], ml[i]))) {
            st = rb_fail(err, RB_ENOMEM, "%s: out of memory for merges", g->path);
            goto done;
        }
    if (rb_gguf_find_key(g, "tokenizer.ggml.pre") >= 0) {
        const char *s;
        size_t sl;
        if ((st = rb_gguf_get_string(g, "tokenizer.ggml.pre", &s, &sl, err))) goto done;
        pre = dup_n(s, sl);
    } else {
        pre = dup_n("default", 7);
    }
    if (!pre) {
        st = rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
        goto done;
    }
    st = rb_tokenizer_from_bpe(tok, n, pieces, lens, types, (int)nm,
                               (const char *const *)copies, pre, bos, eos, add_bos, g->path, err);
done:
    if (copies)
        for (uint64_t i = 0; i < nm; i++) free(copies[i]);
    free(copies);
    free(m);
    free(ml);
    free(pre);
    return st;
}

rb_status rb_gguf_build_tokenizer(const rb_gguf *g, int n_vocab_model, rb_tokenizer **tok,
                                  int *bos, int *n_eos, int *eos_ids, rb_error *err)
{
    *tok = NULL;
    *bos = -1;
    *n_eos = 0;
    if (rb_gguf_find_key(g, "tokenizer.ggml.model") < 0) return RB_OK;
    const char *model;
    size_t mlen;
    rb_status st = rb_gguf_get_string(g, "tokenizer.ggml.model", &model, &mlen, err);
    if (st) return st;
    if (str_is(model, mlen, "none") || str_is(model, mlen, "no_vocab")) return RB_OK;
    const int spm = str_is(model, mlen, "llama"), bpe = str_is(model, mlen, "gpt2");
    char shown[80];
    if (!spm && !bpe)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF tokenizer.ggml.model = \"%s\" is not supported (\"llama\" and "
                       "\"gpt2\" are); give a tokenizer file instead",
                       g->path, rb_gguf_printable(model, mlen, shown, sizeof shown));

    rb_gguf_type et;
    uint64_t n;
    if ((st = rb_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &n, err))) return st;
    if (et != RB_GGUF_STRING || n == 0 || n > INT32_MAX)
        return rb_fail(err, RB_EFORMAT,
                       "%s: GGUF tokenizer.ggml.tokens must be a non-empty array of strings (it "
                       "is an array of %llu %s)",
                       g->path, (unsigned long long)n, rb_gguf_type_name(et));
    if (n_vocab_model > 0 && n > (uint64_t)n_vocab_model)
        return rb_fail(err, RB_EFORMAT,
                       "%s: the embedded vocabulary has %llu tokens but the model has only %d "
                       "embedding rows",
                       g->path, (unsigned long long)n, n_vocab_model);

    const char **pieces = malloc(n * sizeof *pieces);
    size_t *lens = malloc(n * sizeof *lens);
    float *scores = NULL;
    int32_t *types = NULL;
    if (!pieces || !lens) {
        st = rb_fail(err, RB_ENOMEM, "%s: out of memory for %llu tokens", g->path,
                     (unsigned long long)n);
        goto done;
    }
    if ((st = rb_gguf_get_string_array(g, "tokenizer.ggml.tokens", pieces, lens, n, err)))
        goto done;
    if (rb_gguf_find_key(g, "tokenizer.ggml.scores") >= 0 || spm) {
        if (!(scores = malloc(n * sizeof *scores))) {
            st = rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
            goto done;
        }
        if ((st = rb_gguf_get_f32_array(g, "tokenizer.ggml.scores", scores, n, err))) goto done;
    }
    if (rb_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0) {
        if (!(types = malloc(n * sizeof *types))) {
            st = rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
            goto done;
        }
        if ((st = rb_gguf_get_i32_array(g, "tokenizer.ggml.token_type", types, n, err)))
            goto done;
    }

    int b, e, eot, eom, add_bos = spm;
    if ((st = read_id(g, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, (int64_t)n, &b, err)) ||
        (st = read_id(g, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, (int64_t)n, &e, err)) ||
        (st = read_id(g, "tokenizer.ggml.eot_token_id", -1, (int64_t)n, &eot, err)) ||
        (st = read_id(g, "tokenizer.ggml.eom_token_id", -1, (int64_t)n, &eom, err)))
        goto done;
    if (rb_gguf_find_key(g, "tokenizer.ggml.add_bos_token") >= 0 &&
        (st = rb_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, err)))
        goto done;

    if (spm)
        st = rb_tokenizer_from_spm_scores(tok, (int)n, pieces, lens, scores, types, b, e, add_bos,
                                          g->path, err);
    else
        st = build_bpe(g, (int)n, pieces, lens, types, b, e, add_bos, tok, err);
    if (st) goto done;

    *bos = b;
    const int cand[3] = {e, eot, eom};
    for (int i = 0; i < 3; i++) {
        int dup = cand[i] < 0;
        for (int j = 0; j < *n_eos; j++) dup |= eos_ids[j] == cand[i];
        if (!dup) eos_ids[(*n_eos)++] = cand[i];
    }
done:
    free(pieces);
    free(lens);
    free(scores);
    free(types);
    return st;
}

rb_status rb_gguf_tokenizer(const rb_gguf *g, rb_tokenizer **out, rb_error *err)
{
    int bos, n_eos, eos[RB_MAX_EOS_IDS];
    return rb_gguf_build_tokenizer(g, 0, out, &bos, &n_eos, eos, err);
}
