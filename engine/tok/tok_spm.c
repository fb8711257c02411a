/* tok_spm.c: score-based SentencePiece vocabularies: llama2.c tokenizer.bin
 * and GGUF tokenizer.ggml.model = "llama" (rb_tokenizer_from_spm_scores).
 *
 * llama2.c's export writes pieces with real spaces (' '), GGUF keeps
 * SentencePiece's U+2581; the tokenizer notices which spelling the
 * vocabulary uses and normalizes text the same way, so both files of one
 * model give the same ids. Without token types (tokenizer.bin) the types
 * follow llama2.c's conventions: <0xXX> pieces are bytes, "<unk>" is the
 * unknown token, BOS/EOS are control tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

static const char META[] = "\xE2\x96\x81"; /* U+2581, SentencePiece's space */

static int contains(const char *s, size_t n, const char *pat, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, pat, m) == 0) return 1;
    return 0;
}

static rb_status add_user_defined(rb_tokenizer *t, int id, rb_error *err)
{
    rb_tok_added *v = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *v);
    if (!v) return rb_fail(err, RB_ENOMEM, "%s: out of memory for added tokens", t->source);
    t->added = v;
    rb_tok_added *a = &v[t->n_added];
    memset(a, 0, sizeof *a);
    size_t n = t->piece_len[id];
    a->content = malloc(n + 1);
    a->norm = malloc(n + 1);
    if (!a->content || !a->norm) {
        free(a->content);
        free(a->norm);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory for added tokens", t->source);
    }
    /* user-defined pieces are spelled as the normalized text they match */
    memcpy(a->content, t->piece[id], n + 1);
    memcpy(a->norm, t->piece[id], n + 1);
    a->len = a->norm_len = n;
    a->id = id;
    a->normalized = 1;
    t->n_added++;
    return RB_OK;
}

/* Shared by the tokenizer.bin loader and the GGUF constructor. */
static rb_status spm_build(rb_tokenizer **out, int n, const char *const *pieces,
                           const size_t *piece_lens, const float *scores, const int32_t *types,
                           int bos, int eos, int add_bos, const char *source, rb_error *err)
{
    *out = NULL;
    if (!source) source = "(spm vocabulary)";
    if (n <= 0 || !pieces || !piece_lens || !scores)
        return rb_fail(err, RB_EINVAL, "%s: a score-based vocabulary needs n > 0 pieces, lengths and scores (got n = %d)",
                       source, n);
    if (bos >= n || eos >= n || bos < -1 || eos < -1)
        return rb_fail(err, RB_EINVAL, "%s: BOS id %d / EOS id %d outside the %d-piece vocabulary",
                       source, bos, eos, n);
    rb_tokenizer *t;
    rb_status st = rb_tok_alloc(&t, n, source, err);
    if (st) return st;
    t->model = RB_TOK_MODEL_SPM_SCORE;
    t->score = malloc((size_t)n * sizeof *t->score);
    if (!t->score) {
        rb_tokenizer_free(t);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory for %d scores", source, n);
    }
    for (int i = 0; i < n && !st; i++) {
        if (!pieces[i] && piece_lens[i])
            st = rb_fail(err, RB_EINVAL, "%s: piece %d is NULL with length %zu", source, i, piece_lens[i]);
        else if (isnan(scores[i]))
            st = rb_fail(err, RB_EFORMAT, "%s: the score of piece %d is NaN", source, i);
        else
            st = rb_tok_set_piece(t, i, pieces[i] ? pieces[i] : "", piece_lens[i], err);
        t->score[i] = scores[i];
        if (!st && types) {
            int ty = types[i];
            if (ty == 0) ty = RB_TOKTYPE_NORMAL; /* GGUF "undefined" */
            if (ty < RB_TOKTYPE_NORMAL || ty > RB_TOKTYPE_BYTE)
                st = rb_fail(err, RB_EFORMAT, "%s: token type %d of piece %d is not one of 1..6", source,
                             (int)types[i], i);
            else
                t->type[i] = (uint8_t)ty;
        } else if (!st) {
            if (rb_tok_parse_byte_piece(t->piece[i], t->piece_len[i]) >= 0) t->type[i] = RB_TOKTYPE_BYTE;
            else if (strcmp(t->piece[i], "<unk>") == 0) t->type[i] = RB_TOKTYPE_UNKNOWN;
            if (i == bos || i == eos) t->type[i] = RB_TOKTYPE_CONTROL;
        }
    }
    size_t with_space = 0, with_meta = 0;
    for (int i = 0; i < n && !st; i++) {
        switch (t->type[i]) {
        case RB_TOKTYPE_BYTE: {
            int b = rb_tok_parse_byte_piece(t->piece[i], t->piece_len[i]);
            if (b < 0)
                st = rb_fail(err, RB_EFORMAT, "%s: piece %d has the byte type but is not <0xXX>", source, i);
            else if (t->byte_id[b] < 0)
                t->byte_id[b] = i;
            break;
        }
        case RB_TOKTYPE_UNKNOWN:
            if (t->unk_id < 0) t->unk_id = i;
            break;
        case RB_TOKTYPE_USER_DEFINED:
            if (t->piece_len[i]) st = add_user_defined(t, i, err);
            break;
        case RB_TOKTYPE_NORMAL:
            /* only normal pieces are reachable by lookup and merging */
            st = rb_tok_strmap_put(&t->vocab, t->piece[i], t->piece_len[i], i, NULL, err);
            with_space += contains(t->piece[i], t->piece_len[i], " ", 1);
            with_meta += contains(t->piece[i], t->piece_len[i], META, 3);
            break;
        default:
            break;
        }
    }
    if (st) {
        rb_tokenizer_free(t);
        return st;
    }
    t->spm_meta = with_meta > 0 && with_meta >= with_space;
    t->byte_fallback = 1;
    t->dec_bytes = 1;
    t->dec_strip = 1;
    if (t->spm_meta) {
        t->dec_replace[0].from = malloc(4);
        t->dec_replace[0].to = malloc(2);
        if (!t->dec_replace[0].from || !t->dec_replace[0].to) {
            free(t->dec_replace[0].from);
            free(t->dec_replace[0].to);
            rb_tokenizer_free(t);
            return rb_fail(err, RB_ENOMEM, "%s: out of memory", source);
        }
        memcpy(t->dec_replace[0].from, META, 4);
        memcpy(t->dec_replace[0].to, " ", 2);
        t->dec_replace[0].from_len = 3;
        t->dec_replace[0].to_len = 1;
        t->n_dec_replace = 1;
    }
    t->bos = bos;
    t->eos = eos;
    t->add_bos = add_bos ? 1 : 0;
    rb_tok_finish_added(t);
    *out = t;
    return RB_OK;
}

rb_status rb_tokenizer_from_spm_scores(rb_tokenizer **out, int n, const char *const *pieces,
                                       const size_t *piece_lens, const float *scores,
                                       const int32_t *types, int bos, int eos, int add_bos,
                                       const char *source, rb_error *err)
{
    if (!out) return rb_fail(err, RB_EINVAL, "rb_tokenizer_from_spm_scores: out is NULL");
    rb_status st = spm_build(out, n, pieces, piece_lens, scores, types, bos, eos, add_bos, source, err);
    if (st) rb_tok_clean_msg(err);
    return st;
}

static int32_t rd_i32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static float rd_f32(const unsigned char *p)
{
    uint32_t u = (uint32_t)rd_i32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

rb_status rb_tokenizer_load_llama2c_mem(rb_tokenizer **out, const void *data, size_t len,
                                        int vocab_size, const char *source, rb_error *err)
{
    if (!out) return rb_fail(err, RB_EINVAL, "rb_tokenizer_load_llama2c_mem: out is NULL");
    *out = NULL;
    if (!source) source = "(tokenizer.bin in memory)";
    if (!data && len) return rb_fail(err, RB_EINVAL, "%s: NULL data", source);
    const unsigned char *u = data;
    if (len < 4)
        return rb_fail(err, RB_EFORMAT, "%s: %zu bytes, too short for the int32 max_token_length "
                       "header of a llama2.c tokenizer.bin", source, len);
    int32_t maxlen = rd_i32(u);
    if (maxlen <= 0 || maxlen > RB_TOK_MAX_PIECE)
        return rb_fail(err, RB_EFORMAT, "%s: header max_token_length = %d is outside 1..%d; not a "
                       "llama2.c tokenizer.bin", source, (int)maxlen, RB_TOK_MAX_PIECE);
    if (vocab_size > 0 && (size_t)vocab_size > (len - 4) / 8)
        return rb_fail(err, RB_EFORMAT, "%s: vocab_size %d needs at least %zu bytes but the file has "
                       "%zu; check vocab_size against the model header", source, vocab_size,
                       (size_t)vocab_size * 8 + 4, len);
    /* pass 1: walk and check every record, count them */
    size_t off = 4;
    int count = 0;
    while (vocab_size > 0 ? count < vocab_size : off < len) {
        if (len - off < 8)
            return rb_fail(err, RB_EFORMAT, "%s: truncated at byte offset %zu: token %d needs a float32 "
                           "score and an int32 length", source, off, count);
        int32_t plen = rd_i32(u + off + 4);
        if (plen < 0 || plen > maxlen)
            return rb_fail(err, RB_EFORMAT, "%s: token %d at byte offset %zu has length %d, outside "
                           "0..max_token_length (%d)", source, count, off + 4, (int)plen, (int)maxlen);
        if ((size_t)plen > len - off - 8)
            return rb_fail(err, RB_EFORMAT, "%s: token %d at byte offset %zu claims %d bytes but only %zu "
                           "remain", source, count, off + 4, (int)plen, len - off - 8);
        off += 8 + (size_t)plen;
        if (++count > RB_TOK_MAX_VOCAB)
            return rb_fail(err, RB_EFORMAT, "%s: more than %d tokens", source, RB_TOK_MAX_VOCAB);
    }
    if (off != len)
        return rb_fail(err, RB_EFORMAT, "%s: %zu bytes left after %d tokens; the file holds more tokens "
                       "than vocab_size (pass 0 to read them all)", source, len - off, count);
    if (count == 0) return rb_fail(err, RB_EFORMAT, "%s: the file holds no tokens", source);
    const char **pieces = malloc((size_t)count * sizeof *pieces);
    size_t *lens = malloc((size_t)count * sizeof *lens);
    float *scores = malloc((size_t)count * sizeof *scores);
    rb_status st = RB_OK;
    if (!pieces || !lens || !scores) {
        st = rb_fail(err, RB_ENOMEM, "%s: out of memory for %d tokens", source, count);
    } else {
        off = 4;
        for (int i = 0; i < count; i++) {
            scores[i] = rd_f32(u + off);
            lens[i] = (size_t)rd_i32(u + off + 4);
            pieces[i] = (const char *)u + off + 8;
            off += 8 + lens[i];
        }
        /* llama2.c's convention: BOS 1, EOS 2, prepend BOS */
        int bos = count > 1 ? 1 : -1, eos = count > 2 ? 2 : -1;
        st = spm_build(out, count, pieces, lens, scores, NULL, bos, eos, 1, source, err);
    }
    free(pieces);
    free(lens);
    free(scores);
    if (st) rb_tok_clean_msg(err);
    return st;
}

rb_status rb_tokenizer_load_llama2c(rb_tokenizer **out, const char *path, int vocab_size,
                                    rb_error *err)
{
    if (!out || !path) return rb_fail(err, RB_EINVAL, "rb_tokenizer_load_llama2c: NULL argument");
    *out = NULL;
    char *data;
    size_t len;
    rb_status st = rb_tok_read_file(path, &data, &len, err);
    if (st) return st;
    st = rb_tokenizer_load_llama2c_mem(out, data, len, vocab_size, path, err);
    free(data);
    return st;
}
