/* test_cpu_attention.c: properties of the CPU backend's causal GQA attention
 * beyond the finite-difference checks of test_cpu_ops_fd.c:
 *  - the lse output is the log-sum-exp of the scaled causal scores;
 *  - a batch of two sequences gives exactly what each sequence gives alone,
 *    forward and backward (no leakage between sequences);
 *  - causality: changing a later token's q, k or v (or a later row of dout)
 *    leaves every earlier output and earlier dq bit-identical;
 *  - long sequences (several 64-row tiles) against a naive double forward
 *    and a naive double backward;
 *  - inference attention over a KV cache equals the training forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_backend.h"
#include "rb_test.h"

static rb_backend *be;

static float *fbuf(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static double *dbuf(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

typedef struct {
    int B, T, H, KV, hd;
} shape;

static int qkv_ld(shape s) { return (s.H + 2 * s.KV) * s.hd; }

/* Probabilities of query row i of head h in sequence b (p[0..i]) and the
 * log-sum-exp of the scaled scores, in double. */
static double naive_probs(double *p, const float *qkv, shape s, int b, int h, int i)
{
    const int ld = qkv_ld(s), kh = h / (s.H / s.KV);
    const float *q = qkv + (size_t)(b * s.T + i) * ld + (size_t)h * s.hd;
    double mx = -INFINITY;
    for (int j = 0; j <= i; j++) {
        const float *k = qkv + (size_t)(b * s.T + j) * ld + (size_t)(s.H + kh) * s.hd;
        double d = 0;
        for (int c = 0; c < s.hd; c++) d += (double)q[c] * k[c];
        p[j] = d / sqrt((double)s.hd);
        mx = fmax(mx, p[j]);
    }
    double sum = 0;
    for (int j = 0; j <= i; j++) sum += exp(p[j] - mx);
    for (int j = 0; j <= i; j++) p[j] = exp(p[j] - mx) / sum;
    return mx + log(sum);
}

/* out[N, H hd] and lse[B, H, T] in double */
static void naive_forward(double *out, double *lse, const float *qkv, shape s)
{
    const int ld = qkv_ld(s), Do = s.H * s.hd;
    double *p = dbuf((size_t)s.T);
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < s.H; h++) {
            const int kh = h / (s.H / s.KV);
            for (int i = 0; i < s.T; i++) {
                lse[((size_t)b * s.H + h) * s.T + i] = naive_probs(p, qkv, s, b, h, i);
                double *o = out + (size_t)(b * s.T + i) * Do + (size_t)h * s.hd;
                for (int c = 0; c < s.hd; c++) o[c] = 0;
                for (int j = 0; j <= i; j++) {
                    const float *v = qkv + (size_t)(b * s.T + j) * ld + (size_t)(s.H + s.KV + kh) * s.hd;
                    for (int c = 0; c < s.hd; c++) o[c] += p[j] * v[c];
                }
            }
        }
    free(p);
}

/* Backward of softmax attention written from the chain rule in double:
 *   dv_j += p_ij dout_i;  dp_ij = dout_i . v_j;  ds_ij = p_ij (dp_ij - sum_l p_il dp_il)
 *   dq_i += ds_ij k_j / sqrt(hd);  dk_j += ds_ij q_i / sqrt(hd). */
static void naive_backward(double *dqkv, const float *qkv, const float *dout, shape s)
{
    const int ld = qkv_ld(s), Do = s.H * s.hd;
    const double sc = 1.0 / sqrt((double)s.hd);
    double *p = dbuf((size_t)s.T), *dp = dbuf((size_t)s.T);
    memset(dqkv, 0, (size_t)s.B * s.T * ld * sizeof *dqkv);
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < s.H; h++) {
            const int kh = h / (s.H / s.KV);
            for (int i = 0; i < s.T; i++) {
                naive_probs(p, qkv, s, b, h, i);
                const float *q = qkv + (size_t)(b * s.T + i) * ld + (size_t)h * s.hd;
                const float *g = dout + (size_t)(b * s.T + i) * Do + (size_t)h * s.hd;
                double avg = 0;
                for (int j = 0; j <= i; j++) {
                    const float *v = qkv + (size_t)(b * s.T + j) * ld + (size_t)(s.H + s.KV + kh) * s.hd;
                    double d = 0;
                    for (int c = 0; c < s.hd; c++) d += (double)g[c] * v[c];
                    dp[j] = d;
                    avg += p[j] * d;
                }
                double *dq = dqkv + (size_t)(b * s.T + i) * ld + (size_t)h * s.hd;
                for (int j = 0; j <= i; j++) {
                    const float *k = qkv + (size_t)(b * s.T + j) * ld + (size_t)(s.H + kh) * s.hd;
                    double *dk = dqkv + (size_t)(b * s.T + j) * ld + (size_t)(s.H + kh) * s.hd;
                    double *dv = dqkv + (size_t)(b * s.T + j) * ld + (size_t)(s.H + s.KV + kh) * s.hd;
                    double ds = p[j] * (dp[j] - avg) * sc;
                    for (int c = 0; c < s.hd; c++) {
                        dq[c] += ds * k[c];
                        dk[c] += ds * q[c];
                        dv[c] += p[j] * g[c];
                    }
                }
            }
        }
    free(p);
    free(dp);
}

typedef struct {
    float *qkv, *out, *lse, *dout, *dqkv;
} att_bufs;

static att_bufs run(const float *qkv, const float *dout, shape s)
{
    const size_t N = (size_t)s.B * s.T, ld = qkv_ld(s), Do = (size_t)s.H * s.hd;
    att_bufs a = {fbuf(N * ld), fbuf(N * Do), fbuf((size_t)s.B * s.H * s.T), fbuf(N * Do), fbuf(N * ld)};
    memcpy(a.qkv, qkv, N * ld * sizeof(float));
    memcpy(a.dout, dout, N * Do * sizeof(float));
    be->attention_fwd(be, a.out, a.lse, a.qkv, s.B, s.T, s.H, s.KV, s.hd);
    be->attention_bwd(be, a.dqkv, a.dout, a.qkv, a.out, a.lse, s.B, s.T, s.H, s.KV, s.hd);
    rb_error err = {0};
    ck_assert_msg(be->sync(be, &err) == RB_OK, "%s", err.msg);
    return a;
}

static void release(att_bufs *a)
{
    free(a->qkv), free(a->out), free(a->lse), free(a->dout), free(a->dqkv);
}

static void fill_inputs(float **qkv, float **dout, shape s, uint64_t seed, float scale)
{
    const size_t N = (size_t)s.B * s.T;
    *qkv = fbuf(N * qkv_ld(s));
    *dout = fbuf(N * s.H * s.hd);
    rb_test_fill_uniform(*qkv, N * qkv_ld(s), scale, seed);
    rb_test_fill_uniform(*dout, N * s.H * s.hd, 1.0f, seed + 1);
}

/* lse against the naive log-sum-exp; also a sharply peaked case (large
 * scores) where a naive exp would overflow. */
static void lse_case(shape s, float scale, uint64_t seed)
{
    float *qkv, *dout;
    fill_inputs(&qkv, &dout, s, seed, scale);
    att_bufs a = run(qkv, dout, s);
    const size_t N = (size_t)s.B * s.T;
    double *out = dbuf(N * s.H * s.hd), *lse = dbuf((size_t)s.B * s.H * s.T);
    naive_forward(out, lse, qkv, s);
    double dl = rb_test_rel_max_diff_d(a.lse, lse, (size_t)s.B * s.H * s.T);
    double dout_rel = rb_test_rel_max_diff_d(a.out, out, N * s.H * s.hd);
    printf("  lse B %d T %3d H %d KV %d hd %2d input scale %4.1f: lse rel %.2e, out rel %.2e\n", s.B,
           s.T, s.H, s.KV, s.hd, (double)scale, dl, dout_rel);
    ck_assert_msg(dl <= 1e-5, "lse differs from the naive log-sum-exp by %.3e", dl);
    ck_assert_msg(dout_rel <= 1e-5, "attention output differs from naive by %.3e", dout_rel);
    release(&a);
    free(qkv), free(dout), free(out), free(lse);
}

START_TEST(lse_matches_logsumexp)
{
    lse_case((shape){2, 70, 4, 2, 8}, 1.0f, 101);
    lse_case((shape){1, 5, 4, 1, 16}, 1.0f, 103);
    lse_case((shape){1, 130, 2, 2, 8}, 6.0f, 105); /* scores up to ~100: overflow without max */
}
END_TEST

/* B = 2 must equal the two sequences run one at a time, bit for bit. */
static void batch_case(shape s2, uint64_t seed)
{
    shape s1 = s2;
    s1.B = 1;
    const size_t rows = (size_t)s2.T, ld = qkv_ld(s2), Do = (size_t)s2.H * s2.hd;
    float *qkv, *dout;
    fill_inputs(&qkv, &dout, s2, seed, 1.0f);
    att_bufs both = run(qkv, dout, s2);
    size_t max_diff_bits = 0;
    double worst = 0;
    for (int b = 0; b < 2; b++) {
        att_bufs one = run(qkv + b * rows * ld, dout + b * rows * Do, s1);
        const float *pairs[3][2] = {{both.out + b * rows * Do, one.out},
                                    {both.lse + (size_t)b * s2.H * s2.T, one.lse},
                                    {both.dqkv + b * rows * ld, one.dqkv}};
        const size_t len[3] = {rows * Do, (size_t)s2.H * s2.T, rows * ld};
        for (int k = 0; k < 3; k++) {
            double d = rb_test_rel_max_diff(pairs[k][0], pairs[k][1], len[k]);
            worst = fmax(worst, d);
            if (memcmp(pairs[k][0], pairs[k][1], len[k] * sizeof(float))) max_diff_bits++;
        }
        release(&one);
    }
    printf("  batch B 2 vs separate (T %d H %d KV %d): worst rel %.2e, %zu of 6 arrays not bit-identical\n",
           s2.T, s2.H, s2.KV, worst, max_diff_bits);
    ck_assert_msg(worst == 0, "a sequence's attention depends on the other sequence in its batch "
                              "(rel %.3e)", worst);
    release(&both);
    free(qkv), free(dout);
}

START_TEST(batch_equals_separate)
{
    batch_case((shape){2, 70, 4, 2, 8}, 201);
    batch_case((shape){2, 5, 4, 1, 8}, 203);
    batch_case((shape){2, 129, 4, 4, 8}, 205);
}
END_TEST

/* Poisoning one sequence with huge values leaves the other bit-identical. */
START_TEST(no_cross_sequence_leakage)
{
    shape s = {2, 70, 4, 2, 8};
    const size_t rows = (size_t)s.T, ld = qkv_ld(s), Do = (size_t)s.H * s.hd;
    float *qkv, *dout;
    fill_inputs(&qkv, &dout, s, 301, 1.0f);
    att_bufs ref = run(qkv, dout, s);
    for (int victim = 0; victim < 2; victim++) {
        float *q2 = fbuf(2 * rows * ld), *d2 = fbuf(2 * rows * Do);
        memcpy(q2, qkv, 2 * rows * ld * sizeof(float));
        memcpy(d2, dout, 2 * rows * Do * sizeof(float));
        int other = 1 - victim;
        rb_test_fill_uniform(q2 + other * rows * ld, rows * ld, 50.0f, 302 + (uint64_t)victim);
        rb_test_fill_uniform(d2 + other * rows * Do, rows * Do, 50.0f, 304 + (uint64_t)victim);
        att_bufs a = run(q2, d2, s);
        ck_assert_msg(!memcmp(a.out + victim * rows * Do, ref.out + victim * rows * Do, rows * Do * sizeof(float)),
                      "changing sequence %d changed the output of sequence %d", other, victim);
        ck_assert_msg(!memcmp(a.dqkv + victim * rows * ld, ref.dqkv + victim * rows * ld, rows * ld * sizeof(float)),
                      "changing sequence %d changed the gradient of sequence %d", other, victim);
        release(&a);
        free(q2), free(d2);
    }
    release(&ref);
    free(qkv), free(dout);
}
END_TEST

/* Changing row t0's q, k and v (and dout) leaves rows < t0 of the output
 * and of dq bit-identical; t0 inside a tile and on a tile boundary. */
START_TEST(causal)
{
    shape s = {1, 150, 4, 2, 8};
    const size_t ld = qkv_ld(s), Do = (size_t)s.H * s.hd;
    float *qkv, *dout;
    fill_inputs(&qkv, &dout, s, 401, 1.0f);
    att_bufs ref = run(qkv, dout, s);
    const int t0s[4] = {1, 37, 64, 149};
    for (int c = 0; c < 4; c++) {
        int t0 = t0s[c];
        float *q2 = fbuf(s.T * ld), *d2 = fbuf(s.T * Do);
        memcpy(q2, qkv, s.T * ld * sizeof(float));
        memcpy(d2, dout, s.T * Do * sizeof(float));
        /* large but finite: masked scores must not leak (exp of them would overflow) */
        rb_test_fill_uniform(q2 + (size_t)t0 * ld, ld, 300.0f, 402 + (uint64_t)c);
        rb_test_fill_uniform(d2 + (size_t)t0 * Do, Do, 300.0f, 410 + (uint64_t)c);
        att_bufs a = run(q2, d2, s);
        ck_assert_msg(!memcmp(a.out, ref.out, (size_t)t0 * Do * sizeof(float)),
                      "changing token %d changed an earlier attention output", t0);
        for (int h = 0; h < s.H; h++)
            ck_assert_msg(!memcmp(a.lse + (size_t)h * s.T, ref.lse + (size_t)h * s.T, (size_t)t0 * sizeof(float)),
                          "changing token %d changed an earlier lse (head %d)", t0, h);
        for (int t = 0; t < t0; t++)
            ck_assert_msg(!memcmp(a.dqkv + (size_t)t * ld, ref.dqkv + (size_t)t * ld, Do * sizeof(float)),
                          "changing token %d changed dq of earlier token %d", t0, t);
        /* and the change is visible from t0 on (the test can fail) */
        ck_assert(memcmp(a.out + (size_t)t0 * Do, ref.out + (size_t)t0 * Do, Do * sizeof(float)) != 0);
        release(&a);
        free(q2), free(d2);
    }
    release(&ref);
    free(qkv), free(dout);
}
END_TEST

/* Five tiles: forward, lse and backward against the naive double code. */
static void long_case(shape s, uint64_t seed)
{
    const size_t N = (size_t)s.B * s.T, ld = qkv_ld(s), Do = (size_t)s.H * s.hd;
    float *qkv, *dout;
    fill_inputs(&qkv, &dout, s, seed, 1.0f);
    att_bufs a = run(qkv, dout, s);
    double *out = dbuf(N * Do), *lse = dbuf((size_t)s.B * s.H * s.T), *dq = dbuf(N * ld);
    naive_forward(out, lse, qkv, s);
    naive_backward(dq, qkv, dout, s);
    double dout_rel = rb_test_rel_max_diff_d(a.out, out, N * Do);
    double dl = rb_test_rel_max_diff_d(a.lse, lse, (size_t)s.B * s.H * s.T);
    /* each of dq, dk, dv against its own scale */
    double dg[3] = {0, 0, 0};
    const size_t c0[3] = {0, (size_t)s.H * s.hd, (size_t)(s.H + s.KV) * s.hd};
    const size_t w[3] = {(size_t)s.H * s.hd, (size_t)s.KV * s.hd, (size_t)s.KV * s.hd};
    for (int p = 0; p < 3; p++) {
        double num = 0, den = 0;
        for (size_t r = 0; r < N; r++)
            for (size_t c = c0[p]; c < c0[p] + w[p]; c++) {
                num = fmax(num, fabs((double)a.dqkv[r * ld + c] - dq[r * ld + c]));
                den = fmax(den, fabs(dq[r * ld + c]));
            }
        dg[p] = num / den;
    }
    printf("  long T %d H %d KV %d hd %d: out rel %.2e, lse rel %.2e, dq %.2e dk %.2e dv %.2e\n", s.T,
           s.H, s.KV, s.hd, dout_rel, dl, dg[0], dg[1], dg[2]);
    ck_assert_msg(dout_rel <= 1e-5, "T = %d: output differs from naive by %.3e", s.T, dout_rel);
    ck_assert_msg(dl <= 1e-5, "T = %d: lse differs from naive by %.3e", s.T, dl);
    ck_assert_msg(dg[0] <= 1e-4 && dg[1] <= 1e-4 && dg[2] <= 1e-4,
                  "T = %d: backward differs from naive (dq %.3e, dk %.3e, dv %.3e)", s.T, dg[0], dg[1], dg[2]);
    release(&a);
    free(qkv), free(dout), free(out), free(lse), free(dq);
}

START_TEST(long_sequence)
{
    long_case((shape){1, 300, 4, 2, 16}, 501);
    long_case((shape){2, 257, 2, 1, 8}, 503);
}
END_TEST

/* Inference attention over a KV cache (rb_backend.h attention_cached): n
 * new rows at positions pos0.. against cache rows 0 .. pos0 + t must give
 * the rows of the training forward over the whole sequence, and the naive
 * double result. */
START_TEST(cached_matches_training)
{
    shape s = {1, 140, 4, 2, 8};
    const size_t ld = qkv_ld(s), Do = (size_t)s.H * s.hd, kvd = (size_t)s.KV * s.hd;
    float *qkv, *dout;
    fill_inputs(&qkv, &dout, s, 601, 1.0f);
    att_bufs full = run(qkv, dout, s);
    double *ref = dbuf((size_t)s.T * Do), *lse = dbuf((size_t)s.H * s.T);
    naive_forward(ref, lse, qkv, s);
    float *kc = fbuf((size_t)s.T * kvd), *vc = fbuf((size_t)s.T * kvd), *out = fbuf((size_t)s.T * Do);
    for (int t = 0; t < s.T; t++) {
        memcpy(kc + t * kvd, qkv + t * ld + Do, kvd * sizeof(float));
        memcpy(vc + t * kvd, qkv + t * ld + Do + kvd, kvd * sizeof(float));
    }
    /* prefill from 0, a chunk inside a tile, one step, a chunk over tiles */
    const int pos0s[5] = {0, 0, 37, 64, 3}, ns[5] = {140, 1, 30, 1, 137};
    for (int c = 0; c < 5; c++) {
        int pos0 = pos0s[c], n = ns[c];
        for (size_t i = 0; i < (size_t)n * Do; i++) out[i] = NAN;
        be->attention_cached(be, out, qkv + (size_t)pos0 * ld, (int)ld, kc, vc, n, pos0, s.H, s.KV, s.hd);
        rb_error err = {0};
        ck_assert_msg(be->sync(be, &err) == RB_OK, "%s", err.msg);
        double dt = rb_test_rel_max_diff(out, full.out + (size_t)pos0 * Do, (size_t)n * Do);
        double dn = rb_test_rel_max_diff_d(out, ref + (size_t)pos0 * Do, (size_t)n * Do);
        printf("  cached pos0 %3d n %3d: vs training forward rel %.2e, vs naive rel %.2e\n", pos0, n, dt, dn);
        ck_assert_msg(dt <= 1e-6, "cached attention (pos0 %d, n %d) differs from training by %.3e", pos0, n, dt);
        ck_assert_msg(dn <= 1e-5, "cached attention (pos0 %d, n %d) differs from naive by %.3e", pos0, n, dn);
    }
    release(&full);
    free(qkv), free(dout), free(ref), free(lse), free(kc), free(vc), free(out);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the measurements of a failing test */
    be = rb_test_cpu_backend();
    Suite *s = suite_create("cpu_attention");
    TCase *tc = tcase_create("attention");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lse_matches_logsumexp);
    tcase_add_test(tc, batch_equals_separate);
    tcase_add_test(tc, no_cross_sequence_leakage);
    tcase_add_test(tc, causal);
    tcase_add_test(tc, long_sequence);
    tcase_add_test(tc, cached_matches_training);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    return rc;
}
