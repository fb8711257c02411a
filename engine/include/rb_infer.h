/* rb_infer.h: inference at any test-time depth with a KV cache, sampling,
 * and the per-iteration view of the latent state (METHOD.md section 3).
 *
 * The cache holds one slot per prelude layer, one per (iteration, layer) of
 * the recurrent block up to max_depth iterations, and one per coda layer,
 * so memory grows with P + r R + C. A token at iteration i attends to the
 * earlier tokens' keys and values of the same iteration and layer. When a
 * token stops early (adaptive compute) its last iteration's keys and values
 * are copied into the deeper iterations' slots at its position, so later
 * tokens that run deeper still see it. */
#ifndef RB_INFER_H
#define RB_INFER_H

#include <stdint.h>

#include "rb_model.h"
#include "rb_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Adaptive compute: stop iterating a decoded token early (Huginn). */
typedef enum {
    RB_EXIT_NONE = 0,
    RB_EXIT_REL_CHANGE, /* ||s_i - s_{i-1}|| / ||s_i|| < threshold (0.03) */
    RB_EXIT_KL,         /* KL(p_i || p_{i-1}) < threshold (5e-4 .. 1e-3) */
    RB_EXIT_ARGMAX      /* top token unchanged for `patience` iterations (5) */
} rb_exit_kind;

typedef struct {
    rb_exit_kind kind;
    float threshold;
    int patience;
} rb_exit_rule;

/* Per-iteration latent convergence of the last row of a feed call. Arrays
 * have room for max_depth entries; entry i describes iteration i + 1. */
typedef struct {
    int capacity;
    int iters;          /* iterations run */
    float *rel_change;  /* ||s_i - s_{i-1}|| / ||s_i|| */
    float *kl;          /* KL(p_i || p_{i-1}); NaN for the first iteration */
    int32_t *top_token; /* argmax of p_i */
    float *top_prob;    /* p_i(top token) */
} rb_trace;

rb_status rb_trace_alloc(rb_trace *t, int capacity, rb_error *err);
void rb_trace_free(rb_trace *t);

typedef struct rb_session rb_session;

/* A decoding session over one sequence of at most max_tokens tokens with
 * recurrent depth at most max_depth (ignored for plain models). */
rb_status rb_session_create(rb_session **out, rb_model *m, int max_tokens, int max_depth,
                            rb_error *err);
void rb_session_destroy(rb_session *s);
void rb_session_reset(rb_session *s);
int rb_session_pos(const rb_session *s);
size_t rb_session_bytes(const rb_session *s);

/* The initial state s_0 of inference (METHOD.md: a fresh truncated-normal
 * draw every forward), seeded so that it never depends on which other
 * tokens share a call: the row of the token at absolute position pos, in a
 * call made with seed S, is h draws of TruncNormal(0, sigma, +-3 sigma)
 * from the stream rb_rng_seed2(S, pos). A prompt fed at once, in chunks or
 * token by token, alone or in a batch of other sequences, gets the same
 * states; sequences that share a prefix share its states. */
void rb_draw_state_row(float *row, int h, float sigma, uint64_t seed, int64_t pos);

typedef struct {
    int depth;                 /* r: recurrent iterations for these tokens (>= 1) */
    uint64_t seed;             /* s_0 seed: row at position p drawn by rb_draw_state_row(seed, p) */
    int state_zero;            /* s_0 = 0 instead of the truncated normal */
    const rb_exit_rule *exit;  /* adaptive compute, single-token calls only; NULL = off */
    rb_trace *trace;           /* per-iteration metrics of the last row; NULL = off */
} rb_infer_opts;

/* Run n tokens (a prompt chunk or one decoded token) at positions
 * pos .. pos + n - 1, appending to the cache. logits (host, [V], may be
 * NULL) receives the last row's logits. *depth_used (may be NULL) is the
 * number of iterations the last row ran. */
rb_status rb_session_feed(rb_session *s, const int32_t *tokens, int n, const rb_infer_opts *o,
                          float *logits, int *depth_used, rb_error *err);

/* ---- sampling ---- */
typedef struct {
    float temperature; /* <= 0: greedy */
    int top_k;         /* <= 0: off */
    float top_p;       /* >= 1 or <= 0: off */
} rb_sample_opts;

/* Pick a token from logits[V] (not modified). scratch needs 2 * V floats. */
int32_t rb_sample(const float *logits, int V, const rb_sample_opts *o, rb_rng *rng, float *scratch);
int32_t rb_argmax(const float *x, int n);

#ifdef __cplusplus
}
#endif
#endif
