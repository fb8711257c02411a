/* test_cpu_ops_fd.c: every backward op of the CPU backend against central
 * finite differences, and every forward against a naive double-precision
 * implementation written here from the formulas (not from the kernels).
 *
 * Method for a backward op: a scalar L = sum(out * Rnd) is evaluated in
 * double from the op's float outputs; the op's backward, fed dout = Rnd,
 * gives the analytic gradient; central differences of L at a random subset
 * of input coordinates must agree with it to FD_TOL relative, where the
 * relative error is taken against max(|analytic|, FD_FLOOR * max |analytic|)
 * so that near-zero components do not demand impossible float accuracy.
 * Forwards must agree with the double versions to FWD_TOL (max abs
 * difference over max abs reference). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_backend.h"
#include "rb_model.h"
#include "rb_test.h"

#define FD_TOL 2e-2
#define FD_FLOOR 0.05
#define FD_ABS_FLOOR 1e-4 /* inputs and Rnd are O(1), so gradients are too */
#define FWD_TOL 1e-5

static rb_backend *be;

/* ------------------------------------------------------------------ helpers */

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

/* Small local generator for coordinate picks (independent of the fills). */
static uint64_t pick_state;
static size_t pick(size_t n)
{
    pick_state ^= pick_state << 13;
    pick_state ^= pick_state >> 7;
    pick_state ^= pick_state << 17;
    return (size_t)((pick_state >> 11) % n);
}

/* max |a - ref| / max |ref| over n values at strides lda (float) and ldr
 * (double) per row of `cols` columns. */
static double rel_rows(const float *a, int lda, const double *ref, int ldr, int rows, int cols)
{
    double num = 0, den = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double d = fabs((double)a[(size_t)r * lda + c] - ref[(size_t)r * ldr + c]);
            if (!(d <= num)) num = d;
            den = fmax(den, fabs(ref[(size_t)r * ldr + c]));
        }
    if (isnan(num)) return INFINITY;
    return den == 0 ? (num == 0 ? 0 : INFINITY) : num / den;
}

typedef double (*loss_fn)(void *ctx);

/* Central difference of f at x[i]; the true float steps are used as the
 * denominator, and x[i] is restored. */
static double fd_at(float *x, size_t i, double h, loss_fn f, void *ctx)
{
    float x0 = x[i];
    x[i] = (float)((double)x0 + h);
    double up = (double)x[i] - (double)x0;
    double lp = f(ctx);
    x[i] = (float)((double)x0 - h);
    double dn = (double)x0 - (double)x[i];
    double lm = f(ctx);
    x[i] = x0;
    return (lp - lm) / (up + dn);
}

typedef struct {
    const char *what;
    double floor; /* FD_FLOOR * max |analytic| of the gradient being checked */
    double worst; /* worst |fd - an| / max(|an|, floor) */
    double worst_fd, worst_an;
    size_t worst_i;
    int count;
} fd_stats;

/* may_vanish: the gradient is mathematically zero (e.g. dq at T = 1), so the
 * check is only that the finite difference agrees within the absolute floor */
static void fd_begin(fd_stats *s, const char *what, const float *an, int rows, int ld, int cols,
                     int may_vanish)
{
    memset(s, 0, sizeof *s);
    s->what = what;
    double mx = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) mx = fmax(mx, fabs((double)an[(size_t)r * ld + c]));
    s->floor = fmax(FD_FLOOR * mx, FD_ABS_FLOOR);
    if (!may_vanish)
        ck_assert_msg(mx > 10 * FD_ABS_FLOOR, "%s: analytic gradient is (nearly) zero (max %.3g); "
                      "the check would be empty", what, mx);
}

static void fd_add(fd_stats *s, size_t i, double fd, double an)
{
    double e = fabs(fd - an) / fmax(fabs(an), s->floor);
    if (!(e <= s->worst)) {
        s->worst = e;
        s->worst_fd = fd;
        s->worst_an = an;
        s->worst_i = i;
    }
    s->count++;
}

static void fd_end(const fd_stats *s)
{
    printf("  FD %-40s %3d coords  worst rel %.2e\n", s->what, s->count, s->worst);
    ck_assert_msg(s->worst <= FD_TOL,
                  "%s: finite difference %.6g vs analytic %.6g at input %zu (rel %.3e > %.1e)",
                  s->what, s->worst_fd, s->worst_an, s->worst_i, s->worst, FD_TOL);
}

/* sum of a[r*lda + c] * b[r*ldb + c] in double */
static double dot_rows(const float *a, int lda, const float *b, int ldb, int rows, int cols)
{
    double s = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) s += (double)a[(size_t)r * lda + c] * b[(size_t)r * ldb + c];
    return s;
}

/* ------------------------------------------------------------------ RMSNorm */

typedef struct {
    float *x, *w, *out, *R;
    int N, D, ldx, ldo, ldr;
    float eps;
} norm_ctx;

static double norm_loss(void *p)
{
    norm_ctx *c = p;
    be->rmsnorm_fwd(be, c->out, c->ldo, NULL, c->x, c->ldx, c->w, c->N, c->D, c->eps);
    return dot_rows(c->out, c->ldo, c->R, c->ldr, c->N, c->D);
}

/* out = x w / sqrt(mean(x^2) + eps) in double */
static void naive_rmsnorm(double *out, double *rstd, const float *x, int ldx, const float *w, int N,
                          int D, double eps)
{
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < D; i++) ss += (double)x[(size_t)n * ldx + i] * x[(size_t)n * ldx + i];
        double r = 1.0 / sqrt(ss / D + eps);
        rstd[n] = r;
        for (int i = 0; i < D; i++) out[(size_t)n * D + i] = x[(size_t)n * ldx + i] * r * w[i];
    }
}

START_TEST(rmsnorm_forward)
{
    const int N = 9, D = 37, ldx = D + 3, ldo = D + 5;
    float *x = fbuf((size_t)N * ldx), *w = fbuf(D), *out = fbuf((size_t)N * ldo), *rstd = fbuf(N);
    rb_test_fill_uniform(x, (size_t)N * ldx, 1.0f, 1);
    x[2 * ldx + 5] = 30.0f; /* one large entry: rstd must not overflow or lose it */
    rb_test_fill_uniform(w, D, 0.5f, 2);
    for (int i = 0; i < D; i++) w[i] += 1.0f;
    for (int i = 0; i < N * ldo; i++) out[i] = -777.0f;
    be->rmsnorm_fwd(be, out, ldo, rstd, x, ldx, w, N, D, 1e-5f);
    double *ref = dbuf((size_t)N * D), *rr = dbuf(N);
    naive_rmsnorm(ref, rr, x, ldx, w, N, D, 1e-5);
    double d = rel_rows(out, ldo, ref, D, N, D);
    double dr = rel_rows(rstd, 1, rr, 1, N, 1);
    printf("  rmsnorm forward rel %.2e, rstd rel %.2e\n", d, dr);
    ck_assert_msg(d <= FWD_TOL, "rmsnorm forward differs by %.3e", d);
    ck_assert_msg(dr <= FWD_TOL, "rmsnorm rstd differs by %.3e", dr);
    for (int n = 0; n < N; n++)
        for (int i = D; i < ldo; i++)
            ck_assert_msg(out[(size_t)n * ldo + i] == -777.0f, "rmsnorm wrote past D in row %d", n);
    free(x), free(w), free(out), free(rstd), free(ref), free(rr);
}
END_TEST

/* dx (both accumulate modes) and dw, with four different row strides. */
static void rmsnorm_fd_case(int accumulate)
{
    const int N = 6, D = 37, ldx = D + 3, ldo = D + 5, ldr = D + 2, lddx = D + 7;
    norm_ctx c = {fbuf((size_t)N * ldx), fbuf(D), fbuf((size_t)N * ldo), fbuf((size_t)N * ldr),
                  N, D, ldx, ldo, ldr, 1e-5f};
    rb_test_fill_uniform(c.x, (size_t)N * ldx, 1.0f, 11);
    rb_test_fill_uniform(c.w, D, 0.5f, 12);
    for (int i = 0; i < D; i++) c.w[i] += 1.0f;
    rb_test_fill_uniform(c.R, (size_t)N * ldr, 1.0f, 13);
    float *rstd = fbuf(N), *dx = fbuf((size_t)N * lddx), *dx0 = fbuf((size_t)N * lddx);
    float *dw = fbuf(D), *dw0 = fbuf(D);
    /* Prefills: with accumulate = 0 a garbage value that must be replaced;
     * with accumulate = 1 values the gradient is added to. dw always adds. */
    rb_test_fill_uniform(dx0, (size_t)N * lddx, 0.5f, 14);
    if (!accumulate)
        for (int i = 0; i < N * lddx; i++) dx0[i] = 1e3f;
    for (int n = 0; n < N; n++)
        for (int i = D; i < lddx; i++) dx0[(size_t)n * lddx + i] = -555.0f; /* padding sentinel */
    rb_test_fill_uniform(dw0, D, 0.5f, 15);
    memcpy(dx, dx0, (size_t)N * lddx * sizeof *dx);
    memcpy(dw, dw0, (size_t)D * sizeof *dw);

    be->rmsnorm_fwd(be, c.out, c.ldo, rstd, c.x, c.ldx, c.w, N, D, c.eps);
    be->rmsnorm_bwd(be, dx, lddx, dw, c.R, ldr, c.x, ldx, c.w, rstd, N, D, accumulate);
    rb_error err = {0};
    ck_assert_msg(be->sync(be, &err) == RB_OK, "%s", err.msg);

    float *gx = fbuf((size_t)N * lddx), *gw = fbuf(D);
    for (int i = 0; i < N * lddx; i++) gx[i] = accumulate ? dx[i] - dx0[i] : dx[i];
    for (int i = 0; i < D; i++) gw[i] = dw[i] - dw0[i];
    for (int n = 0; n < N; n++)
        for (int i = D; i < lddx; i++)
            ck_assert_msg(dx[(size_t)n * lddx + i] == -555.0f, "rmsnorm_bwd wrote into row padding");

    char what[64];
    fd_stats s;
    snprintf(what, sizeof what, "rmsnorm dx (accumulate=%d)", accumulate);
    fd_begin(&s, what, gx, N, lddx, D, 0);
    pick_state = 0x1234u + (uint64_t)accumulate;
    for (int t = 0; t < 48; t++) {
        int n = (int)pick(N), i = (int)pick(D);
        fd_add(&s, (size_t)n * ldx + i, fd_at(c.x, (size_t)n * ldx + i, 1e-2, norm_loss, &c),
               gx[(size_t)n * lddx + i]);
    }
    fd_end(&s);
    snprintf(what, sizeof what, "rmsnorm dw (accumulate=%d)", accumulate);
    fd_begin(&s, what, gw, 1, D, D, 0);
    for (int i = 0; i < D; i++) fd_add(&s, i, fd_at(c.w, i, 1e-2, norm_loss, &c), gw[i]);
    fd_end(&s);
    free(c.x), free(c.w), free(c.out), free(c.R), free(rstd), free(dx), free(dx0), free(dw),
        free(dw0), free(gx), free(gw);
}

START_TEST(rmsnorm_backward_overwrite) { rmsnorm_fd_case(0); }
END_TEST
START_TEST(rmsnorm_backward_accumulate) { rmsnorm_fd_case(1); }
END_TEST

/* rb_backend.h: "dx may alias dout". The in-place call must give the same
 * dx and dw as the out-of-place one. */
START_TEST(rmsnorm_backward_dx_aliases_dout)
{
    const int N = 5, D = 24;
    float *x = fbuf((size_t)N * D), *w = fbuf(D), *out = fbuf((size_t)N * D), *rstd = fbuf(N);
    float *dout = fbuf((size_t)N * D), *dx = fbuf((size_t)N * D), *buf = fbuf((size_t)N * D);
    float *dw_a = calloc(D, sizeof(float)), *dw_b = calloc(D, sizeof(float));
    rb_test_fill_uniform(x, (size_t)N * D, 1.0f, 21);
    rb_test_fill_uniform(w, D, 0.5f, 22);
    for (int i = 0; i < D; i++) w[i] += 1.0f;
    rb_test_fill_uniform(dout, (size_t)N * D, 1.0f, 23);
    be->rmsnorm_fwd(be, out, D, rstd, x, D, w, N, D, 1e-5f);
    be->rmsnorm_bwd(be, dx, D, dw_a, dout, D, x, D, w, rstd, N, D, 0);
    memcpy(buf, dout, (size_t)N * D * sizeof *buf);
    be->rmsnorm_bwd(be, buf, D, dw_b, buf, D, x, D, w, rstd, N, D, 0);
    double ddx = rb_test_rel_max_diff(buf, dx, (size_t)N * D);
    double ddw = rb_test_rel_max_diff(dw_b, dw_a, D);
    printf("  rmsnorm_bwd in place: dx rel %.2e, dw rel %.2e\n", ddx, ddw);
    ck_assert_msg(ddx <= 1e-6, "rmsnorm_bwd with dx == dout: dx differs by %.3e", ddx);
    ck_assert_msg(ddw <= 1e-6,
                  "rmsnorm_bwd with dx == dout (allowed by rb_backend.h): dw differs from the "
                  "out-of-place result by %.3e relative; cpu_norm.c accumulates dw from dout "
                  "after dx has overwritten it", ddw);
    free(x), free(w), free(out), free(rstd), free(dout), free(dx), free(buf), free(dw_a), free(dw_b);
}
END_TEST

/* ------------------------------------------------------------------ RoPE */

/* A small model supplies the RoPE tables the engine really uses. */
static rb_model *rope_model(int n_heads, int head_dim, float theta, int max_seq)
{
    rb_config cfg;
    rb_config_defaults(&cfg);
    cfg.vocab_size = 8;
    cfg.dim = n_heads * head_dim;
    cfg.n_heads = n_heads;
    cfg.n_kv_heads = n_heads;
    cfg.hidden_dim = 8;
    cfg.max_seq_len = max_seq;
    cfg.rope_theta = theta;
    cfg.n_prelude = 1;
    rb_model *m = NULL;
    rb_error err = {0};
    ck_assert_msg(rb_model_create(&m, &cfg, be, &err) == RB_OK, "%s", err.msg);
    return m;
}

/* rotation of each pair by angle pos * theta^(-2i/d), computed in double */
static void naive_rope(double *y, const float *x, int ld, const int32_t *pos, int N, int H, int hd,
                       double theta, rb_rope_layout layout)
{
    const int half = hd / 2;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            const float *v = x + (size_t)n * ld + (size_t)h * hd;
            double *o = y + (size_t)n * ld + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                double ang = (double)pos[n] * pow(theta, -2.0 * i / hd);
                int ia = layout == RB_ROPE_HALF ? i : 2 * i;
                int ib = layout == RB_ROPE_HALF ? i + half : 2 * i + 1;
                double a = v[ia], b = v[ib];
                o[ia] = a * cos(ang) - b * sin(ang);
                o[ib] = a * sin(ang) + b * cos(ang);
            }
        }
}

static void rope_case(rb_rope_layout layout, int hd, float theta)
{
    const int H = 3, N = 11, MS = 96, ld = H * hd + 5;
    rb_model *m = rope_model(H, hd, theta, MS);
    int32_t pos[11];
    pick_state = 0x5151u + (uint64_t)hd;
    for (int n = 0; n < N; n++) pos[n] = (int32_t)pick(MS);
    pos[0] = 0;
    pos[N - 1] = MS - 1;
    const size_t tot = (size_t)N * ld;
    float *x = fbuf(tot), *y = fbuf(tot), *rx = fbuf(tot), *iy = fbuf(tot);
    rb_test_fill_uniform(x, tot, 1.0f, 31);
    rb_test_fill_uniform(y, tot, 1.0f, 32);
    for (int n = 0; n < N; n++)
        for (int c = H * hd; c < ld; c++) x[(size_t)n * ld + c] = y[(size_t)n * ld + c] = -9.0f;
    memcpy(rx, x, tot * sizeof *x);
    memcpy(iy, y, tot * sizeof *y);
    be->rope(be, rx, ld, pos, N, H, hd, m->rope_cos, m->rope_sin, layout, 0);
    be->rope(be, iy, ld, pos, N, H, hd, m->rope_cos, m->rope_sin, layout, 1);

    /* forward against the explicit angle */
    double *ref = dbuf(tot);
    naive_rope(ref, x, ld, pos, N, H, hd, theta, layout);
    double dfwd = rel_rows(rx, ld, ref, ld, N, H * hd);
    for (int n = 0; n < N; n++)
        for (int c = H * hd; c < ld; c++) ck_assert(rx[(size_t)n * ld + c] == -9.0f);

    /* adjoint: <rope(x), y> == <x, rope_inverse(y)> */
    double lhs = dot_rows(rx, ld, y, ld, N, H * hd), rhs = dot_rows(x, ld, iy, ld, N, H * hd);
    double mag = 0;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < H * hd; c++) mag += fabs((double)x[(size_t)n * ld + c] * y[(size_t)n * ld + c]);
    double dadj = fabs(lhs - rhs) / mag;

    /* inverse after forward returns the input */
    be->rope(be, rx, ld, pos, N, H, hd, m->rope_cos, m->rope_sin, layout, 1);
    double dinv = rb_test_rel_max_diff(rx, x, tot);
    printf("  rope %-11s hd %2d theta %g: forward rel %.2e, adjoint %.2e, inverse(fwd) rel %.2e\n",
           layout == RB_ROPE_HALF ? "half" : "interleaved", hd, (double)theta, dfwd, dadj, dinv);
    ck_assert_msg(dfwd <= FWD_TOL, "rope forward differs from the explicit angle by %.3e", dfwd);
    ck_assert_msg(dadj <= 1e-6, "rope inverse is not the adjoint of rope: %.9g vs %.9g", lhs, rhs);
    ck_assert_msg(dinv <= 1e-6, "rope_inverse(rope(x)) differs from x by %.3e", dinv);
    free(x), free(y), free(rx), free(iy), free(ref);
    rb_model_destroy(m);
}

START_TEST(rope_half) { rope_case(RB_ROPE_HALF, 8, 10000.0f); rope_case(RB_ROPE_HALF, 12, 500000.0f); }
END_TEST
START_TEST(rope_interleaved)
{
    rope_case(RB_ROPE_INTERLEAVED, 8, 10000.0f);
    rope_case(RB_ROPE_INTERLEAVED, 12, 500000.0f);
}
END_TEST

/* ------------------------------------------------------------------ attention */

/* Causal GQA softmax attention in double: query head h reads KV head
 * h / (H / KV); scores scaled by 1/sqrt(hd). */
static void naive_attention(double *out, double *lse, const float *qkv, int B, int T, int H, int KV,
                            int hd)
{
    const int ld = (H + 2 * KV) * hd;
    double *s = dbuf((size_t)T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int kh = h / (H / KV);
            for (int i = 0; i < T; i++) {
                const float *q = qkv + (size_t)(b * T + i) * ld + (size_t)h * hd;
                double mx = -INFINITY;
                for (int j = 0; j <= i; j++) {
                    const float *k = qkv + (size_t)(b * T + j) * ld + (size_t)(H + kh) * hd;
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)q[c] * k[c];
                    s[j] = d / sqrt((double)hd);
                    mx = fmax(mx, s[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) sum += exp(s[j] - mx);
                double *o = out + (size_t)(b * T + i) * H * hd + (size_t)h * hd;
                for (int c = 0; c < hd; c++) o[c] = 0;
                for (int j = 0; j <= i; j++) {
                    double p = exp(s[j] - mx) / sum;
                    const float *v = qkv + (size_t)(b * T + j) * ld + (size_t)(H + KV + kh) * hd;
                    for (int c = 0; c < hd; c++) o[c] += p * v[c];
                }
                if (lse) lse[((size_t)b * H + h) * T + i] = mx + log(sum);
            }
        }
    free(s);
}

typedef struct {
    float *qkv, *out, *lse, *R;
    int B, T, H, KV, hd;
} att_ctx;

static double att_loss(void *p)
{
    att_ctx *c = p;
    be->attention_fwd(be, c->out, c->lse, c->qkv, c->B, c->T, c->H, c->KV, c->hd);
    return dot_rows(c->out, c->H * c->hd, c->R, c->H * c->hd, c->B * c->T, c->H * c->hd);
}

static void attention_case(int B, int T, int H, int KV, int hd)
{
    const int N = B * T, ld = (H + 2 * KV) * hd, Do = H * hd;
    att_ctx c = {fbuf((size_t)N * ld), fbuf((size_t)N * Do), fbuf((size_t)B * H * T),
                 fbuf((size_t)N * Do), B, T, H, KV, hd};
    rb_test_fill_uniform(c.qkv, (size_t)N * ld, 1.0f, 41 + (uint64_t)T);
    rb_test_fill_uniform(c.R, (size_t)N * Do, 1.0f, 42 + (uint64_t)T);
    att_loss(&c);

    /* forward against the naive double version */
    double *ref = dbuf((size_t)N * Do);
    naive_attention(ref, NULL, c.qkv, B, T, H, KV, hd);
    double dfwd = rel_rows(c.out, Do, ref, Do, N, Do);
    printf("  attention B %d T %3d H %d KV %d hd %d: forward rel %.2e\n", B, T, H, KV, hd, dfwd);
    ck_assert_msg(dfwd <= FWD_TOL, "attention forward differs from naive by %.3e", dfwd);

    /* backward: every element of dqkv must be written (NaN prefill) */
    float *dqkv = fbuf((size_t)N * ld);
    for (size_t i = 0; i < (size_t)N * ld; i++) dqkv[i] = NAN;
    be->attention_bwd(be, dqkv, c.R, c.qkv, c.out, c.lse, B, T, H, KV, hd);
    rb_error err = {0};
    ck_assert_msg(be->sync(be, &err) == RB_OK, "%s", err.msg);
    for (size_t i = 0; i < (size_t)N * ld; i++)
        ck_assert_msg(isfinite(dqkv[i]), "attention_bwd left dqkv[%zu] (row %zu col %zu) unwritten",
                      i, i / ld, i % ld);

    static const char *part[3] = {"dq", "dk", "dv"};
    const int col0[3] = {0, H * hd, (H + KV) * hd}, width[3] = {H * hd, KV * hd, KV * hd};
    pick_state = 0xA77u + (uint64_t)(T * 31 + KV);
    for (int p = 0; p < 3; p++) {
        char what[80];
        snprintf(what, sizeof what, "attention %s (B %d T %d H %d KV %d)", part[p], B, T, H, KV);
        fd_stats s;
        fd_begin(&s, what, dqkv + col0[p], N, ld, width[p], T == 1 && p < 2);
        for (int t = 0; t < 28; t++) {
            int row;
            /* edges of each sequence and of the 64-row tile, then random rows */
            if (t < 4) {
                int b = t % B, which = t / 2;
                int tr = which == 0 ? 0 : T - 1;
                row = b * T + tr;
            } else if (t < 6 && T > 64) {
                row = (t - 4) % B * T + 63 + (t - 4);
            } else {
                row = (int)pick(N);
            }
            size_t i = (size_t)row * ld + col0[p] + pick(width[p]);
            fd_add(&s, i, fd_at(c.qkv, i, 1e-2, att_loss, &c), dqkv[i]);
        }
        fd_end(&s);
    }
    free(c.qkv), free(c.out), free(c.lse), free(c.R), free(ref), free(dqkv);
}

START_TEST(attention_gqa_t70) { attention_case(2, 70, 4, 2, 8); }
END_TEST
START_TEST(attention_mqa_t70) { attention_case(1, 70, 4, 1, 8); }
END_TEST
START_TEST(attention_gqa_t5) { attention_case(2, 5, 4, 2, 8); }
END_TEST
START_TEST(attention_mqa_t5) { attention_case(2, 5, 4, 1, 6); }
END_TEST
START_TEST(attention_mha_t1) { attention_case(3, 1, 2, 2, 4); }
END_TEST

/* ------------------------------------------------------------------ SwiGLU */

typedef struct {
    float *gu, *act, *R;
    int N, F;
} swiglu_ctx;

static double swiglu_loss(void *p)
{
    swiglu_ctx *c = p;
    be->swiglu_fwd(be, c->act, c->gu, c->N, c->F);
    return dot_rows(c->act, c->F, c->R, c->F, c->N, c->F);
}

START_TEST(swiglu_forward_backward)
{
    const int N = 7, F = 29;
    swiglu_ctx c = {fbuf((size_t)N * 2 * F), fbuf((size_t)N * F), fbuf((size_t)N * F), N, F};
    rb_test_fill_uniform(c.gu, (size_t)N * 2 * F, 3.0f, 51);
    c.gu[0] = -40.0f; /* deep negative gate: silu -> 0 without NaN */
    c.gu[1] = 40.0f;
    rb_test_fill_uniform(c.R, (size_t)N * F, 1.0f, 52);
    swiglu_loss(&c);
    double *ref = dbuf((size_t)N * F);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < F; i++) {
            double g = c.gu[(size_t)n * 2 * F + i], u = c.gu[(size_t)n * 2 * F + F + i];
            ref[(size_t)n * F + i] = g / (1.0 + exp(-g)) * u;
        }
    double dfwd = rel_rows(c.act, F, ref, F, N, F);
    printf("  swiglu forward rel %.2e\n", dfwd);
    ck_assert_msg(dfwd <= FWD_TOL, "swiglu forward differs by %.3e", dfwd);

    float *dgu = fbuf((size_t)N * 2 * F);
    be->swiglu_bwd(be, dgu, c.R, c.gu, N, F);
    fd_stats s;
    fd_begin(&s, "swiglu dgu", dgu, N, 2 * F, 2 * F, 0);
    pick_state = 0x5E1u;
    for (int t = 0; t < 60; t++) {
        size_t i = t < 2 ? (size_t)t : pick((size_t)N * 2 * F);
        fd_add(&s, i, fd_at(c.gu, i, 1e-2, swiglu_loss, &c), dgu[i]);
    }
    fd_end(&s);
    /* dgu may alias gu: the in-place result equals the separate one */
    float *inplace = fbuf((size_t)N * 2 * F);
    memcpy(inplace, c.gu, (size_t)N * 2 * F * sizeof *inplace);
    be->swiglu_bwd(be, inplace, c.R, inplace, N, F);
    ck_assert_msg(rb_test_rel_max_diff(inplace, dgu, (size_t)N * 2 * F) <= 1e-7,
                  "swiglu_bwd in place differs from the out-of-place result");
    free(c.gu), free(c.act), free(c.R), free(ref), free(dgu), free(inplace);
}
END_TEST

/* ------------------------------------------------------------------ cross-entropy */

typedef struct {
    float *logits, *losses;
    const int32_t *targets;
    int N, V;
    float scale;
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    be->cross_entropy(be, c->losses, NULL, c->logits, c->targets, c->N, c->V, c->scale);
    double s = 0;
    for (int n = 0; n < c->N; n++) s += c->losses[n];
    return s * c->scale;
}

START_TEST(cross_entropy_forward_backward)
{
    const int N = 6, V = 53;
    const int32_t targets[6] = {3, 52, -1, 0, 17, 17};
    ce_ctx c = {fbuf((size_t)N * V), fbuf(N), targets, N, V, 0.2f};
    rb_test_fill_uniform(c.logits, (size_t)N * V, 3.0f, 61);
    for (int i = 0; i < V; i++) c.logits[4 * V + i] += 60.0f; /* a shifted row: needs the max trick */
    ce_loss(&c);
    double worst = 0;
    for (int n = 0; n < N; n++) {
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < V; i++) mx = fmax(mx, c.logits[(size_t)n * V + i]);
        for (int i = 0; i < V; i++) sum += exp(c.logits[(size_t)n * V + i] - mx);
        double ref = targets[n] < 0 ? 0 : mx + log(sum) - c.logits[(size_t)n * V + targets[n]];
        if (targets[n] < 0) ck_assert_msg(c.losses[n] == 0.0f, "ignored row has loss %g", c.losses[n]);
        worst = fmax(worst, fabs(c.losses[n] - ref) / fmax(fabs(ref), 1e-30));
    }
    printf("  cross-entropy loss worst rel %.2e\n", worst);
    ck_assert_msg(worst <= FWD_TOL, "cross-entropy loss differs from log-sum-exp by %.3e", worst);

    float *dl = fbuf((size_t)N * V), *losses2 = fbuf(N);
    be->cross_entropy(be, losses2, dl, c.logits, targets, N, V, c.scale);
    for (int i = 0; i < V; i++) ck_assert_msg(dl[2 * V + i] == 0.0f, "ignored row has dlogits %g", dl[2 * V + i]);
    for (int n = 0; n < N; n++) ck_assert(losses2[n] == c.losses[n]);
    fd_stats s;
    fd_begin(&s, "cross-entropy dlogits", dl, N, V, V, 0);
    pick_state = 0xCE1u;
    for (int t = 0; t < 60; t++) {
        size_t i;
        if (t < N) i = (size_t)t * V + (targets[t] >= 0 ? (size_t)targets[t] : 0); /* target logits */
        else i = pick((size_t)N * V);
        fd_add(&s, i, fd_at(c.logits, i, 1e-2, ce_loss, &c), dl[i]);
    }
    fd_end(&s);
    /* dlogits may alias logits */
    float *inplace = fbuf((size_t)N * V);
    memcpy(inplace, c.logits, (size_t)N * V * sizeof *inplace);
    be->cross_entropy(be, losses2, inplace, inplace, targets, N, V, c.scale);
    ck_assert_msg(rb_test_rel_max_diff(inplace, dl, (size_t)N * V) <= 1e-7,
                  "cross_entropy with dlogits == logits differs from the separate result");
    free(c.logits), free(c.losses), free(dl), free(losses2), free(inplace);
}
END_TEST

/* ------------------------------------------------------------------ embedding */

typedef struct {
    float *table, *out, *R;
    const int32_t *tokens;
    int N, D;
} emb_ctx;

static double emb_loss(void *p)
{
    emb_ctx *c = p;
    be->embedding_fwd(be, c->out, c->tokens, c->table, c->N, c->D);
    return dot_rows(c->out, c->D, c->R, c->D, c->N, c->D);
}

START_TEST(embedding_forward_backward)
{
    const int N = 9, D = 11, V = 7;
    const int32_t tokens[9] = {3, 1, 3, 3, 0, 6, 1, 3, 6}; /* 2 and 4, 5 unused */
    emb_ctx c = {fbuf((size_t)V * D), fbuf((size_t)N * D), fbuf((size_t)N * D), tokens, N, D};
    rb_test_fill_uniform(c.table, (size_t)V * D, 1.0f, 71);
    rb_test_fill_uniform(c.R, (size_t)N * D, 1.0f, 72);
    emb_loss(&c);
    for (int n = 0; n < N; n++)
        ck_assert(!memcmp(c.out + (size_t)n * D, c.table + (size_t)tokens[n] * D, (size_t)D * sizeof(float)));

    float *dt = fbuf((size_t)V * D), *dt0 = fbuf((size_t)V * D), *g = fbuf((size_t)V * D);
    rb_test_fill_uniform(dt0, (size_t)V * D, 0.5f, 73);
    memcpy(dt, dt0, (size_t)V * D * sizeof *dt);
    be->embedding_bwd(be, dt, c.R, tokens, N, D);
    double *ref = dbuf((size_t)V * D);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < D; i++) ref[(size_t)tokens[n] * D + i] += c.R[(size_t)n * D + i];
    for (int i = 0; i < V * D; i++) g[i] = dt[i] - dt0[i];
    double dscat = rel_rows(g, D, ref, D, V, D);
    for (int i = 0; i < D; i++) {
        ck_assert_msg(dt[2 * D + i] == dt0[2 * D + i], "unused row 2 of dtable changed");
        ck_assert_msg(dt[5 * D + i] == dt0[5 * D + i], "unused row 5 of dtable changed");
    }
    fd_stats s;
    fd_begin(&s, "embedding dtable (repeated tokens)", g, V, D, D, 0);
    for (int v = 0; v < V; v++)
        for (int i = 0; i < D; i += 3) {
            size_t k = (size_t)v * D + i;
            fd_add(&s, k, fd_at(c.table, k, 1e-2, emb_loss, &c), g[k]);
        }
    fd_end(&s);
    printf("  embedding scatter vs naive rel %.2e\n", dscat);
    ck_assert_msg(dscat <= 1e-6, "embedding_bwd differs from the naive scatter by %.3e", dscat);
    free(c.table), free(c.out), free(c.R), free(dt), free(dt0), free(g), free(ref);
}
END_TEST

/* ------------------------------------------------------------------ GEMM */

START_TEST(gemm_transposes)
{
    const int M = 13, N = 11, K = 17;
    const float alpha = 0.7f, beta = 0.3f;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int b0 = 0; b0 < 2; b0++) { /* beta = 0 must ignore NaN in C */
                int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
                int lda = ac + 3, ldb = bc + 2, ldc = N + 4;
                float *A = fbuf((size_t)ar * lda), *Bm = fbuf((size_t)br * ldb), *C = fbuf((size_t)M * ldc);
                rb_test_fill_uniform(A, (size_t)ar * lda, 1.0f, 81 + (uint64_t)(ta * 2 + tb));
                rb_test_fill_uniform(Bm, (size_t)br * ldb, 1.0f, 85 + (uint64_t)(ta * 2 + tb));
                rb_test_fill_uniform(C, (size_t)M * ldc, 1.0f, 89);
                if (b0)
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
                double *ref = dbuf((size_t)M * N);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++) {
                            double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                            double b = tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j];
                            s += a * b;
                        }
                        ref[(size_t)i * N + j] = alpha * s + (b0 ? 0.0 : beta * C[(size_t)i * ldc + j]);
                    }
                float pad = C[ldc - 1];
                be->gemm(be, ta, tb, M, N, K, alpha, A, lda, Bm, ldb, b0 ? 0.0f : beta, C, ldc);
                double d = rel_rows(C, ldc, ref, N, M, N);
                printf("  gemm ta %d tb %d beta %s: rel %.2e\n", ta, tb, b0 ? "0 (C = NaN)" : "0.3", d);
                ck_assert_msg(d <= FWD_TOL, "gemm ta %d tb %d differs from the triple loop by %.3e", ta, tb, d);
                ck_assert_msg(C[ldc - 1] == pad, "gemm wrote into C's row padding");
                free(A), free(Bm), free(C), free(ref);
            }
    /* K = 0: C = beta C */
    float C2[6] = {1, 2, 3, 4, 5, 6}, dummy[1] = {0};
    be->gemm(be, 0, 0, 2, 3, 0, 1.0f, dummy, 1, dummy, 3, 0.5f, C2, 3);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(C2[i], 0.5f * (float)(i + 1));
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the measurements of a failing test */
    be = rb_test_cpu_backend();
    Suite *s = suite_create("cpu_ops_fd");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, rmsnorm_forward);
    tcase_add_test(tc, rmsnorm_backward_overwrite);
    tcase_add_test(tc, rmsnorm_backward_accumulate);
    tcase_add_test(tc, rmsnorm_backward_dx_aliases_dout);
    tcase_add_test(tc, rope_half);
    tcase_add_test(tc, rope_interleaved);
    tcase_add_test(tc, attention_gqa_t70);
    tcase_add_test(tc, attention_mqa_t70);
    tcase_add_test(tc, attention_gqa_t5);
    tcase_add_test(tc, attention_mqa_t5);
    tcase_add_test(tc, attention_mha_t1);
    tcase_add_test(tc, swiglu_forward_backward);
    tcase_add_test(tc, cross_entropy_forward_backward);
    tcase_add_test(tc, embedding_forward_backward);
    tcase_add_test(tc, gemm_transposes);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    return rc;
}
