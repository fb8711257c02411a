/* test_infer_batch.c: batched greedy decoding (rb_batch) against the
 * single-sequence path (rb_session_feed), on small random models.
 *
 * The single path is itself checked against the batch forward (test_infer)
 * and PyTorch. Here every sequence of a batch (mixed depths, a shared
 * prefix, prompts that share none or part of it, prompts longer than a
 * prefill chunk, slots refilled as sequences finish) must produce the same
 * greedy tokens AND the same logits bit for bit as the session fed the
 * same prompt with the same seed, at B = 1, 3 and 8. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "rb_batch.h"
#include "rb_infer.h"
#include "rb_model.h"
#include "rb_test.h"

static rb_backend *be;

static rb_model *make_model(int recurrent, rb_block_kind kind)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 61;
    c.dim = 36; /* K % 8 = 4: the products' tails are exercised */
    c.n_heads = 6; /* head_dim 6: the attention dot products' tails too */
    c.n_kv_heads = 2;
    c.hidden_dim = 44;
    c.max_seq_len = 400;
    c.block = kind;
    c.n_prelude = 1;
    c.n_recur = recurrent ? 2 : 0;
    c.n_coda = recurrent ? 1 : 2;
    rb_model *m = NULL;
    rb_error err = {0};
    ck_assert_msg(rb_model_create(&m, &c, be, &err) == RB_OK, "%s", err.msg);
    /* large weights: peaky logits, so the greedy tokens vary */
    ck_assert(rb_model_init_random(m, 9, 0.3f, &err) == RB_OK);
    return m;
}

#define N_PROMPTS 7
#define MAX_NEW 12
#define SEED 4242

typedef struct {
    int32_t tok[300];
    int n;
} prompt;

static void make_prompts(prompt *p, int32_t *prefix, int *Lp, int V)
{
    *Lp = 13;
    for (int i = 0; i < *Lp; i++) prefix[i] = (int32_t)((i * 37 + 5) % V);
    const int suffix[N_PROMPTS] = {1, 6, 40, 150, 9, 3, 20};
    for (int k = 0; k < N_PROMPTS; k++) {
        int n = 0;
        if (k != 5) /* prompt 5 shares nothing */
            for (int i = 0; i < *Lp; i++) p[k].tok[n++] = prefix[i];
        if (k == 4) p[k].tok[7] = (int32_t)((p[k].tok[7] + 1) % V); /* diverges inside the prefix */
        for (int i = 0; i < suffix[k]; i++) p[k].tok[n++] = (int32_t)((i * 11 + k * 17 + 3) % V);
        p[k].n = n;
    }
}

/* Greedy continuation through the session: tokens and logits per step. */
static void single(rb_model *m, const prompt *p, int depth, int32_t *out, float *logits)
{
    rb_error err = {0};
    rb_session *s = NULL;
    const int V = m->cfg.vocab_size;
    ck_assert(rb_session_create(&s, m, p->n + MAX_NEW, depth, &err) == RB_OK);
    rb_infer_opts o = {.depth = depth, .seed = SEED};
    ck_assert_msg(rb_session_feed(s, p->tok, p->n, &o, logits, NULL, &err) == RB_OK, "%s", err.msg);
    for (int i = 0; i < MAX_NEW; i++) {
        out[i] = rb_argmax(logits + (size_t)i * V, V);
        if (i + 1 < MAX_NEW) {
            ck_assert(rb_session_feed(s, &out[i], 1, &o, logits + (size_t)(i + 1) * V, NULL, &err) == RB_OK);
        }
    }
    rb_session_destroy(s);
}

static void check_model(int recurrent, rb_block_kind kind)
{
    rb_error err = {0};
    rb_model *m = make_model(recurrent, kind);
    const int V = m->cfg.vocab_size;
    prompt p[N_PROMPTS];
    int32_t prefix[32];
    int Lp = 0;
    make_prompts(p, prefix, &Lp, V);
    const int depths_r[] = {1, 4, 2}, n_depths = recurrent ? 3 : 1;
    const int n_jobs = N_PROMPTS * n_depths;
    int32_t *ref = malloc(sizeof(int32_t) * n_jobs * MAX_NEW);
    float *ref_lg = malloc(sizeof(float) * (size_t)n_jobs * MAX_NEW * V);
    for (int j = 0; j < n_jobs; j++)
        single(m, &p[j / n_depths], recurrent ? depths_r[j % n_depths] : 1, ref + j * MAX_NEW,
               ref_lg + (size_t)j * MAX_NEW * V);
    /* the greedy tokens are not all the same (the comparison means something) */
    int distinct = 0;
    for (int i = 1; i < n_jobs * MAX_NEW; i++) distinct += ref[i] != ref[0];
    ck_assert(distinct > 10);

    const int Bs[] = {1, 3, 8};
    for (int bi = 0; bi < 3; bi++) {
        const int B = Bs[bi];
        rb_batch *b = NULL;
        rb_batch_opts bo = {.max_seqs = B, .max_tokens = 320, .max_depth = 4, .seed = SEED};
        ck_assert_msg(rb_batch_create(&b, m, &bo, &err) == RB_OK, "%s", err.msg);
        ck_assert_msg(rb_batch_set_prefix(b, prefix, Lp, &err) == RB_OK, "%s", err.msg);
        int ids[N_PROMPTS], shared[N_PROMPTS];
        for (int k = 0; k < N_PROMPTS; k++)
            ck_assert_msg(rb_batch_add_prompt(b, p[k].tok, p[k].n, &ids[k], &shared[k], &err) == RB_OK,
                          "%s", err.msg);
        ck_assert_int_eq(shared[0], Lp);
        ck_assert_int_eq(shared[4], 7);
        ck_assert_int_eq(shared[5], 0);
        int job_of[8], count[8], next_job = 0, done = 0;
        int32_t tok[8], nxt[8];
        int32_t *got = malloc(sizeof(int32_t) * n_jobs * MAX_NEW);
        for (int sl = 0; sl < B; sl++) job_of[sl] = -1;
        while (done < n_jobs) {
            for (int sl = 0; sl < B; sl++) {
                if (job_of[sl] >= 0 || next_job >= n_jobs) continue;
                int j = next_job++, d = recurrent ? depths_r[j % n_depths] : 1;
                ck_assert_msg(rb_batch_start(b, sl, ids[j / n_depths], d, MAX_NEW, &tok[sl], &err) == RB_OK,
                              "%s", err.msg);
                job_of[sl] = j;
                count[sl] = 0;
                got[j * MAX_NEW] = tok[sl];
                ck_assert_msg(!memcmp(rb_batch_logits(b, sl), ref_lg + (size_t)j * MAX_NEW * V, V * sizeof(float)),
                              "B %d job %d: prompt logits differ from the session's", B, j);
            }
            ck_assert_msg(rb_batch_step(b, tok, nxt, &err) == RB_OK, "%s", err.msg);
            for (int sl = 0; sl < B; sl++) {
                int j = job_of[sl];
                if (j < 0) continue;
                int i = ++count[sl];
                got[j * MAX_NEW + i] = nxt[sl];
                ck_assert_msg(!memcmp(rb_batch_logits(b, sl), ref_lg + ((size_t)j * MAX_NEW + i) * V, V * sizeof(float)),
                              "B %d job %d step %d: logits differ from the session's", B, j, i);
                tok[sl] = nxt[sl];
                if (i + 1 == MAX_NEW) {
                    rb_batch_finish(b, sl);
                    job_of[sl] = -1;
                    done++;
                }
            }
        }
        ck_assert_msg(!memcmp(got, ref, sizeof(int32_t) * n_jobs * MAX_NEW), "B %d: tokens differ", B);
        free(got);
        rb_batch_destroy(b);
    }
    free(ref);
    free(ref_lg);
    rb_model_destroy(m);
}

START_TEST(plain_batched_equals_single) { check_model(0, RB_BLOCK_LLAMA); }
END_TEST
START_TEST(recurrent_batched_equals_single) { check_model(1, RB_BLOCK_LLAMA); }
END_TEST
START_TEST(olmo2_batched_equals_single) { check_model(1, RB_BLOCK_OLMO2); }
END_TEST

START_TEST(bad_arguments)
{
    rb_error err = {0};
    rb_model *m = make_model(1, RB_BLOCK_LLAMA);
    rb_batch *b = NULL;
    rb_batch_opts bo = {.max_seqs = 2, .max_tokens = 50, .max_depth = 3, .seed = 1};
    ck_assert(rb_batch_create(&b, m, &bo, &err) == RB_OK);
    int32_t t[60] = {0}, first;
    int id = -1;
    ck_assert_int_eq(rb_batch_add_prompt(b, t, 60, &id, NULL, &err), RB_EINVAL);
    ck_assert(rb_batch_add_prompt(b, t, 10, &id, NULL, &err) == RB_OK);
    ck_assert_int_eq(rb_batch_start(b, 0, id, 4, 5, &first, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "max_depth") != NULL);
    ck_assert_int_eq(rb_batch_start(b, 0, id, 2, 45, &first, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "context") != NULL);
    ck_assert_int_eq(rb_batch_start(b, 2, id, 2, 5, &first, &err), RB_EINVAL);
    ck_assert(rb_batch_start(b, 0, id, 2, 1, &first, &err) == RB_OK);
    ck_assert_int_eq(rb_batch_start(b, 0, id, 2, 1, &first, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "in use") != NULL);
    int32_t toks[2] = {first, 0}, nxt[2];
    ck_assert(rb_batch_step(b, toks, nxt, &err) == RB_OK);
    ck_assert_int_eq(rb_batch_step(b, toks, nxt, &err), RB_EINVAL); /* room for 1 new token only */
    ck_assert(strstr(err.msg, "full") != NULL);
    rb_batch_destroy(b);
    rb_model_destroy(m);
}
END_TEST

int main(void)
{
    /* models this small run on one thread (as the program runs models
     * under 20M parameters): waking a second thread costs more than the
     * work, and far more on a loaded machine */
    omp_set_num_threads(1);
    be = rb_test_cpu_backend();
    Suite *s = suite_create("infer_batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, plain_batched_equals_single);
    tcase_add_test(tc, recurrent_batched_equals_single);
    tcase_add_test(tc, olmo2_batched_equals_single);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
