/* runner.c: one training run for every front end (see runner.h): the phase
 * loop, resume, the metrics file and its rewind, checkpoint cadence, final
 * validation and stopping. Never prints: everything goes through the
 * callbacks. */
#include "runner.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run_metrics.h"

typedef struct {
    const app_run_spec *spec;
    const app_run_callbacks *cb;
    run_metrics mf;
    int phase;          /* 1-based, the current one */
    int64_t step;
    int val_depth;      /* depth being validated (progress reports) */
} runner;

static void notice(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(runner *r, const char *fmt, ...)
{
    if (!r->cb->notice) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->cb->notice(r->cb->user, msg);
}

static void error(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error(runner *r, const char *fmt, ...)
{
    if (!r->cb->error) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->cb->error(r->cb->user, msg);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int stop_value(const runner *r)
{
    return r->spec->stop ? atomic_load(r->spec->stop) : 0;
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    runner *r = user;
    if (r->cb->progress) r->cb->progress(r->cb->user, r->phase, r->val_depth, done, total);
}

/* The phase's checkpoint folder: OUT for a one-phase run, else OUT/phaseN. */
static void phase_dir(const app_run_spec *s, int phase, char *buf, size_t cap)
{
    if (s->n_phases == 1) snprintf(buf, cap, "%s", s->out_dir);
    else snprintf(buf, cap, "%s/phase%d", s->out_dir, phase);
}

static app_run_result result(app_run_outcome o, int stop, int phase, int64_t step)
{
    return (app_run_result){o, stop, phase, step};
}

/* Validate at every depth of the phase (one depth for a plain model);
 * final ones are also written to the metrics file. Returns RB_OK, or
 * RB_EINTERRUPTED when stopped, or another status after reporting it (the
 * run goes on: the checkpoint is saved already). */
static rb_status validate_all(runner *r, rb_trainer *t, const rb_train_config *c, int final)
{
    const int recurrent = rb_config_is_recurrent(&r->spec->model->cfg);
    const int count = recurrent ? c->n_val_depths : 1;
    app_run_validation v = {APP_RUN_VAL_START, r->phase, rb_trainer_step_count(t), final, 0, count, 0,
                            rb_trainer_val_rows(t), 0, NULL};
    if (r->cb->validation) r->cb->validation(r->cb->user, &v);
    rb_trainer_set_progress(t, on_progress, r);
    rb_status st = RB_OK;
    for (int i = 0; i < count; i++) {
        double l;
        rb_error err = {0};
        const int depth = recurrent ? c->val_depths[i] : 1;
        r->val_depth = depth;
        st = rb_trainer_validate(t, depth, &l, &err);
        if (st != RB_OK) {
            v.event = APP_RUN_VAL_FAILED;
            v.index = i;
            v.depth = depth;
            v.message = err.msg;
            if (r->cb->validation) r->cb->validation(r->cb->user, &v);
            break;
        }
        v.event = APP_RUN_VAL_DEPTH;
        v.index = i;
        v.depth = depth;
        v.loss = l;
        if (r->cb->validation) r->cb->validation(r->cb->user, &v);
        if (final) run_metrics_final(&r->mf, r->phase, rb_trainer_step_count(t), depth, l);
    }
    rb_trainer_set_progress(t, NULL, NULL);
    if (final) run_metrics_flush(&r->mf);
    return st;
}

static rb_status save(runner *r, rb_trainer *t, const char *dir, rb_error *err)
{
    rb_status st = rb_trainer_save_with(t, dir, &r->spec->extras, err);
    if (st == RB_OK && r->cb->checkpoint) {
        char name[64];
        snprintf(name, sizeof name, "step-%08lld", (long long)rb_trainer_step_count(t));
        r->cb->checkpoint(r->cb->user, r->phase, dir, name, rb_trainer_step_count(t));
    }
    return st;
}

/* Continue the phase from its newest checkpoint, if any. Returns 0 (fresh
 * or resumed), or the outcome that ends the run. */
static int resume_phase(runner *r, rb_trainer *t, const char *dir, app_run_outcome *out)
{
    char name[256];
    rb_error err = {0};
    if (rb_train_latest_checkpoint(dir, name, sizeof name, NULL) != RB_OK) return 0;
    if (rb_trainer_restore(t, dir, &err) != RB_OK) {
        error(r, "resume: %s", err.msg);
        *out = APP_RUN_FAILED;
        return 1;
    }
    const int64_t step = rb_trainer_step_count(t);
    if (r->cb->resumed) r->cb->resumed(r->cb->user, r->phase, dir, name, step);
    long dropped = run_metrics_rewind(&r->mf, r->phase, (long long)step);
    if (dropped < 0) {
        error(r, "cannot rewrite %s: %s", r->mf.path, strerror(errno));
        *out = APP_RUN_FAILED;
        return 1;
    }
    if (dropped > 0)
        notice(r, "%ld metrics line(s) after that step dropped from %s (they are trained again)", dropped,
               r->mf.path);
    return 0;
}

/* Apply what a step callback asked for. Returns 0, or the outcome. */
static int apply_control(runner *r, rb_trainer *t, const rb_train_config *c, const char *dir,
                         app_run_control *ctl, int64_t *saved_step, app_run_outcome *out)
{
    rb_error err = {0};
    if (ctl->lr_scale != rb_trainer_lr_scale(t) && rb_trainer_set_lr_scale(t, ctl->lr_scale, &err) != RB_OK) {
        error(r, "%s", err.msg);
        *out = APP_RUN_FAILED;
        return 1;
    }
    if (ctl->rbar != rb_trainer_rbar_override(t) && rb_trainer_set_rbar(t, ctl->rbar, &err) != RB_OK) {
        error(r, "%s", err.msg);
        *out = APP_RUN_FAILED;
        return 1;
    }
    if (ctl->validate) {
        rb_status st = validate_all(r, t, c, 0);
        if (st == RB_EINTERRUPTED) return 0; /* the stop is seen by the loop */
    }
    if ((ctl->save || ctl->stop) && *saved_step != rb_trainer_step_count(t)) {
        if (save(r, t, dir, &err) != RB_OK) {
            error(r, "checkpoint failed: %s", err.msg);
            *out = APP_RUN_FAILED;
            return 1;
        }
        *saved_step = rb_trainer_step_count(t);
    }
    if (ctl->stop) {
        *out = APP_RUN_STOPPED;
        return 1;
    }
    return 0;
}

/* Train one phase to completion or interruption. */
static app_run_outcome run_phase(runner *r, const rb_train_config *c, const char *dir)
{
    const app_run_spec *s = r->spec;
    rb_error err = {0};
    rb_trainer *t = NULL;
    app_run_outcome out = APP_RUN_DONE;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        error(r, "cannot create %s: %s", dir, strerror(errno));
        return APP_RUN_FAILED;
    }
    if (rb_trainer_create(&t, s->model, c, s->stop, &err) != RB_OK) {
        error(r, "%s", err.msg);
        return APP_RUN_REFUSED;
    }
    if (s->resume && resume_phase(r, t, dir, &out)) {
        rb_trainer_destroy(t);
        return out;
    }
    if (r->cb->phase_start) {
        app_run_phase_info pi = {r->phase, s->n_phases, c, dir, rb_trainer_seq_len(t), s->model};
        r->cb->phase_start(r->cb->user, &pi);
    }
    int64_t saved_step = -1;
    const double t0 = now_s();
    while (!rb_trainer_done(t)) {
        rb_train_metrics mt;
        rb_status st = rb_trainer_step(t, &mt, &err);
        r->step = rb_trainer_step_count(t);
        if (st == RB_EINTERRUPTED) {
            if (r->cb->stopping) r->cb->stopping(r->cb->user, r->phase, stop_value(r), r->step);
            if (saved_step != r->step && save(r, t, dir, &err) != RB_OK)
                error(r, "checkpoint failed: %s", err.msg);
            out = APP_RUN_STOPPED;
            break;
        }
        if (st != RB_OK) {
            error(r, "%s", err.msg);
            out = APP_RUN_FAILED;
            break;
        }
        run_metrics_step(&r->mf, r->phase, &mt, now_s() - t0);
        if (r->cb->step) {
            app_run_control ctl = {0, 0, 0, rb_trainer_lr_scale(t), rb_trainer_rbar_override(t)};
            if (r->cb->step(r->cb->user, r->phase, &mt, &ctl)) {
                out = APP_RUN_FAILED;
                break;
            }
            if (apply_control(r, t, c, dir, &ctl, &saved_step, &out)) break;
        }
        if ((s->ckpt_every > 0 && mt.step % s->ckpt_every == 0) || rb_trainer_done(t)) {
            if (saved_step != r->step) {
                if (save(r, t, dir, &err) != RB_OK) {
                    error(r, "checkpoint failed: %s", err.msg);
                    out = APP_RUN_FAILED;
                    break;
                }
                saved_step = r->step;
            }
        }
    }
    if (out == APP_RUN_DONE && rb_trainer_done(t) && c->val_every == 0 && c->n_val_depths > 0) {
        if (validate_all(r, t, c, 1) == RB_EINTERRUPTED) {
            if (r->cb->stopping) r->cb->stopping(r->cb->user, r->phase, stop_value(r), r->step);
            out = APP_RUN_STOPPED;
        }
    }
    rb_trainer_destroy(t);
    return out;
}

app_run_result app_run(const app_run_spec *s, const app_run_callbacks *cb)
{
    static const app_run_callbacks none;
    runner r = {.spec = s, .cb = cb ? cb : &none, .phase = 1};
    app_run_result res;
    if (s->n_phases < 1 || s->n_phases > APP_RUN_MAX_PHASES || !s->model || !s->out_dir) {
        error(&r, "a run needs a model, an output folder and 1..%d phases", APP_RUN_MAX_PHASES);
        res = result(APP_RUN_REFUSED, 0, 1, 0);
        goto done;
    }
    if (mkdir(s->out_dir, 0755) != 0 && errno != EEXIST) {
        error(&r, "cannot create %s: %s", s->out_dir, strerror(errno));
        res = result(APP_RUN_FAILED, 0, 1, 0);
        goto done;
    }
    if (run_metrics_open(&r.mf, s->out_dir, s->resume) != 0) {
        error(&r, "cannot write %s: %s", r.mf.path, strerror(errno));
        res = result(APP_RUN_FAILED, 0, 1, 0);
        goto done;
    }
    /* a resumed multi-phase run continues in the last phase that has a
     * checkpoint; the phases before it are finished */
    int first = 1;
    if (s->resume)
        for (int p = s->n_phases; p > 1 && first == 1; p--) {
            char d[4096], name[256];
            phase_dir(s, p, d, sizeof d);
            if (rb_train_latest_checkpoint(d, name, sizeof name, NULL) == RB_OK) first = p;
        }
    app_run_outcome o = APP_RUN_DONE;
    for (int p = first; p <= s->n_phases && o == APP_RUN_DONE; p++) {
        char d[4096];
        phase_dir(s, p, d, sizeof d);
        r.phase = p;
        r.step = 0;
        if (p > 1) notice(&r, "phase %d: optimizer and schedules restart", p);
        o = run_phase(&r, &s->phases[p - 1], d);
    }
    run_metrics_close(&r.mf);
    res = result(o, o == APP_RUN_STOPPED ? stop_value(&r) : 0, r.phase, r.step);
done:
    if (r.cb->done) r.cb->done(r.cb->user, &res);
    return res;
}

int app_run_exit_status(const app_run_result *r)
{
    switch (r->outcome) {
    case APP_RUN_DONE: return 0;
    case APP_RUN_REFUSED: return 2;
    case APP_RUN_STOPPED: return r->stop_value > 0 && r->stop_value < 64 ? 128 + r->stop_value : 130;
    default: return 1;
    }
}
