/* tok_heap.h: the binary min-heap of merge candidates shared by rank-based
 * BPE (key = merge rank) and score-based SentencePiece merging (key =
 * -score): the smallest key pops first, ties to the leftmost pair. */
#ifndef RB_TOK_HEAP_H
#define RB_TOK_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"

typedef struct {
    double key;          /* lower pops first */
    int32_t left, right; /* symbol indices of the pair */
    int32_t a, b, c;     /* caller's data (ids, merged id) */
    size_t la, lb;       /* caller's data (span lengths) */
} rb_tok_cand;

typedef struct {
    rb_tok_cand *v;
    size_t n, cap;
} rb_tok_heap;

rb_status rb_tok_heap_push(rb_tok_heap *h, rb_tok_cand c, rb_error *err);
rb_tok_cand rb_tok_heap_pop(rb_tok_heap *h); /* h->n must be > 0 */
void rb_tok_heap_free(rb_tok_heap *h);

#endif
