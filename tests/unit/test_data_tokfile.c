/* test_data_tokfile.c: the packed token file: byte layout against the
 * format in rb_data.h, round trips at both id widths, every malformed-header
 * case, atomic writing, the validation split and the row order (uniformity
 * of the Fisher-Yates permutation by a chi-square test). */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_data.h"
#include "rb_test.h"

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

static void write_ids(const char *path, uint32_t vocab, uint32_t row_len, const int32_t *ids,
                      size_t n)
{
    rb_tokwriter *w;
    rb_error err;
    ck_assert_int_eq(rb_tokwriter_open(&w, path, vocab, row_len, &err), RB_OK);
    /* in uneven chunks, to exercise streaming */
    size_t pos = 0, chunk = 1;
    while (pos < n) {
        size_t take = chunk < n - pos ? chunk : n - pos;
        ck_assert_int_eq(rb_tokwriter_append(w, ids + pos, take, &err), RB_OK);
        pos += take;
        chunk = chunk * 3 + 1;
    }
    ck_assert_int_eq(rb_tokwriter_count(w), n);
    ck_assert_msg(rb_tokwriter_finish(w, &err) == RB_OK, "%s", err.msg);
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

START_TEST(layout_and_round_trip_u16)
{
    const char *path = tmp_path("a.rbtok");
    enum { N = 12 * 7 };
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 7919) % 300;
    write_ids(path, 300, 7, ids, N);

    size_t size;
    uint8_t *b = slurp(path, &size);
    ck_assert_int_eq(size, 64 + 2 * N);
    ck_assert(memcmp(b, "RBTOK\0\0\0", 8) == 0);
    ck_assert_int_eq(rd32(b + 8), 2);
    ck_assert_int_eq(rd32(b + 12), 300);
    ck_assert_int_eq(rd32(b + 16), 2);
    ck_assert_int_eq(rd32(b + 20), 7);
    ck_assert_int_eq(rd32(b + 24), N);
    ck_assert_int_eq(rd32(b + 28), 0);
    for (int i = 32; i < 64; i++) ck_assert_int_eq(b[i], 0);
    for (int i = 0; i < N; i++) ck_assert_int_eq(b[64 + 2 * i] | b[65 + 2 * i] << 8, ids[i]);
    free(b);

    rb_tokfile *f;
    rb_error err;
    ck_assert_int_eq(rb_tokfile_open(&f, path, RB_TOKFILE_CHECK_IDS, &err), RB_OK);
    const rb_tokfile_info *in = rb_tokfile_get_info(f);
    ck_assert_int_eq(in->n_tokens, N);
    ck_assert_int_eq(in->n_rows, 12);
    ck_assert_int_eq(in->row_len, 7);
    int32_t row[7];
    for (int r = 0; r < 12; r++) {
        ck_assert_int_eq(rb_tokfile_row(f, r, row, &err), RB_OK);
        for (int j = 0; j < 7; j++) ck_assert_int_eq(row[j], ids[r * 7 + j]);
    }
    ck_assert_int_eq(rb_tokfile_row(f, 12, row, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "row 12"));
    int32_t all[N];
    ck_assert_int_eq(rb_tokfile_read(f, 0, N, all, &err), RB_OK);
    ck_assert(memcmp(all, ids, sizeof ids) == 0);
    ck_assert_int_eq(rb_tokfile_read(f, N - 1, 2, all, &err), RB_EINVAL);
    rb_tokfile_close(f);
}
END_TEST

START_TEST(round_trip_u32_and_unpacked)
{
    const char *path = tmp_path("b.rbtok");
    enum { N = 1001 };
    static int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (int32_t)(((uint64_t)i * 2654435761u) % 70000);
    ids[5] = 69999;
    ids[6] = 65536;
    write_ids(path, 70000, 0, ids, N);
    rb_tokfile *f;
    rb_error err;
    ck_assert_int_eq(rb_tokfile_open(&f, path, RB_TOKFILE_CHECK_IDS, &err), RB_OK);
    const rb_tokfile_info *in = rb_tokfile_get_info(f);
    ck_assert_int_eq(in->id_width, 4);
    ck_assert_int_eq(in->row_len, 0);
    ck_assert_int_eq(in->n_rows, 0);
    static int32_t back[N];
    ck_assert_int_eq(rb_tokfile_read(f, 0, N, back, &err), RB_OK);
    ck_assert(memcmp(back, ids, sizeof ids) == 0);
    int32_t row[4];
    ck_assert_int_eq(rb_tokfile_row(f, 0, row, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "row_len"));
    rb_tokfile_close(f);

    /* vocab exactly 65536 still fits 16 bits; an empty file is valid */
    const char *p2 = tmp_path("c.rbtok");
    int32_t top = 65535;
    write_ids(p2, 65536, 0, &top, 1);
    ck_assert_int_eq(rb_tokfile_open(&f, p2, RB_TOKFILE_CHECK_IDS, &err), RB_OK);
    ck_assert_int_eq(rb_tokfile_get_info(f)->id_width, 2);
    ck_assert_int_eq(rb_tokfile_read(f, 0, 1, back, &err), RB_OK);
    ck_assert_int_eq(back[0], 65535);
    rb_tokfile_close(f);
    write_ids(p2, 10, 4, NULL, 0);
    ck_assert_int_eq(rb_tokfile_open(&f, p2, 0, &err), RB_OK);
    ck_assert_int_eq(rb_tokfile_get_info(f)->n_rows, 0);
    rb_tokfile_close(f);
}
END_TEST

/* Make a valid file, patch it, and expect open to fail naming `field`. */
static void expect_bad(const char *name, void (*patch)(uint8_t *b, size_t *n), rb_status code,
                       const char *field, unsigned flags)
{
    const char *good = tmp_path("good.rbtok");
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = i * 10;
    write_ids(good, 300, 5, ids, 20);
    size_t n;
    uint8_t *b = slurp(good, &n);
    b = realloc(b, n + 16);
    patch(b, &n);
    const char *bad = tmp_path(name);
    spit(bad, b, n);
    free(b);
    rb_tokfile *f = (rb_tokfile *)0x1;
    rb_error err;
    rb_error_clear(&err);
    rb_status st = rb_tokfile_open(&f, bad, flags, &err);
    printf("%-22s -> %s\n", name, err.msg);
    ck_assert_int_eq(st, code);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(err.msg, bad));
    ck_assert_msg(strstr(err.msg, field) != NULL, "message lacks \"%s\": %s", field, err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
}

static void p_short_header(uint8_t *b, size_t *n) { (void)b; *n = 40; }
static void p_magic(uint8_t *b, size_t *n) { (void)n; b[2] = 'X'; }
static void p_version(uint8_t *b, size_t *n) { (void)n; b[8] = 3; }
static void p_vocab0(uint8_t *b, size_t *n) { (void)n; memset(b + 12, 0, 4); }
static void p_width3(uint8_t *b, size_t *n) { (void)n; b[16] = 3; }
static void p_width2_big_vocab(uint8_t *b, size_t *n) { (void)n; b[12] = 0x71; b[13] = 0x11; b[14] = 1; }
static void p_reserved(uint8_t *b, size_t *n) { (void)n; b[40] = 1; }
static void p_count_past_end(uint8_t *b, size_t *n) { (void)n; b[24] = 25; }
static void p_truncated(uint8_t *b, size_t *n) { (void)b; *n -= 3; }
static void p_trailing(uint8_t *b, size_t *n) { b[*n] = 0; b[*n + 1] = 0; *n += 2; }
static void p_row_len(uint8_t *b, size_t *n) { (void)n; b[20] = 3; }
static void p_huge_count(uint8_t *b, size_t *n) { (void)n; memset(b + 24, 0xff, 8); }
static void p_bad_id(uint8_t *b, size_t *n) { (void)n; b[64 + 2 * 7] = 0x90; b[65 + 2 * 7] = 1; }

START_TEST(malformed_headers)
{
    expect_bad("short.rbtok", p_short_header, RB_EFORMAT, "header", 0);
    expect_bad("magic.rbtok", p_magic, RB_EFORMAT, "magic", 0);
    expect_bad("version.rbtok", p_version, RB_EUNSUPPORTED, "version", 0);
    expect_bad("vocab0.rbtok", p_vocab0, RB_EFORMAT, "vocab_size", 0);
    expect_bad("width3.rbtok", p_width3, RB_EFORMAT, "id_width", 0);
    expect_bad("width2big.rbtok", p_width2_big_vocab, RB_EFORMAT, "id_width", 0);
    expect_bad("reserved.rbtok", p_reserved, RB_EFORMAT, "reserved", 0);
    expect_bad("count.rbtok", p_count_past_end, RB_EFORMAT, "n_tokens", 0);
    expect_bad("truncated.rbtok", p_truncated, RB_EFORMAT, "truncated", 0);
    expect_bad("trailing.rbtok", p_trailing, RB_EFORMAT, "trailing", 0);
    expect_bad("rowlen.rbtok", p_row_len, RB_EFORMAT, "row_len", 0);
    expect_bad("hugecount.rbtok", p_huge_count, RB_EFORMAT, "n_tokens", 0);
    /* token 7 of rows of 5: row 1, column 2; found with or without the flag */
    expect_bad("badid.rbtok", p_bad_id, RB_EFORMAT, "row 1, column 2 (byte offset 78) holds id 400",
               RB_TOKFILE_CHECK_IDS);
    expect_bad("badid0.rbtok", p_bad_id, RB_EFORMAT, "row 1, column 2", 0);

    rb_tokfile *f;
    rb_error err;
    ck_assert_int_eq(rb_tokfile_open(&f, tmp_path("does-not-exist.rbtok"), 0, &err), RB_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "does-not-exist"));
}
END_TEST

/* The tokenizer identity is written at offset 32 and read back; version 1
 * files (identity field reserved, zero) are read with identity 0; an id in
 * a row is found at open even past the first 65536 ids. */
START_TEST(identity_and_version1)
{
    const char *path = tmp_path("id.rbtok");
    int32_t ids[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0};
    rb_tokwriter *w;
    rb_error err;
    ck_assert_int_eq(rb_tokwriter_open(&w, path, 10, 5, &err), RB_OK);
    rb_tokwriter_set_identity(w, 0x0123456789abcdefull);
    ck_assert_int_eq(rb_tokwriter_append(w, ids, 10, &err), RB_OK);
    ck_assert_int_eq(rb_tokwriter_finish(w, &err), RB_OK);
    size_t n;
    uint8_t *b = slurp(path, &n);
    ck_assert_int_eq(rd32(b + 32), 0x89abcdefu);
    ck_assert_int_eq(rd32(b + 36), 0x01234567u);
    rb_tokfile_info info;
    ck_assert_int_eq(rb_tokfile_read_info(path, &info, &err), RB_OK);
    ck_assert(info.tok_identity == 0x0123456789abcdefull);
    ck_assert_int_eq(info.version, 2);
    ck_assert_int_eq(info.n_rows, 2);
    /* the same bytes as version 1: the field must be zero there */
    b[8] = 1;
    const char *v1 = tmp_path("v1.rbtok");
    spit(v1, b, n);
    rb_tokfile *f;
    ck_assert_int_eq(rb_tokfile_open(&f, v1, 0, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "reserved"));
    memset(b + 32, 0, 8);
    spit(v1, b, n);
    ck_assert_int_eq(rb_tokfile_open(&f, v1, 0, &err), RB_OK);
    ck_assert(rb_tokfile_get_info(f)->tok_identity == 0);
    ck_assert_int_eq(rb_tokfile_get_info(f)->version, 1);
    rb_tokfile_close(f);
    free(b);

    /* a bad id far into a big file, in the last chunk of the scan */
    enum { ROWS = 40000, T1 = 3 };
    static int32_t big[ROWS * T1];
    for (int i = 0; i < ROWS * T1; i++) big[i] = i % 100;
    const char *pb = tmp_path("big.rbtok");
    write_ids(pb, 100, T1, big, ROWS * T1);
    b = slurp(pb, &n);
    size_t at = 64 + 2 * ((size_t)39000 * T1 + 1);
    b[at] = 100;
    b[at + 1] = 0;
    spit(pb, b, n);
    free(b);
    ck_assert_int_eq(rb_tokfile_open(&f, pb, 0, &err), RB_EFORMAT);
    ck_assert_msg(strstr(err.msg, "row 39000, column 1") != NULL, "%s", err.msg);
    ck_assert_int_eq(rb_tokfile_read_info(pb, &info, &err), RB_OK); /* the header alone is fine */
    /* a folder and an empty file are called that */
    ck_assert_int_eq(rb_tokfile_open(&f, rb_test_tmpdir(), 0, &err), RB_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "folder"));
    const char *pe = tmp_path("empty.rbtok");
    spit(pe, (const uint8_t *)"", 0);
    ck_assert_int_eq(rb_tokfile_read_info(pe, &info, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
}
END_TEST

static int count_tmp_files(void)
{
    DIR *d = opendir(rb_test_tmpdir());
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

START_TEST(writer_errors_and_atomicity)
{
    const char *path = tmp_path("atomic.rbtok");
    int32_t ids[6] = {1, 2, 3, 4, 5, 6};
    write_ids(path, 10, 3, ids, 6);
    size_t n0;
    uint8_t *before = slurp(path, &n0);

    rb_tokwriter *w;
    rb_error err;
    ck_assert_int_eq(rb_tokwriter_open(&w, path, 10, 3, &err), RB_OK);
    ck_assert_int_eq(count_tmp_files(), 1);
    int32_t bad[3] = {1, 10, 2};
    ck_assert_int_eq(rb_tokwriter_append(w, bad, 3, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "id 10"));
    ck_assert_int_eq(rb_tokwriter_count(w), 0); /* nothing of the bad call kept */
    int32_t neg = -1;
    ck_assert_int_eq(rb_tokwriter_append(w, &neg, 1, &err), RB_EINVAL);
    ck_assert_int_eq(rb_tokwriter_append(w, ids, 4, &err), RB_OK);
    /* 4 ids are not whole rows of 3: finish fails and the old file survives */
    ck_assert_int_eq(rb_tokwriter_finish(w, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "rows of 3"));
    ck_assert_int_eq(count_tmp_files(), 0);
    size_t n1;
    uint8_t *after = slurp(path, &n1);
    ck_assert_int_eq(n0, n1);
    ck_assert(memcmp(before, after, n0) == 0);
    free(after);

    /* abort leaves the old file too */
    ck_assert_int_eq(rb_tokwriter_open(&w, path, 10, 3, &err), RB_OK);
    ck_assert_int_eq(rb_tokwriter_append(w, ids, 3, &err), RB_OK);
    rb_tokwriter_abort(w);
    ck_assert_int_eq(count_tmp_files(), 0);
    after = slurp(path, &n1);
    ck_assert(n1 == n0 && memcmp(before, after, n0) == 0);
    free(after);
    free(before);

    /* a successful finish replaces it */
    int32_t other[3] = {9, 8, 7};
    write_ids(path, 10, 3, other, 3);
    rb_tokfile *f;
    ck_assert_int_eq(rb_tokfile_open(&f, path, 0, &err), RB_OK);
    int32_t row[3];
    ck_assert_int_eq(rb_tokfile_row(f, 0, row, &err), RB_OK);
    ck_assert_int_eq(row[0], 9);
    ck_assert_int_eq(rb_tokfile_get_info(f)->n_rows, 1);
    rb_tokfile_close(f);

    ck_assert_int_eq(rb_tokwriter_open(&w, "/nonexistent-dir/x.rbtok", 10, 0, &err), RB_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-dir/x.rbtok"));
    ck_assert_int_eq(rb_tokwriter_open(&w, path, 0, 0, &err), RB_EINVAL);
}
END_TEST

START_TEST(validation_split)
{
    uint64_t tr, va;
    rb_error err;
    ck_assert_int_eq(rb_split_rows(100, 0.1, &tr, &va, &err), RB_OK);
    ck_assert_int_eq(tr, 90);
    ck_assert_int_eq(va, 10);
    ck_assert_int_eq(rb_split_rows(10, 0.05, &tr, &va, &err), RB_OK); /* ceil(0.5) = 1 */
    ck_assert_int_eq(tr, 9);
    ck_assert_int_eq(va, 1);
    ck_assert_int_eq(rb_split_rows(10, 0.0, &tr, &va, &err), RB_OK);
    ck_assert_int_eq(va, 0);
    ck_assert_int_eq(rb_split_rows(10, 1.0, &tr, &va, &err), RB_EINVAL);
    ck_assert_int_eq(rb_split_rows(1, 0.5, &tr, &va, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "no training row"));
    ck_assert_int_eq(rb_split_rows(0, 0.0, &tr, &va, &err), RB_EINVAL);
}
END_TEST

START_TEST(row_order)
{
    enum { N = 1000 };
    uint64_t a[N], b[N];
    char seen[N];
    ck_assert_int_eq(rb_row_order(N, 5, 0, a, NULL), RB_OK);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < N; i++) {
        ck_assert(a[i] < N && !seen[a[i]]);
        seen[a[i]] = 1;
    }
    ck_assert_int_eq(rb_row_order(N, 5, 0, b, NULL), RB_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert_int_eq(rb_row_order(N, 5, 1, b, NULL), RB_OK);
    ck_assert(memcmp(a, b, sizeof a) != 0);
    ck_assert_int_eq(rb_row_order(N, 6, 0, b, NULL), RB_OK);
    ck_assert(memcmp(a, b, sizeof a) != 0);
    ck_assert_int_eq(rb_row_order(0, 1, 0, NULL, NULL), RB_OK);

    /* all 120 orders of 5 rows equally likely: chi-square over 60,000 shuffles */
    enum { M = 60000 };
    static long count[120];
    memset(count, 0, sizeof count);
    for (int t = 0; t < M; t++) {
        uint64_t p[5];
        rb_row_order(5, 1000 + t, 0, p, NULL);
        /* Lehmer code -> index in 0..119 */
        int idx = 0;
        for (int i = 0; i < 5; i++) {
            int smaller = 0;
            for (int j = i + 1; j < 5; j++) smaller += p[j] < p[i];
            idx = idx * (5 - i) + smaller;
        }
        count[idx]++;
    }
    double e = M / 120.0, chi2 = 0;
    for (int i = 0; i < 120; i++) chi2 += (count[i] - e) * (count[i] - e) / e;
    /* 119 dof: upper 0.01% point ~ 183 */
    printf("row order: chi-square over the 120 permutations of 5 = %.1f (119 dof)\n", chi2);
    ck_assert_msg(chi2 < 183.0, "permutations not uniform: chi2 %.1f", chi2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_tokfile");
    TCase *tc = tcase_create("tokfile");
    tcase_add_test(tc, layout_and_round_trip_u16);
    tcase_add_test(tc, round_trip_u32_and_unpacked);
    tcase_add_test(tc, malformed_headers);
    tcase_add_test(tc, identity_and_version1);
    tcase_add_test(tc, writer_errors_and_atomicity);
    tcase_add_test(tc, validation_split);
    tcase_add_test(tc, row_order);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
