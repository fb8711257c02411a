/* test_parity_harness.c: the parity harness (tests/support/rb_parity.c)
 * can tell backends apart. Run CPU against CPU it must pass every check;
 * run CPU against a CPU backend in which one operation is slightly wrong
 * (its first output element moved by about 1e-3), it must flag that very
 * operation, for every entry of the table it checks (a perturbed gemm_rows
 * or attention_cached also breaks their row invariance). The CUDA suites
 * (tests/cuda) rely on this harness; here CI sees that it can fail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_parity.h"
#include "rb_test.h"

static rb_backend *real; /* the CPU backend the perturbed one forwards to */

static void bump(float *x) { x[0] += 1e-3f * (1.0f + fabsf(x[0])); }

static void p_gemm(rb_backend *be, int ta, int tb, int M, int N, int K, float al, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc)
{
    real->gemm(be, ta, tb, M, N, K, al, A, lda, B, ldb, beta, C, ldc);
    bump(C);
}
static void p_gemm_bf16(rb_backend *be, int ta, int tb, int M, int N, int K, float al, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc)
{
    real->gemm_bf16(be, ta, tb, M, N, K, al, A, lda, B, ldb, beta, C, ldc);
    bump(C);
}
static void p_syrk(rb_backend *be, int t, int N, int K, float al, const float *A, int lda, float *C, int ldc)
{
    real->syrk_bf16(be, t, N, K, al, A, lda, C, ldc);
    bump(C);
}
static void p_gemm_rows(rb_backend *be, int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                        int acc, float *C, int ldc)
{
    real->gemm_rows(be, M, N, K, A, lda, W, ldw, acc, C, ldc);
    bump(C);
}
static void p_emb_f(rb_backend *be, float *out, const int32_t *tok, const float *tab, int N, int D)
{
    real->embedding_fwd(be, out, tok, tab, N, D);
    bump(out);
}
static void p_emb_b(rb_backend *be, float *dt, const float *dout, const int32_t *tok, int N, int D)
{
    real->embedding_bwd(be, dt, dout, tok, N, D);
    bump(dt);
}
static void p_rms_f(rb_backend *be, float *out, int ldo, float *rstd, const float *x, int ldx, const float *w, int N,
                    int D, float eps)
{
    real->rmsnorm_fwd(be, out, ldo, rstd, x, ldx, w, N, D, eps);
    bump(out);
}
static void p_rms_b(rb_backend *be, float *dx, int lddx, float *dw, const float *dout, int lddout, const float *x,
                    int ldx, const float *w, const float *rstd, int N, int D, int acc)
{
    real->rmsnorm_bwd(be, dx, lddx, dw, dout, lddout, x, ldx, w, rstd, N, D, acc);
    bump(dx);
}
static void p_rope(rb_backend *be, float *x, int ld, const int32_t *pos, int N, int nh, int hd, const float *c,
                   const float *s, rb_rope_layout l, int inv)
{
    real->rope(be, x, ld, pos, N, nh, hd, c, s, l, inv);
    bump(x);
}
static void p_att_f(rb_backend *be, float *out, float *lse, const float *qkv, int B, int T, int H, int KV, int hd)
{
    real->attention_fwd(be, out, lse, qkv, B, T, H, KV, hd);
    bump(out);
}
static void p_att_b(rb_backend *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                    const float *lse, int B, int T, int H, int KV, int hd)
{
    real->attention_bwd(be, dqkv, dout, qkv, out, lse, B, T, H, KV, hd);
    bump(dqkv);
}
static void p_att_c(rb_backend *be, float *out, const float *q, int ldq, const float *kc, const float *vc, int n,
                    int pos0, int H, int KV, int hd)
{
    real->attention_cached(be, out, q, ldq, kc, vc, n, pos0, H, KV, hd);
    bump(out);
}
static void p_sw_f(rb_backend *be, float *act, const float *gu, int N, int F)
{
    real->swiglu_fwd(be, act, gu, N, F);
    bump(act);
}
static void p_sw_b(rb_backend *be, float *dgu, const float *dact, const float *gu, int N, int F)
{
    real->swiglu_bwd(be, dgu, dact, gu, N, F);
    bump(dgu);
}
static void p_add(rb_backend *be, float *y, const float *a, const float *b, size_t n)
{
    real->add(be, y, a, b, n);
    bump(y);
}
static void p_scale(rb_backend *be, float *x, float a, size_t n)
{
    real->scale(be, x, a, n);
    bump(x);
}
static double p_sumsq(rb_backend *be, const float *x, size_t n) { return real->sumsq(be, x, n) * (1.0 + 1e-4); }
static void p_axpy(rb_backend *be, float *y, float a, const float *x, size_t n)
{
    real->axpy(be, y, a, x, n);
    bump(y);
}
static void p_transpose(rb_backend *be, float *out, const float *in, int r, int c)
{
    real->transpose(be, out, in, r, c);
    bump(out);
}
static void p_adamw(rb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
                    float b2, float eps, float wd, float bc1, float bc2)
{
    real->adamw(be, p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2);
    bump(p);
}
static void p_muon(rb_backend *be, float *M, float *U, const float *G, size_t n, float beta, int nest)
{
    real->muon_momentum(be, M, U, G, n, beta, nest);
    bump(U);
}
static void p_ce(rb_backend *be, float *losses, float *d, const float *logits, const int32_t *t, int N, int V, float s)
{
    real->cross_entropy(be, losses, d, logits, t, N, V, s);
    bump(losses);
}
static void p_copy(rb_backend *be, void *dst, const void *src, size_t bytes)
{
    real->copy(be, dst, src, bytes);
    bump((float *)dst);
}
static void p_copy2d(rb_backend *be, float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    real->copy2d(be, dst, ldd, src, lds, rows, cols);
    bump(dst);
}
static void p_zero(rb_backend *be, void *ptr, size_t bytes)
{
    real->zero(be, ptr, bytes);
    bump((float *)ptr);
}
static rb_status p_upload(rb_backend *be, void *dst, const void *src, size_t bytes, rb_error *err)
{
    rb_status st = real->upload(be, dst, src, bytes, err);
    /* only large buffers, which are floats here: the harness's integer
     * inputs (tokens, positions) are small, and a wrong token would crash */
    if (bytes >= 16384) bump((float *)dst);
    return st;
}

/* A copy of the CPU backend's table (sharing its context) with op `name`
 * replaced by its perturbed wrapper. */
static rb_backend perturbed(const char *name)
{
    rb_backend b = *real;
    b.destroy = NULL;
#define SWAP(field, fn) \
    if (!strcmp(name, #field)) b.field = fn
    SWAP(gemm, p_gemm);
    SWAP(gemm_bf16, p_gemm_bf16);
    SWAP(syrk_bf16, p_syrk);
    SWAP(gemm_rows, p_gemm_rows);
    SWAP(embedding_fwd, p_emb_f);
    SWAP(embedding_bwd, p_emb_b);
    SWAP(rmsnorm_fwd, p_rms_f);
    SWAP(rmsnorm_bwd, p_rms_b);
    SWAP(rope, p_rope);
    SWAP(attention_fwd, p_att_f);
    SWAP(attention_bwd, p_att_b);
    SWAP(attention_cached, p_att_c);
    SWAP(swiglu_fwd, p_sw_f);
    SWAP(swiglu_bwd, p_sw_b);
    SWAP(add, p_add);
    SWAP(scale, p_scale);
    SWAP(sumsq, p_sumsq);
    SWAP(axpy, p_axpy);
    SWAP(transpose, p_transpose);
    SWAP(adamw, p_adamw);
    SWAP(muon_momentum, p_muon);
    SWAP(cross_entropy, p_ce);
    SWAP(copy, p_copy);
    SWAP(copy2d, p_copy2d);
    SWAP(zero, p_zero);
    SWAP(upload, p_upload);
#undef SWAP
    return b;
}

static const char *const ops[] = {"gemm", "gemm_bf16", "syrk_bf16", "gemm_rows", "embedding_fwd", "embedding_bwd",
                                  "rmsnorm_fwd", "rmsnorm_bwd", "rope", "attention_fwd", "attention_bwd",
                                  "attention_cached", "swiglu_fwd", "swiglu_bwd", "add", "scale", "sumsq",
                                  "axpy", "transpose", "adamw", "muon_momentum", "cross_entropy", "copy",
                                  "copy2d", "zero", "upload"};

START_TEST(cpu_against_cpu_passes)
{
    rb_backend *a = rb_test_cpu_backend(), *b = NULL;
    rb_error err = {0};
    ck_assert(rb_backend_cpu_create(&b, &err) == RB_OK);
    rb_parity_opts o;
    rb_parity_opts_default(&o);
    rb_parity_report rep;
    rb_parity_report_init(&rep);
    rb_parity_ops(a, b, &o, &rep);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        ck_assert_msg(rb_parity_op_checked(&rep, ops[i]), "the harness never checks %s", ops[i]);
    ck_assert_msg(rep.failures == 0, "CPU against CPU: %d checks failed", rep.failures);
    printf("CPU against CPU: %d checks, all passed\n", rep.n);
    rb_backend_destroy(b);
}
END_TEST

START_TEST(cpu_against_perturbed_cpu_fails)
{
    real = rb_test_cpu_backend();
    const char *op = ops[_i];
    rb_backend pb = perturbed(op);
    rb_parity_opts o;
    rb_parity_opts_default(&o);
    o.quiet = 1;
    rb_parity_report rep;
    rb_parity_report_init(&rep);
    rb_parity_ops(real, &pb, &o, &rep);
    ck_assert_msg(rb_parity_op_failed(&rep, op), "a perturbed %s went unnoticed", op);
    printf("perturbed %-16s detected (%d of %d checks failed)\n", op, rep.failures, rep.n);
}
END_TEST

/* The model-level checks fail too: a training step and a trajectory run
 * through a backend whose gemm is slightly off. */
START_TEST(model_checks_detect_a_perturbed_gemm)
{
    real = rb_test_cpu_backend();
    rb_backend pb = perturbed("gemm");
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 61, c.dim = 32, c.n_heads = 4, c.n_kv_heads = 2, c.hidden_dim = 48, c.max_seq_len = 32;
    c.n_prelude = 1, c.n_recur = 1, c.n_coda = 1;
    rb_parity_opts o;
    rb_parity_opts_default(&o);
    o.quiet = 1;
    rb_parity_report same, off;
    rb_parity_report_init(&same);
    rb_parity_report_init(&off);
    rb_backend *b = NULL;
    rb_error err = {0};
    ck_assert(rb_backend_cpu_create(&b, &err) == RB_OK);
    rb_parity_train(real, b, &c, RB_OPTIM_ADAMW, 0, 3, 1e-5, 1e-5, 1e-5, 1e-5, &o, &same);
    ck_assert_msg(same.failures == 0, "CPU against CPU: %d model checks failed", same.failures);
    rb_parity_train(real, &pb, &c, RB_OPTIM_ADAMW, 0, 3, 1e-5, 1e-5, 1e-5, 1e-5, &o, &off);
    ck_assert(rb_parity_op_failed(&off, "train_step"));
    ck_assert(rb_parity_op_failed(&off, "train_trajectory"));
    rb_backend_destroy(b);
}
END_TEST

/* The batched-decoding check passes on the CPU and flags a gemm_rows that
 * is not row-invariant (the perturbed one moves the first element of every
 * call: row 0 of a batch, but every row decoded alone). */
START_TEST(batch_check_detects_a_row_dependent_gemm_rows)
{
    real = rb_test_cpu_backend();
    rb_backend pb = perturbed("gemm_rows");
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 61, c.dim = 32, c.n_heads = 4, c.n_kv_heads = 2, c.hidden_dim = 48, c.max_seq_len = 32;
    c.n_prelude = 1, c.n_recur = 1, c.n_coda = 1;
    int32_t toks[4][9];
    int32_t *prompts[4];
    int lens[4];
    for (int i = 0; i < 4; i++) {
        lens[i] = 3 + 2 * i;
        for (int t = 0; t < lens[i]; t++) toks[i][t] = (int32_t)((7 * i + 13 * t + 5) % 61);
        prompts[i] = toks[i];
    }
    const int depths[] = {1, 3}, Bs[] = {1, 4};
    rb_parity_opts o;
    rb_parity_opts_default(&o);
    o.quiet = 1;
    rb_parity_report same, off;
    rb_parity_report_init(&same);
    rb_parity_report_init(&off);
    rb_parity_batch(real, real, &c, NULL, prompts, lens, 4, depths, 2, 4, Bs, 2, &o, &same);
    ck_assert_msg(same.failures == 0 && rb_parity_op_checked(&same, "batch_decode"),
                  "CPU: %d batched-decoding checks failed", same.failures);
    rb_parity_batch(real, &pb, &c, NULL, prompts, lens, 4, depths, 2, 4, Bs, 2, &o, &off);
    ck_assert(rb_parity_op_failed(&off, "batch_decode"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_harness");
    TCase *tc = tcase_create("harness");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cpu_against_cpu_passes);
    tcase_add_loop_test(tc, cpu_against_perturbed_cpu_fails, 0, (int)(sizeof ops / sizeof ops[0]));
    tcase_add_test(tc, model_checks_detect_a_perturbed_gemm);
    tcase_add_test(tc, batch_check_detects_a_row_dependent_gemm_rows);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
