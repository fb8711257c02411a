/* test_workbench_threads.c: the workbench host's threaded paths, without
 * the engine or curses (app/workbench.c, workbench_queue.c,
 * workbench_capture.c). Built twice: plain (label unit) and with
 * -fsanitize=thread (test_workbench_threads_tsan, label tsan), where any
 * data race fails the run.
 *
 *  - the command queue: newer prompts, selections and iterations replace
 *    waiting ones; a full queue refuses and counts;
 *  - a stand-in training runner on the worker thread publishes a step at a
 *    time and calls wb_between_steps; meanwhile this thread (the UI's
 *    role) copies snapshots every millisecond and posts commands: work
 *    asked for during training runs between steps, on the worker; pause
 *    holds the runner (while commands still run) and resume releases it;
 *    save reaches the runner; quit stops it through the stop flag;
 *  - the idle loop (inspection) cancels long work when a newer prompt
 *    arrives, and ends up answering the newest one;
 *  - log lines from several threads at once, and stderr captured into the
 *    log while other threads write to it. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workbench.h"
#include "workbench_capture.h"

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static wb_cmd cmd(wb_cmd_kind k, int row, int token, int iter, const char *text)
{
    wb_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = k;
    c.row = row;
    c.token = token;
    c.iter = iter;
    if (text) snprintf(c.text, sizeof c.text, "%s", text);
    return c;
}

START_TEST(test_queue_coalescing)
{
    wb_queue q;
    wb_queue_init(&q);
    wb_cmd c = cmd(WB_CMD_SELECT, 0, 1, 0, NULL);
    ck_assert_int_eq(wb_queue_push(&q, &c), 0);
    c = cmd(WB_CMD_ITER, 0, 1, 3, NULL);
    wb_queue_push(&q, &c);
    c = cmd(WB_CMD_SAVE, 0, 0, 0, NULL);
    wb_queue_push(&q, &c);
    c = cmd(WB_CMD_ITER, 0, 1, 4, NULL); /* replaces the waiting iteration */
    wb_queue_push(&q, &c);
    ck_assert_int_eq(q.n, 3);
    c = cmd(WB_CMD_SELECT, 2, 5, 0, NULL); /* replaces the selection and the iteration */
    wb_queue_push(&q, &c);
    ck_assert_int_eq(q.n, 2);
    ck_assert(wb_queue_has(&q, WB_BIT(WB_CMD_SAVE)));
    ck_assert(!wb_queue_has(&q, WB_BIT(WB_CMD_ITER)));
    c = cmd(WB_CMD_PROMPT, 0, 0, 0, "a");
    wb_queue_push(&q, &c);
    c = cmd(WB_CMD_PROMPT, 0, 0, 0, "b"); /* the newest prompt wins; the old selection goes */
    wb_queue_push(&q, &c);
    wb_cmd out;
    ck_assert(wb_queue_pop(&q, &out));
    ck_assert_int_eq(out.kind, WB_CMD_SAVE);
    ck_assert(wb_queue_pop(&q, &out));
    ck_assert_int_eq(out.kind, WB_CMD_PROMPT);
    ck_assert_str_eq(out.text, "b");
    ck_assert(!wb_queue_pop(&q, &out));
    /* full: refused and counted, nothing lost from what was there */
    for (int i = 0; i < WB_QUEUE_CAP; i++) {
        c = cmd(WB_CMD_SAVE, i, 0, 0, NULL);
        ck_assert_int_eq(wb_queue_push(&q, &c), 0);
    }
    ck_assert_int_eq(wb_queue_push(&q, &c), -1);
    ck_assert_int_eq(q.dropped, 1);
    for (int i = 0; i < WB_QUEUE_CAP; i++) {
        ck_assert(wb_queue_pop(&q, &out));
        ck_assert_int_eq(out.row, i);
    }
}
END_TEST

/* ---- a stand-in runner ---- */
typedef struct {
    atomic_int steps, saves, selects, iters, prompts, in_step, overlap, stopped_by_flag, final_save;
    atomic_int done;
    int max_steps;
} runner;

static void runner_command(void *ctx, wb *w, const wb_cmd *c)
{
    runner *r = ctx;
    if (atomic_load(&r->in_step)) atomic_fetch_add(&r->overlap, 1); /* engine work inside a step: a collision */
    switch (c->kind) {
    case WB_CMD_SAVE: atomic_fetch_add(&r->saves, 1); break;
    case WB_CMD_SELECT: atomic_fetch_add(&r->selects, 1); break;
    case WB_CMD_ITER: atomic_fetch_add(&r->iters, 1); break;
    case WB_CMD_PROMPT: atomic_fetch_add(&r->prompts, 1); break;
    default: break;
    }
    vw_snapshot *s = wb_edit(w);
    s->trace.row = c->row; /* as inference would publish */
    wb_commit(w);
}

static void runner_main(wb *w, void *arg)
{
    runner *r = arg;
    for (int i = 1; i <= r->max_steps; i++) {
        atomic_store(&r->in_step, 1);
        /* a step: checks the stop flag inside, as the trainer does */
        for (int k = 0; k < 20; k++) {
            if (atomic_load(wb_stop_flag(w))) break;
            struct timespec t = {0, 10000L}; /* 10 us of "compute" */
            nanosleep(&t, NULL);
        }
        vw_metric m;
        memset(&m, 0, sizeof m);
        m.x = i;
        m.step = i;
        m.loss = 1.0f / (float)i;
        wb_push_metric(w, &m);
        if (i % 50 == 0) {
            int d[2] = {1, 4};
            float l[2] = {1.0f, 0.5f};
            wb_push_val(w, i, i, 1, 0, d, l, 2);
        }
        atomic_store(&r->steps, i);
        atomic_store(&r->in_step, 0);
        if (wb_between_steps(w, 0.001)) {
            atomic_store(&r->stopped_by_flag, 1);
            atomic_store(&r->final_save, 1); /* the runner saves before returning */
            break;
        }
    }
    atomic_store(&r->done, 1);
    wb_idle_loop(w, NULL); /* training over: the workbench stays up until quit */
}

START_TEST(test_runner_threads)
{
    wb *w = wb_create(VW_MODE_TRAIN);
    ck_assert_ptr_nonnull(w);
    static runner r;
    memset(&r, 0, sizeof r);
    r.max_steps = 1000000;
    wb_handlers h = {&r, runner_command, NULL, 1};
    wb_set_handlers(w, &h);
    ck_assert_int_eq(wb_start(w, runner_main, &r), 0);
    static vw_snapshot snap;
    uint64_t gen = 0, last_gen = 0;
    int64_t last_total = 0;
    /* the UI's role: copy every millisecond, post commands */
    for (int i = 0; i < 300; i++) {
        if (wb_copy(w, &snap, &gen)) {
            ck_assert(snap.gen > last_gen || last_gen == 0);
            ck_assert(snap.metrics.total >= last_total);
            last_gen = snap.gen;
            last_total = snap.metrics.total;
        }
        wb_cmd c = cmd(i % 3 == 0 ? WB_CMD_SELECT : WB_CMD_ITER, i % 4, i % 7, i % 9, NULL);
        wb_post(w, &c);
        if (i % 50 == 0) {
            c = cmd(WB_CMD_SAVE, 0, 0, 0, NULL);
            wb_post(w, &c);
        }
        sleep_ms(1);
    }
    ck_assert_int_gt(atomic_load(&r.steps), 0);
    /* pause: the runner stops between steps, commands still run */
    wb_cmd c = cmd(WB_CMD_PAUSE, 0, 0, 0, NULL);
    wb_post(w, &c);
    for (int i = 0; i < 200 && !wb_paused(w); i++) sleep_ms(5);
    ck_assert(wb_paused(w));
    sleep_ms(50);
    int held = atomic_load(&r.steps);
    int saves = atomic_load(&r.saves);
    c = cmd(WB_CMD_SAVE, 0, 0, 0, NULL);
    wb_post(w, &c);
    c = cmd(WB_CMD_PROMPT, 0, 0, 0, "while paused");
    wb_post(w, &c);
    sleep_ms(200);
    ck_assert_int_eq(atomic_load(&r.steps), held); /* held */
    ck_assert_int_eq(atomic_load(&r.saves), saves + 1); /* but serving commands */
    ck_assert_int_ge(atomic_load(&r.prompts), 1);
    wb_copy(w, &snap, NULL);
    ck_assert(snap.status.paused);
    c = cmd(WB_CMD_PAUSE, 0, 0, 0, NULL);
    wb_post(w, &c);
    for (int i = 0; i < 400 && atomic_load(&r.steps) == held; i++) sleep_ms(5);
    ck_assert_int_gt(atomic_load(&r.steps), held); /* resumed */
    /* quit: the runner sees it between steps and stops */
    wb_quit(w);
    wb_join(w);
    ck_assert(atomic_load(&r.done));
    ck_assert(atomic_load(&r.stopped_by_flag));
    ck_assert(atomic_load(&r.final_save));
    ck_assert_int_eq(atomic_load(&r.overlap), 0); /* never inside a step */
    ck_assert_int_gt(atomic_load(&r.selects) + atomic_load(&r.iters), 0);
    wb_copy(w, &snap, NULL);
    ck_assert_int_eq((int)snap.metrics.total, atomic_load(&r.steps));
    ck_assert_int_gt(snap.n_vals, 0);
    wb_destroy(w);
}
END_TEST

/* ---- save while paused (app/lua_workbench.c's protocol): the runner
 * saves after its step callback returns, so the pause is let go for the
 * save and taken again (wb_set_paused) at the checkpoint, before the next
 * step ---- */
typedef struct {
    atomic_int steps, saved_at, repause, checkpoints, done;
} saver;

static void saver_command(void *ctx, wb *w, const wb_cmd *c)
{
    saver *r = ctx;
    if (c->kind != WB_CMD_SAVE) return;
    atomic_store(&r->repause, 1); /* "control:save()": applied after the callback returns */
    if (wb_paused(w)) wb_set_paused(w, 0);
}

static void saver_main(wb *w, void *arg)
{
    saver *r = arg;
    for (int i = 1; i < 1000000; i++) {
        struct timespec t = {0, 20000L};
        nanosleep(&t, NULL);
        atomic_store(&r->steps, i);
        if (wb_between_steps(w, 0.0)) break; /* the step callback */
        if (atomic_exchange(&r->repause, 0)) { /* the runner saves, then the checkpoint callback */
            atomic_store(&r->saved_at, i);
            atomic_fetch_add(&r->checkpoints, 1);
            wb_set_paused(w, 1);
            if (wb_service(w)) break; /* held again, before the next step */
        }
    }
    atomic_store(&r->done, 1);
}

START_TEST(test_save_while_paused)
{
    wb *w = wb_create(VW_MODE_TRAIN);
    static saver r;
    memset(&r, 0, sizeof r);
    wb_handlers h = {&r, saver_command, NULL, 1};
    wb_set_handlers(w, &h);
    ck_assert_int_eq(wb_start(w, saver_main, &r), 0);
    for (int i = 0; i < 400 && atomic_load(&r.steps) < 10; i++) sleep_ms(5);
    wb_cmd c = cmd(WB_CMD_PAUSE, 0, 0, 0, NULL);
    wb_post(w, &c);
    for (int i = 0; i < 200 && !wb_paused(w); i++) sleep_ms(5);
    ck_assert(wb_paused(w));
    sleep_ms(30);
    int held = atomic_load(&r.steps);
    c = cmd(WB_CMD_SAVE, 0, 0, 0, NULL);
    wb_post(w, &c);
    for (int i = 0; i < 400 && atomic_load(&r.checkpoints) == 0; i++) sleep_ms(5);
    ck_assert_int_eq(atomic_load(&r.checkpoints), 1);
    ck_assert_int_eq(atomic_load(&r.saved_at), held); /* saved at the paused step */
    sleep_ms(100);
    ck_assert_int_eq(atomic_load(&r.steps), held); /* and paused again */
    ck_assert(wb_paused(w));
    static vw_snapshot snap;
    wb_copy(w, &snap, NULL);
    ck_assert(snap.status.paused);
    c = cmd(WB_CMD_PAUSE, 0, 0, 0, NULL); /* resume */
    wb_post(w, &c);
    for (int i = 0; i < 400 && atomic_load(&r.steps) == held; i++) sleep_ms(5);
    ck_assert_int_gt(atomic_load(&r.steps), held);
    wb_quit(w);
    wb_join(w);
    ck_assert(atomic_load(&r.done));
    wb_destroy(w);
}
END_TEST

/* ---- the idle loop: long work cancelled by a newer prompt ---- */
typedef struct {
    char current[VW_PROMPT_BYTES];
    int dirty;
    atomic_int finished;   /* answers completed */
    atomic_int cancelled;
    char last_done[VW_PROMPT_BYTES];
    pthread_mutex_t mu;
} inspector;

static void insp_command(void *ctx, wb *w, const wb_cmd *c)
{
    inspector *in = ctx;
    (void)w;
    if (c->kind != WB_CMD_PROMPT) return;
    snprintf(in->current, sizeof in->current, "%s", c->text);
    in->dirty = 1;
}

static int insp_idle(void *ctx, wb *w)
{
    inspector *in = ctx;
    if (!in->dirty) return 0;
    /* "answering": 40 units of work, each checking for a newer prompt */
    for (int t = 0; t < 40; t++) {
        if (wb_pending(w, WB_BIT(WB_CMD_PROMPT))) {
            atomic_fetch_add(&in->cancelled, 1);
            return 1;
        }
        sleep_ms(1);
    }
    in->dirty = 0;
    pthread_mutex_lock(&in->mu);
    snprintf(in->last_done, sizeof in->last_done, "%s", in->current);
    pthread_mutex_unlock(&in->mu);
    atomic_fetch_add(&in->finished, 1);
    vw_snapshot *s = wb_edit(w);
    snprintf(s->answers.prompt, sizeof s->answers.prompt, "%s", in->current);
    wb_commit(w);
    return 1;
}

START_TEST(test_idle_cancel)
{
    wb *w = wb_create(VW_MODE_INSPECT);
    static inspector in;
    memset(&in, 0, sizeof in);
    pthread_mutex_init(&in.mu, NULL);
    wb_handlers h = {&in, insp_command, insp_idle, 0};
    wb_set_handlers(w, &h);
    ck_assert_int_eq(wb_start(w, NULL, NULL), 0);
    char text[32];
    for (int i = 0; i < 30; i++) { /* faster than the work: most are cancelled or replaced */
        snprintf(text, sizeof text, "prompt %d", i);
        wb_cmd c = cmd(WB_CMD_PROMPT, 0, 0, 0, text);
        wb_post(w, &c);
        sleep_ms(5);
    }
    static vw_snapshot snap;
    for (int i = 0; i < 400; i++) {
        wb_copy(w, &snap, NULL);
        if (!strcmp(snap.answers.prompt, "prompt 29")) break;
        sleep_ms(5);
    }
    ck_assert_str_eq(snap.answers.prompt, "prompt 29");
    ck_assert_int_gt(atomic_load(&in.cancelled), 0);
    ck_assert_int_lt(atomic_load(&in.finished), 30);
    /* pause without a runner: a message, no pause */
    wb_cmd c = cmd(WB_CMD_PAUSE, 0, 0, 0, NULL);
    wb_post(w, &c);
    for (int i = 0; i < 200; i++) {
        wb_copy(w, &snap, NULL);
        if (snap.log.n && strstr(vw_log_at(&snap.log, snap.log.n - 1)->text, "nothing to pause")) break;
        sleep_ms(5);
    }
    ck_assert(snap.log.n > 0);
    ck_assert(strstr(vw_log_at(&snap.log, snap.log.n - 1)->text, "nothing to pause"));
    ck_assert(!wb_paused(w));
    wb_quit(w);
    wb_join(w);
    wb_destroy(w);
    pthread_mutex_destroy(&in.mu);
}
END_TEST

/* ---- log lines and captured stderr from several threads ---- */
static wb *log_target;

static void *log_writer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 200; i++) {
        if (id % 2) wb_log(log_target, VW_LOG_INFO, "thread %ld line %d", id, i);
        else fprintf(stderr, "stderr %ld line %d\n", id, i);
    }
    return NULL;
}

START_TEST(test_log_and_capture)
{
    wb *w = wb_create(VW_MODE_INSPECT);
    log_target = w;
    ck_assert_int_eq(wb_capture_start(w), 0);
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, log_writer, (void *)i);
    static vw_snapshot snap;
    for (int i = 0; i < 50; i++) {
        wb_copy(w, &snap, NULL);
        sleep_ms(1);
    }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    wb_capture_stop();
    wb_copy(w, &snap, NULL);
    ck_assert_int_eq((int)snap.log.total, 800);
    int stderr_lines = 0;
    for (int i = 0; i < snap.log.n; i++) {
        const vw_log_line *l = vw_log_at(&snap.log, i);
        if (l->level == VW_LOG_STDERR) {
            stderr_lines++;
            ck_assert(!strncmp(l->text, "stderr ", 7)); /* whole lines, never interleaved mid-line */
        }
    }
    ck_assert_int_gt(stderr_lines, 0);
    fprintf(stderr, "(stderr is back on the terminal)\n");
    wb_destroy(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workbench_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_queue_coalescing);
    tcase_add_test(tc, test_runner_threads);
    tcase_add_test(tc, test_save_while_paused);
    tcase_add_test(tc, test_idle_cancel);
    tcase_add_test(tc, test_log_and_capture);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
