/* test_data_mixture.c: weighted mixtures of token files: every prefix of the
 * sequence gives each source its weight's share to within one row, each
 * pass over a source visits each of its rows exactly once, the rows read are
 * the source's, and the sequence is a function of the seed (seek replays it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_data.h"
#include "rb_test.h"

#define ROW 6

/* A path in the test's temporary directory, valid for the whole run (kept
 * reachable from a static table, so leak checkers stay quiet). */
static char *kept[1024];
static int n_kept;

static char *tmp_path(const char *name)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", rb_test_tmpdir(), name);
    char *p = strdup(buf);
    if (n_kept < 1024) kept[n_kept++] = p;
    return p;
}

/* Every id of row r of source s is s * 1000 + r, so a row names its origin. */
static rb_tokfile *make_source(const char *name, int s, int rows, uint32_t row_len,
                               uint32_t vocab)
{
    const char *path = tmp_path(name);
    rb_tokwriter *w;
    ck_assert_int_eq(rb_tokwriter_open(&w, path, vocab, row_len, NULL), RB_OK);
    for (int r = 0; r < rows; r++) {
        int32_t ids[16];
        for (uint32_t j = 0; j < row_len; j++) ids[j] = s * 1000 + r;
        ck_assert_int_eq(rb_tokwriter_append(w, ids, row_len, NULL), RB_OK);
    }
    ck_assert_int_eq(rb_tokwriter_finish(w, NULL), RB_OK);
    rb_tokfile *f;
    ck_assert_int_eq(rb_tokfile_open(&f, path, 0, NULL), RB_OK);
    return f;
}

START_TEST(shares_and_passes)
{
    rb_tokfile *f[3] = {make_source("m0.rbtok", 0, 37, ROW, 5000),
                        make_source("m1.rbtok", 1, 11, ROW, 5000),
                        make_source("m2.rbtok", 2, 100, ROW, 5000)};
    rb_mix_source src[3] = {{f[0], 5.0, 0, 0}, {f[1], 3.0, 0, 0}, {f[2], 2.0, 0, 0}};
    const double w[3] = {0.5, 0.3, 0.2};
    rb_mixture *m;
    rb_error err;
    ck_assert_int_eq(rb_mixture_create(&m, src, 3, 77, &err), RB_OK);
    ck_assert_int_eq(rb_mixture_row_len(m), ROW);
    enum { N = 20000 };
    long count[3] = {0, 0, 0};
    /* per source and pass: how often each row was seen */
    static int seen[3][100];
    const int rows[3] = {37, 11, 100};
    for (int i = 0; i < N; i++) {
        int s;
        int32_t ids[ROW];
        ck_assert_int_eq(rb_mixture_next_row(m, ids, &s, &err), RB_OK);
        ck_assert(s >= 0 && s < 3);
        int r = ids[0] - s * 1000;
        ck_assert(r >= 0 && r < rows[s]);
        for (int j = 1; j < ROW; j++) ck_assert_int_eq(ids[j], ids[0]);
        long pass = count[s] / rows[s];
        seen[s][r]++;
        ck_assert_msg(seen[s][r] == pass + 1, "source %d row %d seen twice in pass %ld", s, r, pass);
        count[s]++;
        for (int k = 0; k < 3; k++)
            ck_assert_msg(fabs(count[k] - w[k] * (i + 1)) <= 1.0,
                          "after %d draws source %d has %ld rows, share %.1f", i + 1, k, count[k],
                          w[k] * (i + 1));
    }
    ck_assert_int_eq(rb_mixture_position(m), N);
    printf("mixture 0.5/0.3/0.2 after %d rows: %ld / %ld / %ld\n", N, count[0], count[1], count[2]);
    rb_mixture_free(m);
    for (int i = 0; i < 3; i++) rb_tokfile_close(f[i]);
}
END_TEST

START_TEST(determinism_seek_and_ranges)
{
    rb_tokfile *a = make_source("d0.rbtok", 0, 50, ROW, 5000);
    rb_tokfile *b = make_source("d1.rbtok", 1, 30, ROW, 5000);
    /* b: only its training rows [0, 27) (e.g. from rb_split_rows) */
    rb_mix_source src[2] = {{a, 1.0, 10, 20}, {b, 1.0, 0, 27}};
    rb_mixture *m1, *m2, *m3;
    ck_assert_int_eq(rb_mixture_create(&m1, src, 2, 5, NULL), RB_OK);
    ck_assert_int_eq(rb_mixture_create(&m2, src, 2, 5, NULL), RB_OK);
    ck_assert_int_eq(rb_mixture_create(&m3, src, 2, 6, NULL), RB_OK);
    enum { N = 500 };
    int s1[N], s3[N];
    uint64_t r1[N], r3[N];
    int differ = 0;
    for (int i = 0; i < N; i++) {
        int s2;
        uint64_t r2;
        ck_assert_int_eq(rb_mixture_next(m1, &s1[i], &r1[i], NULL), RB_OK);
        ck_assert_int_eq(rb_mixture_next(m2, &s2, &r2, NULL), RB_OK);
        ck_assert_int_eq(rb_mixture_next(m3, &s3[i], &r3[i], NULL), RB_OK);
        ck_assert_int_eq(s1[i], s2);
        ck_assert_int_eq(r1[i], r2);
        ck_assert_int_eq(s1[i], s3[i]); /* the interleave depends on weights only */
        differ += r1[i] != r3[i];
        if (s1[i] == 0) ck_assert(r1[i] >= 10 && r1[i] < 30);
        else ck_assert(r1[i] < 27);
    }
    ck_assert_int_gt(differ, N / 2); /* another seed, another row order */
    /* seek replays to any position */
    ck_assert_int_eq(rb_mixture_seek(m2, 123, NULL), RB_OK);
    ck_assert_int_eq(rb_mixture_position(m2), 123);
    for (int i = 123; i < N; i++) {
        int s;
        uint64_t r;
        ck_assert_int_eq(rb_mixture_next(m2, &s, &r, NULL), RB_OK);
        ck_assert_int_eq(s, s1[i]);
        ck_assert_int_eq(r, r1[i]);
    }
    rb_mixture_free(m1);
    rb_mixture_free(m2);
    rb_mixture_free(m3);
    rb_tokfile_close(a);
    rb_tokfile_close(b);
}
END_TEST

START_TEST(bad_sources)
{
    rb_tokfile *a = make_source("e0.rbtok", 0, 5, ROW, 5000);
    rb_tokfile *b = make_source("e1.rbtok", 1, 5, ROW + 1, 5000);
    rb_tokfile *c = make_source("e2.rbtok", 2, 5, ROW, 6000);
    rb_tokfile *u = make_source("e3.rbtok", 3, 5, 0, 5000);
    rb_mixture *m;
    rb_error err;
    rb_mix_source s2[2] = {{a, 1, 0, 0}, {b, 1, 0, 0}};
    ck_assert_int_eq(rb_mixture_create(&m, s2, 2, 1, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "row_len"));
    s2[1].file = c;
    ck_assert_int_eq(rb_mixture_create(&m, s2, 2, 1, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "vocab_size"));
    s2[1].file = u;
    ck_assert_int_eq(rb_mixture_create(&m, s2, 2, 1, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "not packed"));
    s2[1].file = a;
    s2[1].weight = 0;
    ck_assert_int_eq(rb_mixture_create(&m, s2, 2, 1, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "weight"));
    s2[1].weight = NAN;
    ck_assert_int_eq(rb_mixture_create(&m, s2, 2, 1, &err), RB_EINVAL);
    s2[1].weight = 1;
    s2[1].first_row = 5;
    ck_assert_int_eq(rb_mixture_create(&m, s2, 2, 1, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "first_row"));
    s2[1].first_row = 2;
    s2[1].n_rows = 4;
    ck_assert_int_eq(rb_mixture_create(&m, s2, 2, 1, &err), RB_EINVAL);
    ck_assert_int_eq(rb_mixture_create(&m, s2, 0, 1, &err), RB_EINVAL);
    rb_tokfile_close(a);
    rb_tokfile_close(b);
    rb_tokfile_close(c);
    rb_tokfile_close(u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_mixture");
    TCase *tc = tcase_create("mixture");
    tcase_add_test(tc, shares_and_passes);
    tcase_add_test(tc, determinism_seek_and_ranges);
    tcase_add_test(tc, bad_sources);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
