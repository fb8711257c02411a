/* tok_bpe.c: rank-based BPE on one pre-tokenized word (Hugging Face "BPE").
 *
 * The word starts as one symbol per character (a character missing from
 * the vocabulary becomes <0xXX> byte tokens with byte_fallback, else the
 * unknown token). Then the adjacent pair with the lowest merge rank is
 * merged, ties going to the leftmost pair, until no adjacent pair has a
 * merge. Symbols form a doubly linked list and candidate pairs sit in a
 * binary heap keyed (rank, position); a popped pair whose symbols changed
 * since it was pushed is stale and skipped. O(n log n) per word. */
#include <stdlib.h>

#include "tok/tok_heap.h"
#include "tok/tok_internal.h"

typedef struct {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int alive;
} bpe_sym;

/* Candidates: key = merge rank, a/b = the pair's ids when pushed, c = the merged id. */
static rb_status try_pair(const rb_tokenizer *t, rb_tok_heap *h, const bpe_sym *s, int32_t l,
                          rb_error *err)
{
    if (l < 0 || s[l].next < 0) return RB_OK;
    int32_t r = s[l].next;
    const rb_tok_pairmap_slot *m = rb_tok_pairmap_get(&t->merges, s[l].id, s[r].id);
    if (!m) return RB_OK;
    rb_tok_cand c = {(double)m->rank, l, r, s[l].id, s[r].id, m->merged, 0, 0};
    return rb_tok_heap_push(h, c, err);
}

/* Append the initial symbols for the character w[p .. p+n). */
static rb_status add_char(const rb_tokenizer *t, const char *w, size_t p, size_t n, bpe_sym **syms,
                          size_t *ns, size_t *cap, int *last_unk, rb_error *err)
{
    int32_t ids[4];
    int k = 0;
    int32_t id = rb_tok_strmap_get(&t->vocab, w + p, n);
    int unk = 0;
    if (id >= 0) {
        ids[k++] = id;
    } else {
        int ok = t->byte_fallback;
        for (size_t b = 0; ok && b < n; b++) ok = t->byte_id[(unsigned char)w[p + b]] >= 0;
        if (ok) {
            for (size_t b = 0; b < n; b++) ids[k++] = t->byte_id[(unsigned char)w[p + b]];
        } else if (t->unk_id >= 0) {
            unk = 1;
            if (t->fuse_unk && *last_unk) return RB_OK; /* fused into the previous unknown */
            ids[k++] = t->unk_id;
        } else {
            size_t cl;
            uint32_t cp = rb_tok_utf8_next(w + p, n, &cl);
            return rb_fail(err, RB_EINVAL,
                           "%s: character U+%04X has no token, and the tokenizer has neither "
                           "byte_fallback nor an unk_token to stand for it",
                           t->source, (unsigned)cp);
        }
    }
    *last_unk = unk;
    if (*ns + (size_t)k > *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        while (c < *ns + (size_t)k) c *= 2;
        bpe_sym *v = realloc(*syms, c * sizeof *v);
        if (!v) return rb_fail(err, RB_ENOMEM, "tokenizer: out of memory for %zu symbols", c);
        *syms = v;
        *cap = c;
    }
    for (int j = 0; j < k; j++) {
        bpe_sym *s = &(*syms)[(*ns)++];
        s->id = ids[j];
        s->alive = 1;
    }
    return RB_OK;
}

rb_status rb_tok_bpe_word(const rb_tokenizer *t, const char *w, size_t len, rb_tok_ids *out,
                          rb_error *err)
{
    if (len == 0) return RB_OK;
    if (t->ignore_merges) {
        int32_t id = rb_tok_strmap_get(&t->vocab, w, len);
        if (id >= 0) return rb_tok_ids_push(out, id, err);
    }
    bpe_sym *s = NULL;
    size_t ns = 0, cap = 0;
    int last_unk = 0;
    rb_tok_heap h = {0};
    rb_status st = RB_OK;
    for (size_t p = 0; p < len && !st;) {
        size_t n = rb_tok_utf8_len((unsigned char)w[p]);
        if (p + n > len) n = len - p;
        st = add_char(t, w, p, n, &s, &ns, &cap, &last_unk, err);
        p += n;
    }
    for (size_t i = 0; i < ns && !st; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < ns && !st; i++) st = try_pair(t, &h, s, (int32_t)i, err);
    while (!st && h.n) {
        rb_tok_cand c = rb_tok_heap_pop(&h);
        bpe_sym *l = &s[c.left], *r = &s[c.right];
        /* stale: one side was merged away or changed since this pair was seen */
        if (!l->alive || !r->alive || l->next != c.right || l->id != c.a || r->id != c.b)
            continue;
        l->id = c.c;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = c.left;
        r->alive = 0;
        st = try_pair(t, &h, s, l->prev, err);
        if (!st) st = try_pair(t, &h, s, c.left, err);
    }
    for (int32_t i = ns ? 0 : -1; i >= 0 && !st; i = s[i].next) st = rb_tok_ids_push(out, s[i].id, err);
    free(s);
    rb_tok_heap_free(&h);
    return st;
}
