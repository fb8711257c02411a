/* tok_decode.c: ids -> UTF-8 text, in one go or one id at a time.
 *
 * Each id renders to bytes: control/unknown/unused tokens to nothing,
 * added (user-defined) tokens to their content, <0xXX> byte tokens to the
 * raw byte (when the decoder has byte fallback), byte-level pieces through
 * the inverse GPT-2 alphabet, other pieces with the decoder's replacements
 * (U+2581 -> ' '). The bytes then pass through a UTF-8 assembler that holds
 * an incomplete character until its last byte arrives and turns invalid
 * sequences into U+FFFD (one per maximal invalid subpart, as Rust's
 * from_utf8_lossy), and finally the leading-space strip that undoes the
 * dummy prefix. rb_tokenizer_decode is the streaming decoder run over all
 * ids and flushed, so both give the same bytes by construction. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

struct rb_detok {
    const rb_tokenizer *t;
    unsigned char pend[4]; /* bytes of an incomplete UTF-8 character */
    int npend, need;
    int strip_left;        /* leading spaces still to remove */
};

typedef struct {
    char *p;
    size_t n, cap;
    rb_error *err;
    const char *source;
} strbuf;

static rb_status sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return rb_fail(b->err, RB_ENOMEM, "%s: out of memory for %zu bytes of decoded text", b->source, cap);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return RB_OK;
}

/* A whole character (or U+FFFD) leaves the assembler. */
static rb_status emit_char(rb_detok *d, strbuf *b, const char *s, size_t n)
{
    if (d->strip_left > 0) {
        if (n == 1 && s[0] == ' ') {
            d->strip_left--;
            return RB_OK;
        }
        d->strip_left = 0;
    }
    return sb_put(b, s, n);
}

static rb_status emit_replacement(rb_detok *d, strbuf *b)
{
    return emit_char(d, b, "\xEF\xBF\xBD", 3);
}

/* Allowed range of the byte at position k (1..3) after lead byte c. */
static int cont_ok(unsigned char c, int k, unsigned char x)
{
    unsigned char lo = 0x80, hi = 0xBF;
    if (k == 1) {
        if (c == 0xE0) lo = 0xA0;
        else if (c == 0xED) hi = 0x9F;
        else if (c == 0xF0) lo = 0x90;
        else if (c == 0xF4) hi = 0x8F;
    }
    return x >= lo && x <= hi;
}

static rb_status feed_byte(rb_detok *d, strbuf *b, unsigned char x)
{
    rb_status st;
    if (d->npend) {
        if (cont_ok(d->pend[0], d->npend, x)) {
            d->pend[d->npend++] = x;
            if (d->npend < d->need) return RB_OK;
            d->npend = 0;
            return emit_char(d, b, (const char *)d->pend, (size_t)d->need);
        }
        /* the pending prefix can never complete: it becomes one U+FFFD and
         * x starts afresh */
        d->npend = 0;
        if ((st = emit_replacement(d, b))) return st;
    }
    if (x < 0x80) {
        char c = (char)x;
        return emit_char(d, b, &c, 1);
    }
    size_t need = rb_tok_utf8_len(x);
    if (need == 1) return emit_replacement(d, b); /* stray continuation or invalid lead */
    d->pend[0] = x;
    d->npend = 1;
    d->need = (int)need;
    return RB_OK;
}

static rb_status feed(rb_detok *d, strbuf *b, const char *s, size_t n)
{
    rb_status st = RB_OK;
    for (size_t i = 0; i < n && !st; i++) st = feed_byte(d, b, (unsigned char)s[i]);
    return st;
}

/* Piece text with the decoder's replacements applied. */
static rb_status feed_replaced(rb_detok *d, strbuf *b, const char *s, size_t n)
{
    const rb_tokenizer *t = d->t;
    rb_status st = RB_OK;
    size_t i = 0, run = 0;
    while (i < n && !st) {
        int hit = -1;
        for (int r = 0; r < t->n_dec_replace && hit < 0; r++) {
            const rb_tok_replace *rp = &t->dec_replace[r];
            if (rp->from_len && rp->from_len <= n - i && memcmp(s + i, rp->from, rp->from_len) == 0) hit = r;
        }
        if (hit < 0) { i++; continue; }
        st = feed(d, b, s + run, i - run);
        if (!st) st = feed(d, b, t->dec_replace[hit].to, t->dec_replace[hit].to_len);
        i += t->dec_replace[hit].from_len;
        run = i;
    }
    if (!st) st = feed(d, b, s + run, n - run);
    return st;
}

/* Byte-level piece -> its bytes; a piece with a character outside the
 * alphabet (an added token's text, say) passes through unchanged. */
static rb_status feed_bytelevel(rb_detok *d, strbuf *b, const char *s, size_t n)
{
    char small[256];
    char *bytes = n <= sizeof small ? small : malloc(n);
    if (!bytes) return rb_fail(b->err, RB_ENOMEM, "%s: out of memory decoding a piece", b->source);
    size_t k = 0, i = 0;
    int ok = 1;
    while (i < n && ok) {
        size_t m;
        int byte = rb_tok_bytelevel_decode(rb_tok_utf8_next(s + i, n - i, &m));
        if (byte < 0) ok = 0;
        else bytes[k++] = (char)byte;
        i += m;
    }
    rb_status st = ok ? feed(d, b, bytes, k) : feed(d, b, s, n);
    if (bytes != small) free(bytes);
    return st;
}

static rb_status render(rb_detok *d, strbuf *b, int32_t id)
{
    const rb_tokenizer *t = d->t;
    if (id < 0 || id >= t->n)
        return rb_fail(b->err, RB_EINVAL, "%s: token id %d is outside the vocabulary (0..%d)",
                       t->source, (int)id, t->n - 1);
    const char *p = t->piece[id] ? t->piece[id] : "";
    size_t n = t->piece_len[id];
    switch (t->type[id]) {
    case RB_TOKTYPE_CONTROL:
    case RB_TOKTYPE_UNKNOWN:
    case RB_TOKTYPE_UNUSED:
        return RB_OK;
    case RB_TOKTYPE_USER_DEFINED:
        return feed(d, b, p, n);
    case RB_TOKTYPE_BYTE:
        if (t->dec_bytes) {
            int byte = rb_tok_parse_byte_piece(p, n);
            if (byte >= 0) {
                char c = (char)byte;
                return feed(d, b, &c, 1);
            }
        }
        break;
    default:
        break;
    }
    if (t->dec_bytelevel) return feed_bytelevel(d, b, p, n);
    return feed_replaced(d, b, p, n);
}

rb_status rb_detok_create(rb_detok **out, const rb_tokenizer *t, rb_error *err)
{
    if (!out || !t) return rb_fail(err, RB_EINVAL, "rb_detok_create: NULL argument");
    rb_detok *d = calloc(1, sizeof *d);
    if (!d) return rb_fail(err, RB_ENOMEM, "%s: out of memory for a streaming decoder", t->source);
    d->t = t;
    d->strip_left = t->dec_strip;
    *out = d;
    return RB_OK;
}

void rb_detok_mid_text(rb_detok *d)
{
    if (d) d->strip_left = 0;
}

/* Wrap the caller's growing string in a strbuf and back. */
static rb_status with_caller_buf(rb_detok *d, char **out, size_t *out_len, int32_t id, int flush,
                                 rb_error *err)
{
    if (!d || !out || !out_len) return rb_fail(err, RB_EINVAL, "rb_detok: NULL argument");
    strbuf b = {*out, *out ? *out_len : 0, *out ? *out_len + 1 : 0, err, d->t->source};
    rb_status st;
    if (flush) {
        st = RB_OK;
        if (d->npend) {
            d->npend = 0;
            st = emit_replacement(d, &b);
        }
    } else {
        st = render(d, &b, id);
    }
    if (!st && !b.p) st = sb_put(&b, "", 0); /* always hand back a string */
    *out = b.p;
    *out_len = b.n;
    return st;
}

rb_status rb_detok_push(rb_detok *d, int32_t id, char **out, size_t *out_len, rb_error *err)
{
    return with_caller_buf(d, out, out_len, id, 0, err);
}

rb_status rb_detok_flush(rb_detok *d, char **out, size_t *out_len, rb_error *err)
{
    return with_caller_buf(d, out, out_len, 0, 1, err);
}

void rb_detok_free(rb_detok *d)
{
    free(d);
}

rb_status rb_tokenizer_decode(const rb_tokenizer *t, const int32_t *ids, size_t n, char **text,
                              size_t *len, rb_error *err)
{
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!t || !text || !len || (!ids && n))
        return rb_fail(err, RB_EINVAL, "rb_tokenizer_decode: NULL argument");
    rb_detok d = {.t = t, .strip_left = t->dec_strip};
    strbuf b = {NULL, 0, 0, err, t->source};
    rb_status st = RB_OK;
    for (size_t i = 0; i < n && !st; i++) st = render(&d, &b, ids[i]);
    if (!st && d.npend) {
        d.npend = 0;
        st = emit_replacement(&d, &b);
    }
    if (!st && !b.p) st = sb_put(&b, "", 0);
    if (st) {
        free(b.p);
        return st;
    }
    *text = b.p;
    *len = b.n;
    return RB_OK;
}
