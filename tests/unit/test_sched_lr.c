/* test_sched_lr.c: learning-rate multipliers against the schedule's
 * definition (linear warmup from min_ratio, plateau at 1, half-cosine /
 * linear / 1-sqrt decay to min_ratio), with reference values written out
 * from the formulas. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rb_sched.h"
#include "rb_test.h"

#define EPS 1e-12

START_TEST(main_recipe_wsd)
{
    rb_lr_schedule s;
    rb_lr_schedule_default(&s);
    const int64_t T = 10000;
    ck_assert_int_eq(rb_lr_schedule_check(&s, T, NULL), RB_OK);
    /* warmup 0.25% of 10000 = 25 steps; decay 60% = 6000 steps; stable 3975 */
    const int64_t W = 25, D = 6000, S = T - W - D;
    const double m = 0.001;
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 0, T), m, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 1, T), m + (1 - m) / 25.0, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, W - 1, T), m + (1 - m) * 24.0 / 25.0, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, W, T), 1.0, EPS);
    for (int64_t t = W; t < W + S; t++) ck_assert(rb_lr_multiplier(&s, t, T) == 1.0);
    /* decay begins at 1 (cos 0), midpoint 0.5 (1 + cos(pi/2)) -> m + (1-m)/2 */
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, W + S, T), 1.0, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, W + S + D / 2, T), m + (1 - m) * 0.5, 1e-12);
    /* a quarter in: 0.5 (1 + cos(pi/4)) = 0.853553... */
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, W + S + D / 4, T),
                            m + (1 - m) * 0.5 * (1 + sqrt(0.5)), 1e-12);
    /* last step: one step short of the floor; then the floor */
    double last = rb_lr_multiplier(&s, T - 1, T);
    ck_assert(last > m && last < m + 1e-6);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, T, T), m, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, T + 100, T), m, EPS);
    /* monotone: up through warmup, then never up */
    for (int64_t t = 1; t < W; t++)
        ck_assert(rb_lr_multiplier(&s, t, T) > rb_lr_multiplier(&s, t - 1, T));
    for (int64_t t = W + 1; t <= T; t++)
        ck_assert(rb_lr_multiplier(&s, t, T) <= rb_lr_multiplier(&s, t - 1, T));
}
END_TEST

START_TEST(decay_shapes)
{
    rb_lr_schedule s = {RB_LR_WSD, RB_LR_DECAY_LINEAR, 0.1, 0.5, 0.0};
    const int64_t T = 1000; /* W 100, D 500, stable 400: decay steps 500..999 */
    ck_assert_int_eq(rb_lr_schedule_check(&s, T, NULL), RB_OK);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 0, T), 0.0, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 50, T), 0.5, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 750, T), 0.5, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 600, T), 0.8, EPS);
    s.decay = RB_LR_DECAY_1SQRT;
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 625, T), 0.5, EPS); /* 1 - sqrt(1/4) */
    s.decay = RB_LR_DECAY_COSINE;
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 750, T), 0.5, 1e-15);
    s.min_ratio = 0.1;
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 750, T), 0.55, 1e-15);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 0, T), 0.1, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, T, T), 0.1, EPS);
}
END_TEST

START_TEST(cosine_with_warmup)
{
    rb_lr_schedule s = {RB_LR_COSINE, RB_LR_DECAY_COSINE, 0.1, 0.0, 0.01};
    const int64_t T = 1100; /* W 110, decay over the remaining 990 */
    ck_assert_int_eq(rb_lr_schedule_check(&s, T, NULL), RB_OK);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 0, T), 0.01, EPS);
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, 110, T), 1.0, EPS);
    double mid = rb_lr_multiplier(&s, 110 + 495, T);
    ck_assert_double_eq_tol(mid, 0.01 + 0.99 * 0.5, 1e-12);
    ck_assert(rb_lr_multiplier(&s, 111, T) < 1.0); /* no plateau */
    ck_assert_double_eq_tol(rb_lr_multiplier(&s, T, T), 0.01, EPS);
}
END_TEST

START_TEST(bad_fields)
{
    rb_error err;
    rb_lr_schedule s;
    rb_lr_schedule_default(&s);
    s.warmup_fraction = 0.5;
    s.decay_fraction = 0.6;
    ck_assert_int_eq(rb_lr_schedule_check(&s, 100, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "exceed"));
    rb_lr_schedule_default(&s);
    s.min_ratio = 2;
    ck_assert_int_eq(rb_lr_schedule_check(&s, 100, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "min_ratio"));
    rb_lr_schedule_default(&s);
    s.warmup_fraction = NAN;
    ck_assert_int_eq(rb_lr_schedule_check(&s, 100, &err), RB_EINVAL);
    rb_lr_schedule_default(&s);
    ck_assert_int_eq(rb_lr_schedule_check(&s, 0, &err), RB_EINVAL);
    s.decay = (rb_lr_decay_shape)7;
    ck_assert_int_eq(rb_lr_schedule_check(&s, 10, &err), RB_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sched_lr");
    TCase *tc = tcase_create("lr");
    tcase_add_test(tc, main_recipe_wsd);
    tcase_add_test(tc, decay_shapes);
    tcase_add_test(tc, cosine_with_warmup);
    tcase_add_test(tc, bad_fields);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
