/* workbench_inspect.h: the engine work behind the answers and convergence
 * panes, run on the worker thread in small units:
 *  - a prompt answered greedily at each test depth (one token per unit
 *    check, published as it grows; a newer prompt cancels it);
 *  - the selected token traced (rb_trace: relative state change, KL to the
 *    previous iteration, top token) to the trace depth;
 *  - the top tokens with probabilities at each iteration of that token,
 *    the iteration on screen first, the rest while the worker is idle.
 *
 * Answers use the seeds `retrobench generate` uses (state_seed(seed, pos)),
 * so the row at depth r is what `generate -r r --seed S` prints. The trace
 * of token j replays the answer's own feeds for tokens before j and runs the
 * feed that predicted token j to the trace depth; iteration i's top tokens
 * rerun that feed to depth i, whose final distribution is the trace's p_i.
 * The model can be swapped (a new checkpoint); the answers are then
 * recomputed. Nothing here touches curses. */
#ifndef RB_WORKBENCH_INSPECT_H
#define RB_WORKBENCH_INSPECT_H

#include <stdint.h>

#include "app_model.h"
#include "rb_infer.h"
#include "workbench.h"

typedef struct {
    int depths[VW_MAX_DEPTHS]; /* test depths, one answer row each */
    int n_depths;
    int trace_depth;           /* iterations traced (<= VW_MAX_ITERS) */
    int n_new;                 /* tokens per answer (<= VW_ANS_TOKENS) */
    uint64_t seed;
    char expect[128];          /* a right answer contains this ("" = not known) */
} wb_inspect_opts;

typedef struct {
    wb_inspect_opts o;
    app_model *am;             /* borrowed; NULL: no model yet */
    int threads_set;
    /* the prompt and its answers */
    char prompt[VW_PROMPT_BYTES];
    int have_prompt, answers_dirty, answers_done, row_next;
    int32_t *ids;
    size_t n_ids;
    int32_t ans[VW_MAX_DEPTHS][VW_ANS_TOKENS];
    int ans_n[VW_MAX_DEPTHS];
    uint32_t answers_id;
    /* the selection */
    int row, token, iter;
    int trace_dirty, trace_ok;
    int trace_iters;
    uint8_t topk_done[VW_MAX_ITERS];
    /* engine state */
    rb_session *sess;
    int sess_tokens, sess_depth;
    rb_trace tr;
    float *logits;
} wb_inspect;

/* Check the options (depths ascending, in range); 0 or -1 with err. */
int wb_inspect_init(wb_inspect *in, const wb_inspect_opts *o, char *err, size_t cap);
void wb_inspect_free(wb_inspect *in);
/* Use this model from now on (NULL: none); answers are recomputed. Call on
 * the worker thread (or before it starts). */
void wb_inspect_set_model(wb_inspect *in, wb *w, app_model *am);
/* A new prompt (keeps the selected row; token and iteration go to 0). */
void wb_inspect_prompt(wb_inspect *in, wb *w, const char *text, int row);
/* WB_CMD_PROMPT, WB_CMD_SELECT, WB_CMD_ITER. */
void wb_inspect_command(wb_inspect *in, wb *w, const wb_cmd *c);
/* One unit of work; returns 1 when it did some. */
int wb_inspect_idle(wb_inspect *in, wb *w);
/* One line about a model for the status pane. */
void wb_describe_model(const app_model *am, char *out, size_t cap);

#endif
