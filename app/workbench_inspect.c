/* workbench_inspect.c: see workbench_inspect.h. */
#include "workbench_inspect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_tokenizer.h"
#include "vw_text.h"

int wb_inspect_init(wb_inspect *in, const wb_inspect_opts *o, char *err, size_t cap)
{
    memset(in, 0, sizeof *in);
    in->o = *o;
    if (o->n_depths < 1 || o->n_depths > VW_MAX_DEPTHS) {
        snprintf(err, cap, "--depths takes 1 to %d depths", VW_MAX_DEPTHS);
        return -1;
    }
    for (int i = 0; i < o->n_depths; i++)
        if (o->depths[i] < 1 || o->depths[i] > VW_MAX_ITERS || (i && o->depths[i] <= o->depths[i - 1])) {
            snprintf(err, cap, "--depths must rise from 1 to at most %d (got %d at position %d)", VW_MAX_ITERS,
                     o->depths[i], i + 1);
            return -1;
        }
    if (o->trace_depth < 1 || o->trace_depth > VW_MAX_ITERS) {
        snprintf(err, cap, "--trace-depth must be in 1..%d", VW_MAX_ITERS);
        return -1;
    }
    if (o->n_new < 1 || o->n_new > VW_ANS_TOKENS) {
        snprintf(err, cap, "-n must be in 1..%d", VW_ANS_TOKENS);
        return -1;
    }
    rb_error e = {0};
    if (rb_trace_alloc(&in->tr, VW_MAX_ITERS, &e) != RB_OK) {
        snprintf(err, cap, "%s", e.msg);
        return -1;
    }
    return 0;
}

void wb_inspect_free(wb_inspect *in)
{
    rb_session_destroy(in->sess);
    rb_trace_free(&in->tr);
    free(in->logits);
    free(in->ids);
    memset(in, 0, sizeof *in);
}

static int recurrent(const wb_inspect *in) { return in->am && rb_config_is_recurrent(&in->am->m->cfg); }
static int n_rows(const wb_inspect *in) { return recurrent(in) ? in->o.n_depths : 1; }
static int row_depth(const wb_inspect *in, int row) { return recurrent(in) ? in->o.depths[row] : 1; }

/* The text of one token, as it reads in running text. */
static void piece(const wb_inspect *in, int32_t id, char *out, size_t cap)
{
    rb_detok *d = NULL;
    char *s = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (rb_detok_create(&d, in->am->lm.tok, NULL) != RB_OK) return;
    rb_detok_mid_text(d);
    rb_detok_push(d, id, &s, &n, NULL);
    rb_detok_flush(d, &s, &n, NULL);
    if (s) vw_copy_text(out, cap, s);
    free(s);
    rb_detok_free(d);
}

static int is_end(const wb_inspect *in, int32_t id)
{
    const rb_loaded_model *lm = &in->am->lm;
    for (int e = 0; e < lm->n_eos; e++)
        if (id == lm->eos_ids[e]) return 1;
    int bos = rb_tokenizer_bos(lm->tok);
    return id == rb_tokenizer_eos(lm->tok) || (bos >= 0 && id == bos);
}

/* A session long enough for the prompt and an answer, deep enough for
 * every depth and the trace. */
static int ensure_session(wb_inspect *in, wb *w)
{
    int need = (int)in->n_ids + in->o.n_new + 1, depth = 1;
    if (recurrent(in)) {
        depth = in->o.trace_depth;
        for (int i = 0; i < in->o.n_depths; i++)
            if (in->o.depths[i] > depth) depth = in->o.depths[i];
    }
    if (need > in->am->m->cfg.max_seq_len) need = in->am->m->cfg.max_seq_len;
    if (in->sess && in->sess_tokens >= need && in->sess_depth >= depth) return 0;
    rb_session_destroy(in->sess);
    in->sess = NULL;
    rb_error err = {0};
    if (rb_session_create(&in->sess, in->am->m, need, depth, &err) != RB_OK) {
        wb_log(w, VW_LOG_ERROR, "inference session: %s", err.msg);
        return -1;
    }
    in->sess_tokens = need;
    in->sess_depth = depth;
    return 0;
}

static int feed(wb_inspect *in, const int32_t *t, int n, int depth, rb_trace *tr, rb_error *err)
{
    rb_infer_opts io = {.depth = depth, .seed = in->o.seed, .trace = tr}; /* s_0 per (seed, position), as generate */
    return rb_session_feed(in->sess, t, n, &io, in->logits, NULL, err) == RB_OK ? 0 : -1;
}

/* ---- publishing ---- */

static void publish_answers_header(wb_inspect *in, wb *w)
{
    vw_snapshot *s = wb_edit(w);
    vw_answers *a = &s->answers;
    a->id = in->answers_id;
    vw_copy_text(a->prompt, sizeof a->prompt, in->prompt);
    vw_copy_text(a->expect, sizeof a->expect, in->o.expect);
    a->recurrent = recurrent(in);
    a->n_rows = in->have_prompt && in->am ? n_rows(in) : 0;
    for (int r = 0; r < VW_MAX_DEPTHS; r++) {
        memset(&a->rows[r], 0, sizeof a->rows[r]);
        a->rows[r].depth = r < a->n_rows ? row_depth(in, r) : 0;
        a->rows[r].state = r < a->n_rows ? VW_ANS_QUEUED : VW_ANS_EMPTY;
        a->rows[r].verdict = -1;
    }
    s->trace.state = VW_TRACE_NONE;
    s->trace.answers_id = in->answers_id;
    wb_commit(w);
}

static void publish_trace_state(wb_inspect *in, wb *w, int state, const char *note)
{
    vw_snapshot *s = wb_edit(w);
    vw_trace *t = &s->trace;
    t->answers_id = in->answers_id;
    t->row = in->row;
    t->token = in->token;
    t->depth = recurrent(in) ? in->o.trace_depth : 0;
    t->state = state;
    if (state != VW_TRACE_DONE) {
        t->iters = 0;
        memset(t->have_topk, 0, sizeof t->have_topk);
    }
    vw_copy_text(t->note, sizeof t->note, note ? note : "");
    wb_commit(w);
}

/* ---- units of work ---- */

/* Answer row ri; returns 0 when done, -1 when cancelled or failed. */
static int answer_row(wb_inspect *in, wb *w, int ri)
{
    const int depth = row_depth(in, ri);
    wb_set_worker(w, 1, "answering at r=%d (%d of %d)", depth, ri + 1, n_rows(in));
    double t0 = wb_now(w);
    vw_answer row;
    memset(&row, 0, sizeof row);
    row.depth = depth;
    row.state = VW_ANS_RUNNING;
    row.verdict = -1;
    rb_error err = {0};
    rb_detok *dt = NULL;
    int ok = 0;
    char *text = NULL;
    size_t text_len = 0;
    in->ans_n[ri] = 0;
    rb_session_reset(in->sess);
    if (rb_detok_create(&dt, in->am->lm.tok, &err) != RB_OK) goto fail;
    if (in->prompt[0]) rb_detok_mid_text(dt);
    if (feed(in, in->ids, (int)in->n_ids, depth, NULL, &err)) goto fail;
    for (int t = 0; t < in->o.n_new; t++) {
        if (wb_pending(w, WB_BIT(WB_CMD_PROMPT))) {
            rb_detok_free(dt);
            free(text);
            return -1;
        }
        int32_t next = rb_argmax(in->logits, in->am->m->cfg.vocab_size);
        if (is_end(in, next)) break;
        size_t before = text_len;
        if (rb_detok_push(dt, next, &text, &text_len, &err) != RB_OK) goto fail;
        if (text_len >= VW_ANS_BYTES - 8) { /* no room for more text: the answer ends here */
            text_len = before;
            break;
        }
        in->ans[ri][t] = next;
        in->ans_n[ri] = t + 1;
        row.ids[t] = next;
        row.off[t] = (uint16_t)before;
        row.off[t + 1] = (uint16_t)text_len;
        row.n_tokens = t + 1;
        memcpy(row.text, text, text_len);
        row.text[text_len] = '\0';
        vw_snapshot *s = wb_edit(w);
        if (s->answers.id == in->answers_id) s->answers.rows[ri] = row;
        wb_commit(w);
        if (t + 1 == in->o.n_new || rb_session_pos(in->sess) + 1 > in->sess_tokens) break;
        if (feed(in, &next, 1, depth, NULL, &err)) goto fail;
    }
    size_t before = text_len;
    if (rb_detok_flush(dt, &text, &text_len, &err) == RB_OK && text_len > before && row.n_tokens > 0 &&
        text_len < VW_ANS_BYTES) { /* bytes held back for a whole character belong to the last token */
        memcpy(row.text, text, text_len);
        row.text[text_len] = '\0';
        row.off[row.n_tokens] = (uint16_t)text_len;
    }
    ok = 1;
fail:
    if (!ok) {
        row.state = VW_ANS_ERROR;
        char msg[RB_ERROR_MSG_MAX + 16];
        snprintf(msg, sizeof msg, "error: %s", err.msg[0] ? err.msg : "out of memory");
        vw_copy_text(row.text, sizeof row.text, msg);
        wb_log(w, VW_LOG_ERROR, "answer at r=%d: %s", depth, err.msg[0] ? err.msg : "out of memory");
    } else {
        row.state = VW_ANS_DONE;
        if (in->o.expect[0]) row.verdict = strstr(row.text, in->o.expect) != NULL;
    }
    row.seconds = (float)(wb_now(w) - t0);
    vw_snapshot *s = wb_edit(w);
    if (s->answers.id == in->answers_id) s->answers.rows[ri] = row;
    wb_commit(w);
    rb_detok_free(dt);
    free(text);
    return ok ? 0 : -1;
}

/* Rerun the feeds of answer `row` up to the one that predicts its token
 * `token`, that last feed at last_depth with trace tr (may be NULL). */
static int replay(wb_inspect *in, int row, int token, int last_depth, rb_trace *tr, rb_error *err)
{
    const int r = row_depth(in, row);
    rb_session_reset(in->sess);
    if (token == 0) return feed(in, in->ids, (int)in->n_ids, last_depth, tr, err);
    if (feed(in, in->ids, (int)in->n_ids, r, NULL, err)) return -1;
    for (int j = 0; j + 1 < token; j++)
        if (feed(in, &in->ans[row][j], 1, r, NULL, err)) return -1;
    return feed(in, &in->ans[row][token - 1], 1, last_depth, tr, err);
}

static void run_trace(wb_inspect *in, wb *w)
{
    in->trace_dirty = 0;
    in->trace_ok = 0;
    memset(in->topk_done, 0, sizeof in->topk_done);
    if (!recurrent(in)) {
        publish_trace_state(in, w, VW_TRACE_UNAVAILABLE,
                            "a plain model has no recurrence to trace (make one with retrobench surgery)");
        return;
    }
    if (in->token > in->ans_n[in->row]) in->token = in->ans_n[in->row];
    wb_set_worker(w, 1, "tracing token %d of the r=%d answer", in->token + 1, row_depth(in, in->row));
    publish_trace_state(in, w, VW_TRACE_RUNNING, NULL);
    rb_error err = {0};
    if (replay(in, in->row, in->token, in->o.trace_depth, &in->tr, &err)) {
        wb_log(w, VW_LOG_ERROR, "trace: %s", err.msg);
        publish_trace_state(in, w, VW_TRACE_UNAVAILABLE, "the trace failed (see the log)");
        return;
    }
    in->trace_iters = in->tr.iters;
    static vw_tok top1[VW_MAX_ITERS]; /* worker thread only */
    for (int i = 0; i < in->tr.iters; i++) {
        top1[i].id = in->tr.top_token[i];
        top1[i].p = in->tr.top_prob[i];
        piece(in, top1[i].id, top1[i].text, sizeof top1[i].text);
    }
    vw_snapshot *s = wb_edit(w);
    vw_trace *t = &s->trace;
    t->answers_id = in->answers_id;
    t->row = in->row;
    t->token = in->token;
    t->depth = in->o.trace_depth;
    t->iters = in->tr.iters;
    t->note[0] = '\0';
    for (int i = 0; i < in->tr.iters; i++) {
        t->rel[i] = in->tr.rel_change[i];
        t->kl[i] = in->tr.kl[i];
        t->top1[i] = top1[i];
    }
    memset(t->have_topk, 0, sizeof t->have_topk);
    t->state = VW_TRACE_DONE;
    wb_commit(w);
    in->trace_ok = 1;
}

/* Top tokens at iteration it of the selected token. */
static void run_topk(wb_inspect *in, wb *w, int it)
{
    in->topk_done[it] = 1;
    wb_set_worker(w, 1, "top tokens at iteration %d", it + 1);
    rb_error err = {0};
    if (replay(in, in->row, in->token, it + 1, NULL, &err)) {
        wb_log(w, VW_LOG_ERROR, "top tokens at iteration %d: %s", it + 1, err.msg);
        return;
    }
    const int V = in->am->m->cfg.vocab_size;
    const float *x = in->logits;
    float mx = x[rb_argmax(x, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)x[i] - mx);
    vw_tok top[VW_TOPK];
    int taken[VW_TOPK];
    for (int k = 0; k < VW_TOPK; k++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int used = 0;
            for (int j = 0; j < k; j++) used |= taken[j] == i;
            if (!used && (best < 0 || x[i] > x[best])) best = i;
        }
        taken[k] = best;
        top[k].id = best;
        top[k].p = best >= 0 ? (float)(exp((double)x[best] - mx) / sum) : 0;
        if (best >= 0) piece(in, best, top[k].text, sizeof top[k].text);
        else top[k].text[0] = '\0';
    }
    vw_snapshot *s = wb_edit(w);
    vw_trace *t = &s->trace;
    if (t->answers_id == in->answers_id && t->row == in->row && t->token == in->token && it < VW_MAX_ITERS) {
        memcpy(t->topk[it], top, sizeof top);
        t->have_topk[it] = 1;
    }
    wb_commit(w);
}

int wb_inspect_idle(wb_inspect *in, wb *w)
{
    if (!in->am || !in->have_prompt) return 0;
    if (!in->threads_set) { /* OpenMP settings are per thread: set them on the worker */
        app_decode_threads(in->am->m);
        in->threads_set = 1;
    }
    if (!in->logits) in->logits = malloc(sizeof(float) * (size_t)in->am->m->cfg.vocab_size);
    if (!in->logits || ensure_session(in, w)) {
        in->have_prompt = 0;
        return 0;
    }
    if (in->answers_dirty) {
        if (in->row_next < n_rows(in)) {
            if (answer_row(in, w, in->row_next) == 0) in->row_next++;
            else if (!wb_pending(w, WB_BIT(WB_CMD_PROMPT))) in->row_next++; /* failed: go on with the others */
            return 1;
        }
        in->answers_dirty = 0;
        in->answers_done = 1;
        in->trace_dirty = 1;
    }
    if (!in->answers_done) return 0;
    if (in->trace_dirty) {
        run_trace(in, w);
        return 1;
    }
    if (!in->trace_ok) {
        wb_set_worker(w, 0, "idle");
        return 0;
    }
    /* top tokens: the iteration on screen, then outwards from it */
    int n = in->trace_iters;
    for (int d = 0; d < n; d++)
        for (int sgn = 0; sgn < 2; sgn++) {
            int it = sgn ? in->iter - d : in->iter + d;
            if (it < 0 || it >= n || in->topk_done[it]) continue;
            run_topk(in, w, it);
            return 1;
        }
    wb_set_worker(w, 0, "idle");
    return 0;
}

void wb_inspect_set_model(wb_inspect *in, wb *w, app_model *am)
{
    rb_session_destroy(in->sess);
    in->sess = NULL;
    in->sess_tokens = in->sess_depth = 0;
    free(in->logits);
    in->logits = NULL;
    in->am = am;
    in->threads_set = 0;
    if (in->have_prompt || in->prompt[0]) {
        char again[VW_PROMPT_BYTES];
        memcpy(again, in->prompt, sizeof again);
        wb_inspect_prompt(in, w, again, in->row);
    }
}

void wb_inspect_prompt(wb_inspect *in, wb *w, const char *text, int row)
{
    vw_copy_text(in->prompt, sizeof in->prompt, text);
    in->have_prompt = 0;
    in->answers_id++;
    in->answers_dirty = in->answers_done = 0;
    in->trace_dirty = in->trace_ok = 0;
    in->row_next = 0;
    in->token = 0;
    in->iter = 0;
    memset(in->ans_n, 0, sizeof in->ans_n);
    free(in->ids);
    in->ids = NULL;
    in->n_ids = 0;
    if (!in->am) {
        publish_answers_header(in, w);
        return;
    }
    in->row = row < 0 ? 0 : row >= n_rows(in) ? n_rows(in) - 1 : row;
    rb_tokenizer *tok = in->am->lm.tok;
    rb_error err = {0};
    int bos = rb_tokenizer_bos(tok);
    int add_bos = bos >= 0 && (rb_tokenizer_add_bos(tok) || !in->prompt[0]);
    if (rb_tokenizer_encode(tok, in->prompt, strlen(in->prompt), add_bos, &in->ids, &in->n_ids, &err) != RB_OK ||
        in->n_ids == 0) {
        wb_log(w, VW_LOG_ERROR, "prompt: %s", in->n_ids ? err.msg : "empty, and the tokenizer has no BOS to start from");
        publish_answers_header(in, w);
        return;
    }
    if ((int)in->n_ids + 1 > in->am->m->cfg.max_seq_len) {
        wb_log(w, VW_LOG_ERROR, "prompt: %zu tokens leave no room in the model's context of %d", in->n_ids,
               in->am->m->cfg.max_seq_len);
        publish_answers_header(in, w);
        return;
    }
    in->have_prompt = 1;
    in->answers_dirty = 1;
    publish_answers_header(in, w);
}

void wb_inspect_command(wb_inspect *in, wb *w, const wb_cmd *c)
{
    switch (c->kind) {
    case WB_CMD_PROMPT: wb_inspect_prompt(in, w, c->text, c->row); break;
    case WB_CMD_SELECT:
        if (!in->have_prompt) break;
        if (c->row != in->row || c->token != in->token || !in->trace_ok) {
            in->row = c->row < 0 ? 0 : c->row >= n_rows(in) ? n_rows(in) - 1 : c->row;
            in->token = c->token < 0 ? 0 : c->token;
            in->trace_dirty = 1;
            in->trace_ok = 0;
            publish_trace_state(in, w, VW_TRACE_RUNNING, NULL);
        }
        in->iter = c->iter < 0 ? 0 : c->iter;
        break;
    case WB_CMD_ITER:
        if (c->row == in->row && c->token == in->token) in->iter = c->iter < 0 ? 0 : c->iter;
        break;
    default: break;
    }
}

void wb_describe_model(const app_model *am, char *out, size_t cap)
{
    const rb_config *c = &am->m->cfg;
    char shape[64];
    if (rb_config_is_recurrent(c)) snprintf(shape, sizeof shape, "(P,R,C) = (%d,%d,%d)", c->n_prelude, c->n_recur, c->n_coda);
    else snprintf(shape, sizeof shape, "%d layers, not recurrent", c->n_prelude);
    double p = (double)am->lm.n_params;
    snprintf(out, cap, "%s  h %d  V %d  %.*f%s params", shape, c->dim, c->vocab_size, p < 1e6 ? 0 : 1,
             p < 1e6 ? p / 1e3 : p / 1e6, p < 1e6 ? "K" : "M");
}
