/* test_sched_curriculum.c: recurrence / backprop-depth curricula against
 * their closed forms, derived here in exact integer arithmetic:
 *   1-sqrt: ceil(R (1 - sqrt(1 - s/W))) = j  <=>  W (1 - (1 - (j-1)/R)^2) < s <= W (1 - (1 - j/R)^2)
 *           <=> j is the smallest integer with s R^2 <= W j (2R - j);
 *   linear: j is the smallest integer with s R <= W j.
 * The shares of steps per value are counted from these bounds with floor()
 * (no loop over the schedule), then compared with the implementation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_sched.h"
#include "rb_test.h"

/* Steps s in [0, W) with value j, from the closed form: the integers in
 * (a_{j-1}, a_j] where a_j = floor(W g(j) / den), plus s = 0 for j = 1. */
static int64_t closed_form_count(rb_curric_shape shape, int64_t W, int64_t R, int64_t j)
{
    int64_t den = shape == RB_CURRIC_1SQRT ? R * R : R;
#define G(x) (shape == RB_CURRIC_1SQRT ? (x) * (2 * R - (x)) : (x))
    int64_t hi = j == R ? W - 1 : (W * G(j)) / den; /* the last value also ends at W - 1 */
    int64_t lo = (W * G(j - 1)) / den;
#undef G
    int64_t c = hi - lo;
    if (j == 1) c += 1; /* s = 0 */
    return c;
}

static void check_shares(rb_curric_shape shape, int R, double wf, int64_t total)
{
    rb_curriculum c = {shape, wf, R, 0.0, 0, NULL, 0};
    ck_assert_int_eq(rb_curriculum_check(&c, total, NULL), RB_OK);
    int64_t W = (int64_t)ceil(wf * (double)total);
    ck_assert_int_eq(rb_curriculum_warmup_steps(&c, total), W);
    int64_t *got = calloc((size_t)R + 2, sizeof *got);
    int prev = 0;
    for (int64_t s = 0; s < total; s++) {
        int v = rb_curriculum_value(&c, s, total);
        ck_assert_int_ge(v, 1);
        ck_assert_int_le(v, R);
        ck_assert_msg(v >= prev, "not monotone at step %lld", (long long)s);
        prev = v;
        if (s < W) got[v]++;
        else ck_assert_int_eq(v, R);
    }
    ck_assert_int_eq(rb_curriculum_value(&c, 0, total), 1);
    int64_t sum = 0;
    for (int j = 1; j <= R; j++) {
        int64_t want = closed_form_count(shape, W, R, j);
        ck_assert_msg(got[j] == want, "%s R=%d W=%lld: value %d has %lld steps, closed form %lld",
                      shape == RB_CURRIC_1SQRT ? "1-sqrt" : "linear", R, (long long)W, j,
                      (long long)got[j], (long long)want);
        sum += want;
    }
    ck_assert_int_eq(sum, W);
    if (shape == RB_CURRIC_1SQRT && R == 32 && total == 10007) {
        printf("1-sqrt R=32 over W=%lld of %lld steps: share of warmup at rbar 1, 16, 32 = "
               "%.4f, %.4f, %.4f\n",
               (long long)W, (long long)total, (double)got[1] / W, (double)got[16] / W,
               (double)got[32] / W);
    }
    free(got);
}

START_TEST(one_minus_sqrt_shares)
{
    check_shares(RB_CURRIC_1SQRT, 32, 0.75, 10007);
    check_shares(RB_CURRIC_1SQRT, 4, 0.75, 10007);
    check_shares(RB_CURRIC_1SQRT, 32, 0.5, 2048); /* W = 1024: every bound is an integer */
    check_shares(RB_CURRIC_1SQRT, 32, 0.5, 6125); /* the authors' explainer plot */
    check_shares(RB_CURRIC_1SQRT, 8, 0.75, 137);
}
END_TEST

START_TEST(linear_shares)
{
    check_shares(RB_CURRIC_LINEAR, 32, 0.75, 10007);
    check_shares(RB_CURRIC_LINEAR, 4, 0.25, 1000);
    check_shares(RB_CURRIC_LINEAR, 32, 0.5, 6125);
    check_shares(RB_CURRIC_LINEAR, 7, 0.3, 333);
}
END_TEST

START_TEST(sqrt_below_linear)
{
    /* 1 - sqrt(1 - x) <= x: 1-sqrt stays at low recurrence longer than linear
     * (cheaper warmup), never above it */
    rb_curriculum a = {RB_CURRIC_1SQRT, 0.75, 32, 0, 0, NULL, 0};
    rb_curriculum b = {RB_CURRIC_LINEAR, 0.75, 32, 0, 0, NULL, 0};
    for (int64_t s = 0; s < 4000; s++)
        ck_assert_int_le(rb_curriculum_value(&a, s, 4000), rb_curriculum_value(&b, s, 4000));
    /* at half the warmup: 1 - sqrt(1/2) = 0.2929 -> ceil(9.37) = 10; linear 16 */
    ck_assert_int_eq(rb_curriculum_value(&a, 1500, 4000), 10);
    ck_assert_int_eq(rb_curriculum_value(&b, 1500, 4000), 16);
}
END_TEST

START_TEST(boundaries)
{
    rb_curriculum c;
    rb_curriculum_rbar_default(&c, 32);
    ck_assert_int_eq(c.shape, RB_CURRIC_1SQRT);
    ck_assert(c.warmup_fraction == 0.75);
    ck_assert_int_eq(rb_curriculum_value(&c, 0, 1000), 1);
    /* last warmup step: ceil(32 (1 - sqrt(1/750))) = ceil(30.83) = 31 */
    ck_assert_int_eq(rb_curriculum_value(&c, 749, 1000), 31);
    ck_assert_int_eq(rb_curriculum_value(&c, 750, 1000), 32);
    ck_assert_int_eq(rb_curriculum_value(&c, 5000, 1000), 32);
    /* warmup 0: max from the first step */
    c.warmup_fraction = 0.0;
    ck_assert_int_eq(rb_curriculum_value(&c, 0, 1000), 32);
    /* constant */
    rb_curriculum k = {RB_CURRIC_CONSTANT, 0.75, 4, 0, 0, NULL, 0};
    for (int s = 0; s < 100; s++) ck_assert_int_eq(rb_curriculum_value(&k, s, 100), 4);
    /* rbar_max 1 stays 1 */
    rb_curriculum one = {RB_CURRIC_1SQRT, 0.75, 1, 0, 0, NULL, 0};
    for (int s = 0; s < 100; s++) ck_assert_int_eq(rb_curriculum_value(&one, s, 100), 1);
}
END_TEST

START_TEST(backprop_authors)
{
    /* The authors' depth curriculum: linear, min ratio m = max(1, start - 1) / 8,
     * scheduler stepped once before training. With start 1: m = 1/8 and
     * value(s) = ceil(8 ((s + 1) / W (1 - 1/8) + 1/8)) = 1 + ceil(7 (s + 1) / W). */
    rb_curriculum c;
    rb_curriculum_backprop_authors(&c, 1, 8, 0.1);
    ck_assert_int_eq(rb_curriculum_check(&c, 1000, NULL), RB_OK);
    int64_t W = 100;
    for (int64_t s = 0; s < 1000; s++) {
        int64_t x = s + 1;
        int64_t want = x < W ? 1 + (7 * x + W - 1) / W : 8;
        ck_assert_int_eq(rb_curriculum_value(&c, s, 1000), want);
    }
    ck_assert_int_eq(rb_curriculum_value(&c, 0, 1000), 2); /* the quirk: starts at 2, not 1 */
    /* start 4: m = 3/8, value(s) = ceil(3 + 5 (s + 1) / W) */
    rb_curriculum_backprop_authors(&c, 4, 8, 0.1);
    ck_assert_int_eq(rb_curriculum_value(&c, 0, 1000), 4);
    ck_assert_int_eq(rb_curriculum_value(&c, 49, 1000), 3 + (5 * 50 + 99) / 100);
}
END_TEST

START_TEST(effective_backprop)
{
    ck_assert_int_eq(rb_effective_backprop(4, 8), 4);
    ck_assert_int_eq(rb_effective_backprop(32, 8), 8);
}
END_TEST

START_TEST(bad_fields)
{
    rb_error err;
    rb_curriculum c = {RB_CURRIC_1SQRT, 1.5, 32, 0, 0, NULL, 0};
    ck_assert_int_eq(rb_curriculum_check(&c, 100, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "warmup_fraction"));
    c.warmup_fraction = 0.5;
    c.max_value = 0;
    ck_assert_int_eq(rb_curriculum_check(&c, 100, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "max_value"));
    c.max_value = 4;
    ck_assert_int_eq(rb_curriculum_check(&c, 0, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "total_steps"));
    c.shape = (rb_curric_shape)9;
    ck_assert_int_eq(rb_curriculum_check(&c, 10, &err), RB_EINVAL);
    c.shape = RB_CURRIC_LINEAR;
    c.min_ratio = -1;
    ck_assert_int_eq(rb_curriculum_check(&c, 10, &err), RB_EINVAL);
    c.min_ratio = 0;
    c.step_offset = -2;
    ck_assert_int_eq(rb_curriculum_check(&c, 10, &err), RB_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sched_curriculum");
    TCase *tc = tcase_create("curriculum");
    tcase_add_test(tc, one_minus_sqrt_shares);
    tcase_add_test(tc, linear_shares);
    tcase_add_test(tc, sqrt_below_linear);
    tcase_add_test(tc, boundaries);
    tcase_add_test(tc, backprop_authors);
    tcase_add_test(tc, effective_backprop);
    tcase_add_test(tc, bad_fields);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
