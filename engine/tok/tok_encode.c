/* tok_encode.c: text -> ids, the pipeline every tokenizer family shares.
 *
 * Hugging Face order (tokenizer.json):
 *   1. added tokens with normalized=false are cut out of the raw text
 *      (leftmost, then longest match; lstrip/rstrip/single_word honoured);
 *   2. each remaining segment is normalized (Prepend / Replace), and added
 *      tokens with normalized=true are cut out of it, matched by their own
 *      normalized content;
 *   3. pre-tokenizer steps split the segment into words (regex, digits,
 *      Metaspace) and ByteLevel maps bytes to its alphabet;
 *   4. the model turns each word into ids.
 * Score-based SentencePiece vocabularies (llama2.c, GGUF "llama") normalize
 * the whole text once (dummy-prefix space, spaces as U+2581 when the
 * vocabulary spells them so), cut out user-defined tokens, and merge each
 * remaining span by score. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

typedef struct {
    const rb_tokenizer *t;
    rb_tok_ids *out;
    rb_error *err;
} enc_ctx;

typedef rb_status (*segment_fn)(enc_ctx *e, const char *s, size_t len, int at_start);

static rb_status oom(enc_ctx *e, size_t n)
{
    return rb_fail(e->err, RB_ENOMEM, "%s: out of memory for a %zu-byte text buffer", e->t->source, n);
}

/* ---------------- model ---------------- */

static rb_status model_word(enc_ctx *e, const char *w, size_t len)
{
    if (!len) return RB_OK;
    if (e->t->model == RB_TOK_MODEL_SPM_SCORE) return rb_tok_spm_word(e->t, w, len, e->out, e->err);
    return rb_tok_bpe_word(e->t, w, len, e->out, e->err);
}

/* ---------------- pre-tokenizer steps ---------------- */

static rb_status pretok(enc_ctx *e, int step, const char *s, size_t len, int at_start);

static rb_status step_split(enc_ctx *e, int step, rb_tok_regex re, const char *s, size_t len,
                            int at_start)
{
    rb_status st = RB_OK;
    for (size_t p = 0; p < len && !st;) {
        size_t q = rb_tok_regex_match(re, s, len, p);
        st = pretok(e, step + 1, s + p, q - p, at_start && p == 0);
        p = q;
    }
    return st;
}

/* Digits: runs of \p{N} (or single ones with individual_digits) become their
 * own pieces, and so do the runs between them. */
static rb_status step_digits(enc_ctx *e, int step, int individual, const char *s, size_t len,
                             int at_start)
{
    rb_status st = RB_OK;
    size_t p = 0;
    while (p < len && !st) {
        size_t n, q = p;
        int digit = rb_tok_is_number(rb_tok_utf8_next(s + p, len - p, &n));
        q = p + n;
        if (!(digit && individual)) {
            while (q < len) {
                size_t m;
                if (rb_tok_is_number(rb_tok_utf8_next(s + q, len - q, &m)) != digit) break;
                q += m;
            }
        }
        st = pretok(e, step + 1, s + p, q - p, at_start && p == 0);
        p = q;
    }
    return st;
}

/* Map each byte of s to the byte-level alphabet and pass the word on. */
static rb_status bytelevel_word(enc_ctx *e, int step, const char *s, size_t len, int at_start)
{
    char stackbuf[256];
    char *buf = (len * 2 <= sizeof stackbuf) ? stackbuf : malloc(len * 2 + 4);
    if (!buf) return oom(e, len * 2);
    size_t k = 0;
    char tmp[4];
    for (size_t i = 0; i < len; i++) {
        size_t n = rb_tok_bytelevel_encode((unsigned char)s[i], tmp);
        memcpy(buf + k, tmp, n);
        k += n;
    }
    rb_status st = pretok(e, step + 1, buf, k, at_start);
    if (buf != stackbuf) free(buf);
    return st;
}

static rb_status step_bytelevel(enc_ctx *e, int step, const rb_tok_pre_step *ps, const char *s,
                                size_t len, int at_start)
{
    char *pref = NULL;
    if (ps->add_prefix_space && len > 0 && s[0] != ' ') {
        pref = malloc(len + 1);
        if (!pref) return oom(e, len + 1);
        pref[0] = ' ';
        memcpy(pref + 1, s, len);
        s = pref;
        len++;
    }
    rb_status st = RB_OK;
    if (ps->use_regex) {
        for (size_t p = 0; p < len && !st;) {
            size_t q = rb_tok_regex_match(RB_TOK_RE_GPT2, s, len, p);
            st = bytelevel_word(e, step, s + p, q - p, at_start && p == 0);
            p = q;
        }
    } else if (len) {
        st = bytelevel_word(e, step, s, len, at_start);
    }
    free(pref);
    return st;
}

/* Metaspace: spaces become the replacement, which is prepended (always, or
 * only for the text's first piece) unless already there; with split the
 * piece is cut before every replacement character. */
static rb_status step_metaspace(enc_ctx *e, int step, const rb_tok_pre_step *ps, const char *s,
                                size_t len, int at_start)
{
    if (!len) return RB_OK;
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += s[i] == ' ';
    size_t cap = len + (spaces + 1) * ps->repl_len;
    char *buf = malloc(cap);
    if (!buf) return oom(e, cap);
    size_t k = 0;
    int prepend = ps->prepend_scheme == RB_TOK_PREPEND_ALWAYS ||
                  (ps->prepend_scheme == RB_TOK_PREPEND_FIRST && at_start);
    int starts_with = (s[0] == ' ') || (len >= ps->repl_len && memcmp(s, ps->repl, ps->repl_len) == 0);
    if (prepend && !starts_with) {
        memcpy(buf, ps->repl, ps->repl_len);
        k = ps->repl_len;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(buf + k, ps->repl, ps->repl_len);
            k += ps->repl_len;
        } else {
            buf[k++] = s[i];
        }
    }
    rb_status st = RB_OK;
    if (!ps->split) {
        st = pretok(e, step + 1, buf, k, at_start);
    } else {
        size_t start = 0;
        for (size_t i = 1; i <= k && !st; i++) {
            int cut = i == k || (i + ps->repl_len <= k && memcmp(buf + i, ps->repl, ps->repl_len) == 0);
            if (!cut) continue;
            st = pretok(e, step + 1, buf + start, i - start, at_start && start == 0);
            start = i;
        }
    }
    free(buf);
    return st;
}

static rb_status pretok(enc_ctx *e, int step, const char *s, size_t len, int at_start)
{
    if (!len) return RB_OK;
    if (step >= e->t->n_pre) return model_word(e, s, len);
    const rb_tok_pre_step *ps = &e->t->pre[step];
    switch (ps->kind) {
    case RB_TOK_PRE_SPLIT: return step_split(e, step, ps->regex, s, len, at_start);
    case RB_TOK_PRE_DIGITS: return step_digits(e, step, ps->individual, s, len, at_start);
    case RB_TOK_PRE_BYTELEVEL: return step_bytelevel(e, step, ps, s, len, at_start);
    case RB_TOK_PRE_METASPACE: return step_metaspace(e, step, ps, s, len, at_start);
    }
    return rb_fail(e->err, RB_EINVAL, "%s: unknown pre-tokenizer step %d", e->t->source, (int)ps->kind);
}

/* ---------------- normalizer ---------------- */

/* Run the normalizer ops over s; *out is malloc'd (or NULL when len is 0). */
static rb_status normalize(enc_ctx *e, const char *s, size_t len, char **out, size_t *olen)
{
    *out = NULL;
    *olen = 0;
    char *cur = malloc(len + 1);
    if (!cur) return oom(e, len + 1);
    memcpy(cur, s, len);
    size_t n = len;
    for (int i = 0; i < e->t->n_norm; i++) {
        const rb_tok_norm_op *op = &e->t->norm[i];
        char *nx;
        size_t m;
        if (op->kind == RB_TOK_NORM_PREPEND) {
            if (n == 0) continue; /* Prepend leaves empty text empty */
            m = n + op->a_len;
            nx = malloc(m + 1);
            if (!nx) { free(cur); return oom(e, m); }
            memcpy(nx, op->a, op->a_len);
            memcpy(nx + op->a_len, cur, n);
        } else {
            size_t hits = 0;
            for (size_t p = 0; op->a_len && p + op->a_len <= n;) {
                if (memcmp(cur + p, op->a, op->a_len) == 0) { hits++; p += op->a_len; }
                else p++;
            }
            if (!hits) continue;
            m = n - hits * op->a_len + hits * op->b_len;
            nx = malloc(m + 1);
            if (!nx) { free(cur); return oom(e, m); }
            size_t k = 0;
            for (size_t p = 0; p < n;) {
                if (p + op->a_len <= n && memcmp(cur + p, op->a, op->a_len) == 0) {
                    memcpy(nx + k, op->b, op->b_len);
                    k += op->b_len;
                    p += op->a_len;
                } else {
                    nx[k++] = cur[p++];
                }
            }
        }
        free(cur);
        cur = nx;
        n = m;
    }
    *out = cur;
    *olen = n;
    return RB_OK;
}

/* ---------------- added tokens ---------------- */

static int word_char(uint32_t cp)
{
    /* \w, approximated by letters, numbers and '_' */
    return cp == '_' || rb_tok_is_letter(cp) || rb_tok_is_number(cp);
}

static size_t prev_char_start(const char *s, size_t p)
{
    do { p--; } while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80);
    return p;
}

/* The longest added token of the given set that matches s at i, or NULL. */
static const rb_tok_added *added_at(const rb_tokenizer *t, int norm_set, const char *s, size_t len,
                                    size_t i)
{
    for (int k = 0; k < t->n_added; k++) {
        const rb_tok_added *a = &t->added[k];
        if (rb_tok_added_on_norm(t, a) != norm_set) continue;
        const char *c = norm_set ? a->norm : a->content;
        size_t cl = norm_set ? a->norm_len : a->len;
        if (cl && cl <= len - i && memcmp(s + i, c, cl) == 0) return a;
    }
    return NULL;
}

/* Cut the tokens of one set out of s; the text between goes to on_text. */
static rb_status split_added(enc_ctx *e, int norm_set, const char *s, size_t len, int at_start,
                             segment_fn on_text)
{
    const rb_tokenizer *t = e->t;
    const uint8_t *first = norm_set ? t->added_first_norm : t->added_first_raw;
    size_t seg = 0, i = 0;
    rb_status st = RB_OK;
    while (i < len && !st) {
        if (!first[(unsigned char)s[i]]) { i++; continue; }
        const rb_tok_added *a = added_at(t, norm_set, s, len, i);
        if (!a) { i++; continue; }
        size_t mstart = i, mend = i + (norm_set ? a->norm_len : a->len);
        if (a->single_word) {
            size_t n;
            int before = mstart > 0 &&
                         word_char(rb_tok_utf8_next(s + prev_char_start(s, mstart),
                                                    len - prev_char_start(s, mstart), &n));
            int after = mend < len && word_char(rb_tok_utf8_next(s + mend, len - mend, &n));
            if (before || after) { i = mend; continue; } /* not a word of its own: skip it */
        }
        if (a->lstrip)
            while (mstart > seg) {
                size_t p = prev_char_start(s, mstart), n;
                if (!rb_tok_is_space(rb_tok_utf8_next(s + p, len - p, &n))) break;
                mstart = p;
            }
        if (a->rstrip)
            while (mend < len) {
                size_t n;
                if (!rb_tok_is_space(rb_tok_utf8_next(s + mend, len - mend, &n))) break;
                mend += n;
            }
        if (mstart > seg) st = on_text(e, s + seg, mstart - seg, at_start && seg == 0);
        if (!st) st = rb_tok_ids_push(e->out, a->id, e->err);
        seg = i = mend;
    }
    if (!st && seg < len) st = on_text(e, s + seg, len - seg, at_start && seg == 0);
    return st;
}

/* ---------------- Hugging Face pipeline ---------------- */

static rb_status hf_normalized_segment(enc_ctx *e, const char *s, size_t len, int at_start)
{
    return pretok(e, 0, s, len, at_start);
}

static rb_status hf_raw_segment(enc_ctx *e, const char *s, size_t len, int at_start)
{
    if (e->t->n_norm == 0) return pretok(e, 0, s, len, at_start);
    char *ns;
    size_t nl;
    rb_status st = normalize(e, s, len, &ns, &nl);
    if (st) return st;
    st = split_added(e, 1, ns, nl, at_start, hf_normalized_segment);
    free(ns);
    return st;
}

/* ---------------- score-based SentencePiece pipeline ---------------- */

static rb_status spm_segment(enc_ctx *e, const char *s, size_t len, int at_start)
{
    (void)at_start;
    return model_word(e, s, len);
}

static rb_status spm_encode(enc_ctx *e, const char *text, size_t len)
{
    static const char META[] = "\xE2\x96\x81"; /* U+2581 */
    const rb_tokenizer *t = e->t;
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t cap = len + (spaces + 1) * 3;
    char *buf = malloc(cap);
    if (!buf) return oom(e, cap);
    size_t k = 0;
    /* the dummy prefix: one space in front of non-empty text */
    if (t->spm_meta) { memcpy(buf, META, 3); k = 3; }
    else buf[k++] = ' ';
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ' && t->spm_meta) { memcpy(buf + k, META, 3); k += 3; }
        else buf[k++] = text[i];
    }
    rb_status st = split_added(e, 1, buf, k, 1, spm_segment);
    free(buf);
    return st;
}

rb_status rb_tokenizer_encode(const rb_tokenizer *t, const char *text, size_t len, int add_bos,
                              int32_t **ids, size_t *n_ids, rb_error *err)
{
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!t || !ids || !n_ids || (!text && len))
        return rb_fail(err, RB_EINVAL, "rb_tokenizer_encode: tokenizer, text and outputs must not be NULL");
    size_t bad = rb_tok_utf8_invalid_at(text, len);
    if (bad < len)
        return rb_fail(err, RB_EINVAL,
                       "%s: the text is not valid UTF-8 at byte offset %zu (byte 0x%02X); convert "
                       "it to UTF-8 before tokenizing", t->source, bad, (unsigned char)text[bad]);
    rb_tok_ids out = {0};
    rb_status st = RB_OK;
    if (add_bos) {
        if (t->bos < 0)
            return rb_fail(err, RB_EINVAL,
                           "%s: BOS requested but the tokenizer has no BOS id; set one with "
                           "rb_tokenizer_set_special or encode without BOS", t->source);
        st = rb_tok_ids_push(&out, t->bos, err);
    }
    enc_ctx e = {t, &out, err};
    if (!st && len) {
        if (t->model == RB_TOK_MODEL_SPM_SCORE) st = spm_encode(&e, text, len);
        else st = split_added(&e, 0, text, len, 1, hf_raw_segment);
    }
    if (!st && !out.v) {
        out.v = malloc(sizeof *out.v); /* an empty result is still a malloc'd array */
        if (!out.v) st = rb_fail(err, RB_ENOMEM, "%s: out of memory", t->source);
    }
    if (st) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n_ids = out.n;
    return RB_OK;
}
