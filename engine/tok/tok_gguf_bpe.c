/* tok_gguf_bpe.c: byte-level BPE from GGUF arrays (tokenizer.ggml.model =
 * "gpt2"): tokens in the GPT-2 byte alphabet, merges as "left right"
 * strings in rank order, and tokenizer.ggml.pre naming the split rule.
 * Control and user-defined tokens are matched verbatim in the text, as the
 * added tokens of the equivalent tokenizer.json are. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

static const char *const KNOWN_PRE = "gpt2, gpt-2, llama-bpe, llama3, smollm, qwen2";

static void add_step(rb_tokenizer *t, rb_tok_pre_kind kind)
{
    rb_tok_pre_step *s = &t->pre[t->n_pre++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
}

rb_status rb_tok_pre_from_gguf_name(rb_tokenizer *t, const char *pre, rb_error *err)
{
    t->n_pre = 0;
    if (pre && (strcmp(pre, "gpt2") == 0 || strcmp(pre, "gpt-2") == 0)) {
        add_step(t, RB_TOK_PRE_BYTELEVEL);
        t->pre[0].use_regex = 1;
    } else if (pre && (strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama3") == 0)) {
        add_step(t, RB_TOK_PRE_SPLIT);
        t->pre[0].regex = RB_TOK_RE_LLAMA3;
        add_step(t, RB_TOK_PRE_BYTELEVEL);
        t->ignore_merges = 1; /* as llama.cpp does for this rule */
    } else if (pre && strcmp(pre, "qwen2") == 0) {
        add_step(t, RB_TOK_PRE_SPLIT);
        t->pre[0].regex = RB_TOK_RE_QWEN2;
        add_step(t, RB_TOK_PRE_BYTELEVEL);
    } else if (pre && strcmp(pre, "smollm") == 0) {
        add_step(t, RB_TOK_PRE_DIGITS);
        t->pre[0].individual = 1;
        add_step(t, RB_TOK_PRE_BYTELEVEL);
        t->pre[1].use_regex = 1;
    } else {
        return rb_fail(err, RB_EUNSUPPORTED, "%s: tokenizer.ggml.pre \"%s\" is not a known split rule (%s)",
                       t->source, pre ? pre : "(missing)", KNOWN_PRE);
    }
    return RB_OK;
}

static rb_status add_added(rb_tokenizer *t, int id, int special, rb_error *err)
{
    rb_tok_added *a = &t->added[t->n_added];
    memset(a, 0, sizeof *a);
    size_t n = t->piece_len[id];
    a->content = malloc(n + 1);
    if (!a->content) return rb_fail(err, RB_ENOMEM, "%s: out of memory for added tokens", t->source);
    memcpy(a->content, t->piece[id], n + 1);
    a->len = n;
    a->id = id;
    a->special = (uint8_t)special;
    t->n_added++;
    return RB_OK;
}

static rb_status build(rb_tokenizer *t, int n, const char *const *pieces, const size_t *piece_lens,
                       const int32_t *types, int n_merges, const char *const *merges, const char *pre,
                       rb_error *err)
{
    rb_status st = rb_tok_pre_from_gguf_name(t, pre, err);
    int n_special = 0;
    for (int i = 0; i < n && !st; i++) {
        if (!pieces[i] && piece_lens[i])
            return rb_fail(err, RB_EINVAL, "%s: piece %d is NULL with length %zu", t->source, i, piece_lens[i]);
        st = rb_tok_set_piece(t, i, pieces[i] ? pieces[i] : "", piece_lens[i], err);
        if (st) return st;
        int ty = types ? types[i] : RB_TOKTYPE_NORMAL;
        if (ty == 0) ty = RB_TOKTYPE_NORMAL;
        if (ty < RB_TOKTYPE_NORMAL || ty > RB_TOKTYPE_BYTE)
            return rb_fail(err, RB_EFORMAT, "%s: token type %d of piece %d is not one of 1..6", t->source,
                           (int)ty, i);
        t->type[i] = (uint8_t)ty;
        if ((ty == RB_TOKTYPE_CONTROL || ty == RB_TOKTYPE_USER_DEFINED) && piece_lens[i]) n_special++;
        if (ty == RB_TOKTYPE_UNKNOWN && t->unk_id < 0) t->unk_id = i;
        st = rb_tok_strmap_put(&t->vocab, t->piece[i], t->piece_len[i], i, NULL, err);
    }
    if (st) return st;
    if (n_special) {
        t->added = calloc((size_t)n_special, sizeof *t->added);
        if (!t->added) return rb_fail(err, RB_ENOMEM, "%s: out of memory for added tokens", t->source);
        for (int i = 0; i < n && !st; i++)
            if ((t->type[i] == RB_TOKTYPE_CONTROL || t->type[i] == RB_TOKTYPE_USER_DEFINED) && t->piece_len[i])
                st = add_added(t, i, t->type[i] == RB_TOKTYPE_CONTROL, err);
        if (st) return st;
    }
    for (int r = 0; r < n_merges; r++) {
        const char *m = merges[r];
        const char *sp = m ? strchr(m, ' ') : NULL;
        if (!sp || strchr(sp + 1, ' '))
            return rb_fail(err, RB_EFORMAT, "%s: merge %d \"%s\" must hold exactly one space between its "
                           "two pieces", t->source, r, m ? m : "(null)");
        size_t al = (size_t)(sp - m), bl = strlen(sp + 1);
        int32_t a = rb_tok_strmap_get(&t->vocab, m, al), b = rb_tok_strmap_get(&t->vocab, sp + 1, bl);
        char small[256];
        char *cat = al + bl <= sizeof small ? small : malloc(al + bl);
        if (!cat) return rb_fail(err, RB_ENOMEM, "%s: out of memory", t->source);
        memcpy(cat, m, al);
        memcpy(cat + al, sp + 1, bl);
        int32_t merged = rb_tok_strmap_get(&t->vocab, cat, al + bl);
        if (cat != small) free(cat);
        if (a < 0 || b < 0 || merged < 0)
            return rb_fail(err, RB_EFORMAT, "%s: merge %d \"%s\": %s is not a token", t->source, r, m,
                           a < 0 ? "the left piece" : b < 0 ? "the right piece" : "the merged piece");
        int fresh;
        if ((st = rb_tok_pairmap_put(&t->merges, a, b, r, merged, &fresh, err))) return st;
    }
    t->dec_bytelevel = 1;
    rb_tok_finish_added(t);
    return RB_OK;
}

rb_status rb_tokenizer_from_bpe(rb_tokenizer **out, int n, const char *const *pieces,
                                const size_t *piece_lens, const int32_t *types, int n_merges,
                                const char *const *merges, const char *pre, int bos, int eos,
                                int add_bos, const char *source, rb_error *err)
{
    if (!out) return rb_fail(err, RB_EINVAL, "rb_tokenizer_from_bpe: out is NULL");
    *out = NULL;
    if (!source) source = "(bpe vocabulary)";
    if (n <= 0 || !pieces || !piece_lens || n_merges < 0 || (n_merges > 0 && !merges))
        return rb_fail(err, RB_EINVAL, "%s: a BPE vocabulary needs n > 0 pieces with lengths and a merge "
                       "list (got n = %d, %d merges)", source, n, n_merges);
    if (bos >= n || eos >= n || bos < -1 || eos < -1)
        return rb_fail(err, RB_EINVAL, "%s: BOS id %d / EOS id %d outside the %d-piece vocabulary", source,
                       bos, eos, n);
    rb_tokenizer *t;
    rb_status st = rb_tok_alloc(&t, n, source, err);
    if (st) return st;
    t->model = RB_TOK_MODEL_BPE;
    st = build(t, n, pieces, piece_lens, types, n_merges, merges, pre, err);
    if (st) {
        rb_tokenizer_free(t);
        rb_tok_clean_msg(err);
        return st;
    }
    t->bos = bos;
    t->eos = eos;
    t->add_bos = add_bos ? 1 : 0;
    *out = t;
    return RB_OK;
}
