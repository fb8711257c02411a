/* evaluator.c: the batched GSM8K-protocol run (rb_eval_run, rb_eval.h).
 *
 * Work is a list of answers (problem x depth), problem-major. A problem's
 * prompt is tokenized and its prelude computed once when its first depth
 * is started (rb_batch_add_prompt), and dropped when its last depth ends.
 * B slots decode together; a slot whose answer ends (a stop string in its
 * decoded text, a stop token, or max_new tokens) is reported and refilled
 * with the next waiting answer before the next step. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rb_batch.h"
#include "rb_eval.h"
#include "rb_infer.h"

typedef struct {
    int64_t index;   /* into problems[] */
    int *depths;     /* answers still to start */
    int n_depths, next, running;
    int prompt_id;
    char *context;   /* rendered text */
    char *gold;
    int prompt_tokens, truncated;
} pstate;

typedef struct {
    int active;
    pstate *p;
    int depth;
    int32_t *ids;    /* [max_new] generated, stop token excluded */
    int n_ids, n_new;
    rb_detok *dt;
    char *text;      /* streamed decode, for stop detection */
    size_t text_len;
    int32_t feed;    /* token for the next step */
} slot_t;

typedef struct {
    rb_model *m;
    const rb_tokenizer *tok;
    const rb_eval_config *c;
    const rb_eval_problem *problems;
    int64_t n_problems;
    const rb_eval_hooks *hooks;
    rb_batch *b;
    rb_extractor *rules[RB_EVAL_MAX_RULES];
    const char *stops[RB_EVAL_MAX_STOPS + 1];
    int n_stops, max_stop_len;
    int32_t eos[64];
    int n_eos;
    char eos_text[256];
    slot_t *slots;
    int32_t *tokens, *next;
    int64_t cursor;  /* next problem to look at */
    pstate *open;    /* the problem whose depths are being started */
    int64_t done, total, new_tokens;
    double t0;
} run_t;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pstate_free(run_t *r, pstate *p)
{
    if (!p) return;
    if (p->prompt_id >= 0) rb_batch_drop_prompt(r->b, p->prompt_id);
    free(p->depths);
    free(p->context);
    free(p->gold);
    free(p);
}

static int is_eos(const run_t *r, int32_t t)
{
    for (int i = 0; i < r->n_eos; i++)
        if (r->eos[i] == t) return 1;
    return 0;
}

/* The exemplars alone (the shared prefix text). */
static rb_status prefix_text(const rb_eval_config *c, char **out, rb_error *err)
{
    rb_eval_config q = *c;
    q.question_template = "";
    return rb_eval_render(&q, "", out, err);
}

static rb_status encode(const run_t *r, const char *text, int32_t **ids, size_t *n, rb_error *err)
{
    int add_bos = r->c->add_bos && rb_tokenizer_bos(r->tok) >= 0;
    return rb_tokenizer_encode(r->tok, text, strlen(text), add_bos, ids, n, err);
}

/* Open the next problem with answers to give; NULL when none is left. */
static rb_status next_problem(run_t *r, pstate **out, rb_error *err)
{
    *out = NULL;
    const rb_eval_config *c = r->c;
    while (r->cursor < r->n_problems) {
        int64_t i = r->cursor++;
        const rb_eval_problem *pr = &r->problems[i];
        pstate *p = calloc(1, sizeof *p);
        if (!p || !(p->depths = malloc(sizeof(int) * (size_t)c->n_depths))) {
            free(p);
            return rb_fail(err, RB_ENOMEM, "eval: out of memory");
        }
        p->index = i;
        p->prompt_id = -1;
        for (int d = 0; d < c->n_depths; d++)
            if (!r->hooks->skip || !r->hooks->skip(r->hooks->ud, pr->id, c->depths[d]))
                p->depths[p->n_depths++] = c->depths[d];
        if (p->n_depths == 0) {
            pstate_free(r, p);
            continue;
        }
        rb_status st = rb_eval_render(c, pr->question, &p->context, err);
        int32_t *ids = NULL;
        size_t n = 0;
        if (st == RB_OK) st = encode(r, p->context, &ids, &n, err);
        if (st == RB_OK && !(p->gold = rb_eval_gold(pr->answer))) st = rb_fail(err, RB_ENOMEM, "eval: out of memory");
        if (st == RB_OK) {
            /* left truncation to max_length - max_new tokens (BOS is lost with the rest) */
            size_t keep = (size_t)(c->max_length - c->max_new);
            size_t off = n > keep ? n - keep : 0;
            p->truncated = off > 0;
            p->prompt_tokens = (int)(n - off);
            if (p->prompt_tokens < 1)
                st = rb_fail(err, RB_EINVAL, "eval: problem %lld renders to no tokens", (long long)pr->id);
            else
                st = rb_batch_add_prompt(r->b, ids + off, p->prompt_tokens, &p->prompt_id, NULL, err);
        }
        free(ids);
        if (st != RB_OK) {
            rb_fail_prefix(err, "problem %lld: ", (long long)pr->id);
            pstate_free(r, p);
            return st;
        }
        *out = p;
        return RB_OK;
    }
    return RB_OK;
}

static rb_status finish(run_t *r, int s, const char *why, rb_error *err)
{
    slot_t *q = &r->slots[s];
    pstate *p = q->p;
    const rb_eval_config *c = r->c;
    char *text = NULL;
    size_t len = 0;
    rb_status st = rb_tokenizer_decode(r->tok, q->ids, (size_t)q->n_ids, &text, &len, err);
    if (st != RB_OK) return st;
    len = rb_eval_cut_stops(text, len, r->stops, r->n_stops);
    rb_eval_record rec;
    memset(&rec, 0, sizeof rec);
    const rb_eval_problem *pr = &r->problems[p->index];
    rec.id = pr->id;
    rec.depth = q->depth;
    rec.prompt = p->context;
    rec.completion = text;
    rec.gold = p->gold;
    char *ex[RB_EVAL_MAX_RULES] = {0};
    for (int k = 0; k < c->n_rules; k++) {
        if (!(ex[k] = rb_extract(r->rules[k], text, len))) st = rb_fail(err, RB_ENOMEM, "eval: out of memory");
        rec.extracted[k] = ex[k] ? ex[k] : "";
        int ok = ex[k] ? rb_eval_correct(ex[k], p->gold) : -1;
        if (ok < 0 && st == RB_OK) st = rb_fail(err, RB_ENOMEM, "eval: out of memory");
        rec.correct[k] = ok > 0;
    }
    rec.prompt_tokens = p->prompt_tokens;
    rec.truncated = p->truncated;
    rec.new_tokens = q->n_new;
    rec.stop = why;
    rec.flops = rb_eval_answer_flops(&r->m->cfg, q->depth, p->prompt_tokens, q->n_new);
    if (st == RB_OK && r->hooks->record) st = r->hooks->record(r->hooks->ud, &rec, err);
    for (int k = 0; k < c->n_rules; k++) free(ex[k]);
    free(text);
    rb_batch_finish(r->b, s);
    rb_detok_free(q->dt);
    q->dt = NULL;
    q->active = 0;
    q->p = NULL;
    r->done++;
    p->running--;
    if (p->running == 0 && p->next == p->n_depths) {
        if (r->open == p) r->open = NULL;
        pstate_free(r, p);
    }
    return st;
}

/* A new token for slot s: end the answer or queue the token for the next step. */
static rb_status take(run_t *r, int s, int32_t t, rb_error *err)
{
    slot_t *q = &r->slots[s];
    q->n_new++;
    r->new_tokens++;
    if (is_eos(r, t)) return finish(r, s, "eos", err);
    q->ids[q->n_ids++] = t;
    size_t before = q->text_len;
    rb_status st = rb_detok_push(q->dt, t, &q->text, &q->text_len, err);
    if (st != RB_OK) return st;
    /* a stop string can only be new if it ends in the new bytes */
    size_t from = before > (size_t)r->max_stop_len ? before - (size_t)r->max_stop_len : 0;
    if (q->text && rb_eval_find_stop(q->text + from, q->text_len - from, r->stops, r->n_stops) >= 0)
        return finish(r, s, "stop", err);
    if (q->n_new >= r->c->max_new) return finish(r, s, "length", err);
    q->feed = t;
    return RB_OK;
}

/* Fill free slots with waiting answers. */
static rb_status fill(run_t *r, rb_error *err)
{
    for (int s = 0; s < r->c->batch; s++) {
        while (!r->slots[s].active) {
            if (!r->open || r->open->next == r->open->n_depths) {
                pstate *p = NULL;
                rb_status st = next_problem(r, &p, err);
                if (st != RB_OK) return st;
                if (!p) return RB_OK;
                r->open = p;
            }
            if (r->hooks->stop && *r->hooks->stop) /* a prompt's prefill takes a while: stop between them */
                return rb_fail(err, RB_EINTERRUPTED, "eval: stopped on request after %lld of %lld answers",
                               (long long)r->done, (long long)r->total);
            pstate *p = r->open;
            slot_t *q = &r->slots[s];
            q->p = p;
            q->depth = p->depths[p->next++];
            q->n_ids = q->n_new = 0;
            q->text_len = 0;
            if (q->text) q->text[0] = '\0';
            rb_status st = rb_detok_create(&q->dt, r->tok, err);
            int32_t first = 0;
            if (st == RB_OK) st = rb_batch_start(r->b, s, p->prompt_id, q->depth, r->c->max_new, &first, err);
            if (st != RB_OK) {
                rb_detok_free(q->dt);
                q->dt = NULL;
                return st;
            }
            q->active = 1;
            p->running++;
            if ((st = take(r, s, first, err)) != RB_OK) return st;
        }
    }
    return RB_OK;
}

static rb_status check_config(const rb_model *m, const rb_eval_config *c, rb_error *err)
{
    const rb_config *mc = &m->cfg;
    if (c->batch < 1 || c->batch > 4096) return rb_fail(err, RB_EINVAL, "eval: batch %d must be in 1..4096", c->batch);
    if (c->max_new < 1) return rb_fail(err, RB_EINVAL, "eval: max_new %d must be at least 1", c->max_new);
    if (c->max_length <= c->max_new)
        return rb_fail(err, RB_EINVAL, "eval: max_length %d leaves no room for a context after %d new "
                                       "tokens; raise --max-length or lower --max-new", c->max_length, c->max_new);
    if (c->max_length > mc->max_seq_len)
        return rb_fail(err, RB_EINVAL, "eval: max_length %d exceeds the model's context of %d tokens; "
                                       "use --max-length %d or less", c->max_length, mc->max_seq_len,
                       mc->max_seq_len);
    if (c->n_rules < 1 || c->n_rules > RB_EVAL_MAX_RULES)
        return rb_fail(err, RB_EINVAL, "eval: %d extraction rules; 1..%d allowed", c->n_rules, RB_EVAL_MAX_RULES);
    if (c->n_stops < 0 || c->n_stops > RB_EVAL_MAX_STOPS)
        return rb_fail(err, RB_EINVAL, "eval: %d stop strings; at most %d", c->n_stops, RB_EVAL_MAX_STOPS);
    if (c->n_depths < 1) return rb_fail(err, RB_EINVAL, "eval: no depths given");
    for (int i = 0; i < c->n_depths; i++) {
        int d = c->depths[i];
        if (!rb_config_is_recurrent(mc) && d != 1)
            return rb_fail(err, RB_EINVAL, "eval: the model is not recurrent, so depth %d means nothing; "
                                           "evaluate it at depth 1 only", d);
        if (d < 1 || d > 4096) return rb_fail(err, RB_EINVAL, "eval: depth %d must be in 1..4096", d);
        for (int j = 0; j < i; j++)
            if (c->depths[j] == d) return rb_fail(err, RB_EINVAL, "eval: depth %d is listed twice", d);
    }
    if (c->n_eos < 0 || c->n_eos > 64) return rb_fail(err, RB_EINVAL, "eval: %d stop tokens; at most 64", c->n_eos);
    return RB_OK;
}

rb_status rb_eval_run(rb_model *m, const rb_tokenizer *tok, const rb_eval_config *c,
                      const rb_eval_problem *problems, int64_t n_problems, const rb_eval_hooks *hooks,
                      rb_error *err)
{
    rb_status st = check_config(m, c, err);
    if (st != RB_OK) return st;
    rb_eval_hooks none = {0};
    if (!hooks) hooks = &none;
    run_t r;
    memset(&r, 0, sizeof r);
    r.m = m, r.tok = tok, r.c = c, r.problems = problems, r.n_problems = n_problems, r.hooks = hooks;
    /* stop strings: the configured ones, plus the EOS token's text when absent */
    for (int i = 0; i < c->n_stops; i++) r.stops[r.n_stops++] = c->stops[i];
    int eos = rb_tokenizer_eos(tok);
    const char *piece = eos >= 0 ? rb_tokenizer_piece(tok, eos) : NULL;
    if (piece) {
        size_t a = 0, b = strlen(piece);
        while (a < b && (piece[a] == ' ' || piece[a] == '\n')) a++;
        while (b > a && (piece[b - 1] == ' ' || piece[b - 1] == '\n')) b--;
        if (b > a && b - a < sizeof r.eos_text) {
            memcpy(r.eos_text, piece + a, b - a);
            int have = 0;
            for (int i = 0; i < r.n_stops; i++) have |= !strcmp(r.stops[i], r.eos_text);
            if (!have) r.stops[r.n_stops++] = r.eos_text;
        }
    }
    for (int i = 0; i < r.n_stops; i++) {
        int l = (int)strlen(r.stops[i]);
        r.max_stop_len = l > r.max_stop_len ? l : r.max_stop_len;
    }
    if (c->n_eos > 0) {
        memcpy(r.eos, c->eos_ids, sizeof(int32_t) * (size_t)c->n_eos);
        r.n_eos = c->n_eos;
    } else if (eos >= 0) {
        r.eos[r.n_eos++] = eos;
    }
    /* answers to give */
    for (int64_t i = 0; i < n_problems; i++)
        for (int d = 0; d < c->n_depths; d++)
            r.total += !hooks->skip || !hooks->skip(hooks->ud, problems[i].id, c->depths[d]);

    int max_depth = 1;
    for (int i = 0; i < c->n_depths; i++) max_depth = c->depths[i] > max_depth ? c->depths[i] : max_depth;
    rb_batch_opts bo = {.max_seqs = c->batch, .max_tokens = c->max_length, .max_depth = max_depth, .seed = c->seed};
    for (int k = 0; st == RB_OK && k < c->n_rules; k++) st = rb_extractor_create(&r.rules[k], &c->rules[k], err);
    if (st == RB_OK) st = rb_batch_create(&r.b, m, &bo, err);
    if (st == RB_OK) {
        r.slots = calloc((size_t)c->batch, sizeof *r.slots);
        r.tokens = calloc((size_t)c->batch, sizeof(int32_t));
        r.next = calloc((size_t)c->batch, sizeof(int32_t));
        if (!r.slots || !r.tokens || !r.next) st = rb_fail(err, RB_ENOMEM, "eval: out of memory");
        for (int s = 0; st == RB_OK && s < c->batch; s++)
            if (!(r.slots[s].ids = malloc(sizeof(int32_t) * (size_t)c->max_new)))
                st = rb_fail(err, RB_ENOMEM, "eval: out of memory");
    }
    char *ptext = NULL;
    int32_t *pids = NULL;
    size_t pn = 0;
    if (st == RB_OK && r.total > 0) st = prefix_text(c, &ptext, err);
    if (st == RB_OK && ptext) st = encode(&r, ptext, &pids, &pn, err);
    if (st == RB_OK && ptext) {
        size_t keep = (size_t)(c->max_length - c->max_new);
        st = rb_batch_set_prefix(r.b, pids, (int)(pn < keep ? pn : keep), err);
    }
    free(ptext);
    free(pids);

    r.t0 = now_s();
    while (st == RB_OK && r.total > 0) {
        if (hooks->stop && *hooks->stop) {
            st = rb_fail(err, RB_EINTERRUPTED, "eval: stopped on request after %lld of %lld answers",
                         (long long)r.done, (long long)r.total);
            break;
        }
        if ((st = fill(&r, err)) != RB_OK) break;
        int active = 0;
        for (int s = 0; s < c->batch; s++) {
            active += r.slots[s].active;
            r.tokens[s] = r.slots[s].feed;
        }
        if (active == 0) break;
        if ((st = rb_batch_step(r.b, r.tokens, r.next, err)) != RB_OK) break;
        for (int s = 0; st == RB_OK && s < c->batch; s++)
            if (r.slots[s].active) st = take(&r, s, r.next[s], err);
        if (hooks->progress) {
            int act = 0;
            for (int s = 0; s < c->batch; s++) act += r.slots[s].active;
            rb_eval_progress pg = {r.done, r.total, r.new_tokens, act, now_s() - r.t0};
            hooks->progress(hooks->ud, &pg);
        }
    }
    if (st == RB_OK && hooks->progress) {
        rb_eval_progress pg = {r.done, r.total, r.new_tokens, 0, now_s() - r.t0};
        hooks->progress(hooks->ud, &pg);
    }
    /* free everything, answers in flight included */
    for (int s = 0; r.slots && s < c->batch; s++) {
        slot_t *q = &r.slots[s];
        if (q->active && q->p && --q->p->running == 0 && q->p->next == q->p->n_depths && q->p != r.open)
            pstate_free(&r, q->p);
        rb_detok_free(q->dt);
        free(q->ids);
        free(q->text);
    }
    if (r.open) pstate_free(&r, r.open);
    free(r.slots);
    free(r.tokens);
    free(r.next);
    rb_batch_destroy(r.b);
    for (int k = 0; k < c->n_rules; k++) rb_extractor_free(r.rules[k]);
    return st;
}
