/* test_trainer.c: the training loop: exact resume from a checkpoint,
 * atomic checkpoint folders, non-finite steps skipped then stopping,
 * interruption, and that training lowers the loss on learnable data. */
#include <math.h>
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

static rb_backend *be;

/* A token file of rows of T + 1 ids following a simple learnable rule
 * (id[i+1] = (id[i] * 3 + 1) mod V with some noise). */
static const char *make_data(const char *name, int V, int rows, int T)
{
    static char path[1000];
    snprintf(path, sizeof path, "%s/%s.rbtok", rb_test_tmpdir(), name);
    rb_error err = {0};
    rb_tokwriter *w = NULL;
    ck_assert_msg(rb_tokwriter_open(&w, path, (uint32_t)V, (uint32_t)(T + 1), &err) == RB_OK, "%s", err.msg);
    rb_rng rng;
    rb_rng_seed(&rng, 42);
    int32_t *row = malloc(sizeof(int32_t) * (size_t)(T + 1));
    for (int r = 0; r < rows; r++) {
        row[0] = (int32_t)(rb_rng_u64(&rng) % (uint64_t)V);
        for (int i = 1; i <= T; i++)
            row[i] = rb_rng_uniform(&rng) < 0.1 ? (int32_t)(rb_rng_u64(&rng) % (uint64_t)V)
                                                : (row[i - 1] * 3 + 1) % V;
        ck_assert(rb_tokwriter_append(w, row, (size_t)(T + 1), &err) == RB_OK);
    }
    free(row);
    ck_assert(rb_tokwriter_finish(w, &err) == RB_OK);
    return path;
}

static rb_model *make_model(int recurrent)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 37;
    c.dim = 32;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.hidden_dim = 48;
    c.max_seq_len = 64;
    c.n_prelude = 1;
    c.n_recur = recurrent ? 2 : 0;
    c.n_coda = 1;
    rb_model *m = NULL;
    rb_error err = {0};
    ck_assert(rb_model_create(&m, &c, be, &err) == RB_OK);
    ck_assert(rb_model_init_random(m, 9, 0.05f, &err) == RB_OK);
    return m;
}

static void config_for(rb_train_config *c, const char *data, int steps)
{
    rb_train_config_default(c, 4);
    snprintf(c->sources[0].path, sizeof c->sources[0].path, "%s", data);
    c->sources[0].weight = 1;
    c->n_sources = 1;
    c->batch = 4;
    c->grad_accum = 2;
    c->steps = steps;
    c->val_every = 10;
    c->n_val_depths = 2;
    c->val_depths[0] = 1;
    c->val_depths[1] = 4;
    c->val_rows = 8;
    c->optim.muon_lr = 0.02f; /* fast enough to see learning in a few steps */
    c->optim.adam_lr = 3e-3f;
    c->seed = 11;
}

/* Run steps [from, to) recording the per-step loss and grad norm. */
static void run(rb_trainer *t, int from, int to, double *loss, double *gn)
{
    rb_error err = {0};
    for (int s = from; s < to; s++) {
        rb_train_metrics mt;
        ck_assert_msg(rb_trainer_step(t, &mt, &err) == RB_OK, "%s", err.msg);
        ck_assert_int_eq(mt.step, s + 1);
        loss[s] = mt.loss;
        gn[s] = mt.grad_norm;
    }
}

START_TEST(resume_is_bit_identical)
{
    const char *data = make_data("resume", 37, 200, 24);
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data, 40);
    double la[40], ga[40], lb[40], gb[40];

    rb_model *ma = make_model(1);
    rb_trainer *ta = NULL;
    ck_assert_msg(rb_trainer_create(&ta, ma, &c, NULL, &err) == RB_OK, "%s", err.msg);
    run(ta, 0, 40, la, ga);
    float *pa = malloc(ma->table.total * sizeof(float));
    ck_assert(rb_model_get_params(ma, pa, &err) == RB_OK);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/run", rb_test_tmpdir());
    rb_model *mb = make_model(1);
    rb_trainer *tb = NULL;
    ck_assert(rb_trainer_create(&tb, mb, &c, NULL, &err) == RB_OK);
    run(tb, 0, 20, lb, gb);
    ck_assert_msg(rb_trainer_save(tb, dir, NULL, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    rb_trainer_destroy(tb);
    rb_model_destroy(mb);

    /* a fresh process state: new model (different init), new trainer */
    rb_model *mc = make_model(1);
    ck_assert(rb_model_init_random(mc, 12345, 0.05f, &err) == RB_OK);
    rb_trainer *tc = NULL;
    ck_assert(rb_trainer_create(&tc, mc, &c, NULL, &err) == RB_OK);
    ck_assert_msg(rb_trainer_restore(tc, dir, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(rb_trainer_step_count(tc), 20);
    run(tc, 20, 40, lb, gb);
    for (int s = 0; s < 40; s++) {
        ck_assert_msg(memcmp(&la[s], &lb[s], sizeof(double)) == 0,
                      "step %d: loss %.17g (uninterrupted) vs %.17g (resumed)", s + 1, la[s], lb[s]);
        ck_assert_msg(memcmp(&ga[s], &gb[s], sizeof(double)) == 0, "step %d: grad norm differs", s + 1);
    }
    float *pc = malloc(mc->table.total * sizeof(float));
    ck_assert(rb_model_get_params(mc, pc, &err) == RB_OK);
    ck_assert(memcmp(pa, pc, mc->table.total * sizeof(float)) == 0);
    /* it learned: the loss fell well below the uniform log(37) = 3.61 */
    ck_assert_msg(la[39] < la[0] - 0.5, "loss %.3f -> %.3f", la[0], la[39]);
    printf("resume: loss %.4f -> %.4f, 40 steps bit-identical\n", la[0], la[39]);
    free(pa);
    free(pc);
    rb_trainer_destroy(ta);
    rb_trainer_destroy(tc);
    rb_model_destroy(ma);
    rb_model_destroy(mc);
}
END_TEST

static void change_ns_precision(rb_train_config *c) { c->optim.ns_bf16 = !c->optim.ns_bf16; }
static void change_muon_lr(rb_train_config *c) { c->optim.muon_lr *= 2; }
static void change_rbar(rb_train_config *c) { c->rbar.max_value += 1; }
static void change_schedule(rb_train_config *c) { c->lr.kind = c->lr.kind == RB_LR_WSD ? RB_LR_COSINE : RB_LR_WSD; }
static void change_accum(rb_train_config *c) { c->grad_accum += 1; }

START_TEST(checkpoint_folders_and_latest)
{
    const char *data = make_data("ckpt", 37, 60, 16);
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data, 6);
    c.val_every = 0;
    rb_model *m = make_model(0); /* the static baseline uses the same loop */
    rb_trainer *t = NULL;
    ck_assert(rb_trainer_create(&t, m, &c, NULL, &err) == RB_OK);
    char dir[4096], name[256], p[4200];
    snprintf(dir, sizeof dir, "%s/ck", rb_test_tmpdir());
    for (int s = 0; s < 3; s++) {
        ck_assert(rb_trainer_step(t, NULL, &err) == RB_OK);
        ck_assert_msg(rb_trainer_save(t, dir, NULL, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    }
    ck_assert(rb_train_latest_checkpoint(dir, name, sizeof name, &err) == RB_OK);
    ck_assert_str_eq(name, "step-00000003");
    snprintf(p, sizeof p, "%s/step-00000002/model.safetensors", dir);
    ck_assert_msg(access(p, R_OK) == 0, "the previous checkpoint is kept");
    snprintf(p, sizeof p, "%s/step-00000001", dir);
    ck_assert_msg(access(p, F_OK) != 0, "older checkpoints are pruned");
    /* a restore into a differently shaped model is refused with a reason */
    rb_model *other = make_model(1);
    rb_trainer *t2 = NULL;
    ck_assert(rb_trainer_create(&t2, other, &c, NULL, &err) == RB_OK);
    ck_assert_int_eq(rb_trainer_restore(t2, dir, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "does not match") != NULL);
    rb_trainer_destroy(t2);
    rb_model_destroy(other);
    /* a resume with another recipe is refused, naming the setting; more
     * steps are allowed (the run continues) */
    struct {
        const char *field;
        void (*change)(rb_train_config *);
    } changes[] = {
        {"optim.ns_bf16", change_ns_precision}, {"optim.muon_lr", change_muon_lr},
        {"rbar.max", change_rbar}, {"lr.kind", change_schedule}, {"grad_accum", change_accum},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        rb_train_config c2 = c;
        changes[i].change(&c2);
        rb_model *same = make_model(0);
        rb_trainer *t3 = NULL;
        ck_assert_msg(rb_trainer_create(&t3, same, &c2, NULL, &err) == RB_OK, "%s", err.msg);
        ck_assert_int_eq(rb_trainer_restore(t3, dir, &err), RB_EINVAL);
        ck_assert_msg(strstr(err.msg, changes[i].field) != NULL, "message names %s: %s", changes[i].field, err.msg);
        rb_trainer_destroy(t3);
        rb_model_destroy(same);
    }
    rb_train_config longer = c;
    longer.steps = 12;
    rb_model *same = make_model(0);
    rb_trainer *t4 = NULL;
    ck_assert(rb_trainer_create(&t4, same, &longer, NULL, &err) == RB_OK);
    ck_assert_msg(rb_trainer_restore(t4, dir, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(rb_trainer_step_count(t4), 3);
    rb_trainer_destroy(t4);
    rb_model_destroy(same);
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}
END_TEST

START_TEST(non_finite_steps_are_skipped_then_stop)
{
    const char *data = make_data("nan", 37, 60, 16);
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data, 10);
    c.val_every = 0;
    c.max_bad_steps = 2;
    rb_model *m = make_model(1);
    rb_trainer *t = NULL;
    ck_assert(rb_trainer_create(&t, m, &c, NULL, &err) == RB_OK);
    ck_assert(rb_trainer_step(t, NULL, &err) == RB_OK);
    /* poison the final norm: every logit becomes NaN */
    float *host = malloc(m->table.total * sizeof(float));
    ck_assert(rb_model_get_params(m, host, &err) == RB_OK);
    int i = rb_param_table_find(&m->table, "model.norm.weight");
    host[m->table.items[i].offset] = NAN;
    ck_assert(rb_model_set_params(m, host, &err) == RB_OK);
    rb_train_metrics mt;
    ck_assert(rb_trainer_step(t, &mt, &err) == RB_OK);
    ck_assert_int_eq(mt.skipped, 1);
    ck_assert_int_eq(rb_trainer_step(t, &mt, &err), RB_ENUMERIC);
    ck_assert(strstr(err.msg, "in a row") != NULL);
    /* the skipped steps did not touch the other weights */
    float *after = malloc(m->table.total * sizeof(float));
    ck_assert(rb_model_get_params(m, after, &err) == RB_OK);
    ck_assert_msg(memcmp(host, after, m->table.total * sizeof(float)) == 0,
                  "a skipped step changed the weights");
    free(host);
    free(after);
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}
END_TEST

START_TEST(interrupt_abandons_the_step)
{
    const char *data = make_data("intr", 37, 60, 16);
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data, 10);
    c.val_every = 0;
    rb_model *m = make_model(1);
    atomic_int stop = 0;
    rb_trainer *t = NULL;
    ck_assert(rb_trainer_create(&t, m, &c, &stop, &err) == RB_OK);
    ck_assert(rb_trainer_step(t, NULL, &err) == RB_OK);
    atomic_store(&stop, 1);
    ck_assert_int_eq(rb_trainer_step(t, NULL, &err), RB_EINTERRUPTED);
    ck_assert_int_eq(rb_trainer_step_count(t), 1);
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}
END_TEST

START_TEST(bad_training_configs)
{
    rb_error err = {0};
    rb_train_config c;
    rb_model *m = make_model(1);
    rb_trainer *t = NULL;
    config_for(&c, "/nonexistent/data.rbtok", 10);
    ck_assert_int_ne(rb_trainer_create(&t, m, &c, NULL, &err), RB_OK);
    ck_assert(strstr(err.msg, "/nonexistent/data.rbtok") != NULL);
    const char *data = make_data("bad", 37, 30, 100); /* T = 100 > max_seq_len 64 */
    config_for(&c, data, 10);
    ck_assert_int_eq(rb_trainer_create(&t, m, &c, NULL, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "max_seq_len") != NULL);
    config_for(&c, data, 10);
    c.batch = 0;
    ck_assert_int_eq(rb_trainer_create(&t, m, &c, NULL, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "batch") != NULL);
    rb_model_destroy(m);
}
END_TEST

/* A scoring-only trainer gives the same held-out losses bit for bit as a
 * training one, allocates no gradients, and refuses to step or checkpoint. */
START_TEST(score_only_scores_like_a_trainer)
{
    const char *data = make_data("score", 37, 80, 24);
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data, 5);
    rb_model *ma = make_model(1), *mb = make_model(1);
    rb_trainer *ta = NULL, *tb = NULL;
    ck_assert(rb_trainer_create(&ta, ma, &c, NULL, &err) == RB_OK);
    rb_train_config cs = c;
    cs.score_only = 1;
    ck_assert_msg(rb_trainer_create(&tb, mb, &cs, NULL, &err) == RB_OK, "%s", err.msg);
    ck_assert_msg(mb->grads == NULL, "a scoring-only trainer allocated gradients");
    for (int depth = 1; depth <= 8; depth *= 2) {
        double la = 0, lb = 0;
        ck_assert(rb_trainer_validate(ta, depth, &la, &err) == RB_OK);
        ck_assert_msg(rb_trainer_validate(tb, depth, &lb, &err) == RB_OK, "%s", err.msg);
        ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "depth %d: %.17g vs %.17g", depth, la, lb);
    }
    ck_assert_int_eq(rb_trainer_step(tb, NULL, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "scoring only") != NULL);
    ck_assert_int_eq(rb_trainer_save(tb, rb_test_tmp_path("score_ck"), NULL, NULL, NULL, 0, &err), RB_EINVAL);
    rb_trainer_destroy(ta);
    rb_trainer_destroy(tb);
    rb_model_destroy(ma);
    rb_model_destroy(mb);
}
END_TEST

/* The stop flag ends a validation between batches (RB_EINTERRUPTED,
 * promptly); during a step's own validation the applied step is kept and
 * the metrics say its validation was stopped. */
static atomic_int vstop;
static uint64_t v_calls, v_done, v_total;
static void stop_on_first_batch(void *user, uint64_t done, uint64_t total)
{
    (void)user;
    v_calls++;
    v_done = done;
    v_total = total;
    atomic_store(&vstop, SIGINT);
}

START_TEST(stop_inside_validation)
{
    const char *data = make_data("vstop", 37, 200, 16);
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data, 10);
    c.val_fraction = 0.5; /* 100 held-out rows, 25 batches of 4 */
    c.val_rows = 0;
    c.val_every = 2;
    rb_model *m = make_model(1);
    rb_trainer *t = NULL;
    atomic_store(&vstop, 0);
    ck_assert(rb_trainer_create(&t, m, &c, &vstop, &err) == RB_OK);
    ck_assert_int_eq(rb_trainer_val_rows(t), 100);
    rb_trainer_set_progress(t, stop_on_first_batch, NULL);
    double l = 0;
    v_calls = 0;
    ck_assert_int_eq(rb_trainer_validate(t, 4, &l, &err), RB_EINTERRUPTED);
    ck_assert_msg(v_calls == 1 && v_done == 4 && v_total == 100, "stopped after %llu calls, %llu rows",
                  (unsigned long long)v_calls, (unsigned long long)v_done);
    ck_assert_msg(strstr(err.msg, "4 of 100") != NULL, "%s", err.msg);
    /* the step's own validation: the step stays applied */
    atomic_store(&vstop, 0);
    rb_train_metrics mt;
    ck_assert(rb_trainer_step(t, &mt, &err) == RB_OK);
    ck_assert_int_eq(mt.n_val, 0);
    ck_assert_msg(rb_trainer_step(t, &mt, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(mt.step, 2);
    ck_assert_int_eq(mt.val_interrupted, 1);
    ck_assert_int_eq(mt.n_val, 0);
    ck_assert_int_eq(rb_trainer_step_count(t), 2);
    /* the flag still set: the next step is abandoned before it starts */
    ck_assert_int_eq(rb_trainer_step(t, &mt, &err), RB_EINTERRUPTED);
    ck_assert_int_eq(rb_trainer_step_count(t), 2);
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}
END_TEST

/* Changes made between steps (learning-rate scale, rbar) are applied,
 * recorded in checkpoints and restored: a run that made them, saved and
 * resumed equals one that made them without stopping, bit for bit. */
START_TEST(changes_between_steps_resume_exactly)
{
    const char *data = make_data("ctl", 37, 200, 24);
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data, 12);
    c.val_every = 0;
    double la[12], ga[12], lb[12], gb[12];
    rb_model *ma = make_model(1);
    rb_trainer *ta = NULL;
    ck_assert(rb_trainer_create(&ta, ma, &c, NULL, &err) == RB_OK);
    run(ta, 0, 3, la, ga);
    ck_assert(rb_trainer_set_lr_scale(ta, 0.25, &err) == RB_OK);
    ck_assert(rb_trainer_set_rbar(ta, 3, &err) == RB_OK);
    rb_train_metrics mt;
    ck_assert(rb_trainer_step(ta, &mt, &err) == RB_OK);
    la[3] = mt.loss, ga[3] = mt.grad_norm;
    ck_assert_int_eq(mt.rbar, 3);
    const double sched = rb_lr_multiplier(&c.lr, 3, c.steps);
    ck_assert_msg(mt.lr_mult == sched * 0.25, "lr_mult %.17g, schedule %.17g", mt.lr_mult, sched);
    run(ta, 4, 12, la, ga);
    ck_assert_int_eq(rb_trainer_set_lr_scale(ta, 0, &err), RB_EINVAL);
    ck_assert_int_eq(rb_trainer_set_rbar(ta, -1, &err), RB_EINVAL);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ctlrun", rb_test_tmpdir());
    rb_model *mb = make_model(1);
    rb_trainer *tb = NULL;
    ck_assert(rb_trainer_create(&tb, mb, &c, NULL, &err) == RB_OK);
    run(tb, 0, 3, lb, gb);
    ck_assert(rb_trainer_set_lr_scale(tb, 0.25, &err) == RB_OK);
    ck_assert(rb_trainer_set_rbar(tb, 3, &err) == RB_OK);
    run(tb, 3, 6, lb, gb);
    ck_assert_msg(rb_trainer_save(tb, dir, NULL, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    rb_trainer_destroy(tb);
    rb_model_destroy(mb);
    rb_model *mc = make_model(1);
    rb_trainer *tc = NULL;
    ck_assert(rb_trainer_create(&tc, mc, &c, NULL, &err) == RB_OK);
    ck_assert_msg(rb_trainer_restore(tc, dir, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_trainer_lr_scale(tc) == 0.25);
    ck_assert_int_eq(rb_trainer_rbar_override(tc), 3);
    run(tc, 6, 12, lb, gb);
    for (int s = 0; s < 12; s++)
        ck_assert_msg(memcmp(&la[s], &lb[s], sizeof(double)) == 0 && memcmp(&ga[s], &gb[s], sizeof(double)) == 0,
                      "step %d: %.17g vs %.17g", s + 1, la[s], lb[s]);
    float *pa = malloc(ma->table.total * sizeof(float)), *pc = malloc(mc->table.total * sizeof(float));
    ck_assert(rb_model_get_params(ma, pa, &err) == RB_OK);
    ck_assert(rb_model_get_params(mc, pc, &err) == RB_OK);
    ck_assert(memcmp(pa, pc, ma->table.total * sizeof(float)) == 0);
    free(pa);
    free(pc);
    rb_trainer_destroy(ta);
    rb_trainer_destroy(tc);
    rb_model_destroy(ma);
    rb_model_destroy(mc);
}
END_TEST

static int dir_exists(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Retention deletes only checkpoints this trainer wrote; a checkpoint of the
 * same step that it did not write is moved aside, never removed. */
START_TEST(retention_keeps_other_checkpoints)
{
    const char *data = make_data("ret", 37, 60, 16);
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data, 10);
    c.val_every = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ret", rb_test_tmpdir());
    /* "another process" leaves steps 1 and 2 */
    rb_model *m1 = make_model(0);
    rb_trainer *t1 = NULL;
    ck_assert(rb_trainer_create(&t1, m1, &c, NULL, &err) == RB_OK);
    for (int s = 0; s < 2; s++) {
        ck_assert(rb_trainer_step(t1, NULL, &err) == RB_OK);
        ck_assert(rb_trainer_save(t1, dir, NULL, NULL, NULL, 0, &err) == RB_OK);
    }
    rb_trainer_destroy(t1);
    rb_model_destroy(m1);
    /* a second trainer resumes from step 1 (as if step 2 were damaged) and
     * writes steps 2..5 */
    rb_model *m2 = make_model(0);
    rb_trainer *t2 = NULL;
    ck_assert(rb_trainer_create(&t2, m2, &c, NULL, &err) == RB_OK);
    char one[4200];
    snprintf(one, sizeof one, "%s/step-00000001", dir);
    ck_assert_msg(rb_trainer_restore(t2, one, &err) == RB_OK, "%s", err.msg);
    for (int s = 1; s < 5; s++) {
        ck_assert(rb_trainer_step(t2, NULL, &err) == RB_OK);
        ck_assert_msg(rb_trainer_save(t2, dir, NULL, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    }
    ck_assert_msg(dir_exists(dir, "step-00000001"), "another trainer's checkpoint was deleted");
    char aside[64];
    snprintf(aside, sizeof aside, "step-00000002.old-%d", (int)getpid());
    ck_assert_msg(dir_exists(dir, aside), "the other step-2 checkpoint was not kept aside");
    ck_assert_msg(!dir_exists(dir, "step-00000002") && !dir_exists(dir, "step-00000003"),
                  "this trainer's older checkpoints were not pruned");
    ck_assert(dir_exists(dir, "step-00000004") && dir_exists(dir, "step-00000005"));
    char **names = NULL;
    int n = 0;
    ck_assert(rb_train_list_checkpoints(dir, &names, &n, &err) == RB_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(names[0], "step-00000005");
    ck_assert_str_eq(names[2], "step-00000001");
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    rb_ckpt_info info;
    snprintf(one, sizeof one, "%s/step-00000005", dir);
    ck_assert(rb_train_checkpoint_info(one, &info, &err) == RB_OK);
    ck_assert_int_eq(info.step, 5);
    ck_assert_int_eq(info.total_steps, 10);
    rb_trainer_destroy(t2);
    rb_model_destroy(m2);
}
END_TEST

int main(void)
{
    be = rb_test_cpu_backend();
    Suite *s = suite_create("trainer");
    TCase *tc = tcase_create("loop");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, checkpoint_folders_and_latest);
    tcase_add_test(tc, non_finite_steps_are_skipped_then_stop);
    tcase_add_test(tc, interrupt_abandons_the_step);
    tcase_add_test(tc, bad_training_configs);
    tcase_add_test(tc, score_only_scores_like_a_trainer);
    tcase_add_test(tc, stop_inside_validation);
    tcase_add_test(tc, changes_between_steps_resume_exactly);
    tcase_add_test(tc, retention_keeps_other_checkpoints);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    return rc;
}
