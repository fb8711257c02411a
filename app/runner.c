/* runner.c: one training run for every front end (see runner.h): the phase
 * loop, resume, the metrics file and its rewind, checkpoint cadence, final
 * validation and stopping, and the ownership of the run folder (a lock, no
 * clobbering, resume from the newest checkpoint that loads). Never prints:
 * everything goes through the callbacks. With a data-parallel group, rank
 * 0 does all of that and the other ranks follow (the helpers below). */
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

#include "rb_output.h"
#include "run_lock.h"
#include "run_metrics.h"

typedef struct {
    const app_run_spec *spec;
    const app_run_callbacks *cb;
    run_metrics mf;
    int phase;          /* 1-based, the current one */
    int64_t step;
    int val_depth;      /* depth being validated (progress reports) */
    char resumed_from[256];
    int trained;        /* something was trained or validated in this process */
    int root;           /* rank 0 of the group, or no group: the rank that writes and decides */
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

/* ---- the data-parallel group: rank 0 decides, every rank follows ----
 * Each helper is a collective of the group and a no-op without one; a
 * transport failure is reported and ends the run (APP_RUN_FAILED). */

/* Every rank's outcome so far, agreed: the worst one (failed over refused
 * over stopped over done), so that no rank goes on into a collective the
 * others will never make. */
static app_run_outcome agree(runner *r, app_run_outcome out)
{
    rb_comm *c = r->spec->comm;
    if (!c) return out;
    double n[4] = {0, 0, 0, 0};
    n[out] = 1;
    rb_error err = {0};
    if (c->allreduce_host(c, n, 4, &err) != RB_OK) {
        error(r, "the %s group failed: %s", c->name, err.msg);
        return APP_RUN_FAILED;
    }
    return n[APP_RUN_FAILED] > 0    ? APP_RUN_FAILED
           : n[APP_RUN_REFUSED] > 0 ? APP_RUN_REFUSED
           : n[APP_RUN_STOPPED] > 0 ? APP_RUN_STOPPED
                                    : APP_RUN_DONE;
}

/* Rank 0's v[n] on every rank. Returns 0, or -1 after reporting. */
static int from_root(runner *r, double *v, int n)
{
    rb_comm *c = r->spec->comm;
    if (!c) return 0;
    rb_error err = {0};
    if (c->bcast_host(c, v, (size_t)n * sizeof *v, &err) != RB_OK) {
        error(r, "the %s group failed: %s", c->name, err.msg);
        return -1;
    }
    return 0;
}

/* What a step callback asked for: rank 0's requests, and whether any
 * rank's callback failed. Returns the number of failed callbacks, or -1. */
static int agree_control(runner *r, int failed, app_run_control *ctl)
{
    rb_comm *c = r->spec->comm;
    if (!c) return failed;
    const double mine = r->root ? 1 : 0; /* the others add zeros: rank 0's values, exactly */
    double v[6] = {failed ? 1 : 0, mine * ctl->stop, mine * ctl->save, mine * ctl->validate, mine * ctl->lr_scale,
                   mine * ctl->rbar};
    rb_error err = {0};
    if (c->allreduce_host(c, v, 6, &err) != RB_OK) {
        error(r, "the %s group failed: %s", c->name, err.msg);
        return -1;
    }
    ctl->stop = (int)v[1];
    ctl->save = (int)v[2];
    ctl->validate = (int)v[3];
    ctl->lr_scale = v[4];
    ctl->rbar = (int)v[5];
    return (int)v[0];
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
        if (st == RB_EINTERRUPTED) break; /* the caller reports the stop */
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
        if (final && r->root) run_metrics_final(&r->mf, r->phase, rb_trainer_step_count(t), depth, l);
    }
    rb_trainer_set_progress(t, NULL, NULL);
    if (final && r->root) run_metrics_flush(&r->mf);
    return st;
}

static rb_status save(runner *r, rb_trainer *t, const char *dir, rb_error *err)
{
    if (!r->root) return RB_OK; /* rank 0 writes the group's checkpoints */
    rb_status st = rb_trainer_save_with(t, dir, &r->spec->extras, err);
    if (st == RB_OK && r->cb->checkpoint) {
        char name[64];
        snprintf(name, sizeof name, "step-%08lld", (long long)rb_trainer_step_count(t));
        r->cb->checkpoint(r->cb->user, r->phase, dir, name, rb_trainer_step_count(t));
    }
    return st;
}

static void free_names(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* A checkpoint that does not load is kept under another name, so that it
 * is neither resumed from again nor deleted. Returns the new name or "". */
static void set_aside(const char *dir, const char *name, char *out, size_t cap)
{
    char from[4400], to[4400];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snprintf(to, sizeof to, "%s/%s.damaged", dir, name);
    if (access(to, F_OK) == 0) snprintf(to, sizeof to, "%s/%s.damaged-%d", dir, name, (int)getpid());
    out[0] = '\0';
    if (rename(from, to) == 0) snprintf(out, cap, "%s", strrchr(to, '/') + 1);
}

/* Continue the phase from the newest checkpoint that loads. `latest` names
 * the newest normally; when it is missing, damaged, or names a checkpoint
 * that does not load, the others are tried newest first (saying so). A
 * checkpoint of another model, data or recipe stops the search: that is a
 * wrong command, not damage. Returns 1 when the phase was resumed, 0 when
 * the folder has no checkpoint, -1 when the run must end (*out set). */
static int resume_phase(runner *r, rb_trainer *t, const char *dir, app_run_outcome *out)
{
    char latest[256] = "";
    rb_error err = {0};
    const int have_latest = rb_train_latest_checkpoint(dir, latest, sizeof latest, NULL) == RB_OK;
    char **names = NULL;
    int n = 0;
    if (rb_train_list_checkpoints(dir, &names, &n, &err) != RB_OK) {
        error(r, "%s", err.msg);
        *out = APP_RUN_FAILED;
        return -1;
    }
    if (n == 0) {
        if (have_latest)
            notice(r, "%s/latest names %s, which does not exist; there is no checkpoint to resume", dir, latest);
        free_names(names, n);
        return 0;
    }
    /* the candidates: latest first when it is the newest complete one */
    int chosen = -1, n_bad = 0;
    char why[4][RB_ERROR_MSG_MAX];
    for (int i = 0; i < n; i++) {
        char ck[4400];
        snprintf(ck, sizeof ck, "%s/%s", dir, names[i]);
        rb_status st = rb_trainer_restore(t, ck, &err);
        if (st == RB_OK) {
            chosen = i;
            break;
        }
        if (st == RB_EINVAL || st == RB_ENOMEM || st == RB_EBACKEND) {
            error(r, "resume: %s", err.msg);
            free_names(names, n);
            *out = st == RB_EINVAL ? APP_RUN_REFUSED : APP_RUN_FAILED;
            return -1;
        }
        if (n_bad < 4) snprintf(why[n_bad], sizeof why[n_bad], "%s", err.msg);
        n_bad++;
    }
    if (chosen < 0) {
        char tried[4096] = "";
        for (int i = 0; i < n && i < 4; i++)
            snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s%s: %s", i ? "; " : "", names[i], why[i]);
        error(r, "resume: no checkpoint in %s loads (%s%s); nothing was changed; restore a good checkpoint "
                 "there, or train into another folder", dir, tried, n > 4 ? "; ..." : "");
        free_names(names, n);
        *out = APP_RUN_FAILED;
        return -1;
    }
    for (int i = 0; i < chosen; i++) {
        char aside[300];
        set_aside(dir, names[i], aside, sizeof aside);
        notice(r, "checkpoint %s/%s does not load (%s); resuming from the newest intact one, %s/%s%s%s", dir,
               names[i], i < 4 ? why[i] : "damaged", dir, names[chosen], aside[0] ? "; the damaged one is kept as " : "",
               aside);
    }
    if (chosen == 0 && !have_latest)
        notice(r, "%s/latest is missing or unreadable; resuming from the newest checkpoint that loads, %s/%s", dir,
               dir, names[0]);
    else if (chosen == 0 && strcmp(latest, names[0]) != 0 && atoll(latest + 5) > atoll(names[0] + 5))
        notice(r, "%s/latest names %s, which is gone (set aside or removed); resuming from the newest checkpoint "
                  "that loads, %s/%s", dir, latest, dir, names[0]);
    else if (chosen == 0 && strcmp(latest, names[0]) != 0)
        notice(r, "%s/latest names %s, but %s is newer and complete; resuming from it", dir, latest, names[0]);
    const int64_t step = rb_trainer_step_count(t);
    snprintf(r->resumed_from, sizeof r->resumed_from, "%s", names[chosen]);
    free_names(names, n);
    (void)step;
    return 1;
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

/* Rank 0 (or the only process): continue the phase from its checkpoint,
 * rewind the metrics to it, and tell a finished phase apart. *skip: the
 * phase and its final validation are complete. */
static app_run_outcome resume_or_skip(runner *r, rb_trainer *t, const rb_train_config *c, const char *dir, int *skip)
{
    const app_run_spec *s = r->spec;
    app_run_outcome out = APP_RUN_DONE;
    const int resumed = resume_phase(r, t, dir, &out);
    if (resumed < 0) return out;
    const int64_t step = resumed ? rb_trainer_step_count(t) : 0;
    r->step = step;
    /* a finished phase: done when its final validation is complete too */
    const int recurrent = rb_config_is_recurrent(&s->model->cfg);
    const int want_final = c->val_every == 0 && c->n_val_depths > 0 ? (recurrent ? c->n_val_depths : 1) : 0;
    const int finished = resumed && rb_trainer_done(t);
    const int final_ok = finished && run_metrics_count_final(&r->mf, r->phase, (long long)step) == want_final;
    if (resumed && !finished && r->cb->resumed) r->cb->resumed(r->cb->user, r->phase, dir, r->resumed_from, step);
    long dropped = run_metrics_rewind(&r->mf, r->phase, (long long)step, finished && !final_ok);
    if (dropped < 0) {
        error(r, "cannot rewrite %s: %s", r->mf.path, strerror(errno));
        return APP_RUN_FAILED;
    }
    if (dropped > 0)
        notice(r, "%ld metrics line(s) after %s dropped from %s (they are %s again)", dropped,
               resumed ? "that step" : "the start", r->mf.path, finished ? "validated" : "trained");
    if (finished) {
        const int last = r->phase == s->n_phases;
        notice(r, "phase %d in %s is finished (step %lld of %lld, %s)%s", r->phase, dir, (long long)step,
               (long long)c->steps, r->resumed_from,
               !final_ok ? "; running its final validation, which was interrupted"
               : last    ? "; nothing to do"
                         : "");
        *skip = final_ok;
    }
    return APP_RUN_DONE;
}

/* Train one phase to completion or interruption. */
static app_run_outcome run_phase(runner *r, const rb_train_config *c, const char *dir)
{
    const app_run_spec *s = r->spec;
    rb_error err = {0};
    rb_trainer *t = NULL;
    app_run_outcome out = APP_RUN_DONE;
    if (r->root && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        error(r, "cannot create %s: %s", dir, strerror(errno));
        out = APP_RUN_FAILED;
    }
    if (out == APP_RUN_DONE && rb_trainer_create_comm(&t, s->model, c, s->stop, s->comm, &err) != RB_OK) {
        error(r, "%s", err.msg);
        out = APP_RUN_REFUSED;
    }
    int skip = 0;
    if ((out = agree(r, out)) == APP_RUN_DONE && s->resume && r->root) out = resume_or_skip(r, t, c, dir, &skip);
    if ((out = agree(r, out)) == APP_RUN_DONE && s->comm) {
        /* every rank takes rank 0's weights, optimizer state and data
         * position (after its resume), having checked that all were
         * started with the same settings, model and data */
        double v = skip;
        if (from_root(r, &v, 1) != 0) out = APP_RUN_FAILED;
        skip = v != 0;
        rb_status st = out == APP_RUN_DONE ? rb_trainer_sync(t, &err) : RB_OK;
        if (st != RB_OK) {
            error(r, "%s", err.msg);
            out = st == RB_EINVAL ? APP_RUN_REFUSED : APP_RUN_FAILED;
        }
        r->step = rb_trainer_step_count(t);
    }
    if (out != APP_RUN_DONE || skip) {
        rb_trainer_destroy(t);
        return out;
    }
    r->trained = 1;
    if (r->cb->phase_start) {
        app_run_phase_info pi = {r->phase, s->n_phases, c, dir, rb_trainer_seq_len(t), s->model};
        r->cb->phase_start(r->cb->user, &pi);
    }
    int64_t saved_step = -1;
    const double t0 = now_s();
    while (!rb_trainer_done(t)) {
        rb_train_metrics mt;
        rb_status st = rb_trainer_step(t, &mt, &err); /* the group agrees on its status inside */
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
        int failed = 0;
        if (r->root) {
            run_metrics_step(&r->mf, r->phase, &mt, now_s() - t0);
            if (r->mf.failed) {
                error(r, "cannot write %s: %s%s; stopping (the last checkpoint is intact)", r->mf.path,
                      strerror(r->mf.errno_saved), rb_output_errno_hint(r->mf.errno_saved));
                failed = 1;
            }
        }
        app_run_control ctl = {0, 0, 0, rb_trainer_lr_scale(t), rb_trainer_rbar_override(t)};
        if (!failed && r->cb->step && r->cb->step(r->cb->user, r->phase, &mt, &ctl)) failed = 1;
        if (agree_control(r, failed, &ctl) != 0) {
            out = APP_RUN_FAILED;
            break;
        }
        int end = apply_control(r, t, c, dir, &ctl, &saved_step, &out);
        if (!end && ((s->ckpt_every > 0 && mt.step % s->ckpt_every == 0) || rb_trainer_done(t))) {
            if (saved_step != r->step) {
                if (save(r, t, dir, &err) != RB_OK) {
                    error(r, "checkpoint failed: %s", err.msg);
                    out = APP_RUN_FAILED;
                    end = 1;
                } else {
                    saved_step = r->step;
                }
            }
        }
        if (s->comm) { /* rank 0's saves may have failed: everyone learns it */
            app_run_outcome o = agree(r, end ? out : APP_RUN_DONE);
            if (o != APP_RUN_DONE) out = o, end = 1;
        }
        if (end) break;
    }
    if (out == APP_RUN_DONE && rb_trainer_done(t) && c->val_every == 0 && c->n_val_depths > 0) {
        if (validate_all(r, t, c, 1) == RB_EINTERRUPTED) {
            notice(r, "stopped during the final validation of phase %d; its checkpoint at step %lld is saved, "
                      "and a resume runs the validation", r->phase, (long long)r->step);
            out = APP_RUN_STOPPED;
        } else if (r->root && r->mf.failed) {
            error(r, "cannot write %s: %s%s", r->mf.path, strerror(r->mf.errno_saved),
                  rb_output_errno_hint(r->mf.errno_saved));
            out = APP_RUN_FAILED;
        }
    }
    rb_trainer_destroy(t);
    /* no rank leaves before rank 0 has saved, nor goes on to a phase the
     * others will not train */
    return agree(r, out);
}

/* What a run folder holds. */
typedef struct {
    int holds;          /* a run: a checkpoint, or metrics lines */
    int layout_phases;  /* 1: checkpoints in OUT; 2: in OUT/phaseN; 0: none */
    int phase_has_checkpoint[APP_RUN_MAX_PHASES];
    char what[4600];    /* "phase 1 at step 10 of 10, checkpoint OUT/step-00000010" */
} run_survey;

/* Every file the run replaces must be a regular file or absent. */
static int check_files(const char *dir, char *msg, size_t cap)
{
    static const char *files[] = {"latest", "metrics.jsonl"};
    rb_error err = {0};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (rb_output_check(p, &err) != RB_OK) {
            snprintf(msg, cap, "%s", err.msg);
            return -1;
        }
    }
    return 0;
}

/* The newest checkpoint of a folder: into `what`; returns whether any. */
static int describe(const char *dir, const char *label, char *what, size_t cap)
{
    char **names = NULL, latest[256];
    int n = 0;
    if (rb_train_list_checkpoints(dir, &names, &n, NULL) != RB_OK || n == 0) {
        free_names(names, n);
        return 0;
    }
    const char *name = rb_train_latest_checkpoint(dir, latest, sizeof latest, NULL) == RB_OK ? latest : names[0];
    char ck[4400];
    snprintf(ck, sizeof ck, "%s/%s", dir, name);
    rb_ckpt_info info;
    if (rb_train_checkpoint_info(ck, &info, NULL) == RB_OK)
        snprintf(what, cap, "%sat step %lld of %lld, checkpoint %s", label, (long long)info.step,
                 (long long)info.total_steps, ck);
    else
        snprintf(what, cap, "%scheckpoint %s (unreadable)", label, ck);
    free_names(names, n);
    return 1;
}

static int survey(const app_run_spec *s, run_survey *sv, char *msg, size_t cap)
{
    memset(sv, 0, sizeof *sv);
    if (check_files(s->out_dir, msg, cap)) return -1;
    char what[4600];
    if (describe(s->out_dir, "", what, sizeof what)) {
        sv->layout_phases = 1;
        sv->phase_has_checkpoint[0] = 1;
        snprintf(sv->what, sizeof sv->what, "%s", what);
    }
    for (int p = 1; p <= APP_RUN_MAX_PHASES; p++) {
        char d[4096], label[32];
        snprintf(d, sizeof d, "%s/phase%d", s->out_dir, p);
        snprintf(label, sizeof label, "phase %d ", p);
        struct stat sb;
        if (stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
        if (check_files(d, msg, cap)) return -1;
        if (describe(d, label, what, sizeof what)) {
            if (sv->layout_phases == 1) {
                snprintf(msg, cap, "%.900s holds checkpoints both in it and in %.900s; move one run elsewhere",
                         s->out_dir, d);
                return -1;
            }
            sv->layout_phases = 2;
            sv->phase_has_checkpoint[p - 1] = 1;
            snprintf(sv->what, sizeof sv->what, "%s", what); /* the last phase with one */
        }
    }
    sv->holds = sv->layout_phases != 0;
    if (!sv->holds) { /* no checkpoint: metrics lines still make it a run */
        char p[4400];
        snprintf(p, sizeof p, "%s/metrics.jsonl", s->out_dir);
        FILE *f = fopen(p, "re");
        int lines = 0, ch;
        while (f && (ch = fgetc(f)) != EOF) lines += ch == '\n';
        if (f) fclose(f);
        if (lines > 0) {
            sv->holds = 1;
            snprintf(sv->what, sizeof sv->what, "%s with %d line(s) and no checkpoint yet", p, lines);
        }
    }
    return 0;
}

/* Rank 0's verdict on its preamble (lock, folder, metrics) and the phase
 * to start in, on every rank. */
static void start_together(runner *r, app_run_result *res, int *first)
{
    double v[2] = {res->outcome, *first};
    if (from_root(r, v, 2) != 0) v[0] = APP_RUN_FAILED;
    res->outcome = (app_run_outcome)(int)v[0];
    *first = (int)v[1];
}

app_run_result app_run(const app_run_spec *s, const app_run_callbacks *cb)
{
    static const app_run_callbacks none;
    runner r = {.spec = s, .cb = cb ? cb : &none, .phase = 1};
    r.root = !s->comm || s->comm->rank == 0;
    app_run_result res = result(APP_RUN_DONE, 0, 1, 0);
    run_lock lock = {.fd = -1};
    int first = 1, started = 0;
    if (!r.root) goto start; /* the folder is rank 0's; the others wait for its word */
    if (s->n_phases < 1 || s->n_phases > APP_RUN_MAX_PHASES || !s->model || !s->out_dir) {
        error(&r, "a run needs a model, an output folder and 1..%d phases", APP_RUN_MAX_PHASES);
        res = result(APP_RUN_REFUSED, 0, 1, 0);
        goto done;
    }
    rb_error err = {0};
    if (rb_output_check_dir(s->out_dir, &err) != RB_OK) {
        error(&r, "%s", err.msg);
        res = result(APP_RUN_REFUSED, 0, 1, 0);
        goto done;
    }
    if (mkdir(s->out_dir, 0755) != 0 && errno != EEXIST) {
        error(&r, "cannot create %s: %s", s->out_dir, strerror(errno));
        res = result(APP_RUN_FAILED, 0, 1, 0);
        goto done;
    }
    char msg[2048], stale[600];
    switch (run_lock_acquire(&lock, s->out_dir, msg, sizeof msg, stale, sizeof stale)) {
    case RUN_LOCK_TAKEN: break;
    case RUN_LOCK_BUSY:
        error(&r, "%s", msg);
        res = result(APP_RUN_FAILED, 0, 1, 0);
        goto done;
    default:
        error(&r, "%s", msg);
        res = result(APP_RUN_FAILED, 0, 1, 0);
        goto done;
    }
    if (stale[0])
        notice(&r, "the lock in %s was stale: its holder (%s) is no longer running; taking it over", s->out_dir,
               stale);
    run_survey sv;
    if (survey(s, &sv, msg, sizeof msg) != 0) {
        error(&r, "%s", msg);
        res = result(APP_RUN_REFUSED, 0, 1, 0);
        goto done;
    }
    if (sv.holds && !s->resume) {
        error(&r, "%s already holds a run (%s); continue it with --resume (resume), or train into another "
                  "folder (--out)", s->out_dir, sv.what);
        res = result(APP_RUN_REFUSED, 0, 1, 0);
        goto done;
    }
    if (sv.layout_phases && sv.layout_phases != (s->n_phases > 1 ? 2 : 1)) {
        error(&r, "%s holds a %s run (%s); resume it with %s", s->out_dir,
              sv.layout_phases > 1 ? "multi-phase" : "one-phase", sv.what,
              sv.layout_phases > 1 ? "its phase settings (--phase2-data, --phase2-steps)" : "one phase (no --phase2-*)");
        res = result(APP_RUN_REFUSED, 0, 1, 0);
        goto done;
    }
    if (run_metrics_open(&r.mf, s->out_dir, s->resume, msg, sizeof msg) != 0) {
        error(&r, "%s", msg);
        res = result(APP_RUN_REFUSED, 0, 1, 0);
        goto done;
    }
    /* a resumed multi-phase run continues in the last phase that has a
     * checkpoint; the phases before it are finished */
    if (s->resume)
        for (int p = s->n_phases; p > 1 && first == 1; p--)
            if (sv.phase_has_checkpoint[p - 1]) first = p;
start:
    started = 1;
    if (s->comm) start_together(&r, &res, &first);
    if (res.outcome != APP_RUN_DONE) goto done;
    app_run_outcome o = APP_RUN_DONE;
    for (int p = first; p <= s->n_phases && o == APP_RUN_DONE; p++) {
        char d[4096];
        phase_dir(s, p, d, sizeof d);
        r.phase = p;
        r.step = 0;
        if (p > 1) notice(&r, "phase %d: optimizer and schedules restart", p);
        o = run_phase(&r, &s->phases[p - 1], d);
    }
    if (r.root) run_metrics_close(&r.mf);
    res = result(o, o == APP_RUN_STOPPED ? stop_value(&r) : 0, r.phase, r.step);
done:
    if (!started && s->comm) start_together(&r, &res, &first); /* rank 0 ended before the start */
    run_lock_release(&lock);
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
