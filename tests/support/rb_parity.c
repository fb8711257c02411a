/* rb_parity.c: see rb_parity.h. Buffers come in twins: one host array of
 * random values uploaded to both backends; outputs are downloaded from each
 * and compared, the reference's being the denominator. Shapes avoid
 * multiples of the GPU's tile sizes (37, 45, 70 ...) so edge tiles run. */
#include "rb_parity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_batch.h"
#include "rb_infer.h"
#include "rb_rng.h"

typedef struct {
    rb_backend *a, *b; /* reference, candidate */
    const rb_parity_opts *o;
    rb_parity_report *rep;
    uint64_t seed;
    int broken; /* a memory operation failed: stop */
} pctx;

typedef struct {
    size_t n;
    float *h;     /* host values */
    float *da, *db;
} twin;

typedef struct {
    size_t n;
    int32_t *h;
    int32_t *da, *db;
} itwin;

void rb_parity_opts_default(rb_parity_opts *o)
{
    memset(o, 0, sizeof *o);
    o->tol = 1e-5;
    o->tol_gemm = 1e-5;
    o->tol_bf16 = 1e-5;
    o->tol_att = 1e-5;
    o->tol_att_bwd = 1e-5;
    o->seed = 20251203;
}

void rb_parity_report_init(rb_parity_report *rep) { memset(rep, 0, sizeof *rep); }

void rb_parity_record(rb_parity_report *rep, const rb_parity_opts *o, const char *op, const char *what,
                      double err, double tol)
{
    int pass = err <= tol; /* NaN fails */
    if (rep->n < (int)(sizeof rep->r / sizeof rep->r[0])) {
        rb_parity_result *r = &rep->r[rep->n++];
        snprintf(r->op, sizeof r->op, "%s", op);
        snprintf(r->what, sizeof r->what, "%s", what);
        r->err = err;
        r->tol = tol;
        r->pass = pass;
    }
    if (!pass) rep->failures++;
    if (!o || !o->quiet)
        printf("  %-18s %-44s err %.3e (tol %.1e) %s\n", op, what, err, tol, pass ? "ok" : "FAIL");
}

int rb_parity_op_failed(const rb_parity_report *rep, const char *op)
{
    for (int i = 0; i < rep->n; i++)
        if (!rep->r[i].pass && !strcmp(rep->r[i].op, op)) return 1;
    return 0;
}

int rb_parity_op_checked(const rb_parity_report *rep, const char *op)
{
    for (int i = 0; i < rep->n; i++)
        if (!strcmp(rep->r[i].op, op)) return 1;
    return 0;
}

/* ---- twins ---- */

static void fill(float *x, size_t n, float scale, uint64_t seed)
{
    rb_rng r;
    rb_rng_seed2(&r, seed, 0x9A417);
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * rb_rng_uniform(&r) - 1.0) * scale);
}

static twin tw(pctx *p, size_t n, float scale)
{
    twin t = {n, malloc((n ? n : 1) * sizeof(float)), NULL, NULL};
    fill(t.h, n, scale, p->seed++);
    rb_error err = {0};
    if (p->a->alloc(p->a, (void **)&t.da, (n ? n : 1) * sizeof(float), &err) != RB_OK ||
        p->b->alloc(p->b, (void **)&t.db, (n ? n : 1) * sizeof(float), &err) != RB_OK ||
        p->a->upload(p->a, t.da, t.h, n * sizeof(float), &err) != RB_OK ||
        p->b->upload(p->b, t.db, t.h, n * sizeof(float), &err) != RB_OK) {
        printf("parity: memory operation failed: %s\n", err.msg);
        p->broken = 1;
    }
    return t;
}

static itwin itw(pctx *p, size_t n, int lo, int hi)
{
    itwin t = {n, malloc((n ? n : 1) * sizeof(int32_t)), NULL, NULL};
    rb_rng r;
    rb_rng_seed2(&r, p->seed++, 0x1A7);
    for (size_t i = 0; i < n; i++) t.h[i] = lo + (int32_t)(rb_rng_u64(&r) % (uint64_t)(hi - lo));
    rb_error err = {0};
    if (p->a->alloc(p->a, (void **)&t.da, (n ? n : 1) * sizeof(int32_t), &err) != RB_OK ||
        p->b->alloc(p->b, (void **)&t.db, (n ? n : 1) * sizeof(int32_t), &err) != RB_OK) {
        printf("parity: memory operation failed: %s\n", err.msg);
        p->broken = 1;
    }
    return t;
}

static void itw_upload(pctx *p, itwin *t)
{
    rb_error err = {0};
    if (p->a->upload(p->a, t->da, t->h, t->n * sizeof(int32_t), &err) != RB_OK ||
        p->b->upload(p->b, t->db, t->h, t->n * sizeof(int32_t), &err) != RB_OK) {
        printf("parity: upload failed: %s\n", err.msg);
        p->broken = 1;
    }
}

static void tw_free(pctx *p, twin *t)
{
    if (t->da) p->a->free(p->a, t->da);
    if (t->db) p->b->free(p->b, t->db);
    free(t->h);
    memset(t, 0, sizeof *t);
}

static void itw_free(pctx *p, itwin *t)
{
    if (t->da) p->a->free(p->a, t->da);
    if (t->db) p->b->free(p->b, t->db);
    free(t->h);
    memset(t, 0, sizeof *t);
}

/* max |b - a| / max |a| over n values, NaN if either side has a NaN */
static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) return NAN;
        double d = fabs((double)b[i] - (double)a[i]);
        if (d > num) num = d;
        if (fabs((double)a[i]) > den) den = fabs((double)a[i]);
    }
    return den > 0 ? num / den : num;
}

/* x rounded to bf16 (nearest even), as the GPU rounds operands */
static float round_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return x;
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

/* Round a twin's host values to bf16 and upload them again to both sides. */
static void tw_round_bf16(pctx *p, twin *t)
{
    for (size_t i = 0; i < t->n; i++) t->h[i] = round_bf16(t->h[i]);
    rb_error err = {0};
    if (p->a->upload(p->a, t->da, t->h, t->n * sizeof(float), &err) != RB_OK ||
        p->b->upload(p->b, t->db, t->h, t->n * sizeof(float), &err) != RB_OK) {
        printf("parity: upload failed: %s\n", err.msg);
        p->broken = 1;
    }
}

/* Download [off, off + n) of both sides (both synchronised first: a failed
 * op on either backend makes the check fail) and compare. */
static double cmp_range(pctx *p, const twin *t, size_t off, size_t n)
{
    float *ha = malloc((n ? n : 1) * sizeof(float)), *hb = malloc((n ? n : 1) * sizeof(float));
    rb_error err = {0};
    double e = NAN;
    if (p->a->sync(p->a, &err) != RB_OK || p->a->download(p->a, ha, t->da + off, n * sizeof(float), &err) != RB_OK)
        printf("  reference backend failed: %s\n", err.msg);
    else if (p->b->sync(p->b, &err) != RB_OK || p->b->download(p->b, hb, t->db + off, n * sizeof(float), &err) != RB_OK)
        printf("  candidate backend failed: %s\n", err.msg);
    else
        e = rel_err(ha, hb, n);
    free(ha);
    free(hb);
    return e;
}

static double cmp(pctx *p, const twin *t) { return cmp_range(p, t, 0, t->n); }

/* Columns [c0, c0 + nc) of `rows` rows at stride ld, as one matrix (one
 * denominator for all rows: a row whose exact values are 0, such as the
 * first query's dQ, is judged against the matrix's scale). */
static double cmp_cols(pctx *p, const twin *t, size_t rows, size_t ld, size_t c0, size_t nc)
{
    float *ha = malloc(t->n * sizeof(float)), *hb = malloc(t->n * sizeof(float));
    float *sa = malloc(rows * nc * sizeof(float)), *sb = malloc(rows * nc * sizeof(float));
    rb_error err = {0};
    double e = NAN;
    if (p->a->sync(p->a, &err) != RB_OK || p->a->download(p->a, ha, t->da, t->n * sizeof(float), &err) != RB_OK)
        printf("  reference backend failed: %s\n", err.msg);
    else if (p->b->sync(p->b, &err) != RB_OK || p->b->download(p->b, hb, t->db, t->n * sizeof(float), &err) != RB_OK)
        printf("  candidate backend failed: %s\n", err.msg);
    else {
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < nc; c++) {
                sa[r * nc + c] = ha[r * ld + c0 + c];
                sb[r * nc + c] = hb[r * ld + c0 + c];
            }
        e = rel_err(sa, sb, rows * nc);
    }
    free(ha), free(hb), free(sa), free(sb);
    return e;
}

/* largest of two errors, NaN winning */
static double worst(double x, double y) { return isnan(x) || isnan(y) ? NAN : (x > y ? x : y); }

static void rec(pctx *p, const char *op, const char *what, double err, double tol)
{
    rb_parity_record(p->rep, p->o, op, what, err, tol);
}

/* ---- the checks ---- */

static void check_gemm(pctx *p)
{
    const int M = 37, N = 45, K = 70;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            /* stored shapes with strides larger than the rows: lda = cols + 3 */
            int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
            int lda = ac + 3, ldb = bc + 5, ldc = N + 2;
            twin A = tw(p, (size_t)ar * lda, 1.0f), B = tw(p, (size_t)br * ldb, 1.0f), C = tw(p, (size_t)M * ldc, 1.0f);
            if (p->broken) return;
            const float alpha = 0.75f, beta = (ta + tb) % 2 ? 0.5f : 0.0f;
            if (p->o->gemm_as_bf16)
                p->a->gemm_bf16(p->a, ta, tb, M, N, K, alpha, A.da, lda, B.da, ldb, beta, C.da, ldc);
            else
                p->a->gemm(p->a, ta, tb, M, N, K, alpha, A.da, lda, B.da, ldb, beta, C.da, ldc);
            p->b->gemm(p->b, ta, tb, M, N, K, alpha, A.db, lda, B.db, ldb, beta, C.db, ldc);
            char what[72];
            snprintf(what, sizeof what, "%s%s M%d N%d K%d beta %g", ta ? "T" : "N", tb ? "T" : "N", M, N, K, beta);
            rec(p, "gemm", what, cmp(p, &C), p->o->tol_gemm);
            tw_free(p, &A), tw_free(p, &B), tw_free(p, &C);
        }
    /* one row (decoding: the CPU takes GEMV there) */
    twin x = tw(p, 70, 1.0f), W = tw(p, (size_t)45 * 70, 1.0f), y = tw(p, 45, 1.0f);
    if (p->broken) return;
    if (p->o->gemm_as_bf16) p->a->gemm_bf16(p->a, 0, 1, 1, 45, 70, 1.0f, x.da, 70, W.da, 70, 0.0f, y.da, 45);
    else p->a->gemm(p->a, 0, 1, 1, 45, 70, 1.0f, x.da, 70, W.da, 70, 0.0f, y.da, 45);
    p->b->gemm(p->b, 0, 1, 1, 45, 70, 1.0f, x.db, 70, W.db, 70, 0.0f, y.db, 45);
    rec(p, "gemm", "one row (M 1), B^T", cmp(p, &y), p->o->tol_gemm);
    tw_free(p, &x), tw_free(p, &W), tw_free(p, &y);
}

static void check_gemm_bf16(pctx *p)
{
    const int M = 33, N = 40, K = 75;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
            twin A = tw(p, (size_t)ar * ac, 1.0f), B = tw(p, (size_t)br * bc, 1.0f), C = tw(p, (size_t)M * N, 1.0f);
            if (p->broken) return;
            p->a->gemm_bf16(p->a, ta, tb, M, N, K, 1.25f, A.da, ac, B.da, bc, 0.5f, C.da, N);
            p->b->gemm_bf16(p->b, ta, tb, M, N, K, 1.25f, A.db, ac, B.db, bc, 0.5f, C.db, N);
            char what[72];
            snprintf(what, sizeof what, "%s%s M%d N%d K%d", ta ? "T" : "N", tb ? "T" : "N", M, N, K);
            rec(p, "gemm_bf16", what, cmp(p, &C), p->o->tol_bf16);
            tw_free(p, &A), tw_free(p, &B), tw_free(p, &C);
        }
    /* in place, Newton-Schulz's two forms: X = 1 * B X + a X (C is the right
     * operand) and X = X B + a X (C is the left operand) */
    const int r = 24, c = 56;
    twin X = tw(p, (size_t)r * c, 1.0f), Bm = tw(p, (size_t)r * r, 0.5f), Bt = tw(p, (size_t)c * c, 0.2f);
    if (p->broken) return;
    p->a->gemm_bf16(p->a, 0, 0, r, c, r, 1.0f, Bm.da, r, X.da, c, 3.4445f, X.da, c);
    p->b->gemm_bf16(p->b, 0, 0, r, c, r, 1.0f, Bm.db, r, X.db, c, 3.4445f, X.db, c);
    rec(p, "gemm_bf16", "in place X = B X + a X", cmp(p, &X), p->o->tol_bf16);
    p->a->gemm_bf16(p->a, 0, 0, r, c, c, 1.0f, X.da, c, Bt.da, c, 3.4445f, X.da, c);
    p->b->gemm_bf16(p->b, 0, 0, r, c, c, 1.0f, X.db, c, Bt.db, c, 3.4445f, X.db, c);
    rec(p, "gemm_bf16", "in place X = X B + a X", cmp(p, &X), p->o->tol_bf16);
    tw_free(p, &X), tw_free(p, &Bm), tw_free(p, &Bt);
}

/* Both triangles within tolerance of the reference, and the candidate
 * exactly symmetric. */
static void check_syrk(pctx *p)
{
    for (int trans = 0; trans < 2; trans++) {
        const int N = 36, K = 81, lda = trans ? N + 2 : K + 1, ldc = N + 3;
        const int rows = trans ? K : N;
        twin A = tw(p, (size_t)rows * lda, 1.0f), C = tw(p, (size_t)N * ldc, 1.0f);
        if (p->broken) return;
        p->a->syrk_bf16(p->a, trans, N, K, 0.5f, A.da, lda, C.da, ldc);
        p->b->syrk_bf16(p->b, trans, N, K, 0.5f, A.db, lda, C.db, ldc);
        double e = cmp_cols(p, &C, (size_t)N, (size_t)ldc, 0, (size_t)N);
        char what[72];
        snprintf(what, sizeof what, "%s N%d K%d", trans ? "A^T A" : "A A^T", N, K);
        rec(p, "syrk_bf16", what, e, p->o->tol_bf16);
        float *h = malloc(sizeof(float) * (size_t)N * ldc);
        rb_error err = {0};
        double asym = NAN;
        if (p->b->sync(p->b, &err) == RB_OK && p->b->download(p->b, h, C.db, sizeof(float) * (size_t)N * ldc, &err) == RB_OK) {
            asym = 0;
            for (int i = 0; i < N; i++)
                for (int j = 0; j < i; j++) asym = worst(asym, fabs((double)h[(size_t)i * ldc + j] - h[(size_t)j * ldc + i]));
        }
        free(h);
        snprintf(what, sizeof what, "%s exact symmetry", trans ? "A^T A" : "A A^T");
        rec(p, "syrk_bf16", what, asym, 0.0);
        tw_free(p, &A), tw_free(p, &C);
    }
}

static void check_embedding(pctx *p)
{
    const int N = 70, D = 45, V = 13; /* few tokens: many repeats in the gradient */
    itwin tok = itw(p, N, 0, V);
    twin table = tw(p, (size_t)V * D, 1.0f), out = tw(p, (size_t)N * D, 1.0f), dout = tw(p, (size_t)N * D, 1.0f);
    if (p->broken) return;
    itw_upload(p, &tok);
    p->a->embedding_fwd(p->a, out.da, tok.da, table.da, N, D);
    p->b->embedding_fwd(p->b, out.db, tok.db, table.db, N, D);
    rec(p, "embedding_fwd", "N70 D45 V13", cmp(p, &out), p->o->tol);
    p->a->embedding_bwd(p->a, table.da, dout.da, tok.da, N, D);
    p->b->embedding_bwd(p->b, table.db, dout.db, tok.db, N, D);
    rec(p, "embedding_bwd", "repeated tokens, accumulating", cmp(p, &table), p->o->tol);
    tw_free(p, &table), tw_free(p, &out), tw_free(p, &dout), itw_free(p, &tok);
}

static void check_rmsnorm(pctx *p)
{
    const int N = 37, D = 70, ldx = 75, ldo = 73, lddx = 72;
    twin x = tw(p, (size_t)N * ldx, 2.0f), w = tw(p, D, 1.0f), out = tw(p, (size_t)N * ldo, 1.0f);
    twin rstd = tw(p, N, 1.0f), dout = tw(p, (size_t)N * ldo, 1.0f), dx = tw(p, (size_t)N * lddx, 1.0f);
    twin dw = tw(p, D, 1.0f);
    if (p->broken) return;
    p->a->rmsnorm_fwd(p->a, out.da, ldo, rstd.da, x.da, ldx, w.da, N, D, 1e-5f);
    p->b->rmsnorm_fwd(p->b, out.db, ldo, rstd.db, x.db, ldx, w.db, N, D, 1e-5f);
    rec(p, "rmsnorm_fwd", "strided rows (out)", cmp(p, &out), p->o->tol);
    rec(p, "rmsnorm_fwd", "rstd", cmp(p, &rstd), p->o->tol);
    for (int acc = 0; acc < 2; acc++) {
        p->a->rmsnorm_bwd(p->a, dx.da, lddx, dw.da, dout.da, ldo, x.da, ldx, w.da, rstd.da, N, D, acc);
        p->b->rmsnorm_bwd(p->b, dx.db, lddx, dw.db, dout.db, ldo, x.db, ldx, w.db, rstd.db, N, D, acc);
        rec(p, "rmsnorm_bwd", acc ? "dx accumulated" : "dx", cmp(p, &dx), p->o->tol);
        rec(p, "rmsnorm_bwd", acc ? "dw (second accumulation)" : "dw accumulated", cmp(p, &dw), p->o->tol);
    }
    /* dx over dout, as the model calls it */
    p->a->rmsnorm_bwd(p->a, dout.da, ldo, dw.da, dout.da, ldo, x.da, ldx, w.da, rstd.da, N, D, 0);
    p->b->rmsnorm_bwd(p->b, dout.db, ldo, dw.db, dout.db, ldo, x.db, ldx, w.db, rstd.db, N, D, 0);
    rec(p, "rmsnorm_bwd", "dx aliasing dout", cmp(p, &dout), p->o->tol);
    tw_free(p, &x), tw_free(p, &w), tw_free(p, &out), tw_free(p, &rstd), tw_free(p, &dout), tw_free(p, &dx), tw_free(p, &dw);
}

static void check_rope(pctx *p)
{
    const int N = 37, nh = 3, hd = 16, ld = nh * hd + 7, maxpos = 50, half = hd / 2;
    itwin pos = itw(p, N, 0, maxpos);
    twin cs = tw(p, (size_t)2 * maxpos * half, 1.0f), x = tw(p, (size_t)N * ld, 1.0f);
    if (p->broken) return;
    itw_upload(p, &pos);
    for (int layout = 0; layout < 2; layout++)
        for (int inv = 0; inv < 2; inv++) {
            p->a->rope(p->a, x.da, ld, pos.da, N, nh, hd, cs.da, cs.da + (size_t)maxpos * half, (rb_rope_layout)layout, inv);
            p->b->rope(p->b, x.db, ld, pos.db, N, nh, hd, cs.db, cs.db + (size_t)maxpos * half, (rb_rope_layout)layout, inv);
            char what[72];
            snprintf(what, sizeof what, "%s, %s, strided", layout ? "interleaved" : "half split", inv ? "inverse" : "forward");
            rec(p, "rope", what, cmp(p, &x), p->o->tol);
        }
    tw_free(p, &cs), tw_free(p, &x), itw_free(p, &pos);
}

static void check_attention(pctx *p, int B, int T, int H, int KV, int hd)
{
    const int ld = (H + 2 * KV) * hd, Dq = H * hd;
    const size_t N = (size_t)B * T;
    twin qkv = tw(p, N * ld, 1.5f), out = tw(p, N * Dq, 1.0f), lse = tw(p, (size_t)B * H * T, 1.0f);
    twin dout = tw(p, N * Dq, 1.0f), dqkv = tw(p, N * ld, 1.0f);
    if (p->broken) return;
    if (p->o->att_bf16_inputs) {
        tw_round_bf16(p, &qkv);
        tw_round_bf16(p, &dout);
    }
    const double tol = p->o->tol_att;
    char what[72];
    snprintf(what, sizeof what, "B%d T%d H%d KV%d hd%d%s", B, T, H, KV, hd, p->o->att_bf16_inputs ? " bf16 in" : "");
    p->a->attention_fwd(p->a, out.da, lse.da, qkv.da, B, T, H, KV, hd);
    p->b->attention_fwd(p->b, out.db, lse.db, qkv.db, B, T, H, KV, hd);
    rec(p, "attention_fwd", what, cmp(p, &out), tol);
    char w2[80];
    snprintf(w2, sizeof w2, "%s lse", what);
    rec(p, "attention_fwd", w2, cmp(p, &lse), tol);
    p->a->attention_bwd(p->a, dqkv.da, dout.da, qkv.da, out.da, lse.da, B, T, H, KV, hd);
    p->b->attention_bwd(p->b, dqkv.db, dout.db, qkv.db, out.db, lse.db, B, T, H, KV, hd);
    /* dq, dk, dv separately: each has its own scale */
    double eq = cmp_cols(p, &dqkv, N, (size_t)ld, 0, (size_t)Dq);
    double ek = cmp_cols(p, &dqkv, N, (size_t)ld, (size_t)Dq, (size_t)KV * hd);
    double ev = cmp_cols(p, &dqkv, N, (size_t)ld, (size_t)Dq + (size_t)KV * hd, (size_t)KV * hd);
    snprintf(w2, sizeof w2, "%s dq", what);
    rec(p, "attention_bwd", w2, eq, p->o->tol_att_bwd);
    snprintf(w2, sizeof w2, "%s dk", what);
    rec(p, "attention_bwd", w2, ek, p->o->tol_att_bwd);
    snprintf(w2, sizeof w2, "%s dv", what);
    rec(p, "attention_bwd", w2, ev, p->o->tol_att_bwd);
    tw_free(p, &qkv), tw_free(p, &out), tw_free(p, &lse), tw_free(p, &dout), tw_free(p, &dqkv);
}

static void check_attention_cached(pctx *p, int n, int pos0, int H, int KV, int hd)
{
    const int ldq = (H + 2 * KV) * hd + 3, total = pos0 + n + 4;
    twin q = tw(p, (size_t)n * ldq, 1.5f), kc = tw(p, (size_t)total * KV * hd, 1.5f);
    twin vc = tw(p, (size_t)total * KV * hd, 1.0f), out = tw(p, (size_t)n * H * hd, 1.0f);
    if (p->broken) return;
    p->a->attention_cached(p->a, out.da, q.da, ldq, kc.da, vc.da, n, pos0, H, KV, hd);
    p->b->attention_cached(p->b, out.db, q.db, ldq, kc.db, vc.db, n, pos0, H, KV, hd);
    char what[72];
    snprintf(what, sizeof what, "n%d at pos %d, H%d KV%d hd%d", n, pos0, H, KV, hd);
    rec(p, "attention_cached", what, cmp(p, &out), p->o->tol);
    tw_free(p, &q), tw_free(p, &kc), tw_free(p, &vc), tw_free(p, &out);
}

/* ---- row invariance (gemm_rows, attention_cached), on each backend ---- */

/* A device buffer of n floats on be (NULL and p->broken on failure). */
static float *dev(pctx *p, rb_backend *be, size_t n)
{
    float *d = NULL;
    rb_error err = {0};
    if (be->alloc(be, (void **)&d, (n ? n : 1) * sizeof(float), &err) != RB_OK) {
        printf("parity: memory operation failed: %s\n", err.msg);
        p->broken = 1;
        return NULL;
    }
    return d;
}

/* Elements of rows x cols (strides la, lb) whose bits differ between two
 * device matrices of be; -1 when a download fails. */
static double bits_differ(rb_backend *be, const float *x, int la, const float *y, int lb, int rows, int cols)
{
    float *hx = malloc(sizeof(float) * (size_t)rows * la), *hy = malloc(sizeof(float) * (size_t)rows * lb);
    rb_error err = {0};
    double n = -1;
    if (be->sync(be, &err) == RB_OK && be->download(be, hx, x, sizeof(float) * ((size_t)(rows - 1) * la + cols), &err) == RB_OK &&
        be->download(be, hy, y, sizeof(float) * ((size_t)(rows - 1) * lb + cols), &err) == RB_OK) {
        n = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                n += memcmp(hx + (size_t)r * la + c, hy + (size_t)r * lb + c, sizeof(float)) != 0;
    } else {
        printf("  backend %s failed: %s\n", be->name, err.msg);
    }
    free(hx), free(hy);
    return n < 0 ? NAN : n;
}

/* On backend be: C = C0 + A W^T (accumulate) or A W^T for M rows, then
 * single rows, a chunk, a misaligned row and a subset of W's rows must
 * reproduce its elements bit for bit. */
static void gemm_rows_invariance(pctx *p, rb_backend *be, const char *who, const float *A, int lda,
                                 const float *W, int ldw, const float *C0, int ldc, int M, int N, int K, int acc)
{
    float *full = dev(p, be, (size_t)M * ldc), *part = dev(p, be, (size_t)M * ldc), *xa = dev(p, be, (size_t)K + 8);
    if (p->broken) return;
    be->copy(be, full, C0, sizeof(float) * (size_t)M * ldc);
    be->gemm_rows(be, M, N, K, A, lda, W, ldw, acc, full, ldc);
    double bad = 0;
    const int rows[] = {0, 1, 7, 17, M - 1};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const int r = rows[i];
        be->copy(be, part, C0 + (size_t)r * ldc, sizeof(float) * N);
        be->gemm_rows(be, 1, N, K, A + (size_t)r * lda, lda, W, ldw, acc, part, ldc);
        bad += bits_differ(be, full + (size_t)r * ldc, ldc, part, ldc, 1, N);
    }
    /* rows 5 .. 21 as one call of 17 */
    be->copy(be, part, C0 + (size_t)5 * ldc, sizeof(float) * 17 * ldc);
    be->gemm_rows(be, 17, N, K, A + (size_t)5 * lda, lda, W, ldw, acc, part, ldc);
    bad += bits_differ(be, full + (size_t)5 * ldc, ldc, part, ldc, 17, N);
    /* row 3 from a copy one float off its alignment */
    be->copy(be, xa + 1, A + (size_t)3 * lda, sizeof(float) * K);
    be->copy(be, part, C0 + (size_t)3 * ldc, sizeof(float) * N);
    be->gemm_rows(be, 1, N, K, xa + 1, K, W, ldw, acc, part, ldc);
    bad += bits_differ(be, full + (size_t)3 * ldc, ldc, part, ldc, 1, N);
    /* W's rows 7 .. 11 alone, for all M rows */
    be->copy(be, part, C0, sizeof(float) * (size_t)M * ldc);
    be->gemm_rows(be, M, 5, K, A, lda, W + (size_t)7 * ldw, ldw, acc, part + 7, ldc);
    bad += bits_differ(be, full + 7, ldc, part + 7, ldc, M, 5);
    char what[72];
    snprintf(what, sizeof what, "%s: rows alone vs M%d%s, bitwise", who, M, acc ? ", C +=" : "");
    rec(p, "gemm_rows", what, bad, 0.0);
    be->free(be, full), be->free(be, part), be->free(be, xa);
}

static void check_gemm_rows(pctx *p)
{
    /* (M, N, K, lda, ldw, ldc): odd strides (scalar loads), aligned ones
     * (vector loads, several steps of k), one row, long W (more rows of W per warp) */
    const int shapes[][6] = {{37, 45, 70, 73, 71, 47}, {37, 45, 300, 300, 300, 48}, {1, 45, 300, 300, 300, 48},
                             {3, 4100, 20, 20, 20, 4100}, {2, 16390, 12, 12, 12, 16390}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], lda = shapes[s][3], ldw = shapes[s][4],
                  ldc = shapes[s][5];
        twin A = tw(p, (size_t)M * lda, 1.0f), W = tw(p, (size_t)N * ldw, 1.0f), C = tw(p, (size_t)M * ldc, 1.0f);
        if (p->broken) return;
        for (int acc = 0; acc < 2; acc++) {
            twin C1 = tw(p, (size_t)M * ldc, 1.0f);
            if (p->broken) return;
            p->a->copy(p->a, C1.da, C.da, sizeof(float) * C.n);
            p->b->copy(p->b, C1.db, C.db, sizeof(float) * C.n);
            p->a->gemm_rows(p->a, M, N, K, A.da, lda, W.da, ldw, acc, C1.da, ldc);
            p->b->gemm_rows(p->b, M, N, K, A.db, lda, W.db, ldw, acc, C1.db, ldc);
            char what[72];
            snprintf(what, sizeof what, "M%d N%d K%d lda %d%s", M, N, K, lda, acc ? ", C +=" : "");
            rec(p, "gemm_rows", what, cmp(p, &C1), p->o->tol);
            tw_free(p, &C1);
            if (M >= 22 && N >= 12) {
                gemm_rows_invariance(p, p->a, "ref", A.da, lda, W.da, ldw, C.da, ldc, M, N, K, acc);
                gemm_rows_invariance(p, p->b, "cand", A.db, lda, W.db, ldw, C.db, ldc, M, N, K, acc);
            }
        }
        tw_free(p, &A), tw_free(p, &W), tw_free(p, &C);
    }
}

/* On backend be: n query rows at pos0 in one call, then rows alone (at
 * their own positions) and a chunk of 5 must give the same bits. */
static void cached_invariance(pctx *p, rb_backend *be, const char *who, const float *q, int ldq, const float *kc,
                              const float *vc, int n, int pos0, int H, int KV, int hd)
{
    const int Dq = H * hd;
    float *full = dev(p, be, (size_t)n * Dq), *part = dev(p, be, (size_t)n * Dq);
    if (p->broken) return;
    be->attention_cached(be, full, q, ldq, kc, vc, n, pos0, H, KV, hd);
    double bad = 0;
    const int rows[] = {0, 1, 31, 32, n - 1};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const int t = rows[i];
        be->attention_cached(be, part, q + (size_t)t * ldq, ldq, kc, vc, 1, pos0 + t, H, KV, hd);
        bad += bits_differ(be, full + (size_t)t * Dq, Dq, part, Dq, 1, Dq);
    }
    be->attention_cached(be, part, q + (size_t)10 * ldq, ldq, kc, vc, 5, pos0 + 10, H, KV, hd);
    bad += bits_differ(be, full + (size_t)10 * Dq, Dq, part, Dq, 5, Dq);
    char what[72];
    snprintf(what, sizeof what, "%s: rows alone vs n%d at %d, bitwise", who, n, pos0);
    rec(p, "attention_cached", what, bad, 0.0);
    be->free(be, full), be->free(be, part);
}

static void check_cached_rows(pctx *p, int n, int pos0, int H, int KV, int hd)
{
    const int ldq = (H + 2 * KV) * hd + 3, total = pos0 + n + 4;
    twin q = tw(p, (size_t)n * ldq, 1.5f), kc = tw(p, (size_t)total * KV * hd, 1.5f);
    twin vc = tw(p, (size_t)total * KV * hd, 1.0f);
    if (p->broken) return;
    cached_invariance(p, p->a, "ref", q.da, ldq, kc.da, vc.da, n, pos0, H, KV, hd);
    cached_invariance(p, p->b, "cand", q.db, ldq, kc.db, vc.db, n, pos0, H, KV, hd);
    tw_free(p, &q), tw_free(p, &kc), tw_free(p, &vc);
}

static void check_swiglu(pctx *p)
{
    const int N = 37, F = 45;
    twin gu = tw(p, (size_t)N * 2 * F, 3.0f), act = tw(p, (size_t)N * F, 1.0f), dact = tw(p, (size_t)N * F, 1.0f);
    twin dgu = tw(p, (size_t)N * 2 * F, 1.0f);
    if (p->broken) return;
    p->a->swiglu_fwd(p->a, act.da, gu.da, N, F);
    p->b->swiglu_fwd(p->b, act.db, gu.db, N, F);
    rec(p, "swiglu_fwd", "N37 F45", cmp(p, &act), p->o->tol);
    p->a->swiglu_bwd(p->a, dgu.da, dact.da, gu.da, N, F);
    p->b->swiglu_bwd(p->b, dgu.db, dact.db, gu.db, N, F);
    rec(p, "swiglu_bwd", "N37 F45", cmp(p, &dgu), p->o->tol);
    p->a->swiglu_bwd(p->a, gu.da, dact.da, gu.da, N, F);
    p->b->swiglu_bwd(p->b, gu.db, dact.db, gu.db, N, F);
    rec(p, "swiglu_bwd", "dgu aliasing gu", cmp(p, &gu), p->o->tol);
    tw_free(p, &gu), tw_free(p, &act), tw_free(p, &dact), tw_free(p, &dgu);
}

static void check_vectors(pctx *p)
{
    const size_t n = 70001; /* above the CPU's parallel threshold, not a multiple of anything */
    twin a = tw(p, n, 1.0f), b = tw(p, n, 1.0f), y = tw(p, n, 1.0f);
    if (p->broken) return;
    p->a->add(p->a, y.da, a.da, b.da, n);
    p->b->add(p->b, y.db, a.db, b.db, n);
    rec(p, "add", "n 70001", cmp(p, &y), p->o->tol);
    p->a->add(p->a, y.da, y.da, a.da, n);
    p->b->add(p->b, y.db, y.db, a.db, n);
    rec(p, "add", "in place", cmp(p, &y), p->o->tol);
    p->a->scale(p->a, y.da, -0.37f, n);
    p->b->scale(p->b, y.db, -0.37f, n);
    rec(p, "scale", "n 70001", cmp(p, &y), p->o->tol);
    p->a->axpy(p->a, y.da, 1.7f, a.da, n);
    p->b->axpy(p->b, y.db, 1.7f, a.db, n);
    rec(p, "axpy", "n 70001", cmp(p, &y), p->o->tol);
    double sa = p->a->sumsq(p->a, y.da, n), sb = p->b->sumsq(p->b, y.db, n);
    rec(p, "sumsq", "n 70001", fabs(sb - sa) / fabs(sa), p->o->tol);
    sa = p->a->sumsq(p->a, y.da, 17), sb = p->b->sumsq(p->b, y.db, 17);
    rec(p, "sumsq", "n 17", fabs(sb - sa) / fabs(sa), p->o->tol);
    tw_free(p, &a), tw_free(p, &b), tw_free(p, &y);

    const int rows = 37, cols = 70;
    twin in = tw(p, (size_t)rows * cols, 1.0f), out = tw(p, (size_t)rows * cols, 1.0f);
    if (p->broken) return;
    p->a->transpose(p->a, out.da, in.da, rows, cols);
    p->b->transpose(p->b, out.db, in.db, rows, cols);
    rec(p, "transpose", "37 x 70", cmp(p, &out), p->o->tol);
    /* memory ops */
    p->a->copy(p->a, out.da, in.da, 1000 * sizeof(float));
    p->b->copy(p->b, out.db, in.db, 1000 * sizeof(float));
    rec(p, "copy", "1000 floats", cmp(p, &out), p->o->tol);
    p->a->copy2d(p->a, out.da + 3, 50, in.da + 1, 40, 30, 17);
    p->b->copy2d(p->b, out.db + 3, 50, in.db + 1, 40, 30, 17);
    rec(p, "copy2d", "30 rows of 17, strides 50 / 40", cmp(p, &out), p->o->tol);
    p->a->zero(p->a, out.da + 5, 333 * sizeof(float));
    p->b->zero(p->b, out.db + 5, 333 * sizeof(float));
    rec(p, "zero", "333 floats", cmp(p, &out), p->o->tol);
    tw_free(p, &in), tw_free(p, &out);
}

static void check_optim(pctx *p)
{
    const size_t n = 40003;
    twin w = tw(p, n, 1.0f), g = tw(p, n, 1.0f), m = tw(p, n, 0.1f), v = tw(p, n, 0.01f), U = tw(p, n, 1.0f);
    if (p->broken) return;
    /* the second moment is non-negative (its square root is taken) */
    float *hv = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) hv[i] = w.h[i] * w.h[i] * 0.01f;
    rb_error err = {0};
    if (p->a->upload(p->a, v.da, hv, n * sizeof(float), &err) != RB_OK || p->b->upload(p->b, v.db, hv, n * sizeof(float), &err) != RB_OK)
        p->broken = 1;
    free(hv);
    for (int step = 1; step <= 3; step++) {
        const float b1 = 0.9f, b2 = 0.95f;
        const float bc1 = 1.0f - powf(b1, (float)step), bc2 = 1.0f - powf(b2, (float)step);
        p->a->adamw(p->a, w.da, g.da, m.da, v.da, n, 1e-3f, b1, b2, 1e-8f, 0.1f, bc1, bc2);
        p->b->adamw(p->b, w.db, g.db, m.db, v.db, n, 1e-3f, b1, b2, 1e-8f, 0.1f, bc1, bc2);
    }
    rec(p, "adamw", "3 steps: parameters", cmp(p, &w), p->o->tol);
    rec(p, "adamw", "3 steps: first moment", cmp(p, &m), p->o->tol);
    rec(p, "adamw", "3 steps: second moment", cmp(p, &v), p->o->tol);
    for (int nest = 0; nest < 2; nest++) {
        p->a->muon_momentum(p->a, m.da, U.da, g.da, n, 0.95f, nest);
        p->b->muon_momentum(p->b, m.db, U.db, g.db, n, 0.95f, nest);
        rec(p, "muon_momentum", nest ? "nesterov: update" : "plain: update", cmp(p, &U), p->o->tol);
        rec(p, "muon_momentum", nest ? "nesterov: momentum" : "plain: momentum", cmp(p, &m), p->o->tol);
    }
    tw_free(p, &w), tw_free(p, &g), tw_free(p, &m), tw_free(p, &v), tw_free(p, &U);
}

static void check_cross_entropy(pctx *p)
{
    const int N = 37, V = 1003;
    itwin tgt = itw(p, N, 0, V);
    for (int i = 0; i < N; i += 7) tgt.h[i] = -1; /* ignored positions */
    twin logits = tw(p, (size_t)N * V, 8.0f), loss = tw(p, N, 1.0f), d = tw(p, (size_t)N * V, 1.0f);
    if (p->broken) return;
    itw_upload(p, &tgt);
    p->a->cross_entropy(p->a, loss.da, NULL, logits.da, tgt.da, N, V, 0.0f);
    p->b->cross_entropy(p->b, loss.db, NULL, logits.db, tgt.db, N, V, 0.0f);
    rec(p, "cross_entropy", "losses only", cmp(p, &loss), p->o->tol);
    p->a->cross_entropy(p->a, loss.da, d.da, logits.da, tgt.da, N, V, 1.0f / 31);
    p->b->cross_entropy(p->b, loss.db, d.db, logits.db, tgt.db, N, V, 1.0f / 31);
    rec(p, "cross_entropy", "gradient", cmp(p, &d), p->o->tol);
    p->a->cross_entropy(p->a, loss.da, logits.da, logits.da, tgt.da, N, V, 1.0f / 31);
    p->b->cross_entropy(p->b, loss.db, logits.db, logits.db, tgt.db, N, V, 1.0f / 31);
    rec(p, "cross_entropy", "gradient over the logits", cmp(p, &logits), p->o->tol);
    rec(p, "cross_entropy", "losses (with gradient)", cmp(p, &loss), p->o->tol);
    tw_free(p, &logits), tw_free(p, &loss), tw_free(p, &d), itw_free(p, &tgt);
}

static void check_transfer(pctx *p)
{
    /* upload / download round trip: the candidate must return what it was given */
    const size_t n = 12345;
    twin t = tw(p, n, 1.0f);
    if (p->broken) return;
    float *h = malloc(n * sizeof(float));
    rb_error err = {0};
    double e = NAN;
    if (p->b->download(p->b, h, t.db, n * sizeof(float), &err) == RB_OK) e = rel_err(t.h, h, n);
    free(h);
    rec(p, "upload", "round trip through download", e, 0.0);
    tw_free(p, &t);
}

void rb_parity_ops(rb_backend *ref, rb_backend *cand, const rb_parity_opts *o, rb_parity_report *rep)
{
    pctx p = {ref, cand, o, rep, o->seed, 0};
    check_transfer(&p);
    check_gemm(&p);
    check_gemm_bf16(&p);
    check_syrk(&p);
    check_embedding(&p);
    check_rmsnorm(&p);
    check_rope(&p);
    check_gemm_rows(&p);
    check_attention(&p, 2, 37, 4, 2, 16);  /* GQA, a partial tile */
    check_attention(&p, 1, 70, 3, 1, 40);  /* three tiles, head_dim between the kernels' sizes */
    check_attention(&p, 1, 33, 2, 2, 72);  /* head_dim above 64 */
    check_attention_cached(&p, 5, 33, 4, 2, 16);
    check_attention_cached(&p, 1, 70, 4, 2, 16);
    check_attention_cached(&p, 40, 0, 2, 1, 72);
    check_cached_rows(&p, 37, 33, 4, 2, 16);
    check_cached_rows(&p, 37, 70, 2, 1, 72);
    check_swiglu(&p);
    check_vectors(&p);
    check_optim(&p);
    check_cross_entropy(&p);
    if (p.broken) rb_parity_record(rep, o, "memory", "a memory operation failed", NAN, 0);
}

void rb_parity_attention(rb_backend *ref, rb_backend *cand, const rb_parity_opts *o, rb_parity_report *rep)
{
    pctx p = {ref, cand, o, rep, o->seed + 1000, 0};
    check_attention(&p, 2, 37, 4, 2, 16);
    check_attention(&p, 1, 70, 3, 1, 40);
    check_attention(&p, 1, 33, 2, 2, 72);
    check_attention(&p, 1, 150, 4, 2, 24); /* three key tiles of 64, head_dim padded to 32 */
    if (p.broken) rb_parity_record(rep, o, "memory", "a memory operation failed", NAN, 0);
}

/* ---------------- model level ---------------- */

static rb_model *make_model(rb_backend *be, const rb_config *cfg, const float *params, rb_error *err)
{
    rb_model *m = NULL;
    if (rb_model_create(&m, cfg, be, err) != RB_OK) return NULL;
    rb_status st = params ? rb_model_set_params(m, params, err) : rb_model_init_random(m, 7, 0.05f, err);
    if (st != RB_OK) {
        rb_model_destroy(m);
        return NULL;
    }
    return m;
}

void rb_parity_train(rb_backend *ref, rb_backend *cand, const rb_config *cfg, rb_optim_kind kind, int ns_bf16,
                     int steps, double tol_step, double tol_grad, double tol_param, double tol_traj,
                     const rb_parity_opts *o, rb_parity_report *rep)
{
    rb_error err = {0};
    rb_model *m[2] = {make_model(ref, cfg, NULL, &err), NULL};
    if (m[0]) m[1] = make_model(cand, cfg, NULL, &err);
    const int B = 2, T = 24, k = rb_config_is_recurrent(cfg) ? 2 : 0, n = rb_config_is_recurrent(cfg) ? 1 : 0;
    rb_workspace *ws[2] = {NULL, NULL};
    rb_optimizer *opt[2] = {NULL, NULL};
    rb_optim_config oc;
    rb_optim_config_default(&oc, kind);
    oc.muon_lr = 2e-2f;
    oc.adam_lr = 3e-3f;
    oc.ns_bf16 = ns_bf16;
    int ok = m[0] && m[1];
    for (int i = 0; i < 2 && ok; i++)
        ok = rb_model_enable_grads(m[i], &err) == RB_OK && rb_workspace_create(&ws[i], m[i], B, T, k, &err) == RB_OK &&
             rb_optimizer_create(&opt[i], m[i], &oc, &err) == RB_OK;
    const char *kname = kind == RB_OPTIM_MUON ? (ns_bf16 ? "muon (bf16 NS)" : "muon (fp32 NS)") : "adamw";
    char what[72];
    if (!ok) {
        snprintf(what, sizeof what, "%s: setup failed: %.40s", kname, err.msg);
        rb_parity_record(rep, o, "train_step", what, NAN, tol_step);
        goto done;
    }
    const size_t P = m[0]->table.total;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(B * T + 1));
    float *h[2] = {malloc(P * sizeof(float)), malloc(P * sizeof(float))};
    rb_rng r;
    rb_rng_seed(&r, 99);
    for (int i = 0; i <= B * T; i++) tok[i] = (int32_t)(rb_rng_u64(&r) % (uint64_t)cfg->vocab_size);
    double traj = 0;
    for (int s = 0; s < steps && ok; s++) {
        double loss[2] = {0, 0};
        rb_step_opts so = {.n_nograd = n, .n_grad = k, .grad = 1, .seed = 5 + (uint64_t)s};
        for (int i = 0; i < 2 && ok; i++)
            ok = rb_model_zero_grads(m[i], &err) == RB_OK &&
                 rb_forward(m[i], ws[i], tok, tok + 1, &so, &loss[i], &err) == RB_OK &&
                 rb_backward(m[i], ws[i], &err) == RB_OK;
        if (!ok) break;
        if (s == 0) {
            snprintf(what, sizeof what, "%s: loss of step 1", kname);
            rb_parity_record(rep, o, "train_step", what, fabs(loss[1] - loss[0]) / fabs(loss[0]), tol_step);
            ok = rb_model_get_grads(m[0], h[0], &err) == RB_OK && rb_model_get_grads(m[1], h[1], &err) == RB_OK;
            snprintf(what, sizeof what, "%s: gradients of step 1", kname);
            if (ok) rb_parity_record(rep, o, "train_step", what, rel_err(h[0], h[1], P), tol_grad);
        }
        for (int i = 0; i < 2 && ok; i++) ok = rb_optimizer_step(opt[i], 1.0f, NULL, &err) == RB_OK;
        if (ok && s == 0) {
            ok = rb_model_get_params(m[0], h[0], &err) == RB_OK && rb_model_get_params(m[1], h[1], &err) == RB_OK;
            snprintf(what, sizeof what, "%s: parameters after step 1", kname);
            if (ok) rb_parity_record(rep, o, "train_step", what, rel_err(h[0], h[1], P), tol_param);
        }
        double e = fabs(loss[1] - loss[0]) / fabs(loss[0]);
        traj = worst(traj, e);
        if (!o || !o->quiet) printf("    step %2d loss ref %.6f cand %.6f (rel %.2e)\n", s + 1, loss[0], loss[1], e);
    }
    snprintf(what, sizeof what, "%s: %d-step loss trajectory", kname, steps);
    if (!ok) {
        snprintf(what, sizeof what, "%s: failed: %.40s", kname, err.msg);
        traj = NAN;
    }
    rb_parity_record(rep, o, "train_trajectory", what, traj, tol_traj);
    free(tok);
    free(h[0]);
    free(h[1]);
done:
    for (int i = 0; i < 2; i++) {
        rb_optimizer_destroy(opt[i]);
        rb_workspace_destroy(ws[i]);
        rb_model_destroy(m[i]);
    }
}

void rb_parity_generate(rb_backend *ref, rb_backend *cand, const rb_config *cfg, const float *params, int depth,
                        int n, int32_t start, double tol_logits, const rb_parity_opts *o, rb_parity_report *rep)
{
    rb_error err = {0};
    rb_backend *be[2] = {ref, cand};
    int32_t *seq[2] = {malloc(sizeof(int32_t) * (size_t)(n + 1)), malloc(sizeof(int32_t) * (size_t)(n + 1))};
    float *lg[2] = {malloc(sizeof(float) * (size_t)cfg->vocab_size * n), malloc(sizeof(float) * (size_t)cfg->vocab_size * n)};
    int ok = 1;
    const int V = cfg->vocab_size;
    for (int i = 0; i < 2 && ok; i++) {
        rb_model *m = make_model(be[i], cfg, params, &err);
        rb_session *s = NULL;
        ok = m && rb_session_create(&s, m, n + 1, depth, &err) == RB_OK;
        int32_t tok = start;
        for (int t = 0; t < n && ok; t++) {
            rb_infer_opts io = {.depth = depth, .seed = 1000 + (uint64_t)t};
            ok = rb_session_feed(s, &tok, 1, &io, lg[i] + (size_t)t * V, NULL, &err) == RB_OK;
            tok = rb_argmax(lg[i] + (size_t)t * V, V);
            seq[i][t] = tok;
        }
        rb_session_destroy(s);
        rb_model_destroy(m);
    }
    char what[72];
    snprintf(what, sizeof what, "greedy %d tokens at depth %d", n, depth);
    if (!ok) {
        snprintf(what, sizeof what, "depth %d failed: %.50s", depth, err.msg);
        rb_parity_record(rep, o, "generate", what, NAN, 0);
    } else {
        int differ = 0, first = -1;
        for (int t = 0; t < n; t++)
            if (seq[0][t] != seq[1][t]) {
                differ++;
                if (first < 0) first = t;
            }
        if (first >= 0 && (!o || !o->quiet)) {
            /* a near tie of the top two logits would explain a flip; a bug would not */
            const float *l0 = lg[0] + (size_t)first * V;
            printf("    first difference at token %d: ref %d (logit %.6f) cand %d (ref's logit for it %.6f)\n", first,
                   seq[0][first], l0[seq[0][first]], seq[1][first], l0[seq[1][first]]);
        }
        rb_parity_record(rep, o, "generate", what, (double)differ, 0);
        /* logits up to the first difference (the same inputs on both) */
        int upto = first < 0 ? n : first + 1;
        snprintf(what, sizeof what, "logits of %d steps at depth %d", upto, depth);
        rb_parity_record(rep, o, "generate_logits", what, rel_err(lg[0], lg[1], (size_t)upto * V), tol_logits);
    }
    free(seq[0]), free(seq[1]), free(lg[0]), free(lg[1]);
}

/* ---------------- batched decoding ---------------- */

#define BATCH_SEED 77

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* One job alone: tok[max_new] greedy tokens, lg[max_new] hashes of the
 * logits behind them. 0 on failure (err set). */
static int single_path(rb_model *m, const int32_t *t, int n, int depth, int max_new, int32_t *tok, uint64_t *lg,
                       rb_error *err)
{
    rb_session *s = NULL;
    const int V = m->cfg.vocab_size;
    float *l = malloc(sizeof(float) * (size_t)V);
    int ok = rb_session_create(&s, m, n + max_new, depth, err) == RB_OK;
    rb_infer_opts io = {.depth = depth, .seed = BATCH_SEED};
    ok = ok && rb_session_feed(s, t, n, &io, l, NULL, err) == RB_OK;
    for (int i = 0; ok && i < max_new; i++) {
        tok[i] = rb_argmax(l, V);
        lg[i] = fnv(l, sizeof(float) * (size_t)V);
        if (i + 1 < max_new) ok = rb_session_feed(s, &tok[i], 1, &io, l, NULL, err) == RB_OK;
    }
    rb_session_destroy(s);
    free(l);
    return ok;
}

/* Every job through rb_batch with B slots; the number of steps that differ
 * from the single path, or -1 on failure (err set). */
static int batched_path(rb_model *m, int32_t *const *prompts, const int *lens, int n_prompts, const int *depths,
                        int nd, int max_new, int B, const int32_t *ref_tok, const uint64_t *ref_lg, rb_error *err)
{
    rb_batch *b = NULL;
    int maxd = 1, maxn = 1;
    for (int i = 0; i < nd; i++) maxd = depths[i] > maxd ? depths[i] : maxd;
    for (int i = 0; i < n_prompts; i++) maxn = lens[i] > maxn ? lens[i] : maxn;
    rb_batch_opts bo = {.max_seqs = B, .max_tokens = maxn + max_new, .max_depth = maxd, .seed = BATCH_SEED};
    if (rb_batch_create(&b, m, &bo, err) != RB_OK) return -1;
    const int V = m->cfg.vocab_size, jobs = n_prompts * nd;
    int *ids = malloc(sizeof(int) * (size_t)n_prompts), *job = malloc(sizeof(int) * (size_t)B);
    int *cnt = malloc(sizeof(int) * (size_t)B);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)B), *nxt = malloc(sizeof(int32_t) * (size_t)B);
    int bad = 0, next = 0, done = 0, ok = 1;
    for (int k = 0; ok && k < n_prompts; k++) ok = rb_batch_add_prompt(b, prompts[k], lens[k], &ids[k], NULL, err) == RB_OK;
    for (int s = 0; s < B; s++) job[s] = -1;
    while (ok && done < jobs) {
        for (int s = 0; ok && s < B; s++) {
            if (job[s] >= 0 || next >= jobs) continue;
            const int j = next++;
            ok = rb_batch_start(b, s, ids[j / nd], depths[j % nd], max_new, &tok[s], err) == RB_OK;
            if (!ok) break;
            job[s] = j, cnt[s] = 0;
            bad += tok[s] != ref_tok[(size_t)j * max_new] ||
                   fnv(rb_batch_logits(b, s), sizeof(float) * (size_t)V) != ref_lg[(size_t)j * max_new];
            if (max_new == 1) {
                rb_batch_finish(b, s);
                job[s] = -1;
                done++;
            }
        }
        if (!ok || done == jobs) break;
        ok = rb_batch_step(b, tok, nxt, err) == RB_OK;
        for (int s = 0; ok && s < B; s++) {
            if (job[s] < 0) continue;
            const int j = job[s], i = ++cnt[s];
            bad += nxt[s] != ref_tok[(size_t)j * max_new + i] ||
                   fnv(rb_batch_logits(b, s), sizeof(float) * (size_t)V) != ref_lg[(size_t)j * max_new + i];
            tok[s] = nxt[s];
            if (i + 1 == max_new) {
                rb_batch_finish(b, s);
                job[s] = -1;
                done++;
            }
        }
    }
    free(ids), free(job), free(cnt), free(tok), free(nxt);
    rb_batch_destroy(b);
    return ok ? bad : -1;
}

void rb_parity_batch(rb_backend *ref, rb_backend *cand, const rb_config *cfg, const float *params,
                     int32_t *const *prompts, const int *lens, int n_prompts, const int *depths, int nd, int max_new,
                     const int *Bs, int nB, const rb_parity_opts *o, rb_parity_report *rep)
{
    rb_error err = {0};
    const int jobs = n_prompts * nd;
    int32_t *tok[2] = {malloc(sizeof(int32_t) * (size_t)jobs * max_new), malloc(sizeof(int32_t) * (size_t)jobs * max_new)};
    uint64_t *lg[2] = {malloc(sizeof(uint64_t) * (size_t)jobs * max_new), malloc(sizeof(uint64_t) * (size_t)jobs * max_new)};
    char what[72], ds[24] = "";
    for (int i = 0; i < nd; i++) snprintf(ds + strlen(ds), sizeof ds - strlen(ds), "%s%d", i ? "," : "", depths[i]);
    rb_model *m = NULL;
    int ok = 1;
    /* the reference's single path first (cand's model is built after, so
     * both never hold device memory at once) */
    if (ref) {
        rb_model *mr = make_model(ref, cfg, params, &err);
        ok = mr != NULL;
        for (int j = 0; ok && j < jobs; j++)
            ok = single_path(mr, prompts[j / nd], lens[j / nd], depths[j % nd], max_new, tok[0] + (size_t)j * max_new,
                             lg[0] + (size_t)j * max_new, &err);
        rb_model_destroy(mr);
    }
    if (ok) ok = (m = make_model(cand, cfg, params, &err)) != NULL;
    for (int j = 0; ok && j < jobs; j++)
        ok = single_path(m, prompts[j / nd], lens[j / nd], depths[j % nd], max_new, tok[1] + (size_t)j * max_new,
                         lg[1] + (size_t)j * max_new, &err);
    if (!ok) {
        snprintf(what, sizeof what, "single path failed: %.50s", err.msg);
        rb_parity_record(rep, o, "batch_decode", what, NAN, 0);
        goto done;
    }
    if (ref) {
        int differ = 0;
        for (size_t i = 0; i < (size_t)jobs * max_new; i++) differ += tok[0][i] != tok[1][i];
        snprintf(what, sizeof what, "%d jobs x %d tokens at depths %s vs ref", jobs, max_new, ds);
        rb_parity_record(rep, o, "batch_tokens", what, (double)differ, 0);
    }
    int distinct = 0;
    for (int j = 1; j < jobs; j++) distinct += tok[1][(size_t)j * max_new + max_new - 1] != tok[1][max_new - 1];
    if (!distinct && (!o || !o->quiet)) printf("    (every job ends in the same token: a weak check)\n");
    for (int i = 0; i < nB; i++) {
        int bad = batched_path(m, prompts, lens, n_prompts, depths, nd, max_new, Bs[i], tok[1], lg[1], &err);
        snprintf(what, sizeof what, "B %d, %d jobs x %d at depths %s: steps differing", Bs[i], jobs, max_new, ds);
        if (bad < 0) snprintf(what, sizeof what, "B %d failed: %.50s", Bs[i], err.msg);
        rb_parity_record(rep, o, "batch_decode", what, bad < 0 ? NAN : (double)bad, 0);
    }
done:
    rb_model_destroy(m);
    free(tok[0]), free(tok[1]), free(lg[0]), free(lg[1]);
}
