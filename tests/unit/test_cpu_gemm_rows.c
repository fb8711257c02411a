/* test_cpu_gemm_rows.c: the CPU backend's batch-invariant product
 * (rb_backend.h gemm_rows) and row-invariant cached attention.
 *  - every element equals the plain definition (rb_cpu_dot_rows_ref) bit
 *    for bit, over shapes with K tails, strides and accumulation;
 *  - a row's result does not depend on M, its index, the other rows or the
 *    thread count;
 *  - values agree with a double-precision product to float rounding;
 *  - attention_cached rows are bitwise the same whether computed in one
 *    chunk, in other chunks, or one at a time, and agree with a naive
 *    double-precision attention. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "rb_backend.h"
#include "rb_test.h"

static rb_backend *be;

static float *fbuf(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(matches_definition)
{
    const int Ks[] = {1, 5, 8, 9, 16, 23, 64, 70, 577};
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
        for (int M = 1; M <= 10; M += 3)
            for (int N = 1; N <= 13; N += 4) {
                const int K = Ks[ki], lda = K + 3, ldw = K + 1, ldc = N + 2;
                float *A = fbuf((size_t)M * lda), *W = fbuf((size_t)N * ldw), *C = fbuf((size_t)M * ldc);
                rb_test_fill_uniform(A, (size_t)M * lda, 1.0f, 11 + K);
                rb_test_fill_uniform(W, (size_t)N * ldw, 1.0f, 12 + N);
                rb_test_fill_uniform(C, (size_t)M * ldc, 1.0f, 13);
                float *C0 = fbuf((size_t)M * ldc);
                memcpy(C0, C, (size_t)M * ldc * sizeof(float));
                for (int acc = 0; acc <= 1; acc++) {
                    memcpy(C, C0, (size_t)M * ldc * sizeof(float));
                    be->gemm_rows(be, M, N, K, A, lda, W, ldw, acc, C, ldc);
                    for (int i = 0; i < M; i++)
                        for (int n = 0; n < N; n++) {
                            float d = rb_cpu_dot_rows_ref(A + (size_t)i * lda, W + (size_t)n * ldw, K);
                            float want = acc ? C0[(size_t)i * ldc + n] + d : d;
                            ck_assert_msg(memcmp(&want, &C[(size_t)i * ldc + n], sizeof(float)) == 0,
                                          "M %d N %d K %d acc %d element (%d, %d): %.9g vs definition %.9g",
                                          M, N, K, acc, i, n, C[(size_t)i * ldc + n], want);
                        }
                    /* padding columns untouched */
                    for (int i = 0; i < M; i++)
                        ck_assert(C[(size_t)i * ldc + N] == C0[(size_t)i * ldc + N]);
                }
                free(A), free(W), free(C), free(C0);
            }
}
END_TEST

START_TEST(rows_do_not_depend_on_the_batch)
{
    /* shapes of SmolLM2's projections; rows placed anywhere in calls of
     * 1 .. 70 rows, with 1 or 2 threads */
    const int shapes[][2] = {{576, 576}, {192, 576}, {576, 1536}, {97, 35}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int N = shapes[s][0], K = shapes[s][1], MM = 70;
        float *A = fbuf((size_t)MM * K), *W = fbuf((size_t)N * K);
        float *ref = fbuf((size_t)MM * N), *C = fbuf((size_t)MM * N), *A2 = fbuf((size_t)MM * K);
        rb_test_fill_uniform(A, (size_t)MM * K, 1.0f, 21);
        rb_test_fill_uniform(W, (size_t)N * K, 0.2f, 22);
        for (int i = 0; i < MM; i++) be->gemm_rows(be, 1, N, K, A + (size_t)i * K, K, W, K, 0, ref + (size_t)i * N, N);
        const int Ms[] = {2, 3, 7, 32, 70};
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
                int M = Ms[mi];
                /* rows in reverse order, offset by mi: each lands at another index */
                for (int r = 0; r < M; r++)
                    memcpy(A2 + (size_t)r * K, A + (size_t)((M - 1 - r + (int)mi) % MM) * K, (size_t)K * sizeof(float));
                be->gemm_rows(be, M, N, K, A2, K, W, K, 0, C, N);
                for (int r = 0; r < M; r++) {
                    int src = (M - 1 - r + (int)mi) % MM;
                    ck_assert_msg(memcmp(C + (size_t)r * N, ref + (size_t)src * N, (size_t)N * sizeof(float)) == 0,
                                  "N %d K %d: row %d of a %d-row call (%d threads) differs from the row alone",
                                  N, K, r, M, threads);
                }
            }
        }
        omp_set_num_threads(2);
        /* accuracy against double */
        double worst = 0;
        for (int i = 0; i < MM; i += 9)
            for (int n = 0; n < N; n++) {
                double d = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    d += (double)A[(size_t)i * K + k] * W[(size_t)n * K + k];
                    mag += fabs((double)A[(size_t)i * K + k] * W[(size_t)n * K + k]);
                }
                double e = fabs(ref[(size_t)i * N + n] - d) / (mag > 0 ? mag : 1);
                worst = e > worst ? e : worst;
            }
        ck_assert_msg(worst < 1e-6, "N %d K %d: error vs double %.3e of the sum of |terms|", N, K, worst);
        free(A), free(W), free(ref), free(C), free(A2);
    }
}
END_TEST

START_TEST(cached_attention_is_row_invariant)
{
    const int H = 6, KV = 2, hd = 9, T = 150, ldq = (H + 2 * KV) * hd, Dkv = KV * hd;
    float *qkv = fbuf((size_t)T * ldq), *kc = fbuf((size_t)T * Dkv), *vc = fbuf((size_t)T * Dkv);
    rb_test_fill_uniform(qkv, (size_t)T * ldq, 1.5f, 31);
    for (int t = 0; t < T; t++) {
        memcpy(kc + (size_t)t * Dkv, qkv + (size_t)t * ldq + H * hd, (size_t)Dkv * sizeof(float));
        memcpy(vc + (size_t)t * Dkv, qkv + (size_t)t * ldq + (H + KV) * hd, (size_t)Dkv * sizeof(float));
    }
    float *all = fbuf((size_t)T * H * hd), *part = fbuf((size_t)T * H * hd);
    be->attention_cached(be, all, qkv, ldq, kc, vc, T, 0, H, KV, hd);
    /* chunkings: one row at a time, and uneven chunks */
    const int chunks[] = {1, 17, 64, 100};
    for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
        for (int t0 = 0; t0 < T; t0 += chunks[ci]) {
            int n = T - t0 < chunks[ci] ? T - t0 : chunks[ci];
            be->attention_cached(be, part + (size_t)t0 * H * hd, qkv + (size_t)t0 * ldq, ldq, kc, vc, n,
                                 t0, H, KV, hd);
        }
        ck_assert_msg(memcmp(all, part, (size_t)T * H * hd * sizeof(float)) == 0,
                      "chunks of %d rows give other bits than one chunk", chunks[ci]);
    }
    /* naive double attention */
    double worst = 0;
    for (int t = 0; t < T; t += 7)
        for (int hh = 0; hh < H; hh++) {
            int kvh = hh / (H / KV);
            double *p = calloc((size_t)t + 1, sizeof(double)), mx = -INFINITY, sum = 0;
            for (int j = 0; j <= t; j++) {
                double d = 0;
                for (int c = 0; c < hd; c++)
                    d += (double)qkv[(size_t)t * ldq + hh * hd + c] * kc[(size_t)j * Dkv + kvh * hd + c];
                p[j] = d / sqrt((double)hd);
                mx = fmax(mx, p[j]);
            }
            for (int j = 0; j <= t; j++) sum += (p[j] = exp(p[j] - mx));
            for (int c = 0; c < hd; c++) {
                double o = 0;
                for (int j = 0; j <= t; j++) o += p[j] / sum * vc[(size_t)j * Dkv + kvh * hd + c];
                double e = fabs(o - all[(size_t)t * H * hd + hh * hd + c]);
                worst = e > worst ? e : worst;
            }
            free(p);
        }
    ck_assert_msg(worst < 1e-5, "cached attention vs double: %.3e", worst);
    free(qkv), free(kc), free(vc), free(all), free(part);
}
END_TEST

int main(void)
{
    be = rb_test_cpu_backend();
    Suite *s = suite_create("cpu_gemm_rows");
    TCase *tc = tcase_create("rows");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, matches_definition);
    tcase_add_test(tc, rows_do_not_depend_on_the_batch);
    tcase_add_test(tc, cached_attention_is_row_invariant);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
