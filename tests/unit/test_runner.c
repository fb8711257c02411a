/* test_runner.c: the experiment runner (app/runner.c) that `retrobench
 * train`, the Lua host and the workbench share: it reports through its
 * callbacks and never prints; a stop from another thread ends a run between
 * steps and inside validation with a checkpoint to resume from; changes a
 * step callback makes (learning-rate scale, rbar) resume bit for bit; an
 * error in a callback fails the run and leaves the last checkpoint
 * loadable. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_data.h"
#include "rb_model.h"
#include "rb_rng.h"
#include "rb_test.h"
#include "rb_train.h"
#include "run_lock.h"
#include "runner.h"

static const char *make_data(void)
{
    static char path[1000];
    if (path[0]) return path;
    snprintf(path, sizeof path, "%s/r.rbtok", rb_test_tmpdir());
    rb_error err = {0};
    rb_tokwriter *w = NULL;
    ck_assert(rb_tokwriter_open(&w, path, 37, 17, &err) == RB_OK);
    rb_rng rng;
    rb_rng_seed(&rng, 5);
    for (int r = 0; r < 120; r++) {
        int32_t row[17];
        row[0] = (int32_t)(rb_rng_u64(&rng) % 37);
        for (int i = 1; i < 17; i++) row[i] = (row[i - 1] * 3 + 1) % 37;
        ck_assert(rb_tokwriter_append(w, row, 17, &err) == RB_OK);
    }
    ck_assert(rb_tokwriter_finish(w, &err) == RB_OK);
    return path;
}

static rb_model *make_model(void)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 37, c.dim = 32, c.n_heads = 4, c.n_kv_heads = 2, c.hidden_dim = 48;
    c.max_seq_len = 32, c.n_prelude = 1, c.n_recur = 2, c.n_coda = 1;
    rb_model *m = NULL;
    rb_error err = {0};
    ck_assert(rb_model_create(&m, &c, rb_test_cpu_backend(), &err) == RB_OK);
    ck_assert(rb_model_init_random(m, 9, 0.05f, &err) == RB_OK);
    return m;
}

static void spec_for(app_run_spec *s, rb_model *m, const char *out, int steps)
{
    memset(s, 0, sizeof *s);
    rb_train_config *c = &s->phases[0];
    rb_train_config_default(c, 4);
    snprintf(c->sources[0].path, sizeof c->sources[0].path, "%s", make_data());
    c->sources[0].weight = 1;
    c->n_sources = 1;
    c->batch = 4;
    c->grad_accum = 2;
    c->steps = steps;
    c->val_fraction = 0.3;
    c->n_val_depths = 2;
    c->val_depths[0] = 1;
    c->val_depths[1] = 3;
    c->optim.muon_lr = 0.02f;
    c->optim.adam_lr = 3e-3f;
    s->n_phases = 1;
    s->model = m;
    s->out_dir = out;
    s->ckpt_every = 3;
}

typedef struct {
    atomic_int *stop;
    atomic_int steps_seen;
    int stop_at_step;       /* the step callback's thread sets nothing; a helper thread does */
    int stop_in_validation; /* set the flag from the progress callback */
    int fail_at_step;       /* the step callback returns an error */
    int scale_at_step;      /* ask for lr x0.5 and rbar 2 at this step */
    int errors, notices, checkpoints, val_depths;
    char last_error[512];
} probe;

static int on_step(void *u, int phase, const rb_train_metrics *m, app_run_control *ctl)
{
    (void)phase;
    probe *p = u;
    atomic_store(&p->steps_seen, (int)m->step);
    if (p->scale_at_step && m->step == p->scale_at_step) {
        ctl->lr_scale = 0.5;
        ctl->rbar = 2;
    }
    return p->fail_at_step && m->step == p->fail_at_step;
}
static void on_progress(void *u, int phase, int depth, uint64_t done, uint64_t total)
{
    (void)phase, (void)depth, (void)done, (void)total;
    probe *p = u;
    if (p->stop_in_validation) atomic_store(p->stop, SIGTERM);
}
static void on_validation(void *u, const app_run_validation *v)
{
    probe *p = u;
    if (v->event == APP_RUN_VAL_DEPTH) p->val_depths++;
}
static void on_checkpoint(void *u, int phase, const char *dir, const char *name, int64_t step)
{
    (void)phase, (void)dir, (void)name, (void)step;
    ((probe *)u)->checkpoints++;
}
static void on_notice(void *u, const char *msg)
{
    (void)msg;
    ((probe *)u)->notices++;
}
static void on_error(void *u, const char *msg)
{
    probe *p = u;
    p->errors++;
    snprintf(p->last_error, sizeof p->last_error, "%s", msg);
}

static app_run_callbacks callbacks(probe *p)
{
    return (app_run_callbacks){.user = p, .step = on_step, .progress = on_progress, .validation = on_validation,
                               .checkpoint = on_checkpoint, .notice = on_notice, .error = on_error};
}

/* Another thread stops the run once the step callback has seen a step. */
static void *stopper(void *arg)
{
    probe *p = arg;
    while (atomic_load(&p->steps_seen) < p->stop_at_step) usleep(200);
    atomic_store(p->stop, SIGINT);
    return NULL;
}

static float *params_of(rb_model *m)
{
    rb_error err = {0};
    float *p = malloc(m->table.total * sizeof(float));
    ck_assert(rb_model_get_params(m, p, &err) == RB_OK);
    return p;
}

/* stderr goes to a file while fn runs; returns how many bytes were printed */
static long stderr_bytes_during(app_run_result (*fn)(const app_run_spec *, const app_run_callbacks *),
                                const app_run_spec *s, const app_run_callbacks *cb, app_run_result *res)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *cap = fopen(rb_test_tmp_path("stderr.txt"), "w+");
    dup2(fileno(cap), 2);
    *res = fn(s, cb);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(cap) >= 0 ? (fseek(cap, 0, SEEK_END), ftell(cap)) : -1;
    fclose(cap);
    return n;
}

START_TEST(stop_from_another_thread_then_resume)
{
    rb_model *ma = make_model();
    app_run_spec s;
    atomic_int stop = 0;
    /* reference: uninterrupted, lr x0.5 and rbar 2 from step 4 */
    char ref[4200];
    snprintf(ref, sizeof ref, "%s/ref", rb_test_tmpdir());
    spec_for(&s, ma, ref, 9);
    s.stop = &stop;
    probe pa = {.stop = &stop, .scale_at_step = 4};
    app_run_callbacks cb = callbacks(&pa);
    app_run_result res;
    long printed = stderr_bytes_during(app_run, &s, &cb, &res);
    ck_assert_msg(res.outcome == APP_RUN_DONE, "outcome %d: %s", res.outcome, pa.last_error);
    ck_assert_msg(printed == 0, "the runner printed %ld bytes to stderr", printed);
    ck_assert_int_eq(pa.val_depths, 2); /* the final validation */
    ck_assert_int_eq(pa.checkpoints, 3);
    float *want = params_of(ma);
    /* the step callback's change reached the trainer: rbar 2 from step 5 */
    char mpath[4400], line[1024];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", ref);
    FILE *mf = fopen(mpath, "r");
    int seen = 0;
    while (mf && fgets(line, sizeof line, mf))
        if (strstr(line, "\"step\":6,") && !strstr(line, "final")) seen = strstr(line, "\"rbar\":2,") != NULL;
    if (mf) fclose(mf);
    ck_assert_msg(seen, "step 6 did not run at the rbar the callback set");

    /* stopped by another thread after step 5, then resumed */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/stopped", rb_test_tmpdir());
    rb_model *mb = make_model();
    spec_for(&s, mb, dir, 9);
    s.stop = &stop;
    probe pb = {.stop = &stop, .scale_at_step = 4, .stop_at_step = 5};
    cb = callbacks(&pb);
    pthread_t th;
    pthread_create(&th, NULL, stopper, &pb);
    res = app_run(&s, &cb);
    pthread_join(th, NULL);
    ck_assert_int_eq(res.outcome, APP_RUN_STOPPED);
    ck_assert_int_eq(res.stop_value, SIGINT);
    ck_assert_int_eq(app_run_exit_status(&res), 130);
    ck_assert_msg(res.step >= 5 && res.step < 9, "stopped at step %lld", (long long)res.step);
    char name[256];
    ck_assert(rb_train_latest_checkpoint(dir, name, sizeof name, NULL) == RB_OK);
    char expect[64];
    snprintf(expect, sizeof expect, "step-%08lld", (long long)res.step);
    ck_assert_str_eq(name, expect);

    atomic_store(&stop, 0);
    rb_model *mc = make_model();
    rb_error err = {0};
    ck_assert(rb_model_init_random(mc, 777, 0.05f, &err) == RB_OK); /* resume replaces every weight */
    spec_for(&s, mc, dir, 9);
    s.stop = &stop;
    s.resume = 1;
    probe pc = {.stop = &stop, .scale_at_step = 4};
    cb = callbacks(&pc);
    res = app_run(&s, &cb);
    ck_assert_msg(res.outcome == APP_RUN_DONE, "%s", pc.last_error);
    float *got = params_of(mc);
    ck_assert_msg(memcmp(want, got, ma->table.total * sizeof(float)) == 0,
                  "stopped + resumed run differs from the uninterrupted one");
    free(want);
    free(got);
    rb_model_destroy(ma);
    rb_model_destroy(mb);
    rb_model_destroy(mc);
}
END_TEST

START_TEST(stop_inside_final_validation)
{
    rb_model *m = make_model();
    app_run_spec s;
    atomic_int stop = 0;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/valstop", rb_test_tmpdir());
    spec_for(&s, m, dir, 2);
    s.stop = &stop;
    probe p = {.stop = &stop, .stop_in_validation = 1};
    app_run_callbacks cb = callbacks(&p);
    app_run_result res = app_run(&s, &cb);
    ck_assert_int_eq(res.outcome, APP_RUN_STOPPED);
    ck_assert_int_eq(app_run_exit_status(&res), 143);
    ck_assert_int_eq(p.val_depths, 0);
    char name[256];
    ck_assert(rb_train_latest_checkpoint(dir, name, sizeof name, NULL) == RB_OK);
    ck_assert_str_eq(name, "step-00000002");
    rb_model_destroy(m);
}
END_TEST

START_TEST(error_in_a_callback_keeps_the_checkpoint)
{
    rb_model *m = make_model();
    app_run_spec s;
    atomic_int stop = 0;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cberr", rb_test_tmpdir());
    spec_for(&s, m, dir, 9);
    s.stop = &stop;
    probe p = {.stop = &stop, .fail_at_step = 4};
    app_run_callbacks cb = callbacks(&p);
    app_run_result res = app_run(&s, &cb);
    ck_assert_int_eq(res.outcome, APP_RUN_FAILED);
    ck_assert_int_eq(app_run_exit_status(&res), 1);
    char name[256], ck[4600];
    ck_assert(rb_train_latest_checkpoint(dir, name, sizeof name, NULL) == RB_OK);
    ck_assert_str_eq(name, "step-00000003");
    snprintf(ck, sizeof ck, "%s/%s", dir, name);
    rb_model *m2 = make_model();
    rb_trainer *t = NULL;
    rb_error err = {0};
    ck_assert(rb_trainer_create(&t, m2, &s.phases[0], NULL, &err) == RB_OK);
    ck_assert_msg(rb_trainer_restore(t, ck, &err) == RB_OK, "%s", err.msg);
    rb_trainer_destroy(t);
    rb_model_destroy(m2);
    rb_model_destroy(m);
}
END_TEST

/* The folder lock: a second holder is refused with the first one's record;
 * a record left by a holder that is gone is handed back as stale; a
 * release empties the record. (OFD locks conflict between two opens in
 * one process, which is what lets one process test this.) */
START_TEST(lock_busy_stale_released)
{
    char dir[4200], msg[2048], stale[600], path[4400];
    snprintf(dir, sizeof dir, "%s/lockdir", rb_test_tmpdir());
    ck_assert(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/run.lock", dir);
    FILE *f = fopen(path, "w");
    fputs("pid 999999 on host gone, started long ago\n", f);
    fclose(f);
    run_lock a = {.fd = -1}, b = {.fd = -1};
    ck_assert_int_eq(run_lock_acquire(&a, dir, msg, sizeof msg, stale, sizeof stale), RUN_LOCK_TAKEN);
    ck_assert_str_eq(stale, "pid 999999 on host gone, started long ago");
    ck_assert_int_eq(run_lock_acquire(&b, dir, msg, sizeof msg, stale, sizeof stale), RUN_LOCK_BUSY);
    char mine[64];
    snprintf(mine, sizeof mine, "pid %d on host", (int)getpid());
    ck_assert_msg(strstr(msg, mine) && strstr(msg, "in use"), "%s", msg);
    run_lock_release(&a);
    struct stat sb;
    ck_assert(stat(path, &sb) == 0 && sb.st_size == 0);
    ck_assert_int_eq(run_lock_acquire(&b, dir, msg, sizeof msg, stale, sizeof stale), RUN_LOCK_TAKEN);
    ck_assert_str_eq(stale, "");
    /* the runner itself refuses a folder another runner holds */
    rb_model *m = make_model();
    app_run_spec s;
    spec_for(&s, m, dir, 2);
    probe p = {0};
    app_run_callbacks cb = callbacks(&p);
    app_run_result res = app_run(&s, &cb);
    ck_assert_int_eq(res.outcome, APP_RUN_FAILED);
    ck_assert_msg(strstr(p.last_error, mine) != NULL, "%s", p.last_error);
    run_lock_release(&b);
    rb_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runner");
    TCase *tc = tcase_create("run");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, stop_from_another_thread_then_resume);
    tcase_add_test(tc, stop_inside_final_validation);
    tcase_add_test(tc, error_in_a_callback_keeps_the_checkpoint);
    tcase_add_test(tc, lock_busy_stale_released);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
