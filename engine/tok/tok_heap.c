/* tok_heap.c: see tok_heap.h. */
#include "tok/tok_heap.h"

#include <stdlib.h>

static int before(const rb_tok_cand *x, const rb_tok_cand *y)
{
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}

rb_status rb_tok_heap_push(rb_tok_heap *h, rb_tok_cand c, rb_error *err)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        rb_tok_cand *v = realloc(h->v, cap * sizeof *v);
        if (!v) return rb_fail(err, RB_ENOMEM, "tokenizer: out of memory for %zu merge candidates", cap);
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return RB_OK;
}

rb_tok_cand rb_tok_heap_pop(rb_tok_heap *h)
{
    rb_tok_cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const rb_tok_cand *best = &last;
        if (l < h->n && before(&h->v[l], best)) {
            m = l;
            best = &h->v[l];
        }
        if (r < h->n && before(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

void rb_tok_heap_free(rb_tok_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
