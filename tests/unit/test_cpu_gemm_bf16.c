/* test_cpu_gemm_bf16.c: the CPU backend's bf16 GEMM (Muon's Newton-Schulz
 * precision) against a double-precision product of bf16-rounded inputs,
 * with the rounding done here independently (nearest, ties to even, by
 * comparing the two neighbouring bf16 values in double).
 *
 * Every kernel the CPU can run is checked: SGEMM on rounded copies
 * (everywhere), AVX512-BF16 and AMX tiles (where present; said when not).
 * Shapes cover partial tiles in every dimension, all four transposes, row
 * strides wider than the matrix, alpha/beta, and beta = 0 ignoring NaN in C.
 * The result must also differ from the unrounded product by about bf16's
 * precision, so a kernel that skipped the rounding fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_backend.h"
#include "rb_test.h"

static rb_backend *be;

/* nearest bf16 value to f, ties to the even mantissa */
static double ref_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t lo_bits = u & 0xffff0000u, hi_bits = lo_bits + 0x10000u;
    float lo, hi;
    memcpy(&lo, &lo_bits, sizeof lo);
    memcpy(&hi, &hi_bits, sizeof hi);
    double dl = fabs((double)f - lo), dh = fabs((double)hi - f);
    if (dl < dh) return lo;
    if (dh < dl) return hi;
    return ((lo_bits >> 16) & 1u) ? hi : lo;
}

typedef struct {
    int M, N, K, ta, tb, pad;
    float alpha, beta;
} gcase;

/* max over elements of |C - ref| / bound, and of |C - exact| / |exact| */
static const char *const kname[] = {"sgemm ", "avx512", "amx   "};

static void run_case(const gcase *g, int kernel)
{
    rb_error err = {0};
    ck_assert_msg(rb_backend_cpu_set_bf16(be, (rb_cpu_bf16_kernel)kernel, &err) == RB_OK, "%s", err.msg);
    const int ar = g->ta ? g->K : g->M, ac = g->ta ? g->M : g->K;
    const int br = g->tb ? g->N : g->K, bc = g->tb ? g->K : g->N;
    const int lda = ac + g->pad, ldb = bc + g->pad, ldc = g->N + g->pad;
    float *A = malloc((size_t)ar * lda * sizeof(float));
    float *B = malloc((size_t)br * ldb * sizeof(float));
    float *C = malloc((size_t)g->M * ldc * sizeof(float));
    float *C2 = malloc((size_t)g->M * ldc * sizeof(float));
    float *C0 = malloc((size_t)g->M * ldc * sizeof(float));
    rb_test_fill_uniform(A, (size_t)ar * lda, 1.0f, 11u + (uint64_t)g->M);
    rb_test_fill_uniform(B, (size_t)br * ldb, 1.0f, 23u + (uint64_t)g->N);
    rb_test_fill_uniform(C0, (size_t)g->M * ldc, 1.0f, 37u + (uint64_t)g->K);
    if (g->beta == 0.0f)
        for (size_t i = 0; i < (size_t)g->M * ldc; i++) C0[i] = NAN; /* must not be read */
    memcpy(C, C0, (size_t)g->M * ldc * sizeof(float));
    memcpy(C2, C0, (size_t)g->M * ldc * sizeof(float));
    be->gemm_bf16(be, g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, g->beta, C, ldc);
    be->gemm_bf16(be, g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, g->beta, C2, ldc);
    ck_assert_msg(be->sync(be, &err) == RB_OK, "%s", err.msg);

    double worst = 0, worst_exact = 0;
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            double s = 0, sabs = 0, exact = 0;
            for (int k = 0; k < g->K; k++) {
                float a = g->ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = g->tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                double p = ref_bf16(a) * ref_bf16(b);
                s += p;
                sabs += fabs(p);
                exact += (double)a * b;
            }
            double c0 = g->beta == 0.0f ? 0 : C0[(size_t)i * ldc + j];
            double ref = g->alpha * s + g->beta * c0;
            double got = C[(size_t)i * ldc + j];
            ck_assert_msg(isfinite(got), "C[%d][%d] = %g (NaN leaked from C with beta 0?)", i, j, got);
            /* fp32 summation of K terms, then alpha/beta: a few K ulps */
            double bound = (g->K + 4) * 0x1p-23 * (fabs(g->alpha) * sabs + fabs(g->beta * c0)) + 1e-30;
            double e = fabs(got - ref) / bound;
            if (e > worst) worst = e;
            if (sabs > 0) {
                double ee = fabs(g->alpha * exact - g->alpha * s) / (fabs(g->alpha) * sabs);
                if (ee > worst_exact) worst_exact = ee;
            }
        }
    for (int i = 0; i < g->M; i++)
        ck_assert_msg(memcmp(C + (size_t)i * ldc, C2 + (size_t)i * ldc, (size_t)g->N * sizeof(float)) == 0,
                      "row %d: two identical calls gave different bits", i);
    for (int i = 0; i < g->M; i++) /* the stride padding is untouched */
        for (int j = g->N; j < ldc; j++)
            ck_assert_msg(memcmp(&C[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof(float)) == 0,
                          "C[%d][%d] beyond N was written", i, j);
    printf("%s M%d N%d K%d ta%d tb%d pad%d alpha%g beta%g: error/bound %.3f, "
           "rounding effect %.2e\n",
           kname[kernel], g->M, g->N, g->K, g->ta, g->tb, g->pad, (double)g->alpha,
           (double)g->beta, worst, worst_exact);
    ck_assert_msg(worst <= 1.0, "error %.3g times the fp32 summation bound", worst);
    /* rounding to 8 mantissa bits shows: the products move by ~2^-9 */
    if (g->K >= 8) ck_assert_msg(worst_exact > 1e-4, "no bf16 rounding visible (%.2e)", worst_exact);
    free(A);
    free(B);
    free(C);
    free(C2);
    free(C0);
}

static const gcase cases[] = {
    {1, 1, 1, 0, 0, 0, 1.0f, 0.0f},      {17, 33, 45, 0, 0, 0, 1.0f, 0.0f},
    {17, 33, 45, 0, 1, 3, 0.5f, 1.0f},   {17, 33, 45, 1, 0, 1, -2.0f, 0.25f},
    {17, 33, 45, 1, 1, 5, 1.0f, -1.0f},  {32, 32, 32, 0, 1, 0, 1.0f, 0.0f},
    {64, 64, 96, 0, 0, 0, 2.0315f, 0.0f}, {100, 7, 300, 0, 1, 2, 1.0f, 3.4445f},
    {5, 130, 31, 0, 0, 0, 1.0f, 0.0f},   {256, 512, 256, 0, 0, 0, 1.0f, 3.4445f},
    {256, 256, 1376, 0, 1, 0, 1.0f, 0.0f},
};

/* _i: the kernel (rb_cpu_bf16_kernel) */
START_TEST(kernel_matches_rounded_reference)
{
    if (!rb_backend_cpu_has_bf16(be, (rb_cpu_bf16_kernel)_i)) {
        printf("this CPU cannot run the %s kernel: not exercised here\n", kname[_i]);
        rb_error err = {0};
        ck_assert_msg(rb_backend_cpu_set_bf16(be, (rb_cpu_bf16_kernel)_i, &err) == RB_EUNSUPPORTED,
                      "asking for an absent kernel must fail");
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], _i);
}
END_TEST

/* syrk_bf16: C = alpha A A^T against the same reference, exactly symmetric,
 * and equal to gemm_bf16(A, A^T) up to summation order */
static void run_syrk(int trans, int N, int K, int pad, float alpha, int kernel)
{
    rb_error err = {0};
    ck_assert_msg(rb_backend_cpu_set_bf16(be, (rb_cpu_bf16_kernel)kernel, &err) == RB_OK, "%s", err.msg);
    const int rows = trans ? K : N, cols = trans ? N : K; /* A as stored */
    const int lda = cols + pad, ldc = N + pad;
    float *A = malloc((size_t)rows * lda * sizeof(float)), *C = malloc((size_t)N * ldc * sizeof(float));
    rb_test_fill_uniform(A, (size_t)rows * lda, 1.0f, 5u + (uint64_t)N * 7 + (uint64_t)K);
    for (size_t i = 0; i < (size_t)N * ldc; i++) C[i] = NAN; /* beta = 0: never read */
    be->syrk_bf16(be, trans, N, K, alpha, A, lda, C, ldc);
    ck_assert(be->sync(be, &err) == RB_OK);
    double worst = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, sabs = 0;
            for (int k = 0; k < K; k++) {
                float ai = trans ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float aj = trans ? A[(size_t)k * lda + j] : A[(size_t)j * lda + k];
                double p = ref_bf16(ai) * ref_bf16(aj);
                s += p;
                sabs += fabs(p);
            }
            double got = C[(size_t)i * ldc + j];
            ck_assert_msg(memcmp(&C[(size_t)i * ldc + j], &C[(size_t)j * ldc + i], sizeof(float)) == 0,
                          "syrk N%d K%d: C[%d][%d] = %.9g but C[%d][%d] = %.9g", N, K, i, j, got, j, i,
                          (double)C[(size_t)j * ldc + i]);
            double bound = (K + 4) * 0x1p-23 * fabs(alpha) * sabs + 1e-30;
            worst = fmax(worst, fabs(got - alpha * s) / bound);
        }
    printf("%s syrk trans%d N%d K%d pad%d alpha%g: error/bound %.3f\n", kname[kernel],
           trans, N, K, pad, (double)alpha, worst);
    ck_assert_msg(worst <= 1.0, "syrk N%d K%d: error %.3g times the bound", N, K, worst);
    free(A);
    free(C);
}

START_TEST(syrk_matches_rounded_reference)
{
    static const int shapes[][3] = {{1, 1, 0}, {17, 45, 3}, {32, 32, 0}, {70, 33, 1}, {256, 512, 0}, {96, 96, 2}};
    for (int k = 0; k < 3; k++) {
        if (!rb_backend_cpu_has_bf16(be, (rb_cpu_bf16_kernel)k)) continue;
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (int trans = 0; trans <= 1; trans++)
                run_syrk(trans, shapes[i][0], shapes[i][1], shapes[i][2], i % 2 ? 2.0315f : 1.0f, k);
    }
}
END_TEST

/* C may be the matrix stored as B (X <- a X + S X) or as A (X <- a X + X S):
 * the result equals the same product written to a separate C. Shapes span
 * several 32 x 32 blocks so that a kernel writing C while other blocks still
 * read the operand would show. */
START_TEST(output_may_alias_an_operand)
{
    const int R = 70, Cn = 300;
    for (int k = 0; k < 3; k++) {
        if (!rb_backend_cpu_has_bf16(be, (rb_cpu_bf16_kernel)k)) continue;
        rb_error err = {0};
        ck_assert(rb_backend_cpu_set_bf16(be, (rb_cpu_bf16_kernel)k, &err) == RB_OK);
        for (int side = 0; side < 2; side++) { /* 0: S[R,R] X[R,C]; 1: X[C,R] S[R,R] */
            const int M = side ? Cn : R, N = side ? R : Cn;
            float *S = malloc((size_t)R * R * sizeof(float)), *X = malloc((size_t)M * N * sizeof(float));
            float *sep = malloc((size_t)M * N * sizeof(float));
            rb_test_fill_uniform(S, (size_t)R * R, 1.0f, 91);
            rb_test_fill_uniform(X, (size_t)M * N, 1.0f, 92);
            memcpy(sep, X, (size_t)M * N * sizeof(float));
            if (!side) {
                be->gemm_bf16(be, 0, 0, M, N, R, 1.0f, S, R, X, N, 3.4445f, sep, N);
                be->gemm_bf16(be, 0, 0, M, N, R, 1.0f, S, R, X, N, 3.4445f, X, N);
            } else {
                be->gemm_bf16(be, 0, 0, M, N, R, 1.0f, X, N, S, R, 3.4445f, sep, N);
                be->gemm_bf16(be, 0, 0, M, N, R, 1.0f, X, N, S, R, 3.4445f, X, N);
            }
            ck_assert(be->sync(be, &err) == RB_OK);
            ck_assert_msg(memcmp(sep, X, (size_t)M * N * sizeof(float)) == 0,
                          "%s: C aliasing %s differs from a separate C", kname[k],
                          side ? "A" : "B");
            free(S);
            free(X);
            free(sep);
        }
    }
}
END_TEST

START_TEST(empty_and_k0)
{
    /* K = 0: C = beta C, like gemm */
    float C[4] = {1, 2, 3, 4}, want = 1.0f;
    for (int k = 0; k < 3; k++) {
        if (!rb_backend_cpu_has_bf16(be, (rb_cpu_bf16_kernel)k)) continue;
        rb_error err = {0};
        ck_assert(rb_backend_cpu_set_bf16(be, (rb_cpu_bf16_kernel)k, &err) == RB_OK);
        be->gemm_bf16(be, 0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 2.0f, C, 2);
        be->gemm_bf16(be, 0, 0, 0, 2, 5, 1.0f, NULL, 5, NULL, 2, 0.0f, C, 2); /* M = 0: nothing */
        want *= 2.0f;
    }
    ck_assert_msg(C[0] == want * 1 && C[3] == want * 4, "K = 0 must scale C by beta (%g %g)",
                  (double)C[0], (double)C[3]);
}
END_TEST

int main(void)
{
    be = rb_test_cpu_backend();
    printf("gemm_bf16 at creation: %s\n", be->gemm_bf16_impl);
    Suite *s = suite_create("cpu_gemm_bf16");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, kernel_matches_rounded_reference, 0, 3);
    tcase_add_test(tc, syrk_matches_rounded_reference);
    tcase_add_test(tc, output_may_alias_an_operand);
    tcase_add_test(tc, empty_and_k0);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
