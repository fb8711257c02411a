/* test_sched_flops.c: FLOPs accounting against values worked out by hand
 * from METHOD.md section 3:
 *   6 (prelude + k core + coda) + 2 n core, n = max(0, rbar - 8), k = min(rbar, 8). */
#include <math.h>

#include "rb_sched.h"
#include "rb_test.h"

START_TEST(toy_counts)
{
    /* prelude 1000, core 300, coda 200 */
    /* rbar 1: n 0, k 1: 6 (1000 + 300 + 200) = 9000 */
    ck_assert(rb_flops_per_token_scheduled(1000, 300, 200, 1, 8) == 9000.0);
    /* rbar 8: n 0, k 8: 6 (1000 + 2400 + 200) = 21600 */
    ck_assert(rb_flops_per_token_scheduled(1000, 300, 200, 8, 8) == 21600.0);
    /* rbar 10: n 2, k 8: 21600 + 2 * 2 * 300 = 22800 */
    ck_assert(rb_flops_per_token_scheduled(1000, 300, 200, 10, 8) == 22800.0);
    /* b 4, rbar 10: n 6, k 4: 6 (1000 + 1200 + 200) + 2 * 6 * 300 = 14400 + 3600 = 18000 */
    ck_assert(rb_flops_per_token_scheduled(1000, 300, 200, 10, 4) == 18000.0);
    /* sampled n 5, k 3: 6 (1000 + 900 + 200) + 2 * 5 * 300 = 12600 + 3000 = 15600 */
    ck_assert(rb_flops_per_token_sampled(1000, 300, 200, 5, 3) == 15600.0);
    /* static model with 1500 non-embedding parameters: 9000 */
    ck_assert(rb_flops_per_token_static(1500) == 9000.0);
}
END_TEST

START_TEST(tinyllama_484)
{
    /* TinyLlama-1.1B layer (h 2048, kv 256, ffn 5632): q, o 2048^2 = 4,194,304 each;
     * k, v 2048 * 256 = 524,288 each; gate, up, down 2048 * 5632 = 11,534,336 each;
     * two norms 4096 -> 44,044,288 per layer.
     * (4, 8, 4): prelude 176,177,152, core 352,354,304, coda 176,177,152. */
    size_t P = 176177152, C = 352354304, K = 176177152;
    /* rbar 4: 6 (P + 4C + K) = 6 * 1,761,771,520 = 10,570,629,120 */
    ck_assert(rb_flops_per_token_scheduled(P, C, K, 4, 8) == 10570629120.0);
    /* rbar 32: 6 (P + 8C + K) + 2 * 24 C = 19,027,132,416 + 16,913,006,592 = 35,940,139,008 */
    ck_assert(rb_flops_per_token_scheduled(P, C, K, 32, 8) == 35940139008.0);
    /* static: the 22 blocks of TinyLlama (final norm left out), 22 * 44,044,288 =
     * 968,974,336 parameters: 6 * 968,974,336 = 5,813,846,016 */
    ck_assert(rb_flops_per_token_static(968974336) == 5813846016.0);
}
END_TEST

START_TEST(schedule_total)
{
    /* linear to 4 over half of 8 steps (W 4): rbar 1, 1, 2, 3, 4, 4, 4, 4 (sum 23);
     * per token 6 (1000 + 300 rbar + 200) = 7200 + 1800 rbar;
     * total per token 8 * 7200 + 1800 * 23 = 99,000; 10 tokens a step: 990,000 */
    rb_curriculum c = {RB_CURRIC_LINEAR, 0.5, 4, 0.0, 0, NULL, 0};
    ck_assert(rb_flops_schedule_total(1000, 300, 200, 8, &c, 8, 10.0) == 990000.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sched_flops");
    TCase *tc = tcase_create("flops");
    tcase_add_test(tc, toy_counts);
    tcase_add_test(tc, tinyllama_484);
    tcase_add_test(tc, schedule_total);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
