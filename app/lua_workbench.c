/* lua_workbench.c: the Lua host's sink and command handler for the
 * workbench (see lua_workbench.h). Everything here runs on the worker
 * thread; the snapshot is changed through wb_* only.
 *
 * Pause holds the worker at the script's next safe point (after a training
 * step, an evaluation batch, rb.poll) inside wb_service; Lua lines still
 * run there. A save asked for while paused cannot happen inside the step
 * callback (the runner saves after it returns), so the pause is let go
 * for the save and taken again when the checkpoint callback reports it,
 * before the next step. */
#include "lua_workbench.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vw_text.h"

typedef struct {
    wb *w;
    lua_host *h;
    wb_inspect *insp;     /* the answers pane's engine work (NULL: none) */
    app_model view;       /* the model being trained, as the inspector wants it */
    int have_view;
    int phase;
    double offset;        /* steps of the phases before this one */
    double last_x;
    int n_val, val_depths[VW_MAX_DEPTHS];
    float val_losses[VW_MAX_DEPTHS];
    int training;         /* inside rb.train */
    int trained;          /* a run has trained in this script */
    int64_t step, ckpt_step;
    double flops_total;
    int repause;          /* let go of a pause for a save: pause again at its checkpoint */
} wb_sink_state;

/* one sink per worker thread (the workbench has one worker) */
static _Thread_local wb_sink_state st;

/* a message with a traceback: the first line as the level, the rest as trace lines */
static void log_lines(wb *w, int level, const char *msg)
{
    const char *p = msg;
    int first = 1;
    while (*p) {
        size_t n = strcspn(p, "\n");
        wb_log(w, first ? level : VW_LOG_TRACE, "%.*s", (int)n, p);
        first = 0;
        p += n;
        if (*p == '\n') p++;
    }
}

static void s_print(void *u, const char *text, size_t len)
{
    wb_sink_state *s = u;
    wb_log(s->w, VW_LOG_INFO, "%.*s", (int)len, text);
}

static void s_log(void *u, int level, const char *msg)
{
    wb_sink_state *s = u;
    log_lines(s->w, level == LH_LOG_ERROR ? VW_LOG_ERROR : level == LH_LOG_WARN ? VW_LOG_WARN : VW_LOG_INFO, msg);
}

static void s_progress(void *u, const char *line)
{
    wb_sink_state *s = u;
    if (line) wb_set_worker(s->w, 1, "%s", line);
    else wb_set_worker(s->w, 0, "script running");
}

/* New weights: the answers at every depth again (computed between steps). */
static void refresh_answers(wb_sink_state *s)
{
    if (s->insp && s->have_view && s->insp->prompt[0]) wb_inspect_prompt(s->insp, s->w, s->insp->prompt, s->insp->row);
}

static void s_train_step(void *u, int phase, const rb_train_metrics *m)
{
    wb_sink_state *s = u;
    if (phase != s->phase) { /* steps of the phases before continue the x axis */
        s->offset = s->last_x;
        s->phase = phase;
    }
    vw_metric v;
    memset(&v, 0, sizeof v);
    v.x = s->offset + (double)m->step;
    v.flops = m->flops_total;
    v.time = wb_now(s->w);
    v.loss = (float)m->loss;
    v.lr_mult = (float)m->lr_mult;
    v.lr_muon = (float)m->lr_muon;
    v.lr_adam = (float)m->lr_adam;
    v.grad_norm = (float)m->grad_norm;
    v.tokens_per_s = m->seconds > 0 ? (float)(m->tokens / m->seconds) : 0;
    v.step = (int32_t)m->step;
    v.phase = (int16_t)phase;
    v.rbar = (int16_t)m->rbar;
    v.n = (int16_t)m->n;
    v.k = (int16_t)m->k;
    v.skipped = (uint8_t)m->skipped;
    s->last_x = v.x;
    s->step = m->step;
    s->flops_total = m->flops_total;
    wb_push_metric(s->w, &v);
    if (m->n_val > 0) {
        int d[VW_MAX_DEPTHS];
        float l[VW_MAX_DEPTHS];
        int n = m->n_val < VW_MAX_DEPTHS ? m->n_val : VW_MAX_DEPTHS;
        for (int i = 0; i < n; i++) d[i] = m->val_depth[i], l[i] = (float)m->val_loss[i];
        wb_push_val(s->w, v.x, v.step, phase, 0, d, l, n);
        refresh_answers(s);
    }
}

/* validations a callback or the end of a phase asked for: pushed once complete */
static void s_validation(void *u, const app_run_validation *v)
{
    wb_sink_state *s = u;
    if (v->event == APP_RUN_VAL_START) s->n_val = 0;
    if (v->event != APP_RUN_VAL_DEPTH) return;
    if (s->n_val < VW_MAX_DEPTHS) {
        s->val_depths[s->n_val] = v->depth;
        s->val_losses[s->n_val++] = (float)v->loss;
    }
    if (v->index + 1 == v->count) {
        wb_push_val(s->w, s->last_x, (int32_t)v->step, v->phase, v->final, s->val_depths, s->val_losses, s->n_val);
        refresh_answers(s);
    }
}

static void s_between(void *u)
{
    wb_sink_state *s = u;
    wb_between_steps(s->w, 0.0);
}

static int wb_lua_idle(void *ctx, wb *w);

static void s_phase(void *u, const app_run_phase_info *p, const lh_model_view *m)
{
    wb_sink_state *s = u;
    if (!p) { /* the run ended: the model is the script's again (it may close it) */
        s->training = 0;
        s->repause = 0;
        if (s->insp && s->have_view) {
            /* the trained model's answers (and trace) finished while it is
               still ours, for up to 10 s, then kept on screen */
            double t0 = wb_now(s->w);
            while (!atomic_load(wb_stop_flag(s->w)) && wb_now(s->w) - t0 < 10 && wb_lua_idle(NULL, s->w)) {
            }
            vw_answers *keep = malloc(sizeof *keep);
            vw_trace *keep_tr = malloc(sizeof *keep_tr);
            if (keep && keep_tr) {
                vw_snapshot *sn = wb_edit(s->w);
                memcpy(keep, &sn->answers, sizeof *keep);
                memcpy(keep_tr, &sn->trace, sizeof *keep_tr);
                wb_commit(s->w);
            }
            wb_inspect_set_model(s->insp, s->w, NULL);
            if (keep && keep_tr) {
                vw_snapshot *sn = wb_edit(s->w);
                memcpy(&sn->answers, keep, sizeof *keep);
                memcpy(&sn->trace, keep_tr, sizeof *keep_tr);
                wb_commit(s->w);
            }
            free(keep);
            free(keep_tr);
        }
        s->have_view = 0;
        vw_snapshot *sn = wb_edit(s->w);
        sn->status.training = 0;
        wb_commit(s->w);
        return;
    }
    s->training = s->trained = 1;
    s->ckpt_step = -1;
    char data[128] = "";
    for (int i = 0; i < p->cfg->n_sources; i++) {
        const char *path = p->cfg->sources[i].path, *base = strrchr(path, '/');
        char one[96];
        snprintf(one, sizeof one, "%s%s:%g", data[0] ? " " : "", base ? base + 1 : path, p->cfg->sources[i].weight);
        strncat(data, one, sizeof data - strlen(data) - 1);
    }
    vw_snapshot *sn = wb_edit(s->w);
    sn->status.training = 1;
    sn->status.finished = 0;
    sn->status.phase = p->phase;
    sn->status.total_steps = p->cfg->steps;
    snprintf(sn->status.data, sizeof sn->status.data, "phase %d/%d: %s", p->phase, p->n_phases, data);
    vw_copy_text(sn->status.source, sizeof sn->status.source, p->dir);
    wb_commit(s->w);
    if (s->insp && m && !s->have_view) {
        s->view = (app_model){m->be, m->m, *m->lm}; /* a borrowed view: never closed here */
        s->have_view = 1;
        wb_inspect_set_model(s->insp, s->w, &s->view);
    }
}

static void s_checkpoint(void *u, int phase, const char *dir, const char *name, int64_t step)
{
    wb_sink_state *s = u;
    (void)phase;
    s->ckpt_step = step;
    const char *base = strrchr(dir, '/');
    vw_snapshot *sn = wb_edit(s->w);
    snprintf(sn->status.newest, sizeof sn->status.newest, "%s/%s", base ? base + 1 : dir, name);
    wb_commit(s->w);
    wb_log(s->w, VW_LOG_INFO, "checkpoint %s/%s (step %lld)", dir, name, (long long)step);
    if (s->repause) { /* the save asked for while paused is done: hold again, before the next step */
        s->repause = 0;
        wb_set_paused(s->w, 1);
        wb_log(s->w, VW_LOG_INFO, "still paused (Space resumes)");
        wb_service(s->w);
    }
}

static void s_eval(void *u, const lh_eval_round *e)
{
    wb_sink_state *s = u;
    vw_eval v;
    memset(&v, 0, sizeof v);
    v.step = s->trained ? s->step : -1;
    v.train_flops = s->flops_total;
    v.items = (int)e->items;
    for (int i = 0; i < e->n && v.n < VW_MAX_DEPTHS; i++, v.n++) {
        v.depth[v.n] = e->depth[i];
        v.accuracy[v.n] = (float)e->accuracy[i];
        v.flops[v.n] = e->flops[i];
    }
    wb_push_eval(s->w, &v);
}

static int s_prompt(void *u, const char *text, const char *expect)
{
    wb_sink_state *s = u;
    if (!s->insp) return 0;
    vw_copy_text(s->insp->o.expect, sizeof s->insp->o.expect, expect ? expect : "");
    wb_inspect_prompt(s->insp, s->w, text, s->insp->row);
    return 1;
}

void lua_wb_sink(wb *w, lua_host_sink *out)
{
    memset(&st, 0, sizeof st);
    st.w = w;
    st.ckpt_step = -1;
    *out = (lua_host_sink){.user = &st,
                           .print = s_print,
                           .log = s_log,
                           .progress = s_progress,
                           .train_step = s_train_step,
                           .validation = s_validation,
                           .between_steps = s_between,
                           .phase = s_phase,
                           .checkpoint = s_checkpoint,
                           .eval = s_eval,
                           .prompt = s_prompt};
}

static _Thread_local int script_running;

static void save_now(lua_host *h, wb *w)
{
    wb_sink_state *s = &st;
    if (!s->training) {
        wb_log(w, VW_LOG_WARN, "save: no training run in progress");
        return;
    }
    if (s->ckpt_step == s->step) {
        wb_log(w, VW_LOG_INFO, "save: the checkpoint at step %lld is already written", (long long)s->step);
        return;
    }
    wb_log(w, VW_LOG_INFO, "save: a checkpoint at step %lld", (long long)s->step);
    lua_host_post(h, "local c = (require 'retrobench').training() if c then c:save() else "
                     "print('no training run in progress to save') end");
    lua_host_drain(h);
    if (wb_paused(w)) { /* the runner saves once the step callback returns */
        s->repause = 1;
        wb_set_paused(w, 0);
    }
}

void lua_wb_command(void *host, wb *w, const wb_cmd *c)
{
    lua_host *h = host;
    wb_sink_state *s = &st;
    switch (c->kind) {
    case WB_CMD_LUA:
        /* inside a script this is one of its safe points (wb_service runs
           from the sink's between_steps): the line runs now, also while paused */
        wb_log(w, VW_LOG_INFO, "> %s", c->text);
        if (script_running) {
            if (lua_host_post(h, c->text) != 0) wb_log(w, VW_LOG_WARN, "Lua: too many lines waiting; dropped");
            else lua_host_drain(h);
        } else if (lua_host_run_line(h, c->text) != LH_OK) {
            log_lines(w, VW_LOG_ERROR, lua_host_error(h));
        }
        break;
    case WB_CMD_SAVE: save_now(h, w); break;
    case WB_CMD_PROMPT:
    case WB_CMD_SELECT:
    case WB_CMD_ITER:
        if (!s->insp) break;
        if (c->kind == WB_CMD_SELECT && !s->have_view) { /* say why no trace comes */
            vw_snapshot *sn = wb_edit(w);
            vw_trace *t = &sn->trace;
            t->answers_id = sn->answers.id;
            t->row = c->row;
            t->token = c->token;
            t->iters = 0;
            t->state = VW_TRACE_UNAVAILABLE;
            snprintf(t->note, sizeof t->note, "no model: traced only while rb.train trains "
                                              "(then: tui -m CHECKPOINT)");
            wb_commit(w);
            break;
        }
        if (c->kind == WB_CMD_PROMPT && !s->have_view)
            wb_log(w, VW_LOG_INFO, "the prompt is answered once a training run's model is there");
        wb_inspect_command(s->insp, w, c);
        break;
    default: wb_log(w, VW_LOG_WARN, "this command is not handled while an experiment script runs"); break;
    }
}

/* One unit of the answers pane's work on the live model. The inspector
 * sets the worker's OpenMP threads for decoding; training gets its own
 * setting back after each unit. */
static int wb_lua_idle(void *ctx, wb *w)
{
    (void)ctx;
    wb_sink_state *s = &st;
    if (!s->insp || !s->have_view) return 0;
    int threads = omp_get_max_threads();
    s->insp->threads_set = 0;
    int did = wb_inspect_idle(s->insp, w);
    omp_set_num_threads(threads);
    return did;
}

void lua_wb_main(wb *w, void *arg)
{
    lua_wb_job *job = arg;
    lua_host_opts o = {.stop = wb_stop_flag(w),
                       .budget_seconds = job->budget_seconds,
                       .budget_instructions = job->budget_instructions};
    lua_wb_sink(w, &o.sink);
    st.insp = job->insp;
    char msg[512];
    lua_host *h = lua_host_create(&o, msg, sizeof msg);
    if (!h) {
        job->result = LH_ERROR;
        snprintf(job->error, sizeof job->error, "%s", msg);
        wb_log(w, VW_LOG_ERROR, "Lua: %s", msg);
        return;
    }
    st.h = h;
    wb_handlers hd = {.ctx = h, .command = lua_wb_command, .idle = wb_lua_idle, .can_pause = 1};
    wb_set_handlers(w, &hd);
    wb_set_worker(w, 1, "running %s", job->script);
    script_running = 1;
    job->result = lua_host_run_file(h, job->script, job->argc, job->argv);
    script_running = 0;
    job->stop_value = lua_host_stop_value(h);
    hd.can_pause = 0; /* nothing left to pause */
    wb_set_handlers(w, &hd);
    if (wb_paused(w)) wb_set_paused(w, 0);
    if (job->result != LH_OK) {
        snprintf(job->error, sizeof job->error, "%s", lua_host_error(h));
        log_lines(w, VW_LOG_ERROR, job->error);
    } else {
        wb_log(w, VW_LOG_INFO, "%s finished; : runs Lua lines against its state, q quits", job->script);
        if (st.trained) {
            vw_snapshot *sn = wb_edit(w);
            sn->status.finished = 1;
            wb_commit(w);
        }
    }
    wb_set_worker(w, 0, "%s %s", job->script,
                  job->result == LH_OK ? "finished" : job->result == LH_STOPPED ? "stopped" : "failed");
    /* the script's state stays: Lua lines can look at its results */
    wb_idle_loop(w, NULL);
    wb_handlers none = {0};
    wb_set_handlers(w, &none);
    lua_host_destroy(h);
}
