/* test_model_bypass.c: METHOD.md's port check. A recurrent model
 * (P, R, C) = (1, 2, 1) with the adapter bypassed (adapter output = e), the
 * initial state zero and r = 1 must give the logits of the plain model
 * (n_prelude = 4, n_recur = 0) made of the same four layers in sequence, for
 * both block kinds. Parameters are copied by name (rb_param_table_find); the
 * plain model has no adapter.
 *
 * r = 1 is reached both as (n, k) = (1, 0), a scoring forward, and as
 * (0, 1), a training forward; the latter also compares the loss, the
 * logits' gradient and every parameter gradient (by name) with the plain
 * model's backward, and requires a zero adapter gradient. Negative control:
 * with the adapter in use the logits must differ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_model.h"
#include "rb_test.h"

#define PORT_TOL 1e-6

enum { B = 2, T = 19, V = 53 };

static rb_backend *be;

static rb_model *make_model(rb_block_kind kind, int P, int R, int C)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = V;
    c.dim = 32;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.hidden_dim = 48;
    c.max_seq_len = 64;
    c.block = kind;
    c.norm_eps = kind == RB_BLOCK_OLMO2 ? 1e-6f : 1e-5f;
    c.n_prelude = P;
    c.n_recur = R;
    c.n_coda = C;
    rb_model *m = NULL;
    rb_error err = {0};
    ck_assert_msg(rb_model_create(&m, &c, be, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_model_enable_grads(m, &err) == RB_OK);
    return m;
}

/* rec: random weights with norm weights away from 1 (so that they matter);
 * plain: the same tensors copied by name. */
static void make_pair(rb_block_kind kind, rb_model **rec, rb_model **plain)
{
    rb_error err = {0};
    *rec = make_model(kind, 1, 2, 1);
    *plain = make_model(kind, 4, 0, 0);
    ck_assert(rb_model_init_random(*rec, 2024, 0.2f, &err) == RB_OK);
    float *pr = malloc((*rec)->table.total * sizeof(float));
    float *pp = calloc((*plain)->table.total, sizeof(float));
    ck_assert(rb_model_get_params(*rec, pr, &err) == RB_OK);
    for (int i = 0; i < (*rec)->table.count; i++) {
        const rb_param *p = &(*rec)->table.items[i];
        if (p->kind != RB_PARAM_NORM) continue;
        rb_test_fill_uniform(pr + p->offset, p->numel, 0.5f, 900 + (uint64_t)i);
        for (size_t j = 0; j < p->numel; j++) pr[p->offset + j] += 1.0f;
    }
    ck_assert(rb_model_set_params(*rec, pr, &err) == RB_OK);
    int copied = 0;
    for (int i = 0; i < (*plain)->table.count; i++) {
        const rb_param *p = &(*plain)->table.items[i];
        int j = rb_param_table_find(&(*rec)->table, p->name);
        ck_assert_msg(j >= 0, "plain parameter %s has no counterpart in the recurrent model", p->name);
        const rb_param *q = &(*rec)->table.items[j];
        ck_assert_msg(q->rows == p->rows && q->cols == p->cols, "shape of %s differs", p->name);
        memcpy(pp + p->offset, pr + q->offset, p->numel * sizeof(float));
        copied++;
    }
    /* every recurrent tensor but the adapter has a home in the plain model */
    ck_assert_int_eq(copied, (*rec)->table.count - 1);
    ck_assert_int_ge(rb_param_table_find(&(*rec)->table, "model.adapter.weight"), 0);
    ck_assert_int_eq(rb_param_table_find(&(*plain)->table, "model.adapter.weight"), -1);
    ck_assert(rb_model_set_params(*plain, pp, &err) == RB_OK);
    free(pr);
    free(pp);
}

static void make_data(int32_t *tokens, int32_t *targets)
{
    uint64_t s = 4321;
    for (int i = 0; i < B * T; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((s >> 33) % V);
        targets[i] = (int32_t)((s >> 17) % V);
    }
    targets[5] = -1;
}

/* Forward; copies the logits (or, after a training forward, their
 * gradient) to the host and returns the loss. */
static double forward(rb_model *m, rb_workspace *ws, const int32_t *tok, const int32_t *tgt,
                      const rb_step_opts *o, float *logits)
{
    rb_error err = {0};
    double loss = 0;
    ck_assert_msg(rb_forward(m, ws, tok, tgt, o, &loss, &err) == RB_OK, "%s", err.msg);
    ck_assert(be->download(be, logits, rb_workspace_logits(ws), (size_t)B * T * V * sizeof(float), &err) == RB_OK);
    return loss;
}

static const char *kind_name(rb_block_kind k) { return k == RB_BLOCK_LLAMA ? "llama" : "olmo2"; }

static void port_check_scoring(rb_block_kind kind)
{
    rb_model *rec, *plain;
    make_pair(kind, &rec, &plain);
    rb_workspace *wr = NULL, *wp = NULL;
    rb_error err = {0};
    ck_assert(rb_workspace_create(&wr, rec, B, T, 1, &err) == RB_OK);
    ck_assert(rb_workspace_create(&wp, plain, B, T, 0, &err) == RB_OK);
    int32_t tok[B * T], tgt[B * T];
    make_data(tok, tgt);
    const size_t NL = (size_t)B * T * V;
    float *lp = malloc(NL * sizeof(float)), *lr = malloc(NL * sizeof(float));
    double loss_p = forward(plain, wp, tok, tgt, &(rb_step_opts){0}, lp);

    const struct {
        int n, k;
        int state_zero;
        const char *what;
    } runs[3] = {{1, 0, 1, "n=1 k=0 s0=0"}, {0, 1, 1, "n=0 k=1 s0=0"}, {1, 0, 0, "n=1 k=0 s0~N"}};
    for (int r = 0; r < 3; r++) {
        rb_step_opts o = {.n_nograd = runs[r].n, .n_grad = runs[r].k, .state_zero = runs[r].state_zero,
                          .seed = 77, .bypass_adapter = 1};
        double loss_r = forward(rec, wr, tok, tgt, &o, lr);
        double d = rb_test_rel_max_diff(lr, lp, NL);
        double dl = fabs(loss_r - loss_p) / fabs(loss_p);
        /* the third run: with the adapter bypassed the state is never read */
        printf("  port %-5s scoring %-13s bypass: logits rel %.3e, loss rel %.3e\n", kind_name(kind),
               runs[r].what, d, dl);
        ck_assert_msg(d <= PORT_TOL, "%s %s: bypassed recurrent logits differ from the plain model by %.3e",
                      kind_name(kind), runs[r].what, d);
        ck_assert_msg(dl <= PORT_TOL, "%s: loss %.9g vs %.9g", kind_name(kind), loss_r, loss_p);
    }

    /* negative control: the adapter in use changes the logits */
    rb_step_opts o = {.n_nograd = 1, .state_zero = 1, .bypass_adapter = 0};
    forward(rec, wr, tok, tgt, &o, lr);
    double d = rb_test_rel_max_diff(lr, lp, NL);
    printf("  port %-5s scoring n=1 k=0 s0=0  adapter used (control): logits rel %.3e\n",
           kind_name(kind), d);
    ck_assert_msg(d > 1e-2, "%s: with the adapter in use the logits still match the plain model "
                            "(rel %.3e); the port check cannot fail", kind_name(kind), d);
    free(lp);
    free(lr);
    rb_workspace_destroy(wr);
    rb_workspace_destroy(wp);
    rb_model_destroy(rec);
    rb_model_destroy(plain);
}

/* max |a - b| / max |b| over the tensor named `name` in two tables */
static double grad_diff(const rb_model *ma, const float *ga, const rb_model *mb, const float *gb,
                        const char *name)
{
    int ia = rb_param_table_find(&ma->table, name), ib = rb_param_table_find(&mb->table, name);
    ck_assert(ia >= 0 && ib >= 0);
    const rb_param *pa = &ma->table.items[ia], *pb = &mb->table.items[ib];
    return rb_test_rel_max_diff(ga + pa->offset, gb + pb->offset, pb->numel);
}

static void port_check_training(rb_block_kind kind)
{
    rb_model *rec, *plain;
    make_pair(kind, &rec, &plain);
    rb_workspace *wr = NULL, *wp = NULL;
    rb_error err = {0};
    ck_assert(rb_workspace_create(&wr, rec, B, T, 1, &err) == RB_OK);
    ck_assert(rb_workspace_create(&wp, plain, B, T, 0, &err) == RB_OK);
    int32_t tok[B * T], tgt[B * T];
    make_data(tok, tgt);
    const size_t NL = (size_t)B * T * V;
    float *gp = malloc(NL * sizeof(float)), *gr = malloc(NL * sizeof(float));

    double loss_p = forward(plain, wp, tok, tgt, &(rb_step_opts){.grad = 1}, gp);
    rb_step_opts o = {.n_nograd = 0, .n_grad = 1, .grad = 1, .state_zero = 1, .bypass_adapter = 1};
    double loss_r = forward(rec, wr, tok, tgt, &o, gr);
    double dlog = rb_test_rel_max_diff(gr, gp, NL);
    double dl = fabs(loss_r - loss_p) / fabs(loss_p);
    ck_assert_msg(rb_backward(plain, wp, &err) == RB_OK, "%s", err.msg);
    ck_assert_msg(rb_backward(rec, wr, &err) == RB_OK, "%s", err.msg);

    float *Gp = malloc(plain->table.total * sizeof(float)), *Gr = malloc(rec->table.total * sizeof(float));
    ck_assert(rb_model_get_grads(plain, Gp, &err) == RB_OK);
    ck_assert(rb_model_get_grads(rec, Gr, &err) == RB_OK);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < plain->table.count; i++) {
        const char *name = plain->table.items[i].name;
        double d = grad_diff(rec, Gr, plain, Gp, name);
        ck_assert_msg(rb_test_max_abs(Gp + plain->table.items[i].offset, plain->table.items[i].numel) > 0,
                      "plain gradient of %s is zero: the comparison would be empty", name);
        if (!(d <= worst)) {
            worst = d;
            worst_name = name;
        }
        ck_assert_msg(d <= PORT_TOL, "%s: gradient of %s differs from the plain model by %.3e",
                      kind_name(kind), name, d);
    }
    if (worst == 0) worst_name = "every tensor bit-identical";
    int ia = rb_param_table_find(&rec->table, "model.adapter.weight");
    double ga = rb_test_max_abs(Gr + rec->table.items[ia].offset, rec->table.items[ia].numel);
    printf("  port %-5s training n=0 k=1 s0=0 bypass: dlogits rel %.3e, loss rel %.3e, worst "
           "gradient rel %.3e (%s), max |adapter grad| %.1e\n",
           kind_name(kind), dlog, dl, worst, worst_name, ga);
    ck_assert_msg(dlog <= PORT_TOL, "%s: logits' gradient differs by %.3e", kind_name(kind), dlog);
    ck_assert_msg(dl <= PORT_TOL, "%s: loss %.9g vs %.9g", kind_name(kind), loss_r, loss_p);
    ck_assert_msg(ga == 0, "%s: bypassed adapter received a gradient (max %.3e)", kind_name(kind), ga);

    /* negative control for the training path */
    rb_step_opts oc = {.n_grad = 1, .grad = 1, .state_zero = 1, .bypass_adapter = 0};
    double loss_c = forward(rec, wr, tok, tgt, &oc, gr);
    printf("  port %-5s training n=0 k=1 s0=0 adapter used (control): loss %.6f vs plain %.6f\n",
           kind_name(kind), loss_c, loss_p);
    ck_assert_msg(fabs(loss_c - loss_p) > 1e-4 * fabs(loss_p),
                  "%s: with the adapter in use the loss still equals the plain model's", kind_name(kind));
    free(gp), free(gr), free(Gp), free(Gr);
    rb_workspace_destroy(wr);
    rb_workspace_destroy(wp);
    rb_model_destroy(rec);
    rb_model_destroy(plain);
}

START_TEST(port_llama_scoring) { port_check_scoring(RB_BLOCK_LLAMA); }
END_TEST
START_TEST(port_olmo2_scoring) { port_check_scoring(RB_BLOCK_OLMO2); }
END_TEST
START_TEST(port_llama_training) { port_check_training(RB_BLOCK_LLAMA); }
END_TEST
START_TEST(port_olmo2_training) { port_check_training(RB_BLOCK_OLMO2); }
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the measurements of a failing test */
    be = rb_test_cpu_backend();
    Suite *s = suite_create("model_bypass");
    TCase *tc = tcase_create("port");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, port_llama_scoring);
    tcase_add_test(tc, port_olmo2_scoring);
    tcase_add_test(tc, port_llama_training);
    tcase_add_test(tc, port_olmo2_training);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    return rc;
}
