/* test_data_assets.c: ingestion and packing of the real data assets
 * (TinyStories text, GSM8K JSONL) with a byte-level encode callback
 * (id = byte + 3; BOS 1, EOS 2). The expected document streams are built in
 * the test from the raw files (split at the separator; cJSON for each GSM8K
 * line) and the counts checked against the assets' documentation (5 stories
 * in the sample, 7,473 GSM8K problems, answers ending in "#### N"). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_data.h"
#include "rb_test.h"

#define BOS 1
#define EOS 2
#define VOCAB 259

static rb_status byte_encode(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n,
                             rb_error *err)
{
    (void)ctx;
    (void)err;
    *ids = malloc((len + 1) * sizeof **ids);
    for (size_t i = 0; i < len; i++) (*ids)[i] = (unsigned char)text[i] + 3;
    *n = len;
    return RB_OK;
}

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

static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* The expected id stream, grown document by document. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
    size_t docs;
} stream;

static void stream_doc(stream *s, const char *text, size_t len)
{
    if (s->n + len + 2 > s->cap) {
        s->cap = (s->n + len + 2) * 2;
        s->ids = realloc(s->ids, s->cap * sizeof *s->ids);
    }
    s->ids[s->n++] = BOS;
    for (size_t i = 0; i < len; i++) s->ids[s->n++] = (unsigned char)text[i] + 3;
    s->ids[s->n++] = EOS;
    s->docs++;
}

static void strip(const char **p, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)(*p)[0])) {
        (*p)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)(*p)[*len - 1])) (*len)--;
}

/* Pack with the given row length and compare the file with the expected
 * stream (rows = leading whole rows of it; the partial tail dropped). */
static void pack_and_compare(int jsonl, const char *in, const rb_ingest_opts *o, uint32_t row_len,
                             const stream *want)
{
    const char *out = tmp_path(jsonl ? "gsm.rbtok" : "ts.rbtok");
    rb_pack_opts po = {VOCAB, row_len, BOS, EOS, RB_PACK_DROP, 0, 0};
    rb_packer *pk;
    rb_error err;
    ck_assert_int_eq(rb_packer_open(&pk, out, &po, &err), RB_OK);
    rb_ingest_stats st;
    rb_status s = jsonl ? rb_ingest_jsonl(in, o, pk, &st, &err) : rb_ingest_text(in, o, pk, &st, &err);
    ck_assert_msg(s == RB_OK, "%s", err.msg);
    rb_pack_stats ps;
    ck_assert_int_eq(rb_packer_finish(pk, &ps, &err), RB_OK);
    ck_assert_int_eq(st.docs, want->docs);
    ck_assert_int_eq(ps.stream_tokens, want->n);
    size_t keep = row_len ? want->n / row_len * row_len : want->n;
    ck_assert_int_eq(ps.written_tokens, keep);
    ck_assert_int_eq(ps.dropped_tokens, want->n - keep);

    rb_tokfile *f;
    ck_assert_int_eq(rb_tokfile_open(&f, out, RB_TOKFILE_CHECK_IDS, &err), RB_OK);
    const rb_tokfile_info *in_ = rb_tokfile_get_info(f);
    ck_assert_int_eq(in_->n_tokens, keep);
    ck_assert_int_eq(in_->id_width, 2);
    int32_t *got = malloc((keep + 1) * sizeof *got);
    ck_assert_int_eq(rb_tokfile_read(f, 0, keep, got, &err), RB_OK);
    ck_assert(memcmp(got, want->ids, keep * sizeof *got) == 0);
    if (row_len) {
        ck_assert_int_eq(in_->n_rows, want->n / row_len);
        int32_t *row = malloc(row_len * sizeof *row);
        uint64_t last = in_->n_rows - 1;
        ck_assert_int_eq(rb_tokfile_row(f, last, row, &err), RB_OK);
        ck_assert(memcmp(row, want->ids + last * row_len, row_len * sizeof *row) == 0);
        free(row);
    }
    free(got);
    rb_tokfile_close(f);
    printf("%s: %zu documents, %zu stream ids, row_len %u -> %zu ids kept\n", in, want->docs,
           want->n, row_len, keep);
}

START_TEST(tinystories_sample)
{
    const char *path = rb_test_asset_or_skip("tinystories/tinystories_sample.txt");
    size_t size;
    char *raw = slurp(path, &size);
    stream want = {0};
    const char *sep = "<|endoftext|>";
    const char *p = raw;
    for (;;) {
        const char *hit = strstr(p, sep);
        const char *d = p;
        size_t len = hit ? (size_t)(hit - p) : strlen(p);
        strip(&d, &len);
        if (len) stream_doc(&want, d, len);
        if (!hit) break;
        p = hit + strlen(sep);
    }
    ck_assert_int_eq(want.docs, 5); /* SOURCES.md: 5 complete stories */
    rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    o.encode = byte_encode;
    o.separator = sep;
    pack_and_compare(0, path, &o, 0, &want);
    pack_and_compare(0, path, &o, 129, &want);
    /* BOS at every story start, EOS after each: 5 of each */
    size_t nb = 0, ne = 0;
    for (size_t i = 0; i < want.n; i++) {
        nb += want.ids[i] == BOS;
        ne += want.ids[i] == EOS;
    }
    ck_assert_int_eq(nb, 5);
    ck_assert_int_eq(ne, 5);
    free(want.ids);
    free(raw);
}
END_TEST

START_TEST(tinystories_prefix)
{
    const char *path = rb_test_asset_or_skip("tinystories/tinystories_train_prefix_niklas6.txt");
    size_t size;
    char *raw = slurp(path, &size);
    /* whole file as one document */
    stream one = {0};
    const char *d = raw;
    size_t len = size;
    strip(&d, &len);
    stream_doc(&one, d, len);
    rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    o.encode = byte_encode;
    pack_and_compare(0, path, &o, 1025, &one);
    /* paragraphs (blank-line separated) as documents */
    stream par = {0};
    const char *p = raw;
    for (;;) {
        const char *hit = strstr(p, "\n\n");
        const char *s = p;
        size_t l = hit ? (size_t)(hit - p) : strlen(p);
        strip(&s, &l);
        if (l) stream_doc(&par, s, l);
        if (!hit) break;
        p = hit + 2;
    }
    ck_assert_int_gt(par.docs, 150); /* ~150 stories, several paragraphs each */
    o.separator = "\n\n";
    pack_and_compare(0, path, &o, 257, &par);
    free(one.ids);
    free(par.ids);
    free(raw);
}
END_TEST

START_TEST(gsm8k_template)
{
    const char *path = rb_test_asset_or_skip("gsm8k/train.jsonl");
    size_t size;
    char *raw = slurp(path, &size);
    stream tpl = {0}, ans = {0};
    size_t answers_with_marker = 0;
    char *save = NULL;
    for (char *line = strtok_r(raw, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *obj = cJSON_Parse(line);
        ck_assert_ptr_nonnull(obj);
        const char *q = cJSON_GetObjectItemCaseSensitive(obj, "question")->valuestring;
        const char *a = cJSON_GetObjectItemCaseSensitive(obj, "answer")->valuestring;
        char *doc;
        ck_assert_int_ge(asprintf(&doc, "Q: %s\nA: %s", q, a), 0);
        const char *s = doc;
        size_t l = strlen(doc);
        strip(&s, &l);
        stream_doc(&tpl, s, l);
        s = a;
        l = strlen(a);
        strip(&s, &l);
        stream_doc(&ans, s, l);
        /* the data set's documented format: the answer's last line is "#### N" */
        const char *last = strrchr(a, '\n');
        if (last && strncmp(last + 1, "#### ", 5) == 0) answers_with_marker++;
        free(doc);
        cJSON_Delete(obj);
    }
    ck_assert_int_eq(tpl.docs, 7473); /* the README: 7,473 problems */
    ck_assert_int_eq(answers_with_marker, 7473);
    rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    o.encode = byte_encode;
    o.templ = "Q: {question}\nA: {answer}";
    pack_and_compare(1, path, &o, 1025, &tpl);
    pack_and_compare(1, path, &o, 0, &tpl);
    o.templ = NULL;
    o.field = "answer";
    pack_and_compare(1, path, &o, 0, &ans);

    /* held-out split and order over the packed rows */
    rb_tokfile *f;
    rb_error err;
    o.templ = "Q: {question}\nA: {answer}";
    o.field = NULL;
    pack_and_compare(1, path, &o, 1025, &tpl);
    ck_assert_int_eq(rb_tokfile_open(&f, tmp_path("gsm.rbtok"), 0, &err), RB_OK);
    uint64_t rows = rb_tokfile_get_info(f)->n_rows, ntr, nva;
    ck_assert_int_eq(rb_split_rows(rows, 0.05, &ntr, &nva, &err), RB_OK);
    ck_assert_int_eq(ntr + nva, rows);
    ck_assert_int_ge(nva, 1);
    uint64_t *perm = malloc(ntr * sizeof *perm);
    ck_assert_int_eq(rb_row_order(ntr, 74, 0, perm, &err), RB_OK);
    int32_t row[1025];
    ck_assert_int_eq(rb_tokfile_row(f, perm[0], row, &err), RB_OK);
    ck_assert(memcmp(row, tpl.ids + perm[0] * 1025, sizeof row) == 0);
    free(perm);
    rb_tokfile_close(f);
    free(tpl.ids);
    free(ans.ids);
    free(raw);
}
END_TEST

int main(void)
{
    /* a missing asset skips the suite here: inside a forked check test the
     * skip status would count as an error */
    rb_test_asset_or_skip("tinystories/tinystories_sample.txt");
    rb_test_asset_or_skip("tinystories/tinystories_train_prefix_niklas6.txt");
    rb_test_asset_or_skip("gsm8k/train.jsonl");
    Suite *s = suite_create("data_assets");
    TCase *tc = tcase_create("assets");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tinystories_sample);
    tcase_add_test(tc, tinystories_prefix);
    tcase_add_test(tc, gsm8k_template);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
