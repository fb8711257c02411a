/* test_model_config.c: bad model configurations and bad calls of the model
 * API give a clear error and crash nothing.
 *
 * Every case asserts the returned status, that the error record carries the
 * same status, that the one-line message names the offending field or
 * argument, and that no half-made object is handed back. The ASan+UBSan
 * build of this suite is the "nothing crashes" half of the check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_model.h"
#include "rb_test.h"

static rb_backend *be;

/* A small valid recurrent config (P, R, C) = (1, 1, 1). */
static void base_cfg(rb_config *c)
{
    rb_config_defaults(c);
    c->vocab_size = 37;
    c->dim = 16;
    c->n_heads = 4;
    c->n_kv_heads = 2;
    c->hidden_dim = 24;
    c->max_seq_len = 32;
    c->n_prelude = 1;
    c->n_recur = 1;
    c->n_coda = 1;
}

/* Message contains every one of the NULL-terminated needles. */
static void expect_msg(const rb_error *err, const char *const *needles, const char *ctx)
{
    ck_assert_msg(strlen(err->msg) > 0, "%s: empty error message", ctx);
    ck_assert_msg(strchr(err->msg, '\n') == NULL, "%s: message is not one line: %s", ctx, err->msg);
    for (int i = 0; needles[i]; i++)
        ck_assert_msg(strstr(err->msg, needles[i]) != NULL, "%s: message \"%s\" does not mention \"%s\"",
                      ctx, err->msg, needles[i]);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* rb_config_finalize and rb_model_create must both reject c. */
static void expect_bad_config(const rb_config *c, const char *const *needles, const char *ctx)
{
    rb_config copy = *c;
    rb_error err = {0};
    ck_assert_msg(rb_config_finalize(&copy, &err) == RB_EINVAL, "%s: finalize accepted it", ctx);
    ck_assert_int_eq(err.code, RB_EINVAL);
    expect_msg(&err, needles, ctx);

    rb_model *m = (rb_model *)&err; /* not NULL, so that the reset is observable */
    rb_error err2 = {0};
    ck_assert_msg(rb_model_create(&m, c, be, &err2) == RB_EINVAL, "%s: model_create accepted it", ctx);
    ck_assert_int_eq(err2.code, RB_EINVAL);
    ck_assert_msg(m == NULL, "%s: model_create returned an object on failure", ctx);
    expect_msg(&err2, needles, ctx);
    printf("  %-34s -> %s\n", ctx, err2.msg);
    /* a NULL error record is allowed */
    ck_assert(rb_model_create(&m, c, be, NULL) == RB_EINVAL);
    ck_assert_ptr_null(m);
}

START_TEST(valid_base_config)
{
    rb_config c;
    base_cfg(&c);
    rb_error err = {0};
    rb_model *m = NULL;
    ck_assert_msg(rb_model_create(&m, &c, be, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m->cfg.head_dim, 4);
    rb_model_destroy(m);
}
END_TEST

START_TEST(heads_do_not_divide_width)
{
    rb_config c;
    base_cfg(&c);
    c.dim = 18; /* 18 / 4 is not whole; head_dim 0 asks for the derived value */
    c.head_dim = 0;
    expect_bad_config(&c, NEEDLES("n_heads", "dim"), "n_heads does not divide dim");
}
END_TEST

START_TEST(kv_heads_do_not_divide_heads)
{
    rb_config c;
    base_cfg(&c);
    c.n_kv_heads = 3;
    expect_bad_config(&c, NEEDLES("n_kv_heads"), "n_kv_heads = 3 of 4 heads");
    c.n_kv_heads = 8; /* more KV heads than query heads */
    expect_bad_config(&c, NEEDLES("n_kv_heads"), "n_kv_heads = 8 of 4 heads");
}
END_TEST

START_TEST(nonpositive_sizes)
{
    static const struct {
        const char *field;
        size_t off;
    } fields[] = {
        {"vocab_size", offsetof(rb_config, vocab_size)},   {"dim", offsetof(rb_config, dim)},
        {"n_heads", offsetof(rb_config, n_heads)},         {"n_kv_heads", offsetof(rb_config, n_kv_heads)},
        {"hidden_dim", offsetof(rb_config, hidden_dim)},   {"max_seq_len", offsetof(rb_config, max_seq_len)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        for (int v = -1; v <= 0; v++) {
            rb_config c;
            base_cfg(&c);
            *(int *)((char *)&c + fields[i].off) = v;
            char ctx[64];
            snprintf(ctx, sizeof ctx, "%s = %d", fields[i].field, v);
            expect_bad_config(&c, NEEDLES(fields[i].field), ctx);
        }
    rb_config c;
    base_cfg(&c);
    c.head_dim = -4;
    expect_bad_config(&c, NEEDLES("head_dim"), "head_dim = -4");
}
END_TEST

START_TEST(block_counts)
{
    rb_config c;
    base_cfg(&c);
    c.n_prelude = c.n_recur = c.n_coda = 0;
    expect_bad_config(&c, NEEDLES("no layers"), "empty model (0 layers)");
    base_cfg(&c);
    c.n_prelude = -1;
    expect_bad_config(&c, NEEDLES("prelude", "negative"), "n_prelude = -1");
    base_cfg(&c);
    c.n_recur = -2;
    expect_bad_config(&c, NEEDLES("recurrent", "negative"), "n_recur = -2");
    base_cfg(&c);
    c.n_coda = -1;
    expect_bad_config(&c, NEEDLES("coda", "negative"), "n_coda = -1");
}
END_TEST

START_TEST(odd_head_dim)
{
    rb_config c;
    base_cfg(&c);
    c.head_dim = 7; /* explicit */
    expect_bad_config(&c, NEEDLES("head_dim", "7"), "explicit head_dim = 7");
    base_cfg(&c);
    c.dim = 28; /* derived 28 / 4 = 7 */
    expect_bad_config(&c, NEEDLES("head_dim", "7"), "derived head_dim = 7");
}
END_TEST

START_TEST(other_fields)
{
    rb_config c;
    base_cfg(&c);
    c.norm_eps = 0;
    expect_bad_config(&c, NEEDLES("norm_eps"), "norm_eps = 0");
    base_cfg(&c);
    c.rope_theta = -1;
    expect_bad_config(&c, NEEDLES("rope_theta"), "rope_theta = -1");
    base_cfg(&c);
    c.rope_layout = (rb_rope_layout)5;
    expect_bad_config(&c, NEEDLES("rope_layout"), "rope_layout = 5");
    base_cfg(&c);
    c.block = (rb_block_kind)9;
    expect_bad_config(&c, NEEDLES("block"), "block kind 9");
    base_cfg(&c);
    c.state_sigma = 0;
    expect_bad_config(&c, NEEDLES("state_sigma"), "state_sigma = 0");
    base_cfg(&c);
    c.rope_scaling = RB_ROPE_SCALING_LLAMA3;
    c.rope_factor = 0.5f;
    expect_bad_config(&c, NEEDLES("llama3", "factor"), "llama3 rope factor 0.5");
}
END_TEST

/* ---- calls on a valid model ---- */

typedef struct {
    rb_model *m;
    rb_workspace *ws;
    int32_t tokens[2 * 9], targets[2 * 9];
} fixture;

enum { FB = 2, FT = 9 };

static void fixture_make(fixture *f, int recurrent, int grads, int max_k)
{
    rb_config c;
    base_cfg(&c);
    if (!recurrent) {
        c.n_prelude = 2;
        c.n_recur = c.n_coda = 0;
    }
    rb_error err = {0};
    ck_assert_msg(rb_model_create(&f->m, &c, be, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_model_init_random(f->m, 7, 0.1f, &err) == RB_OK);
    if (grads) ck_assert(rb_model_enable_grads(f->m, &err) == RB_OK);
    ck_assert_msg(rb_workspace_create(&f->ws, f->m, FB, FT, max_k, &err) == RB_OK, "%s", err.msg);
    for (int i = 0; i < FB * FT; i++) {
        f->tokens[i] = (i * 7 + 3) % c.vocab_size;
        f->targets[i] = (i * 5 + 1) % c.vocab_size;
    }
}

static void fixture_free(fixture *f)
{
    rb_workspace_destroy(f->ws);
    rb_model_destroy(f->m);
}

/* The fixture still works after the failure. */
static void expect_usable(fixture *f)
{
    rb_error err = {0};
    rb_step_opts o = {.n_nograd = 1, .state_zero = 1};
    double loss = 0;
    ck_assert_msg(rb_forward(f->m, f->ws, f->tokens, f->targets, &o, &loss, &err) == RB_OK, "%s", err.msg);
    ck_assert(loss > 0);
}

static void expect_forward_fails(fixture *f, const int32_t *tokens, const int32_t *targets,
                                 const rb_step_opts *o, const char *const *needles, const char *ctx)
{
    rb_error err = {0};
    double loss = -123;
    ck_assert_msg(rb_forward(f->m, f->ws, tokens, targets, o, &loss, &err) == RB_EINVAL,
                  "%s: forward accepted it", ctx);
    ck_assert_int_eq(err.code, RB_EINVAL);
    expect_msg(&err, needles, ctx);
    printf("  %-34s -> %s\n", ctx, err.msg);
    ck_assert(rb_forward(f->m, f->ws, tokens, targets, o, NULL, NULL) == RB_EINVAL);
    expect_usable(f);
}

START_TEST(forward_needs_iterations)
{
    fixture f;
    fixture_make(&f, 1, 1, 2);
    rb_step_opts o = {0};
    expect_forward_fails(&f, f.tokens, f.targets, &o, NEEDLES("n + k"), "recurrent, n = k = 0");
    o.grad = 1;
    expect_forward_fails(&f, f.tokens, f.targets, &o, NEEDLES("n + k"), "recurrent, n = k = 0, grad");
    o = (rb_step_opts){.n_nograd = -1, .n_grad = 2, .grad = 1};
    expect_forward_fails(&f, f.tokens, f.targets, &o, NEEDLES("negative"), "n = -1");
    o = (rb_step_opts){.n_nograd = 1, .n_grad = -1};
    expect_forward_fails(&f, f.tokens, f.targets, &o, NEEDLES("negative"), "k = -1");
    fixture_free(&f);
}
END_TEST

START_TEST(forward_k_beyond_workspace)
{
    fixture f;
    fixture_make(&f, 1, 1, 2);
    rb_step_opts o = {.n_nograd = 1, .n_grad = 3, .grad = 1};
    expect_forward_fails(&f, f.tokens, f.targets, &o, NEEDLES("max_grad_iters", "k = 3"),
                         "k = 3 > max_grad_iters 2");
    /* k = 2 fits */
    o.n_grad = 2;
    rb_error err = {0};
    ck_assert_msg(rb_forward(f.m, f.ws, f.tokens, f.targets, &o, NULL, &err) == RB_OK, "%s", err.msg);
    ck_assert_msg(rb_backward(f.m, f.ws, &err) == RB_OK, "%s", err.msg);
    fixture_free(&f);
}
END_TEST

START_TEST(forward_bad_tokens_and_targets)
{
    fixture f;
    fixture_make(&f, 1, 1, 1);
    int32_t bad[FB * FT];
    const int V = f.m->cfg.vocab_size;
    rb_step_opts o = {.n_nograd = 1, .state_zero = 1};
    const int32_t bad_tok[3] = {V, -1, 1 << 30};
    for (int i = 0; i < 3; i++) {
        memcpy(bad, f.tokens, sizeof bad);
        bad[11] = bad_tok[i];
        char ctx[64];
        snprintf(ctx, sizeof ctx, "token %d", bad_tok[i]);
        expect_forward_fails(&f, bad, f.targets, &o, NEEDLES("token", "position 11", "vocabulary"), ctx);
    }
    const int32_t bad_tgt[3] = {V, -2, -1000};
    for (int i = 0; i < 3; i++) {
        memcpy(bad, f.targets, sizeof bad);
        bad[4] = bad_tgt[i];
        char ctx[64];
        snprintf(ctx, sizeof ctx, "target %d", bad_tgt[i]);
        expect_forward_fails(&f, f.tokens, bad, &o, NEEDLES("target", "position 4"), ctx);
    }
    /* -1 is the ignore marker and is fine; all -1 is fine for scoring but
     * not for a gradient step */
    for (int i = 0; i < FB * FT; i++) bad[i] = -1;
    rb_error err = {0};
    double loss = -1;
    ck_assert_msg(rb_forward(f.m, f.ws, f.tokens, bad, &o, &loss, &err) == RB_OK, "%s", err.msg);
    ck_assert(loss == 0);
    rb_step_opts og = {.n_grad = 1, .grad = 1};
    expect_forward_fails(&f, f.tokens, bad, &og, NEEDLES("ignored"), "grad with every target -1");
    fixture_free(&f);
}
END_TEST

START_TEST(gradient_forward_preconditions)
{
    fixture f;
    fixture_make(&f, 1, 1, 1);
    rb_step_opts o = {.n_grad = 1, .grad = 1};
    expect_forward_fails(&f, f.tokens, NULL, &o, NEEDLES("targets"), "grad forward without targets");
    fixture_free(&f);

    fixture_make(&f, 0, 0, 0); /* plain model, grads not enabled */
    expect_forward_fails(&f, f.tokens, f.targets, &o, NEEDLES("rb_model_enable_grads"),
                         "grad forward without grads");
    rb_error err = {0};
    float dummy[1];
    ck_assert_int_eq(rb_model_get_grads(f.m, dummy, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "not enabled"));
    ck_assert_int_eq(rb_model_zero_grads(f.m, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "not enabled"));
    fixture_free(&f);
}
END_TEST

static void expect_backward_fails(fixture *f, const char *ctx)
{
    rb_error err = {0};
    float *before = malloc(f->m->table.total * sizeof(float));
    float *after = malloc(f->m->table.total * sizeof(float));
    ck_assert(rb_model_get_grads(f->m, before, &err) == RB_OK);
    ck_assert_msg(rb_backward(f->m, f->ws, &err) == RB_EINVAL, "%s: backward accepted it", ctx);
    ck_assert_int_eq(err.code, RB_EINVAL);
    expect_msg(&err, NEEDLES("backward", "grad"), ctx);
    ck_assert(rb_model_get_grads(f->m, after, &err) == RB_OK);
    ck_assert_msg(!memcmp(before, after, f->m->table.total * sizeof(float)),
                  "%s: a failed backward changed the gradients", ctx);
    printf("  %-34s -> %s\n", ctx, err.msg);
    free(before);
    free(after);
}

START_TEST(backward_without_grad_forward)
{
    fixture f;
    fixture_make(&f, 1, 1, 1);
    rb_error err = {0};
    expect_backward_fails(&f, "backward on a fresh workspace");

    rb_step_opts score = {.n_nograd = 1, .n_grad = 0};
    ck_assert(rb_forward(f.m, f.ws, f.tokens, f.targets, &score, NULL, &err) == RB_OK);
    expect_backward_fails(&f, "backward after a scoring forward");

    rb_step_opts no_t = {.n_nograd = 1};
    ck_assert(rb_forward(f.m, f.ws, f.tokens, NULL, &no_t, NULL, &err) == RB_OK);
    expect_backward_fails(&f, "backward after a forward w/o targets");

    rb_step_opts train = {.n_nograd = 1, .n_grad = 1, .grad = 1};
    ck_assert(rb_forward(f.m, f.ws, f.tokens, f.targets, &train, NULL, &err) == RB_OK);
    ck_assert_msg(rb_backward(f.m, f.ws, &err) == RB_OK, "%s", err.msg);
    expect_backward_fails(&f, "second backward of one forward");

    /* a failed forward invalidates the previous successful one */
    ck_assert(rb_forward(f.m, f.ws, f.tokens, f.targets, &train, NULL, &err) == RB_OK);
    int32_t bad[FB * FT];
    memcpy(bad, f.tokens, sizeof bad);
    bad[0] = -5;
    ck_assert(rb_forward(f.m, f.ws, bad, f.targets, &train, NULL, &err) == RB_EINVAL);
    expect_backward_fails(&f, "backward after a failed forward");
    fixture_free(&f);
}
END_TEST

/* A workspace is tied to its model: forward checks it; backward must too,
 * otherwise it reads one model's activations with another's weights. Two
 * models of the same shape keep the misuse memory-safe here. */
START_TEST(workspace_of_another_model)
{
    fixture a, b;
    fixture_make(&a, 1, 1, 1);
    fixture_make(&b, 1, 1, 1);
    rb_error err = {0};
    rb_step_opts train = {.n_nograd = 1, .n_grad = 1, .grad = 1};
    ck_assert_int_eq(rb_forward(b.m, a.ws, a.tokens, a.targets, &train, NULL, &err), RB_EINVAL);
    expect_msg(&err, NEEDLES("another model"), "forward with another model's workspace");
    printf("  %-34s -> %s\n", "forward, another model's workspace", err.msg);

    ck_assert_msg(rb_forward(a.m, a.ws, a.tokens, a.targets, &train, NULL, &err) == RB_OK, "%s", err.msg);
    float *before = malloc(b.m->table.total * sizeof(float));
    float *after = malloc(b.m->table.total * sizeof(float));
    ck_assert(rb_model_get_grads(b.m, before, &err) == RB_OK);
    rb_error berr = {0};
    rb_status st = rb_backward(b.m, a.ws, &berr);
    ck_assert(rb_model_get_grads(b.m, after, &err) == RB_OK);
    int changed = memcmp(before, after, b.m->table.total * sizeof(float)) != 0;
    printf("  %-34s -> status %s%s%s\n", "backward, another model's workspace", rb_status_name(st),
           st == RB_OK ? "" : ": ", st == RB_OK ? (changed ? " (wrote gradients into the other model)" : "") : berr.msg);
    ck_assert_msg(st == RB_EINVAL,
                  "rb_backward(model B, workspace of model A) returned %s%s; backward.c lacks the "
                  "ws->m != m check that rb_forward has", rb_status_name(st),
                  changed ? " and wrote A's gradients into B" : "");
    expect_msg(&berr, NEEDLES("another model"), "backward with another model's workspace");
    free(before);
    free(after);
    fixture_free(&a);
    fixture_free(&b);
}
END_TEST

START_TEST(workspace_bad_sizes)
{
    rb_config c;
    base_cfg(&c);
    rb_error err = {0};
    rb_model *m = NULL;
    ck_assert(rb_model_create(&m, &c, be, &err) == RB_OK);
    rb_workspace *ws = (rb_workspace *)&err;
    ck_assert_int_eq(rb_workspace_create(&ws, m, 1, c.max_seq_len + 1, 1, &err), RB_EINVAL);
    ck_assert_ptr_null(ws);
    expect_msg(&err, NEEDLES("max_seq_len", "33"), "T > max_seq_len");
    printf("  %-34s -> %s\n", "T > max_seq_len", err.msg);
    ck_assert_int_eq(rb_workspace_create(&ws, m, 0, 4, 1, &err), RB_EINVAL);
    expect_msg(&err, NEEDLES("batch"), "B = 0");
    ck_assert_int_eq(rb_workspace_create(&ws, m, 2, 0, 1, &err), RB_EINVAL);
    expect_msg(&err, NEEDLES("sequence"), "T = 0");
    ck_assert_int_eq(rb_workspace_create(&ws, m, 2, 4, -1, &err), RB_EINVAL);
    expect_msg(&err, NEEDLES("gradient iterations"), "max_grad_iters = -1");
    ck_assert_int_eq(rb_workspace_create(&ws, m, 2, 4, 1, NULL), RB_OK);
    rb_workspace_destroy(ws);
    rb_model_destroy(m);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the measurements of a failing test */
    be = rb_test_cpu_backend();
    Suite *s = suite_create("model_config");
    TCase *tc = tcase_create("config");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, valid_base_config);
    tcase_add_test(tc, heads_do_not_divide_width);
    tcase_add_test(tc, kv_heads_do_not_divide_heads);
    tcase_add_test(tc, nonpositive_sizes);
    tcase_add_test(tc, block_counts);
    tcase_add_test(tc, odd_head_dim);
    tcase_add_test(tc, other_fields);
    tcase_add_test(tc, forward_needs_iterations);
    tcase_add_test(tc, forward_k_beyond_workspace);
    tcase_add_test(tc, forward_bad_tokens_and_targets);
    tcase_add_test(tc, gradient_forward_preconditions);
    tcase_add_test(tc, backward_without_grad_forward);
    tcase_add_test(tc, workspace_of_another_model);
    tcase_add_test(tc, workspace_bad_sizes);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    return rc;
}
