/* test_sched_table.c: the tabulated curriculum (rb_sched.h RB_CURRIC_TABLE),
 * the engine side of "a curriculum that is a Lua function of the step":
 * lookup and checks; the table's hash (FNV-1a 64 over the length and the
 * values, recomputed here from its definition); a trainer with a table
 * equal to the built-in 1-sqrt curriculum trains exactly like it; the
 * trainer keeps its own copy; a checkpoint records the table, resumes bit
 * for bit with the same one and refuses another one (or a built-in). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_data.h"
#include "rb_model.h"
#include "rb_rng.h"
#include "rb_sched.h"
#include "rb_test.h"
#include "rb_train.h"

START_TEST(test_lookup_and_checks)
{
    int32_t v[5] = {1, 1, 3, 2, 4};
    rb_curriculum c;
    memset(&c, 0, sizeof c);
    rb_curriculum_set_table(&c, v, 5);
    ck_assert_int_eq(c.shape, RB_CURRIC_TABLE);
    ck_assert_int_eq(c.max_value, 4);
    ck_assert_int_eq(rb_curriculum_check(&c, 5, NULL), RB_OK);
    for (int s = 0; s < 5; s++) ck_assert_int_eq(rb_curriculum_value(&c, s, 5), v[s]);
    ck_assert_int_eq(rb_curriculum_value(&c, 9, 5), 4); /* past the end: the last value */
    rb_error err = {0};
    ck_assert_int_eq(rb_curriculum_check(&c, 6, &err), RB_EINVAL);
    ck_assert_msg(strstr(err.msg, "5 values for 6 steps"), "%s", err.msg);
    v[2] = 0;
    ck_assert_int_eq(rb_curriculum_check(&c, 5, &err), RB_EINVAL);
    ck_assert_msg(strstr(err.msg, "step 2 is 0"), "%s", err.msg);
    v[2] = RB_DEPTH_RBAR_MAX + 1;
    rb_curriculum_set_table(&c, v, 5);
    ck_assert_int_eq(rb_curriculum_check(&c, 5, &err), RB_EINVAL);
    v[2] = 3;
    rb_curriculum_set_table(&c, v, 5);
    c.max_value = 3; /* a table whose values exceed max_value would overflow the activations */
    ck_assert_int_eq(rb_curriculum_check(&c, 5, &err), RB_EINVAL);
    rb_curriculum none;
    memset(&none, 0, sizeof none);
    none.shape = RB_CURRIC_TABLE;
    none.max_value = 1;
    ck_assert_int_eq(rb_curriculum_check(&none, 5, &err), RB_EINVAL);
    ck_assert_msg(strstr(err.msg, "without values"), "%s", err.msg);
}
END_TEST

/* FNV-1a 64 over u64le(n), then each value as u32le: from the definition */
static uint64_t fnv(const int32_t *v, int64_t n)
{
    unsigned char buf[8 + 4 * 64];
    size_t len = 0;
    for (int i = 0; i < 8; i++) buf[len++] = (unsigned char)((uint64_t)n >> (8 * i));
    for (int64_t k = 0; k < n; k++)
        for (int i = 0; i < 4; i++) buf[len++] = (unsigned char)((uint32_t)v[k] >> (8 * i));
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= buf[i];
        h *= 1099511628211ull;
    }
    return h;
}

START_TEST(test_hash)
{
    int32_t v[6] = {1, 2, 2, 3, 4, 4};
    rb_curriculum c;
    memset(&c, 0, sizeof c);
    rb_curriculum_set_table(&c, v, 6);
    const uint64_t h = rb_curriculum_table_hash(&c);
    ck_assert_uint_eq(h, fnv(v, 6));
    rb_curriculum_set_table(&c, v, 5);
    ck_assert_uint_ne(rb_curriculum_table_hash(&c), h);
    v[3] = 4;
    rb_curriculum_set_table(&c, v, 6);
    ck_assert_uint_ne(rb_curriculum_table_hash(&c), h);
    rb_curriculum b;
    rb_curriculum_rbar_default(&b, 4);
    ck_assert_uint_eq(rb_curriculum_table_hash(&b), 0);
}
END_TEST

/* ---------------- training with a table ---------------- */

static const char *make_data(void)
{
    static char path[1000];
    if (path[0]) return path;
    snprintf(path, sizeof path, "%s/t.rbtok", rb_test_tmpdir());
    rb_error err = {0};
    rb_tokwriter *w = NULL;
    ck_assert(rb_tokwriter_open(&w, path, 31, 13, &err) == RB_OK);
    rb_rng rng;
    rb_rng_seed(&rng, 11);
    for (int r = 0; r < 60; r++) {
        int32_t row[13];
        row[0] = (int32_t)(rb_rng_u64(&rng) % 31);
        for (int i = 1; i < 13; i++) row[i] = (row[i - 1] * 7 + 3) % 31;
        ck_assert(rb_tokwriter_append(w, row, 13, &err) == RB_OK);
    }
    ck_assert(rb_tokwriter_finish(w, &err) == RB_OK);
    return path;
}

static rb_model *make_model(void)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 31, c.dim = 16, c.n_heads = 2, c.n_kv_heads = 1, c.hidden_dim = 24;
    c.max_seq_len = 16, c.n_prelude = 1, c.n_recur = 1, c.n_coda = 1;
    rb_model *m = NULL;
    rb_error err = {0};
    ck_assert(rb_model_create(&m, &c, rb_test_cpu_backend(), &err) == RB_OK);
    ck_assert(rb_model_init_random(m, 5, 0.05f, &err) == RB_OK);
    return m;
}

#define STEPS 12

static void config(rb_train_config *c)
{
    rb_train_config_default(c, 4);
    snprintf(c->sources[0].path, sizeof c->sources[0].path, "%s", make_data());
    c->sources[0].weight = 1;
    c->n_sources = 1;
    c->batch = 2;
    c->steps = STEPS;
    c->val_fraction = 0.2;
    c->optim.muon_lr = 0.02f;
    c->optim.adam_lr = 3e-3f;
}

/* run steps [from, to) into m[]; returns the trainer */
static rb_trainer *train(rb_model *model, const rb_train_config *c, rb_train_metrics *mt, int from, int to,
                         const char *restore_dir)
{
    rb_trainer *t = NULL;
    rb_error err = {0};
    ck_assert_msg(rb_trainer_create(&t, model, c, NULL, &err) == RB_OK, "%s", err.msg);
    if (restore_dir) ck_assert_msg(rb_trainer_restore(t, restore_dir, &err) == RB_OK, "%s", err.msg);
    for (int s = from; s < to; s++) ck_assert_msg(rb_trainer_step(t, &mt[s], &err) == RB_OK, "%s", err.msg);
    return t;
}

START_TEST(test_table_trains_like_the_builtin)
{
    rb_train_config a, b;
    config(&a);
    config(&b);
    int32_t *vals = malloc(STEPS * sizeof *vals);
    for (int s = 0; s < STEPS; s++) vals[s] = rb_curriculum_value(&a.rbar, s, STEPS);
    rb_curriculum_set_table(&b.rbar, vals, STEPS);
    rb_train_metrics ma[STEPS], mb[STEPS];
    rb_model *m1 = make_model(), *m2 = make_model();
    rb_trainer *t1 = train(m1, &a, ma, 0, STEPS, NULL);
    rb_trainer *t2 = NULL;
    rb_error err = {0};
    ck_assert(rb_trainer_create(&t2, m2, &b, NULL, &err) == RB_OK);
    for (int s = 0; s < STEPS; s++) vals[s] = 99; /* the trainer kept its own copy */
    for (int s = 0; s < STEPS; s++) ck_assert(rb_trainer_step(t2, &mb[s], &err) == RB_OK);
    for (int s = 0; s < STEPS; s++) {
        ck_assert_int_eq(ma[s].rbar, mb[s].rbar);
        ck_assert_int_eq(ma[s].n, mb[s].n);
        ck_assert_int_eq(ma[s].k, mb[s].k);
        ck_assert_msg(ma[s].loss == mb[s].loss, "step %d: loss %.17g vs %.17g", s + 1, ma[s].loss, mb[s].loss);
    }
    ck_assert_int_eq(ma[STEPS - 1].rbar, 4);
    rb_trainer_destroy(t1);
    rb_trainer_destroy(t2);
    rb_model_destroy(m1);
    rb_model_destroy(m2);
    free(vals);
}
END_TEST

START_TEST(test_checkpoint_records_the_table)
{
    int32_t tab[STEPS] = {1, 2, 3, 1, 2, 3, 2, 2, 3, 3, 1, 3}, other[STEPS];
    memcpy(other, tab, sizeof tab);
    other[STEPS - 1] = 2;
    rb_train_config c;
    config(&c);
    rb_curriculum_set_table(&c.rbar, tab, STEPS);
    rb_train_metrics full[STEPS], part[STEPS];
    /* uninterrupted */
    rb_model *m1 = make_model();
    rb_trainer *t1 = train(m1, &c, full, 0, STEPS, NULL);
    /* 5 steps, a checkpoint, a new trainer from it */
    const char *dir = rb_test_tmp_path("tabrun");
    rb_model *m2 = make_model();
    rb_trainer *t2 = train(m2, &c, part, 0, 5, NULL);
    rb_error err = {0};
    ck_assert_msg(rb_trainer_save(t2, dir, NULL, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    rb_trainer_destroy(t2);
    rb_model *m3 = make_model();
    rb_trainer *t3 = train(m3, &c, part, 5, STEPS, dir);
    for (int s = 0; s < STEPS; s++)
        ck_assert_msg(full[s].loss == part[s].loss && full[s].rbar == part[s].rbar && full[s].n == part[s].n,
                      "step %d differs after the resume", s + 1);
    /* another table, or the built-in curriculum: refused, saying why */
    rb_train_config o = c;
    rb_curriculum_set_table(&o.rbar, other, STEPS);
    rb_trainer *t4 = NULL;
    ck_assert(rb_trainer_create(&t4, m3, &o, NULL, &err) == RB_OK);
    ck_assert_int_eq(rb_trainer_restore(t4, dir, &err), RB_EINVAL);
    ck_assert_msg(strstr(err.msg, "its recurrence curriculum was another table") &&
                  strstr(err.msg, "the function of the step differs"), "%s", err.msg);
    rb_trainer_destroy(t4);
    rb_train_config builtin;
    config(&builtin);
    ck_assert(rb_trainer_create(&t4, m3, &builtin, NULL, &err) == RB_OK);
    ck_assert_int_eq(rb_trainer_restore(t4, dir, &err), RB_EINVAL);
    ck_assert_msg(strstr(err.msg, "tabulated recurrence curriculum"), "%s", err.msg);
    rb_trainer_destroy(t4);
    /* and a built-in run's checkpoint refuses a table */
    rb_trainer *t5 = train(m3, &builtin, part, 0, 2, NULL);
    const char *dir2 = rb_test_tmp_path("builtinrun");
    ck_assert(rb_trainer_save(t5, dir2, NULL, NULL, NULL, 0, &err) == RB_OK);
    rb_trainer_destroy(t5);
    ck_assert(rb_trainer_create(&t4, m3, &c, NULL, &err) == RB_OK);
    ck_assert_int_eq(rb_trainer_restore(t4, dir2, &err), RB_EINVAL);
    ck_assert_msg(strstr(err.msg, "built-in recurrence curriculum"), "%s", err.msg);
    rb_trainer_destroy(t4);
    rb_trainer_destroy(t1);
    rb_trainer_destroy(t3);
    rb_model_destroy(m1);
    rb_model_destroy(m2);
    rb_model_destroy(m3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sched_table");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lookup_and_checks);
    tcase_add_test(tc, test_hash);
    tcase_add_test(tc, test_table_trains_like_the_builtin);
    tcase_add_test(tc, test_checkpoint_records_the_table);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
