/* workbench.c: see workbench.h. */
#include "workbench.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wb {
    pthread_mutex_t snap_mu; /* guards snap */
    vw_snapshot *snap;       /* the published snapshot (324 KB: on the heap) */

    pthread_mutex_t q_mu;    /* guards q, paused, handlers */
    pthread_cond_t q_cv;     /* signalled on post and quit */
    wb_queue q;
    wb_handlers h;
    int paused;

    atomic_int stop;
    pthread_t worker;
    int started;
    void (*main)(wb *, void *);
    void *arg;
    struct timespec t0;
};

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

wb *wb_create(vw_mode mode)
{
    wb *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->snap = malloc(sizeof *w->snap);
    if (!w->snap) {
        free(w);
        return NULL;
    }
    vw_snapshot_init(w->snap, mode);
    pthread_mutex_init(&w->snap_mu, NULL);
    pthread_mutex_init(&w->q_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->q_cv, &ca);
    pthread_condattr_destroy(&ca);
    wb_queue_init(&w->q);
    atomic_init(&w->stop, 0);
    clock_gettime(CLOCK_MONOTONIC, &w->t0);
    return w;
}

void wb_destroy(wb *w)
{
    if (!w) return;
    if (w->started) {
        wb_quit(w);
        wb_join(w);
    }
    pthread_mutex_destroy(&w->snap_mu);
    pthread_mutex_destroy(&w->q_mu);
    pthread_cond_destroy(&w->q_cv);
    free(w->snap);
    free(w);
}

double wb_now(const wb *w) { return since(&w->t0); }

vw_snapshot *wb_edit(wb *w)
{
    pthread_mutex_lock(&w->snap_mu);
    return w->snap;
}

void wb_commit(wb *w)
{
    w->snap->gen++;
    w->snap->now = wb_now(w);
    pthread_mutex_unlock(&w->snap_mu);
}

void wb_log(wb *w, int level, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    double t = wb_now(w);
    vw_snapshot *s = wb_edit(w);
    vw_log_push(&s->log, level, t, buf);
    wb_commit(w);
}

void wb_set_worker(wb *w, int busy, const char *fmt, ...)
{
    char buf[sizeof w->snap->status.worker];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    vw_snapshot *s = wb_edit(w);
    memcpy(s->status.worker, buf, sizeof buf);
    s->status.worker_busy = busy;
    wb_commit(w);
}

void wb_push_metric(wb *w, const vw_metric *m)
{
    vw_snapshot *s = wb_edit(w);
    vw_metrics_push(&s->metrics, m);
    vw_status *st = &s->status;
    st->phase = m->phase;
    st->step = m->step;
    st->elapsed = m->time;
    st->flops = m->flops;
    st->loss = m->loss;
    st->lr_mult = m->lr_mult;
    st->lr_muon = m->lr_muon;
    st->lr_adam = m->lr_adam;
    st->grad_norm = m->grad_norm;
    st->tokens_per_s = m->tokens_per_s;
    st->rbar = m->rbar;
    st->n = m->n;
    st->k = m->k;
    st->wall_updated = wb_now(w);
    wb_commit(w);
}

void wb_push_val(wb *w, double x, int32_t step, int phase, int final, const int *depths, const float *losses,
                 int n)
{
    vw_snapshot *s = wb_edit(w);
    vw_val v;
    memset(&v, 0, sizeof v);
    v.x = x;
    v.step = step;
    v.phase = (int16_t)phase;
    v.final = (uint8_t)final;
    for (int i = 0; i < VW_MAX_DEPTHS; i++) v.loss[i] = __builtin_nanf("");
    for (int i = 0; i < n; i++) {
        int slot = vw_snapshot_val_slot(s, depths[i]);
        if (slot >= 0) v.loss[slot] = losses[i];
    }
    vw_snapshot_push_val(s, &v);
    wb_commit(w);
}

void wb_push_eval(wb *w, const vw_eval *e)
{
    vw_snapshot *s = wb_edit(w);
    vw_snapshot_push_eval(s, e);
    wb_commit(w);
}

int wb_copy(wb *w, vw_snapshot *dst, uint64_t *gen)
{
    int copied = 0;
    pthread_mutex_lock(&w->snap_mu);
    if (!gen || w->snap->gen != *gen) {
        memcpy(dst, w->snap, sizeof *dst);
        if (gen) *gen = w->snap->gen;
        copied = 1;
    }
    pthread_mutex_unlock(&w->snap_mu);
    return copied;
}

int wb_post(wb *w, const wb_cmd *c)
{
    pthread_mutex_lock(&w->q_mu);
    int r = wb_queue_push(&w->q, c);
    pthread_cond_broadcast(&w->q_cv);
    pthread_mutex_unlock(&w->q_mu);
    return r;
}

void wb_quit(wb *w)
{
    atomic_store(&w->stop, 1);
    pthread_mutex_lock(&w->q_mu);
    pthread_cond_broadcast(&w->q_cv);
    pthread_mutex_unlock(&w->q_mu);
}

atomic_int *wb_stop_flag(wb *w) { return &w->stop; }

int wb_paused(wb *w)
{
    pthread_mutex_lock(&w->q_mu);
    int p = w->paused;
    pthread_mutex_unlock(&w->q_mu);
    return p;
}

void wb_set_paused(wb *w, int paused)
{
    pthread_mutex_lock(&w->q_mu);
    w->paused = paused;
    pthread_cond_broadcast(&w->q_cv);
    pthread_mutex_unlock(&w->q_mu);
    vw_snapshot *s = wb_edit(w);
    s->status.paused = paused;
    wb_commit(w);
}

void wb_set_handlers(wb *w, const wb_handlers *h)
{
    pthread_mutex_lock(&w->q_mu);
    if (h) w->h = *h;
    else memset(&w->h, 0, sizeof w->h);
    pthread_mutex_unlock(&w->q_mu);
}

static void *worker_main(void *p)
{
    wb *w = p;
    if (w->main) w->main(w, w->arg);
    else wb_idle_loop(w, NULL);
    return NULL;
}

int wb_start(wb *w, void (*main)(wb *, void *), void *arg)
{
    w->main = main;
    w->arg = arg;
    if (pthread_create(&w->worker, NULL, worker_main, w) != 0) return -1;
    w->started = 1;
    return 0;
}

void wb_join(wb *w)
{
    if (!w->started) return;
    pthread_join(w->worker, NULL);
    w->started = 0;
}

/* Absolute CLOCK_MONOTONIC time ms from now. */
static struct timespec deadline(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Run one command outside the queue lock (handlers do engine work). */
static void dispatch(wb *w, const wb_cmd *c, const wb_handlers *h)
{
    if (c->kind == WB_CMD_PAUSE) {
        if (!h->can_pause) {
            wb_log(w, VW_LOG_WARN, "nothing to pause: no training runs in this mode");
            return;
        }
        pthread_mutex_lock(&w->q_mu);
        w->paused = !w->paused;
        int p = w->paused;
        pthread_mutex_unlock(&w->q_mu);
        vw_snapshot *s = wb_edit(w);
        s->status.paused = p;
        wb_commit(w);
        wb_log(w, VW_LOG_INFO, p ? "training paused (Space resumes)" : "training resumed");
        return;
    }
    if (h->command) h->command(h->ctx, w, c);
}

int wb_service(wb *w)
{
    for (;;) {
        wb_cmd c;
        wb_handlers h;
        pthread_mutex_lock(&w->q_mu);
        int got = wb_queue_pop(&w->q, &c);
        h = w->h;
        int paused = w->paused;
        if (!got && paused && !atomic_load(&w->stop)) {
            /* held while paused; commands still run */
            struct timespec t = deadline(200);
            pthread_cond_timedwait(&w->q_cv, &w->q_mu, &t);
            pthread_mutex_unlock(&w->q_mu);
            continue;
        }
        pthread_mutex_unlock(&w->q_mu);
        if (atomic_load(&w->stop)) return 1;
        if (!got) return 0;
        dispatch(w, &c, &h);
    }
}

int wb_between_steps(wb *w, double budget_s)
{
    if (wb_service(w)) return 1;
    double t0 = wb_now(w);
    for (;;) {
        pthread_mutex_lock(&w->q_mu);
        wb_handlers h = w->h;
        pthread_mutex_unlock(&w->q_mu);
        if (!h.idle || !h.idle(h.ctx, w)) break;
        if (wb_service(w)) return 1;
        if (wb_now(w) - t0 >= budget_s) break;
    }
    return atomic_load(&w->stop) ? 1 : 0;
}

int wb_pending(wb *w, unsigned kinds)
{
    if (atomic_load(&w->stop)) return 1;
    pthread_mutex_lock(&w->q_mu);
    int r = wb_queue_has(&w->q, kinds);
    pthread_mutex_unlock(&w->q_mu);
    return r;
}

void wb_wait(wb *w, int ms)
{
    pthread_mutex_lock(&w->q_mu);
    if (w->q.n == 0 && !atomic_load(&w->stop)) {
        struct timespec t = deadline(ms);
        while (w->q.n == 0 && !atomic_load(&w->stop)) {
            int r = pthread_cond_timedwait(&w->q_cv, &w->q_mu, &t);
            if (r == ETIMEDOUT) break;
        }
    }
    pthread_mutex_unlock(&w->q_mu);
}

void wb_idle_loop(wb *w, void *unused)
{
    (void)unused;
    while (!wb_service(w)) {
        pthread_mutex_lock(&w->q_mu);
        wb_handlers h = w->h;
        pthread_mutex_unlock(&w->q_mu);
        int did = h.idle ? h.idle(h.ctx, w) : 0;
        if (!did) wb_wait(w, 100);
    }
}
