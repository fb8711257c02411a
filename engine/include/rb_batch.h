/* rb_batch.h: greedy decoding of many sequences together, each at its own
 * test-time depth, for evaluation (EVAL.md) and throughput.
 *
 * - One decode step runs every active sequence's new token as one row of
 *   each weight product (one GEMM per weight matrix for B rows); each
 *   sequence has its own KV cache (P + r R + C slots for its depth r) and
 *   attends to it alone.
 * - A shared prefix (BOS and the few-shot exemplars) is computed once: its
 *   prelude once, its recurrent iterations and coda once per depth; a
 *   sequence starting with it copies those keys and values.
 * - A prompt's prelude (keys, values and output e of its rows after the
 *   prefix) does not depend on the depth: rb_batch_add_prompt computes it
 *   once and every depth's sequence starts from it.
 * - Results equal the single-sequence path (rb_session_feed with the same
 *   seed, greedy argmax) bit for bit: every weight product is the backend's
 *   batch-invariant gemm_rows, cached attention is row-invariant, and s_0
 *   is drawn per (seed, position) (rb_draw_state_row).
 * Sequences live in numbered slots 0 .. max_seqs - 1; the caller decides
 * which sequence goes where, stops them, and refills freed slots. */
#ifndef RB_BATCH_H
#define RB_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "rb_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_batch rb_batch;

typedef struct {
    int max_seqs;   /* B: sequences decoded together (>= 1) */
    int max_tokens; /* context of one sequence: prompt + new tokens (<= the model's max_seq_len) */
    int max_depth;  /* deepest r a sequence may use (recurrent models; ignored otherwise) */
    uint64_t seed;  /* s_0 seed of every sequence (rb_draw_state_row) */
    int state_zero; /* s_0 = 0 instead of the truncated normal */
} rb_batch_opts;

rb_status rb_batch_create(rb_batch **out, rb_model *m, const rb_batch_opts *o, rb_error *err);
void rb_batch_destroy(rb_batch *b);
/* Backend bytes held now (caches grow with the sequences started). */
size_t rb_batch_bytes(const rb_batch *b);

/* The shared prefix: prompts whose first tokens equal its first L tokens
 * reuse its keys and values for those L rows. Replaces any earlier prefix;
 * call before adding prompts. n may be 0 (no sharing). */
rb_status rb_batch_set_prefix(rb_batch *b, const int32_t *tokens, int n, rb_error *err);

/* A prompt's depth-independent work (its prelude over the rows after the
 * shared part). *id names it for rb_batch_start until rb_batch_drop_prompt.
 * *shared (may be NULL) receives the number of rows taken from the prefix. */
rb_status rb_batch_add_prompt(rb_batch *b, const int32_t *tokens, int n, int *id, int *shared,
                              rb_error *err);
void rb_batch_drop_prompt(rb_batch *b, int id);

/* Start a sequence in free slot `slot`: prompt `id` at depth r (1 for a
 * plain model) with room for max_new more tokens. Runs the prompt's
 * recurrent iterations and coda; *first receives the greedy next token. */
rb_status rb_batch_start(rb_batch *b, int slot, int id, int depth, int max_new, int32_t *first,
                         rb_error *err);

/* One decode step: every active slot s takes tokens[s] at its next
 * position; next[s] receives its greedy token. Entries of inactive slots
 * are ignored and left alone. */
rb_status rb_batch_step(rb_batch *b, const int32_t *tokens, int32_t *next, rb_error *err);

/* Free a slot (its cache memory is kept for the next sequence). */
void rb_batch_finish(rb_batch *b, int slot);
int rb_batch_active(const rb_batch *b, int slot);
/* Tokens in a slot's cache (prompt + fed tokens). */
int rb_batch_pos(const rb_batch *b, int slot);
/* Host logits [V] behind the slot's last greedy token (after start or
 * step), valid until the next call; NULL for an inactive slot. */
const float *rb_batch_logits(const rb_batch *b, int slot);

#ifdef __cplusplus
}
#endif
#endif
