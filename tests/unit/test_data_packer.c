/* test_data_packer.c: documents -> BOS doc EOS ... wrapped into rows of
 * T + 1, compared with a stream assembled independently in the test
 * (concatenate, then cut), for the drop and pad tails, no-row streams and
 * missing BOS/EOS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Documents of varied lengths (including empty and longer than a row). */
static int32_t *make_doc(int d, size_t *n)
{
    static const size_t lens[] = {3, 1, 0, 11, 5, 2, 7, 0, 4, 9, 13, 1};
    *n = lens[d % 12];
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = 10 + (int32_t)((d * 31 + i * 7) % 80);
    return ids;
}

static void check_pack(uint32_t row_len, int32_t bos, int32_t eos, rb_pack_tail tail, int n_docs)
{
    const char *path = tmp_path("p.rbtok");
    rb_pack_opts o = {100, row_len, bos, eos, tail, 0, 0};
    rb_packer *pk;
    rb_error err;
    ck_assert_int_eq(rb_packer_open(&pk, path, &o, &err), RB_OK);
    /* the reference stream, built by plain concatenation */
    int32_t *ref = malloc(4096 * sizeof *ref);
    size_t nref = 0, doc_tokens = 0;
    for (int d = 0; d < n_docs; d++) {
        size_t n;
        int32_t *ids = make_doc(d, &n);
        ck_assert_int_eq(rb_packer_add(pk, ids, n, &err), RB_OK);
        if (bos >= 0) ref[nref++] = bos;
        memcpy(ref + nref, ids, n * sizeof *ids);
        nref += n;
        doc_tokens += n;
        if (eos >= 0) ref[nref++] = eos;
        free(ids);
    }
    rb_pack_stats st;
    ck_assert_int_eq(rb_packer_finish(pk, &st, &err), RB_OK);
    ck_assert_int_eq(st.docs, n_docs);
    ck_assert_int_eq(st.doc_tokens, doc_tokens);
    ck_assert_int_eq(st.stream_tokens, nref);

    size_t want_rows, want_tokens, tail_len = row_len ? nref % row_len : 0;
    if (row_len == 0) {
        want_rows = 0;
        want_tokens = nref;
    } else if (tail == RB_PACK_DROP || tail_len == 0) {
        want_rows = nref / row_len;
        want_tokens = want_rows * row_len;
    } else {
        want_rows = nref / row_len + 1;
        want_tokens = want_rows * row_len;
    }
    ck_assert_int_eq(st.rows, want_rows);
    ck_assert_int_eq(st.written_tokens, want_tokens);
    ck_assert_int_eq(st.dropped_tokens, tail == RB_PACK_DROP ? tail_len : 0);
    ck_assert_int_eq(st.pad_tokens, tail == RB_PACK_PAD && tail_len ? row_len - tail_len : 0);

    rb_tokfile *f;
    ck_assert_int_eq(rb_tokfile_open(&f, path, RB_TOKFILE_CHECK_IDS, &err), RB_OK);
    const rb_tokfile_info *in = rb_tokfile_get_info(f);
    ck_assert_int_eq(in->n_tokens, want_tokens);
    ck_assert_int_eq(in->row_len, row_len);
    int32_t *got = malloc((want_tokens + 1) * sizeof *got);
    ck_assert_int_eq(rb_tokfile_read(f, 0, want_tokens, got, &err), RB_OK);
    for (size_t i = 0; i < want_tokens; i++) {
        int32_t want = i < nref ? ref[i] : 0; /* pad id 0 */
        ck_assert_msg(got[i] == want, "token %zu: %d, want %d", i, got[i], want);
    }
    /* rows are consecutive slices of the stream */
    if (row_len > 0 && want_rows > 1) {
        int32_t *row = malloc(row_len * sizeof *row);
        ck_assert_int_eq(rb_tokfile_row(f, 1, row, &err), RB_OK);
        ck_assert(memcmp(row, got + row_len, row_len * sizeof *row) == 0);
        free(row);
    }
    free(got);
    free(ref);
    rb_tokfile_close(f);
}

START_TEST(hand_example)
{
    /* T + 1 = 5, BOS 1, EOS 2: [10 11 12], [13], [] ->
     * 1 10 11 12 2 | 1 13 2 1 2 (two full rows, nothing left) */
    const char *path = tmp_path("hand.rbtok");
    rb_pack_opts o = {100, 5, 1, 2, RB_PACK_DROP, 0, 0};
    rb_packer *pk;
    ck_assert_int_eq(rb_packer_open(&pk, path, &o, NULL), RB_OK);
    int32_t a[] = {10, 11, 12}, b[] = {13};
    ck_assert_int_eq(rb_packer_add(pk, a, 3, NULL), RB_OK);
    ck_assert_int_eq(rb_packer_add(pk, b, 1, NULL), RB_OK);
    ck_assert_int_eq(rb_packer_add(pk, NULL, 0, NULL), RB_OK);
    ck_assert_int_eq(rb_packer_finish(pk, NULL, NULL), RB_OK);
    rb_tokfile *f;
    ck_assert_int_eq(rb_tokfile_open(&f, path, 0, NULL), RB_OK);
    int32_t r0[5], r1[5];
    ck_assert_int_eq(rb_tokfile_row(f, 0, r0, NULL), RB_OK);
    ck_assert_int_eq(rb_tokfile_row(f, 1, r1, NULL), RB_OK);
    int32_t w0[] = {1, 10, 11, 12, 2}, w1[] = {1, 13, 2, 1, 2};
    ck_assert(memcmp(r0, w0, sizeof w0) == 0);
    ck_assert(memcmp(r1, w1, sizeof w1) == 0);
    ck_assert_int_eq(rb_tokfile_get_info(f)->n_rows, 2);
    rb_tokfile_close(f);
}
END_TEST

START_TEST(streams_match_reference)
{
    for (int nd = 1; nd <= 40; nd += 3) {
        check_pack(5, 1, 2, RB_PACK_DROP, nd);
        check_pack(5, 1, 2, RB_PACK_PAD, nd);
        check_pack(17, 1, 2, RB_PACK_DROP, nd);
        check_pack(17, 1, 2, RB_PACK_PAD, nd);
        check_pack(0, 1, 2, RB_PACK_DROP, nd);
        check_pack(8, -1, 2, RB_PACK_DROP, nd);
        check_pack(8, 1, -1, RB_PACK_PAD, nd);
        check_pack(3, -1, -1, RB_PACK_DROP, nd);
    }
}
END_TEST

START_TEST(bad_input)
{
    const char *path = tmp_path("bad.rbtok");
    rb_pack_opts o = {100, 4, 1, 2, RB_PACK_DROP, 0, 0};
    rb_packer *pk;
    rb_error err;
    o.bos_id = 100;
    ck_assert_int_eq(rb_packer_open(&pk, path, &o, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "bos_id"));
    o.bos_id = 1;
    o.eos_id = -5;
    ck_assert_int_eq(rb_packer_open(&pk, path, &o, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "eos_id"));
    o.eos_id = 2;
    o.tail = RB_PACK_PAD;
    o.pad_id = 100;
    ck_assert_int_eq(rb_packer_open(&pk, path, &o, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "pad_id"));
    o.tail = RB_PACK_DROP;
    ck_assert_int_eq(rb_packer_open(&pk, path, &o, &err), RB_OK);
    int32_t good[] = {5, 6}, bad[] = {5, 100, 6};
    ck_assert_int_eq(rb_packer_add(pk, good, 2, &err), RB_OK);
    ck_assert_int_eq(rb_packer_add(pk, bad, 3, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "document 1"));
    ck_assert_ptr_nonnull(strstr(err.msg, "position 1"));
    /* the rejected document left no trace: 1 5 6 2 is the only row */
    rb_pack_stats st;
    ck_assert_int_eq(rb_packer_finish(pk, &st, &err), RB_OK);
    ck_assert_int_eq(st.docs, 1);
    ck_assert_int_eq(st.rows, 1);
    rb_tokfile *f;
    ck_assert_int_eq(rb_tokfile_open(&f, path, 0, &err), RB_OK);
    int32_t row[4], want[] = {1, 5, 6, 2};
    ck_assert_int_eq(rb_tokfile_row(f, 0, row, &err), RB_OK);
    ck_assert(memcmp(row, want, sizeof want) == 0);
    rb_tokfile_close(f);
    /* abort leaves no file */
    const char *p2 = tmp_path("aborted.rbtok");
    ck_assert_int_eq(rb_packer_open(&pk, p2, &o, &err), RB_OK);
    ck_assert_int_eq(rb_packer_add(pk, good, 2, &err), RB_OK);
    rb_packer_abort(pk);
    ck_assert_int_eq(rb_tokfile_open(&f, p2, 0, &err), RB_EIO);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_packer");
    TCase *tc = tcase_create("packer");
    tcase_add_test(tc, hand_example);
    tcase_add_test(tc, streams_match_reference);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
