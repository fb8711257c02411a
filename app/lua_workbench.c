/* lua_workbench.c: the Lua host's sink and command handler for the
 * workbench (see lua_workbench.h). Everything here runs on the worker
 * thread; the snapshot is changed through wb_* only. */
#include "lua_workbench.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    wb *w;
    int phase;
    double offset;    /* steps of the phases before this one */
    double last_x;
    int n_val, val_depths[VW_MAX_DEPTHS];
    float val_losses[VW_MAX_DEPTHS];
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
    wb_push_metric(s->w, &v);
    if (m->n_val > 0) {
        int d[VW_MAX_DEPTHS];
        float l[VW_MAX_DEPTHS];
        int n = m->n_val < VW_MAX_DEPTHS ? m->n_val : VW_MAX_DEPTHS;
        for (int i = 0; i < n; i++) d[i] = m->val_depth[i], l[i] = (float)m->val_loss[i];
        wb_push_val(s->w, v.x, v.step, phase, 0, d, l, n);
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
    if (v->index + 1 == v->count)
        wb_push_val(s->w, s->last_x, (int32_t)v->step, v->phase, v->final, s->val_depths, s->val_losses, s->n_val);
}

static void s_between(void *u)
{
    wb_sink_state *s = u;
    wb_between_steps(s->w, 0.0);
}

void lua_wb_sink(wb *w, lua_host_sink *out)
{
    memset(&st, 0, sizeof st);
    st.w = w;
    *out = (lua_host_sink){.user = &st,
                           .print = s_print,
                           .log = s_log,
                           .progress = s_progress,
                           .train_step = s_train_step,
                           .validation = s_validation,
                           .between_steps = s_between};
}

static _Thread_local int script_running;

void lua_wb_command(void *host, wb *w, const wb_cmd *c)
{
    lua_host *h = host;
    switch (c->kind) {
    case WB_CMD_LUA:
        /* inside a script: at its next safe point; else now */
        if (script_running) {
            if (lua_host_post(h, c->text) != 0) wb_log(w, VW_LOG_WARN, "Lua: too many lines waiting; dropped");
        } else if (lua_host_run_line(h, c->text) != LH_OK) {
            log_lines(w, VW_LOG_ERROR, lua_host_error(h));
        }
        break;
    case WB_CMD_SAVE:
        lua_host_post(h, "local c = (require 'retrobench').training() if c then c:save() else "
                         "print('no training run in progress to save') end");
        break;
    default: wb_log(w, VW_LOG_WARN, "this command is not handled while an experiment script runs"); break;
    }
}

void lua_wb_main(wb *w, void *arg)
{
    lua_wb_job *job = arg;
    lua_host_opts o = {.stop = wb_stop_flag(w),
                       .budget_seconds = job->budget_seconds,
                       .budget_instructions = job->budget_instructions};
    lua_wb_sink(w, &o.sink);
    char msg[512];
    lua_host *h = lua_host_create(&o, msg, sizeof msg);
    if (!h) {
        job->result = LH_ERROR;
        snprintf(job->error, sizeof job->error, "%s", msg);
        wb_log(w, VW_LOG_ERROR, "Lua: %s", msg);
        return;
    }
    wb_handlers hd = {.ctx = h, .command = lua_wb_command};
    wb_set_handlers(w, &hd);
    wb_set_worker(w, 1, "running %s", job->script);
    script_running = 1;
    job->result = lua_host_run_file(h, job->script, job->argc, job->argv);
    script_running = 0;
    if (job->result != LH_OK) {
        snprintf(job->error, sizeof job->error, "%s", lua_host_error(h));
        log_lines(w, VW_LOG_ERROR, job->error);
    } else {
        wb_log(w, VW_LOG_INFO, "%s finished", job->script);
    }
    wb_set_worker(w, 0, "%s %s", job->script, job->result == LH_OK ? "finished" : "failed");
    /* the script's state stays: Lua lines can look at its results */
    wb_idle_loop(w, NULL);
    wb_handlers none = {0};
    wb_set_handlers(w, &none);
    lua_host_destroy(h);
}
