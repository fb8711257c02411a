/* test_muon_gram.c: the Gram-matrix form of Newton-Schulz (ns_gram) against
 * the reference form. The reference form itself is checked against PyTorch
 * in tests/reference/test_ref_optim.c; here the two must agree closely on
 * well-conditioned wide and tall matrices, the Gram form must really run (it
 * differs in the last bits), and narrow matrices (c < 2r) keep the
 * reference form exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_optim.h"
#include "rb_test.h"

static rb_backend *be;

static void ortho(float *x, int rows, int cols, int gram)
{
    rb_optim_config c;
    rb_optim_config_default(&c, RB_OPTIM_MUON);
    c.ns_bf16 = 0; /* the Gram form is fp32-only; compare like with like */
    c.ns_gram = gram;
    rb_error err = {0};
    ck_assert_msg(rb_muon_orthogonalize(be, x, rows, cols, &c, &err) == RB_OK, "%s", err.msg);
}

static void compare(int rows, int cols, double tol, int expect_identical)
{
    size_t n = (size_t)rows * cols;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    rb_test_fill_uniform(a, n, 1.0f, (uint64_t)(rows * 1000 + cols));
    memcpy(b, a, n * sizeof(float));
    ortho(a, rows, cols, 0);
    ortho(b, rows, cols, 1);
    double d = rb_test_rel_max_diff(b, a, n);
    printf("%dx%d: gram vs reference form %.2e\n", rows, cols, d);
    if (expect_identical) {
        ck_assert_msg(d == 0, "%dx%d should not use the Gram form (diff %.3e)", rows, cols, d);
    } else {
        ck_assert_msg(d <= tol, "%dx%d: Gram form differs by %.3e", rows, cols, d);
        ck_assert_msg(d > 0, "%dx%d: identical results; the Gram form did not run", rows, cols);
    }
    free(a);
    free(b);
}

START_TEST(gram_matches_reference_form)
{
    compare(64, 344, 2e-5, 0);  /* wide, like gate|up transposed */
    compare(344, 64, 2e-5, 0);  /* tall: transposed first */
    compare(48, 96, 2e-5, 0);   /* c = 2r, the threshold */
    compare(64, 100, 0, 1);     /* c < 2r keeps the reference form */
    compare(80, 80, 0, 1);
}
END_TEST

int main(void)
{
    be = rb_test_cpu_backend();
    Suite *s = suite_create("muon_gram");
    TCase *tc = tcase_create("ns");
    tcase_add_test(tc, gram_matches_reference_form);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    return rc;
}
