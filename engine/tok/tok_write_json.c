/* tok_write_json.c: any loaded tokenizer -> a Hugging Face tokenizer.json
 * that HF `tokenizers` and retrobench's own reader (tok_json.c) both load
 * and that gives the ids the source gives.
 *
 * The file describes the struct's pipeline: added tokens, normalizer,
 * pre-tokenizer steps, a BPE model, the decoder, and the BOS template.
 * Pieces are written in their canonical spelling (tok_identity.c), so the
 * written file has the source's identity.
 *
 * Score-based SentencePiece vocabularies (llama2.c tokenizer.bin, GGUF
 * "llama") have scores instead of merges. llama2.c merges, at each step,
 * the adjacent pair whose concatenation is the highest-scoring normal piece;
 * the same choice is made by a rank-ordered merge list holding every split
 * of every normal piece into two normal pieces, ordered by the merged
 * piece's score (highest first; then by id; then by the left part's length),
 * which is also how the Hugging Face converter for SentencePiece models
 * derives merges. The two can disagree only when two different pairs with
 * equal scores are mergeable at the same moment: llama2.c takes the leftmost,
 * the list takes the lower rank. Pieces scoring at or below -1e10 never merge
 * in llama2.c and get no merge here. The normalizer is SentencePiece's
 * dummy prefix and space replacement; byte fallback as in the source. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

static const char META[] = "\xE2\x96\x81"; /* U+2581 */

typedef struct {
    rb_error *err;
    const rb_tokenizer *t;
    char **canon;     /* [n] canonical pieces (owned) */
    int ok;           /* 0 once an allocation failed */
} wctx;

static cJSON *chk(wctx *w, cJSON *x)
{
    if (!x) w->ok = 0;
    return x;
}

static void add(wctx *w, cJSON *obj, const char *key, cJSON *item)
{
    if (!item || !obj || !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        w->ok = 0;
    }
}

static void push(wctx *w, cJSON *arr, cJSON *item)
{
    if (!item || !arr || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        w->ok = 0;
    }
}

static cJSON *typed(wctx *w, const char *type)
{
    cJSON *o = chk(w, cJSON_CreateObject());
    add(w, o, "type", cJSON_CreateString(type));
    return o;
}

/* A string from bytes that may hold NUL (never in valid pieces, but safe). */
static cJSON *str_n(const char *s, size_t n)
{
    char small[256];
    char *b = n < sizeof small ? small : malloc(n + 1);
    if (!b) return NULL;
    memcpy(b, s, n);
    b[n] = 0;
    cJSON *x = cJSON_CreateString(b);
    if (b != small) free(b);
    return x;
}

/* ---------------- canonical pieces ---------------- */

static rb_status make_canon(wctx *w)
{
    const rb_tokenizer *t = w->t;
    w->canon = calloc((size_t)t->n, sizeof *w->canon);
    if (!w->canon) return rb_fail(w->err, RB_ENOMEM, "%s: out of memory", t->source);
    for (int i = 0; i < t->n; i++) {
        w->canon[i] = malloc(3 * (size_t)t->piece_len[i] + 1);
        if (!w->canon[i]) return rb_fail(w->err, RB_ENOMEM, "%s: out of memory", t->source);
        rb_tok_canonical_piece(t, i, w->canon[i]);
    }
    return RB_OK;
}

/* ---------------- merges ---------------- */

typedef struct {
    int32_t left, right, merged;
    float score;   /* SPM: the merged piece's score */
    int32_t rank;  /* BPE: the source's rank */
    uint32_t llen; /* SPM: left part's length */
} merge_rec;

static int cmp_rank(const void *a, const void *b)
{
    const merge_rec *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static int cmp_spm(const void *a, const void *b)
{
    const merge_rec *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->merged != y->merged) return (x->merged > y->merged) - (x->merged < y->merged);
    return (x->llen > y->llen) - (x->llen < y->llen);
}

static rb_status push_merge(wctx *w, merge_rec **v, size_t *n, size_t *cap, merge_rec m)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        merge_rec *nv = realloc(*v, c * sizeof *nv);
        if (!nv) return rb_fail(w->err, RB_ENOMEM, "%s: out of memory for merges", w->t->source);
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = m;
    return RB_OK;
}

/* Every split of every normal SentencePiece piece into two normal pieces. */
static rb_status spm_merges(wctx *w, merge_rec **v, size_t *n)
{
    const rb_tokenizer *t = w->t;
    size_t cap = 0;
    *v = NULL;
    *n = 0;
    for (int id = 0; id < t->n; id++) {
        if (t->type[id] != RB_TOKTYPE_NORMAL || !(t->score[id] > -1e10f) || !t->piece[id]) continue;
        if (rb_tok_strmap_get(&t->vocab, t->piece[id], t->piece_len[id]) != id) continue;
        const char *p = t->piece[id];
        size_t len = t->piece_len[id];
        for (size_t k = rb_tok_utf8_len((unsigned char)p[0]); k < len;
             k += rb_tok_utf8_len((unsigned char)p[k])) {
            int32_t a = rb_tok_strmap_get(&t->vocab, p, k), b = rb_tok_strmap_get(&t->vocab, p + k, len - k);
            if (a < 0 || b < 0) continue;
            merge_rec m = {a, b, id, t->score[id], 0, (uint32_t)k};
            rb_status st = push_merge(w, v, n, &cap, m);
            if (st) return st;
        }
    }
    if (*n) qsort(*v, *n, sizeof **v, cmp_spm);
    return RB_OK;
}

static rb_status bpe_merges(wctx *w, merge_rec **v, size_t *n)
{
    const rb_tok_pairmap *pm = &w->t->merges;
    size_t cap = 0;
    *v = NULL;
    *n = 0;
    for (size_t i = 0; i < pm->cap; i++) {
        const rb_tok_pairmap_slot *s = &pm->slots[i];
        if (!s->key) continue;
        uint64_t k = s->key - 1;
        merge_rec m = {(int32_t)(k >> 32), (int32_t)(k & 0xffffffffu), s->merged, 0, s->rank, 0};
        rb_status st = push_merge(w, v, n, &cap, m);
        if (st) return st;
    }
    if (*n) qsort(*v, *n, sizeof **v, cmp_rank);
    return RB_OK;
}

/* ---------------- sections ---------------- */

/* Score-based vocabularies list every id (byte fallback looks <0xXX> up in
 * model.vocab); BPE lists the pieces its model looks up, so added tokens that
 * a tokenizer.json kept out of model.vocab, and holes, stay out. */
static int in_model_vocab(const rb_tokenizer *t, int id)
{
    if (t->model == RB_TOK_MODEL_SPM_SCORE) return 1;
    if (!t->piece[id]) return 0; /* a hole: no piece was ever set */
    return rb_tok_strmap_get(&t->vocab, t->piece[id], t->piece_len[id]) == id;
}

static cJSON *model_json(wctx *w, const merge_rec *mv, size_t nm)
{
    const rb_tokenizer *t = w->t;
    cJSON *m = typed(w, "BPE");
    add(w, m, "dropout", cJSON_CreateNull());
    add(w, m, "unk_token", t->unk_id >= 0 ? cJSON_CreateString(w->canon[t->unk_id]) : cJSON_CreateNull());
    add(w, m, "continuing_subword_prefix", cJSON_CreateNull());
    add(w, m, "end_of_word_suffix", cJSON_CreateNull());
    add(w, m, "fuse_unk", cJSON_CreateBool(t->model == RB_TOK_MODEL_SPM_SCORE || t->fuse_unk));
    add(w, m, "byte_fallback", cJSON_CreateBool(t->byte_fallback));
    add(w, m, "ignore_merges", cJSON_CreateBool(t->ignore_merges));
    cJSON *vocab = chk(w, cJSON_CreateObject());
    rb_tok_strmap seen = {0};
    for (int i = 0; i < t->n && w->ok; i++) {
        if (!in_model_vocab(t, i)) continue;
        int32_t prev = -1;
        size_t cl = strlen(w->canon[i]);
        if (rb_tok_strmap_put(&seen, w->canon[i], cl, i, &prev, w->err) != RB_OK) {
            w->ok = 0;
            break;
        }
        if (prev >= 0 && prev != i) continue; /* a repeated piece: the first id keeps it */
        add(w, vocab, w->canon[i], cJSON_CreateNumber(i));
    }
    rb_tok_strmap_free(&seen);
    add(w, m, "vocab", vocab);
    /* pairs rather than "a b" strings: pieces may contain spaces */
    cJSON *merges = chk(w, cJSON_CreateArray());
    for (size_t i = 0; i < nm && w->ok; i++) {
        cJSON *pair = chk(w, cJSON_CreateArray());
        push(w, pair, cJSON_CreateString(w->canon[mv[i].left]));
        push(w, pair, cJSON_CreateString(w->canon[mv[i].right]));
        push(w, merges, pair);
    }
    add(w, m, "merges", merges);
    return m;
}

static int is_piece(const rb_tokenizer *t, const rb_tok_added *a)
{
    return t->piece[a->id] && a->len == t->piece_len[a->id] && !memcmp(a->content, t->piece[a->id], a->len);
}

/* Whether a must come after b in the file. */
static int added_after(const rb_tokenizer *t, const rb_tok_added *a, const rb_tok_added *b)
{
    if (a->id != b->id) return a->id > b->id;
    return is_piece(t, a) && !is_piece(t, b);
}

static cJSON *added_json(wctx *w)
{
    const rb_tokenizer *t = w->t;
    cJSON *arr = chk(w, cJSON_CreateArray());
    /* score-based vocabularies: control and unknown pieces are special added
     * tokens (as in Llama 2's tokenizer.json), user-defined ones match the
     * normalized text */
    if (t->model == RB_TOK_MODEL_SPM_SCORE) {
        for (int i = 0; i < t->n && w->ok; i++) {
            int ty = t->type[i];
            if (ty != RB_TOKTYPE_CONTROL && ty != RB_TOKTYPE_UNKNOWN && ty != RB_TOKTYPE_USER_DEFINED) continue;
            if (!w->canon[i][0]) continue;
            int user = ty == RB_TOKTYPE_USER_DEFINED;
            cJSON *a = chk(w, cJSON_CreateObject());
            add(w, a, "id", cJSON_CreateNumber(i));
            add(w, a, "content", cJSON_CreateString(w->canon[i]));
            add(w, a, "single_word", cJSON_CreateFalse());
            add(w, a, "lstrip", cJSON_CreateFalse());
            add(w, a, "rstrip", cJSON_CreateFalse());
            add(w, a, "normalized", cJSON_CreateBool(user));
            add(w, a, "special", cJSON_CreateBool(!user));
            push(w, arr, a);
        }
        return arr;
    }
    /* the struct keeps added tokens sorted by length; the file lists them by id */
    int *order = malloc(((size_t)t->n_added + 1) * sizeof *order);
    if (!order) {
        w->ok = 0;
        return arr;
    }
    for (int i = 0; i < t->n_added; i++) order[i] = i;
    /* insertion sort (added lists are short) by id; of two entries for one
     * id (a malformed file), the one whose content is the id's piece goes
     * last, since the last one read sets the piece */
    for (int i = 1; i < t->n_added; i++)
        for (int j = i; j > 0 && added_after(t, &t->added[order[j - 1]], &t->added[order[j]]); j--) {
            int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    for (int k = 0; k < t->n_added && w->ok; k++) {
        const rb_tok_added *ad = &t->added[order[k]];
        cJSON *a = chk(w, cJSON_CreateObject());
        add(w, a, "id", cJSON_CreateNumber(ad->id));
        add(w, a, "content", str_n(ad->content, ad->len));
        add(w, a, "single_word", cJSON_CreateBool(ad->single_word));
        add(w, a, "lstrip", cJSON_CreateBool(ad->lstrip));
        add(w, a, "rstrip", cJSON_CreateBool(ad->rstrip));
        add(w, a, "normalized", cJSON_CreateBool(ad->normalized));
        add(w, a, "special", cJSON_CreateBool(ad->special));
        push(w, arr, a);
    }
    free(order);
    return arr;
}

static cJSON *normalizer_json(wctx *w)
{
    const rb_tokenizer *t = w->t;
    cJSON *seq = typed(w, "Sequence"), *list = chk(w, cJSON_CreateArray());
    add(w, seq, "normalizers", list);
    if (t->model == RB_TOK_MODEL_SPM_SCORE) {
        cJSON *p = typed(w, "Prepend");
        add(w, p, "prepend", cJSON_CreateString(META));
        push(w, list, p);
        cJSON *r = typed(w, "Replace"), *pat = chk(w, cJSON_CreateObject());
        add(w, pat, "String", cJSON_CreateString(" "));
        add(w, r, "pattern", pat);
        add(w, r, "content", cJSON_CreateString(META));
        push(w, list, r);
        return seq;
    }
    if (t->n_norm == 0) {
        cJSON_Delete(seq);
        return cJSON_CreateNull();
    }
    for (int i = 0; i < t->n_norm; i++) {
        const rb_tok_norm_op *op = &t->norm[i];
        if (op->kind == RB_TOK_NORM_PREPEND) {
            cJSON *p = typed(w, "Prepend");
            add(w, p, "prepend", str_n(op->a, op->a_len));
            push(w, list, p);
        } else {
            cJSON *r = typed(w, "Replace"), *pat = chk(w, cJSON_CreateObject());
            add(w, pat, "String", str_n(op->a, op->a_len));
            add(w, r, "pattern", pat);
            add(w, r, "content", str_n(op->b, op->b_len));
            push(w, list, r);
        }
    }
    return seq;
}

static cJSON *pretok_json(wctx *w)
{
    const rb_tokenizer *t = w->t;
    if (t->n_pre == 0) return cJSON_CreateNull();
    cJSON *seq = typed(w, "Sequence"), *list = chk(w, cJSON_CreateArray());
    add(w, seq, "pretokenizers", list);
    for (int i = 0; i < t->n_pre; i++) {
        const rb_tok_pre_step *s = &t->pre[i];
        cJSON *o = NULL;
        switch (s->kind) {
        case RB_TOK_PRE_SPLIT: {
            o = typed(w, "Split");
            cJSON *pat = chk(w, cJSON_CreateObject());
            add(w, pat, "Regex", cJSON_CreateString(rb_tok_regex_pattern(s->regex)));
            add(w, o, "pattern", pat);
            add(w, o, "behavior", cJSON_CreateString("Isolated"));
            add(w, o, "invert", cJSON_CreateFalse());
            break;
        }
        case RB_TOK_PRE_DIGITS:
            o = typed(w, "Digits");
            add(w, o, "individual_digits", cJSON_CreateBool(s->individual));
            break;
        case RB_TOK_PRE_BYTELEVEL:
            o = typed(w, "ByteLevel");
            add(w, o, "add_prefix_space", cJSON_CreateBool(s->add_prefix_space));
            add(w, o, "trim_offsets", cJSON_CreateTrue());
            add(w, o, "use_regex", cJSON_CreateBool(s->use_regex));
            break;
        case RB_TOK_PRE_METASPACE:
            o = typed(w, "Metaspace");
            add(w, o, "replacement", str_n(s->repl, s->repl_len));
            add(w, o, "prepend_scheme", cJSON_CreateString(s->prepend_scheme == RB_TOK_PREPEND_ALWAYS ? "always"
                                                           : s->prepend_scheme == RB_TOK_PREPEND_FIRST ? "first"
                                                                                                       : "never"));
            add(w, o, "split", cJSON_CreateBool(s->split));
            break;
        }
        push(w, list, o);
    }
    return seq;
}

static cJSON *decoder_json(wctx *w)
{
    const rb_tokenizer *t = w->t;
    cJSON *seq = typed(w, "Sequence"), *list = chk(w, cJSON_CreateArray());
    add(w, seq, "decoders", list);
    if (t->dec_bytelevel) {
        cJSON *b = typed(w, "ByteLevel");
        add(w, b, "add_prefix_space", cJSON_CreateTrue());
        add(w, b, "trim_offsets", cJSON_CreateTrue());
        add(w, b, "use_regex", cJSON_CreateTrue());
        push(w, list, b);
    }
    /* canonical pieces spell the space as U+2581 even where the source did not */
    int spm_space = t->model == RB_TOK_MODEL_SPM_SCORE;
    if (spm_space) {
        cJSON *r = typed(w, "Replace"), *pat = chk(w, cJSON_CreateObject());
        add(w, pat, "String", cJSON_CreateString(META));
        add(w, r, "pattern", pat);
        add(w, r, "content", cJSON_CreateString(" "));
        push(w, list, r);
    }
    for (int i = 0; i < t->n_dec_replace; i++) {
        const rb_tok_replace *rp = &t->dec_replace[i];
        if (spm_space && rp->from_len == 3 && !memcmp(rp->from, META, 3)) continue;
        cJSON *r = typed(w, "Replace"), *pat = chk(w, cJSON_CreateObject());
        add(w, pat, "String", str_n(rp->from, rp->from_len));
        add(w, r, "pattern", pat);
        add(w, r, "content", str_n(rp->to, rp->to_len));
        push(w, list, r);
    }
    if (t->dec_bytes) push(w, list, typed(w, "ByteFallback"));
    if (t->dec_bytes || t->n_dec_replace || spm_space) push(w, list, typed(w, "Fuse"));
    if (t->dec_strip) {
        cJSON *s = typed(w, "Strip");
        add(w, s, "content", cJSON_CreateString(" "));
        add(w, s, "start", cJSON_CreateNumber(t->dec_strip));
        add(w, s, "stop", cJSON_CreateNumber(0));
        push(w, list, s);
    }
    return seq;
}

static cJSON *post_json(wctx *w)
{
    const rb_tokenizer *t = w->t;
    if (!t->add_bos || t->bos < 0) return cJSON_CreateNull();
    const char *name = w->canon[t->bos];
    cJSON *p = typed(w, "TemplateProcessing");
    cJSON *single = chk(w, cJSON_CreateArray()), *pair = chk(w, cJSON_CreateArray());
    for (int k = 0; k < 2; k++) {
        cJSON *arr = k ? pair : single;
        for (int part = 0; part <= k; part++) {
            cJSON *sp = chk(w, cJSON_CreateObject()), *spi = chk(w, cJSON_CreateObject());
            add(w, spi, "id", cJSON_CreateString(name));
            add(w, spi, "type_id", cJSON_CreateNumber(part));
            add(w, sp, "SpecialToken", spi);
            push(w, arr, sp);
            cJSON *sq = chk(w, cJSON_CreateObject()), *sqi = chk(w, cJSON_CreateObject());
            add(w, sqi, "id", cJSON_CreateString(part ? "B" : "A"));
            add(w, sqi, "type_id", cJSON_CreateNumber(part));
            add(w, sq, "Sequence", sqi);
            push(w, arr, sq);
        }
    }
    add(w, p, "single", single);
    add(w, p, "pair", pair);
    cJSON *st = chk(w, cJSON_CreateObject()), *e = chk(w, cJSON_CreateObject());
    add(w, e, "id", cJSON_CreateString(name));
    cJSON *ids = chk(w, cJSON_CreateArray()), *toks = chk(w, cJSON_CreateArray());
    push(w, ids, cJSON_CreateNumber(t->bos));
    push(w, toks, cJSON_CreateString(name));
    add(w, e, "ids", ids);
    add(w, e, "tokens", toks);
    add(w, st, name, e);
    add(w, p, "special_tokens", st);
    return p;
}

rb_status rb_tokenizer_to_json(const rb_tokenizer *t, char **text, size_t *len, rb_error *err)
{
    if (!t || !text) return rb_fail(err, RB_EINVAL, "rb_tokenizer_to_json: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    wctx w = {err, t, NULL, 1};
    merge_rec *mv = NULL;
    size_t nm = 0;
    cJSON *root = NULL;
    rb_status st = make_canon(&w);
    if (!st) st = t->model == RB_TOK_MODEL_SPM_SCORE ? spm_merges(&w, &mv, &nm) : bpe_merges(&w, &mv, &nm);
    if (!st) {
        root = chk(&w, cJSON_CreateObject());
        add(&w, root, "version", cJSON_CreateString("1.0"));
        add(&w, root, "truncation", cJSON_CreateNull());
        add(&w, root, "padding", cJSON_CreateNull());
        add(&w, root, "added_tokens", added_json(&w));
        add(&w, root, "normalizer", normalizer_json(&w));
        add(&w, root, "pre_tokenizer", pretok_json(&w));
        add(&w, root, "post_processor", post_json(&w));
        add(&w, root, "decoder", decoder_json(&w));
        add(&w, root, "model", model_json(&w, mv, nm));
        if (!w.ok) st = rb_fail(err, RB_ENOMEM, "%s: out of memory writing tokenizer.json", t->source);
    }
    if (!st) {
        char *s = cJSON_PrintUnformatted(root);
        if (!s) st = rb_fail(err, RB_ENOMEM, "%s: out of memory writing tokenizer.json", t->source);
        else {
            size_t n = strlen(s);
            *text = malloc(n + 2);
            if (!*text) st = rb_fail(err, RB_ENOMEM, "%s: out of memory", t->source);
            else {
                memcpy(*text, s, n);
                (*text)[n] = '\n';
                (*text)[n + 1] = 0;
                if (len) *len = n + 1;
            }
            cJSON_free(s);
        }
    }
    cJSON_Delete(root);
    free(mv);
    if (w.canon)
        for (int i = 0; i < t->n; i++) free(w.canon[i]);
    free(w.canon);
    return st;
}
