/* test_lua_host.c: the Lua host (app/lua_host.h) from C, the way the
 * workbench will use it: lines posted from another thread run between
 * training steps and can change or stop the run; the stop flag set from
 * another thread ends a runaway loop and a training run (with a
 * checkpoint); the budgets; print and log go to the sink, never to stdout;
 * and the workbench adapter (app/lua_workbench.h) runs a script on a real
 * workbench's worker thread, publishing its lines and training steps and
 * answering WB_CMD_LUA. No assets: a random model and a token file made
 * here. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lua_host.h"
#include "lua_workbench.h"
#include "rb_data.h"
#include "rb_rng.h"
#include "rb_test.h"
#include "workbench.h"

static const char *data_path(void)
{
    static char path[1000];
    if (path[0]) return path;
    snprintf(path, sizeof path, "%s/h.rbtok", rb_test_tmpdir());
    rb_error err = {0};
    rb_tokwriter *w = NULL;
    ck_assert(rb_tokwriter_open(&w, path, 37, 17, &err) == RB_OK);
    rb_rng rng;
    rb_rng_seed(&rng, 3);
    for (int r = 0; r < 80; r++) {
        int32_t row[17];
        row[0] = (int32_t)(rb_rng_u64(&rng) % 37);
        for (int i = 1; i < 17; i++) row[i] = (row[i - 1] * 5 + 2) % 37;
        ck_assert(rb_tokwriter_append(w, row, 17, &err) == RB_OK);
    }
    ck_assert(rb_tokwriter_finish(w, &err) == RB_OK);
    return path;
}

/* a script file under the test's folder */
static const char *script(const char *name, const char *text)
{
    rb_test_write_file(rb_test_tmpdir(), name, text, strlen(text));
    return rb_test_tmp_path(name);
}

/* the sink: everything printed or logged, in one buffer */
typedef struct {
    pthread_mutex_t mu;
    char out[16384];
    int steps;
} capture;

static void cap_add(capture *c, const char *s, size_t n)
{
    pthread_mutex_lock(&c->mu);
    size_t len = strlen(c->out);
    if (len + n + 2 < sizeof c->out) {
        memcpy(c->out + len, s, n);
        c->out[len + n] = '\n';
        c->out[len + n + 1] = '\0';
    }
    pthread_mutex_unlock(&c->mu);
}
static void c_print(void *u, const char *t, size_t n) { cap_add(u, t, n); }
static void c_log(void *u, int level, const char *m)
{
    (void)level;
    cap_add(u, m, strlen(m));
}
static void c_step(void *u, int phase, const rb_train_metrics *m)
{
    (void)phase;
    (void)m;
    capture *c = u;
    pthread_mutex_lock(&c->mu);
    c->steps++;
    pthread_mutex_unlock(&c->mu);
}
static int c_steps(capture *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->steps;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static lua_host *host(capture *c, double budget_s, long long budget_i)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    lua_host_opts o = {.budget_seconds = budget_s, .budget_instructions = budget_i,
                       .sink = {.user = c, .print = c_print, .log = c_log, .train_step = c_step}};
    char msg[256];
    lua_host *h = lua_host_create(&o, msg, sizeof msg);
    ck_assert_msg(h != NULL, "%s", msg);
    return h;
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* ---------------- a line posted from another thread changes a run ---------------- */

typedef struct {
    lua_host *h;
    capture *c;
} poster;

static void *post_lines(void *arg)
{
    poster *p = arg;
    while (c_steps(p->c) < 3) sleep_ms(2);
    lua_host_post(p->h, "local c = rb.training(); c:set_lr_scale(0.25); scaled_at = last_step");
    while (c_steps(p->c) < 8) sleep_ms(2);
    lua_host_post(p->h, "rb.training():stop()");
    return NULL;
}

static const char train_script[] =
    "rb = require 'retrobench'\n"
    "local m = rb.surgery(rb.model{vocab_size = 37, dim = 16, n_layers = 3, n_heads = 2, hidden_dim = 24,\n"
    "                              max_seq_len = 32}, {1, 1, 1})\n"
    "lr = {}\n"
    "result = rb.train{model = m, data = arg.data, steps = 100000, batch = 2, out = arg.out, quiet = true, warmup_frac = 0,\n"
    "  on_step = function(mt) last_step = mt.step; lr[mt.step] = mt.lr_mult end}\n"
    "print('outcome', result.outcome, result.step)\n";

START_TEST(test_posted_lines_change_and_stop_a_run)
{
    capture c;
    lua_host *h = host(&c, 0, 0);
    const char *s = script("train.lua", train_script);
    char a1[1100], a2[1100];
    snprintf(a1, sizeof a1, "data=%s", data_path());
    snprintf(a2, sizeof a2, "out=%s", rb_test_tmp_path("posted"));
    char *args[] = {a1, a2};
    poster p = {h, &c};
    pthread_t th;
    ck_assert(pthread_create(&th, NULL, post_lines, &p) == 0);
    lh_result r = lua_host_run_file(h, s, 2, args);
    pthread_join(th, NULL);
    ck_assert_msg(r == LH_OK, "%s", lua_host_error(h));
    ck_assert_msg(strstr(c.out, "outcome\tstopped\t") != NULL, "%s", c.out);
    /* the step after the line ran has a quarter of the learning rate it had scheduled */
    ck_assert(lua_host_run_line(h, "print('ratio', lr[scaled_at + 1] / lr[scaled_at])") == LH_OK);
    const char *ratio = strstr(c.out, "ratio\t");
    ck_assert_msg(ratio != NULL, "%s", c.out);
    double v = atof(ratio + 6);
    ck_assert_msg(v > 0.2 && v < 0.3, "lr ratio %g (schedule near 1 after warmup, times 0.25)", v);
    /* the run stopped with a checkpoint at its last step */
    ck_assert(lua_host_run_line(h, "print('ckpt', rb.exists(result.checkpoint .. '/model.safetensors'))") == LH_OK);
    ck_assert_msg(strstr(c.out, "ckpt\ttrue") != NULL, "%s", c.out);
    lua_host_destroy(h);
}
END_TEST

/* ---------------- the stop flag from another thread ---------------- */

typedef struct {
    lua_host *h;
    capture *c;
    int after_steps;
} stopper;

static void *stop_later(void *arg)
{
    stopper *s = arg;
    if (s->after_steps) while (c_steps(s->c) < s->after_steps) sleep_ms(2);
    else sleep_ms(100);
    atomic_store(lua_host_stop_flag(s->h), 1);
    return NULL;
}

START_TEST(test_stop_flag_ends_a_loop)
{
    capture c;
    lua_host *h = host(&c, 0, 0);
    const char *s = script("loop.lua", "local n = 0\nwhile true do\n  n = n + 1\nend\n");
    stopper st = {h, &c, 0};
    pthread_t th;
    ck_assert(pthread_create(&th, NULL, stop_later, &st) == 0);
    lh_result r = lua_host_run_file(h, s, 0, NULL);
    pthread_join(th, NULL);
    ck_assert_int_eq(r, LH_STOPPED);
    ck_assert_int_eq(lua_host_stop_value(h), 1);
    ck_assert_msg(strstr(lua_host_error(h), "loop.lua:3: stopped on request") ||
                  strstr(lua_host_error(h), "loop.lua:2: stopped on request"), "%s", lua_host_error(h));
    lua_host_destroy(h);
}
END_TEST

START_TEST(test_stop_flag_ends_a_run_with_a_checkpoint)
{
    capture c;
    lua_host *h = host(&c, 0, 0);
    const char *s = script("train2.lua", train_script);
    char a1[1100], a2[1100];
    snprintf(a1, sizeof a1, "data=%s", data_path());
    snprintf(a2, sizeof a2, "out=%s", rb_test_tmp_path("stopped"));
    char *args[] = {a1, a2};
    stopper st = {h, &c, 5};
    pthread_t th;
    ck_assert(pthread_create(&th, NULL, stop_later, &st) == 0);
    lh_result r = lua_host_run_file(h, s, 2, args);
    pthread_join(th, NULL);
    ck_assert_int_eq(r, LH_STOPPED);
    ck_assert_msg(strstr(lua_host_error(h), "train2.lua:5: stopped on request during rb.train; the run in") != NULL,
                  "%s", lua_host_error(h));
    char latest[1200];
    snprintf(latest, sizeof latest, "%s/latest", rb_test_tmp_path("stopped"));
    ck_assert_msg(access(latest, F_OK) == 0, "no checkpoint after the stop");
    lua_host_destroy(h);
}
END_TEST

START_TEST(test_budgets_and_sink)
{
    capture c;
    lua_host *h = host(&c, 0, 2000000);
    const char *s = script("busy.lua", "print('before', 1 + 1)\nrb = require 'retrobench'\nrb.log('a log line')\n"
                                       "while true do end\n");
    ck_assert_int_eq(lua_host_run_file(h, s, 0, NULL), LH_BUDGET);
    ck_assert_int_eq(lua_host_stop_value(h), LH_STOP_INSTR);
    ck_assert_msg(strstr(lua_host_error(h), "busy.lua:4: stopped: the instruction budget of 2000000") != NULL, "%s",
                  lua_host_error(h));
    ck_assert_msg(strstr(c.out, "before\t2\n") && strstr(c.out, "a log line\n"), "sink: %s", c.out);
    lua_host_destroy(h);
    h = host(&c, 0.2, 0);
    ck_assert_int_eq(lua_host_run_file(h, s, 0, NULL), LH_BUDGET);
    ck_assert_int_eq(lua_host_stop_value(h), LH_STOP_TIME);
    lua_host_destroy(h);
    /* an error: the message names file:line and carries the traceback */
    h = host(&c, 0, 0);
    s = script("bad.lua", "local function f()\n  error('broken here')\nend\nf()\n");
    ck_assert_int_eq(lua_host_run_file(h, s, 0, NULL), LH_ERROR);
    ck_assert_msg(strstr(lua_host_error(h), "bad.lua:2: broken here\nstack traceback:") != NULL, "%s", lua_host_error(h));
    ck_assert_msg(strstr(lua_host_error(h), "bad.lua:4: in main chunk") != NULL, "%s", lua_host_error(h));
    /* a line: expressions are printed, errors reported */
    ck_assert_int_eq(lua_host_run_line(h, "6 * 7"), LH_OK);
    ck_assert_msg(strstr(c.out, "42\n") != NULL, "%s", c.out);
    ck_assert_int_eq(lua_host_run_line(h, "nosuch()"), LH_ERROR);
    ck_assert_msg(strstr(lua_host_error(h), "lua-line:1:") != NULL, "%s", lua_host_error(h));
    lua_host_destroy(h);
}
END_TEST

/* ---------------- the workbench adapter ---------------- */

static int log_has(wb *w, const char *text)
{
    vw_snapshot *snap = malloc(sizeof *snap);
    uint64_t gen = 0;
    wb_copy(w, snap, &gen);
    int found = 0;
    for (int i = 0; i < snap->log.n && !found; i++) found = strstr(vw_log_at(&snap->log, i)->text, text) != NULL;
    free(snap);
    return found;
}

static int64_t metrics_pushed(wb *w)
{
    vw_snapshot *snap = malloc(sizeof *snap);
    uint64_t gen = 0;
    wb_copy(w, snap, &gen);
    int64_t n = snap->metrics.total;
    free(snap);
    return n;
}

START_TEST(test_workbench_runs_a_script)
{
    const char *s = script("wb.lua", "rb = require 'retrobench'\n"
                                     "print('hello from the script')\n"
                                     "local m = rb.surgery(rb.model{vocab_size = 37, dim = 16, n_layers = 3, n_heads = 2,\n"
                                     "  hidden_dim = 24, max_seq_len = 32}, {1, 1, 1})\n"
                                     "result = rb.train{model = m, data = arg.data, steps = 6, batch = 2, out = arg.out,\n"
                                     "                  val_depths = {1, 2}}\n"
                                     "answer = 41 + 1\n");
    char a1[1100], a2[1100];
    snprintf(a1, sizeof a1, "data=%s", data_path());
    snprintf(a2, sizeof a2, "out=%s", rb_test_tmp_path("wbrun"));
    char *args[] = {a1, a2};
    wb *w = wb_create(VW_MODE_TRAIN);
    ck_assert(w != NULL);
    lua_wb_job job = {.script = s, .argc = 2, .argv = args};
    ck_assert(wb_start(w, lua_wb_main, &job) == 0);
    for (int i = 0; i < 3000 && !log_has(w, "finished"); i++) sleep_ms(5);
    ck_assert_msg(log_has(w, "wb.lua finished"), "the script did not finish");
    ck_assert(log_has(w, "hello from the script"));
    ck_assert_int_eq(metrics_pushed(w), 6);
    /* a Lua line from the UI, against the script's state */
    wb_cmd cmd = {.kind = WB_CMD_LUA};
    snprintf(cmd.text, sizeof cmd.text, "print('answer is ' .. answer .. ', outcome ' .. result.outcome)");
    ck_assert(wb_post(w, &cmd) == 0);
    for (int i = 0; i < 1000 && !log_has(w, "answer is 42"); i++) sleep_ms(5);
    ck_assert(log_has(w, "answer is 42, outcome done"));
    snprintf(cmd.text, sizeof cmd.text, "error('from a line')");
    ck_assert(wb_post(w, &cmd) == 0);
    for (int i = 0; i < 1000 && !log_has(w, "from a line"); i++) sleep_ms(5);
    ck_assert(log_has(w, "lua-line:1: from a line"));
    wb_quit(w);
    wb_join(w);
    ck_assert_int_eq(job.result, LH_OK);
    wb_destroy(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lua_host");
    TCase *tc = tcase_create("host");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_posted_lines_change_and_stop_a_run);
    tcase_add_test(tc, test_stop_flag_ends_a_loop);
    tcase_add_test(tc, test_stop_flag_ends_a_run_with_a_checkpoint);
    tcase_add_test(tc, test_budgets_and_sink);
    tcase_add_test(tc, test_workbench_runs_a_script);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
