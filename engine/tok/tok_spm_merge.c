/* tok_spm_merge.c: llama2.c's score-based merging on one normalized text.
 *
 * llama2.c's encode() looks each code point up in the vocabulary (missing
 * ones become <0xXX> byte tokens), then repeatedly merges the adjacent pair
 * whose concatenation is a vocabulary piece with the highest score, the
 * leftmost pair winning ties, and never a pair scoring at or below -1e10
 * (its starting "best score"). It rescans all pairs each round (O(n^2));
 * here symbols are text spans in a linked list and candidates sit in a heap
 * keyed (score desc, position asc), which picks the same pair every round.
 * Byte tokens never merge: their pieces ("<0xE4>") are not text. */
#include <stdlib.h>

#include "tok/tok_heap.h"
#include "tok/tok_internal.h"

/* llama2.c starts its search at this score and only accepts strictly better */
#define SPM_SCORE_FLOOR (-1e10f)

typedef struct {
    size_t start, len;
    int32_t id;
    int32_t prev, next;
    uint8_t is_byte, alive;
} spm_sym;

/* Candidates: key = -score (higher scores pop first), a = the merged id,
 * la/lb = the two spans' lengths when pushed. */
static rb_status try_pair(const rb_tokenizer *t, rb_tok_heap *h, const spm_sym *s, const char *w,
                          int32_t l, rb_error *err)
{
    if (l < 0 || s[l].next < 0) return RB_OK;
    int32_t r = s[l].next;
    if (s[l].is_byte || s[r].is_byte) return RB_OK;
    /* adjacent symbols are adjacent spans, so the concatenation is a span */
    int32_t id = rb_tok_strmap_get(&t->vocab, w + s[l].start, s[l].len + s[r].len);
    if (id < 0 || !(t->score[id] > SPM_SCORE_FLOOR)) return RB_OK;
    rb_tok_cand c = {-(double)t->score[id], l, r, id, 0, 0, s[l].len, s[r].len};
    return rb_tok_heap_push(h, c, err);
}

static rb_status push_sym(spm_sym **s, size_t *ns, size_t *cap, size_t start, size_t len, int32_t id,
                          int is_byte, rb_error *err)
{
    if (*ns == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        spm_sym *v = realloc(*s, c * sizeof *v);
        if (!v) return rb_fail(err, RB_ENOMEM, "tokenizer: out of memory for %zu symbols", c);
        *s = v;
        *cap = c;
    }
    spm_sym *x = &(*s)[(*ns)++];
    x->start = start;
    x->len = len;
    x->id = id;
    x->is_byte = (uint8_t)is_byte;
    x->alive = 1;
    return RB_OK;
}

rb_status rb_tok_spm_word(const rb_tokenizer *t, const char *w, size_t len, rb_tok_ids *out,
                          rb_error *err)
{
    if (len == 0) return RB_OK;
    spm_sym *s = NULL;
    size_t ns = 0, cap = 0;
    rb_tok_heap h = {0};
    rb_status st = RB_OK;
    for (size_t p = 0; p < len && !st;) {
        size_t n = rb_tok_utf8_len((unsigned char)w[p]);
        if (p + n > len) n = len - p;
        int32_t id = rb_tok_strmap_get(&t->vocab, w + p, n);
        if (id >= 0) {
            st = push_sym(&s, &ns, &cap, p, n, id, 0, err);
        } else {
            int ok = 1;
            for (size_t b = 0; ok && b < n; b++) ok = t->byte_id[(unsigned char)w[p + b]] >= 0;
            if (ok) {
                for (size_t b = 0; b < n && !st; b++)
                    st = push_sym(&s, &ns, &cap, p + b, 1, t->byte_id[(unsigned char)w[p + b]], 1, err);
            } else if (t->unk_id >= 0) {
                st = push_sym(&s, &ns, &cap, p, n, t->unk_id, 1, err);
            } else {
                size_t cl;
                uint32_t cp = rb_tok_utf8_next(w + p, n, &cl);
                st = rb_fail(err, RB_EINVAL,
                             "%s: character U+%04X has no piece and the vocabulary lacks the "
                             "<0xXX> byte pieces and an unknown token to stand for it",
                             t->source, (unsigned)cp);
            }
        }
        p += n;
    }
    for (size_t i = 0; i < ns && !st; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < ns && !st; i++) st = try_pair(t, &h, s, w, (int32_t)i, err);
    while (!st && h.n) {
        rb_tok_cand c = rb_tok_heap_pop(&h);
        spm_sym *l = &s[c.left], *r = &s[c.right];
        if (!l->alive || !r->alive || l->next != c.right || l->len != c.la || r->len != c.lb)
            continue; /* stale */
        l->len += r->len;
        l->id = c.a;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = c.left;
        r->alive = 0;
        st = try_pair(t, &h, s, w, l->prev, err);
        if (!st) st = try_pair(t, &h, s, w, c.left, err);
    }
    for (int32_t i = ns ? 0 : -1; i >= 0 && !st; i = s[i].next) st = rb_tok_ids_push(out, s[i].id, err);
    free(s);
    rb_tok_heap_free(&h);
    return st;
}
