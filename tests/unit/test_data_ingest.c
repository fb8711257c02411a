/* test_data_ingest.c: text and JSONL ingestion on small files written by the
 * test: document splitting and stripping, {field} templates, error lines,
 * progress reports and stopping, with a byte-level encode callback
 * (id = byte + 3; BOS 1, EOS 2) so the packed file can be read back as text. */
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

static rb_status failing_encode(void *ctx, const char *text, size_t len, int32_t **ids,
                                size_t *n, rb_error *err)
{
    (void)ctx;
    (void)text;
    (void)len;
    (void)ids;
    (void)n;
    return rb_fail(err, RB_EINVAL, "tokenizer says no");
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

static const char *write_text(const char *name, const char *text)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
    return p;
}

/* Read a packed (unwrapped) file back as "|doc|doc|" using BOS/EOS as delimiters,
 * checking that every document is exactly BOS ... EOS. */
static char *read_back(const char *path)
{
    rb_tokfile *f;
    rb_error err;
    ck_assert_int_eq(rb_tokfile_open(&f, path, RB_TOKFILE_CHECK_IDS, &err), RB_OK);
    uint64_t n = rb_tokfile_get_info(f)->n_tokens;
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    ck_assert_int_eq(rb_tokfile_read(f, 0, n, ids, &err), RB_OK);
    char *s = malloc(n + 2);
    size_t k = 0;
    int in_doc = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (ids[i] == BOS) {
            ck_assert_msg(!in_doc, "BOS inside a document at %llu", (unsigned long long)i);
            in_doc = 1;
            s[k++] = '|';
        } else if (ids[i] == EOS) {
            ck_assert_msg(in_doc, "EOS outside a document at %llu", (unsigned long long)i);
            in_doc = 0;
        } else {
            ck_assert(in_doc);
            s[k++] = (char)(ids[i] - 3);
        }
    }
    ck_assert(!in_doc);
    s[k] = '\0';
    free(ids);
    rb_tokfile_close(f);
    return s;
}

static rb_packer *open_packer(const char *path)
{
    rb_pack_opts o = {VOCAB, 0, BOS, EOS, RB_PACK_DROP, 0, 0};
    rb_packer *pk;
    ck_assert_int_eq(rb_packer_open(&pk, path, &o, NULL), RB_OK);
    return pk;
}

static char *ingest(int jsonl, const char *input, rb_ingest_opts *o, rb_ingest_stats *st,
                    rb_status want)
{
    const char *out = tmp_path("out.rbtok");
    rb_packer *pk = open_packer(out);
    rb_error err;
    rb_error_clear(&err);
    rb_status s = jsonl ? rb_ingest_jsonl(input, o, pk, st, &err) : rb_ingest_text(input, o, pk, st, &err);
    ck_assert_msg(s == want, "status %d, want %d: %s", s, want, err.msg);
    if (s != RB_OK) {
        printf("expected error: %s\n", err.msg);
        ck_assert_ptr_nonnull(strstr(err.msg, input));
        ck_assert_ptr_null(strchr(err.msg, '\n'));
        rb_packer_abort(pk);
        return NULL;
    }
    ck_assert_int_eq(rb_packer_finish(pk, NULL, &err), RB_OK);
    return read_back(out);
}

static rb_ingest_opts byte_opts(void)
{
    rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    o.encode = byte_encode;
    return o;
}

START_TEST(text_separator)
{
    const char *in = write_text("a.txt", "  first doc \n<|endoftext|>\nsecond\n\n<|endoftext|>\n"
                                         "<|endoftext|>third<|endoftext|>\n");
    rb_ingest_opts o = byte_opts();
    o.separator = "<|endoftext|>";
    rb_ingest_stats st;
    char *s = ingest(0, in, &o, &st, RB_OK);
    ck_assert_str_eq(s, "|first doc|second|third");
    ck_assert_int_eq(st.docs, 3);
    ck_assert_int_eq(st.skipped, 2); /* the empty one between separators, and the tail */
    ck_assert_int_eq(st.tokens, strlen("first doc") + strlen("second") + strlen("third"));
    free(s);
    /* without strip and skip: raw pieces, empty ones kept as BOS EOS */
    o.strip = 0;
    o.skip_empty = 0;
    s = ingest(0, in, &o, &st, RB_OK);
    ck_assert_str_eq(s, "|  first doc \n|\nsecond\n\n|\n|third|\n");
    ck_assert_int_eq(st.docs, 5);
    free(s);
    /* max_docs */
    o = byte_opts();
    o.separator = "<|endoftext|>";
    o.max_docs = 2;
    s = ingest(0, in, &o, &st, RB_OK);
    ck_assert_str_eq(s, "|first doc|second");
    free(s);
}
END_TEST

START_TEST(text_whole_file)
{
    const char *text = "\n\nOne story.\n\nAnother paragraph.\n";
    const char *in = write_text("b.txt", text);
    rb_ingest_opts o = byte_opts();
    rb_ingest_stats st;
    char *s = ingest(0, in, &o, &st, RB_OK);
    ck_assert_str_eq(s, "|One story.\n\nAnother paragraph.");
    ck_assert_int_eq(st.docs, 1);
    ck_assert_int_eq(st.bytes, strlen(text));
    free(s);
    const char *empty = write_text("empty.txt", "");
    s = ingest(0, empty, &o, &st, RB_OK);
    ck_assert_str_eq(s, "");
    ck_assert_int_eq(st.skipped, 1);
    free(s);
}
END_TEST

START_TEST(jsonl_field_and_template)
{
    const char *in = write_text("c.jsonl",
                                "{\"question\": \"2+2?\", \"answer\": \"4\\n#### 4\", \"n\": 3}\n"
                                "\n"
                                "{\"answer\": \"b\", \"question\": \"a {x}\"}\r\n"
                                "  {\"question\": \"caf\\u00e9\", \"answer\": \"\"}  \n");
    rb_ingest_opts o = byte_opts();
    rb_ingest_stats st;
    o.field = "question";
    char *s = ingest(1, in, &o, &st, RB_OK);
    ck_assert_str_eq(s, "|2+2?|a {x}|caf\xc3\xa9");
    ck_assert_int_eq(st.docs, 3);
    free(s);
    o.field = NULL;
    o.templ = "Q: {question}\nA: {answer} {{done}}";
    s = ingest(1, in, &o, &st, RB_OK);
    ck_assert_str_eq(s, "|Q: 2+2?\nA: 4\n#### 4 {done}|Q: a {x}\nA: b {done}|Q: caf\xc3\xa9\nA:  {done}");
    free(s);
}
END_TEST

START_TEST(jsonl_errors)
{
    rb_ingest_opts o = byte_opts();
    rb_ingest_stats st;
    const char *in = write_text("d.jsonl", "{\"question\": \"ok\"}\n{\"q\": \"no\"}\n");
    o.field = "question";
    ingest(1, in, &o, &st, RB_EFORMAT);
    o.field = NULL;
    o.templ = "{question} {answer}";
    ingest(1, in, &o, &st, RB_EFORMAT);
    const char *bad = write_text("e.jsonl", "{\"question\": \"ok\"}\n{\"question\": oops}\n");
    o.templ = NULL;
    o.field = "question";
    ingest(1, bad, &o, &st, RB_EFORMAT);
    const char *num = write_text("f.jsonl", "{\"question\": 12}\n");
    ingest(1, num, &o, &st, RB_EFORMAT);
    const char *arr = write_text("g.jsonl", "[1, 2]\n");
    ingest(1, arr, &o, &st, RB_EFORMAT);
    const char *trail = write_text("h.jsonl", "{\"question\": \"x\"} extra\n");
    ingest(1, trail, &o, &st, RB_EFORMAT);
    /* exactly one of field / template */
    o.templ = "{question}";
    ingest(1, in, &o, &st, RB_EINVAL);
    o.templ = NULL;
    o.field = NULL;
    ingest(1, in, &o, &st, RB_EINVAL);
    /* a bad template is reported with the input's name */
    o.templ = "{question";
    ingest(1, in, &o, &st, RB_EINVAL);
    /* the encoder's error is passed on with the document named */
    o = byte_opts();
    o.encode = failing_encode;
    o.field = "question";
    const char *out = tmp_path("x.rbtok");
    rb_packer *pk = open_packer(out);
    rb_error err;
    ck_assert_int_eq(rb_ingest_jsonl(in, &o, pk, &st, &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "line 1"));
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer says no"));
    rb_packer_abort(pk);
    /* no encoder */
    o.encode = NULL;
    pk = open_packer(out);
    ck_assert_int_eq(rb_ingest_jsonl(in, &o, pk, &st, &err), RB_EINVAL);
    rb_packer_abort(pk);
    pk = open_packer(out);
    o.encode = byte_encode;
    ck_assert_int_eq(rb_ingest_text(tmp_path("missing.txt"), &o, pk, &st, &err), RB_EIO);
    rb_packer_abort(pk);
}
END_TEST

START_TEST(templates)
{
    rb_template *t;
    rb_error err;
    ck_assert_int_eq(rb_template_parse(&t, "Q: {question}\\nA: {answer}", &err), RB_OK);
    ck_assert_int_eq(rb_template_n_fields(t), 2);
    ck_assert_str_eq(rb_template_field(t, 0), "question");
    ck_assert_str_eq(rb_template_field(t, 1), "answer");
    ck_assert_ptr_null(rb_template_field(t, 2));
    rb_template_free(t);
    ck_assert_int_eq(rb_template_parse(&t, "no fields, {{braces}}", &err), RB_OK);
    ck_assert_int_eq(rb_template_n_fields(t), 0);
    char *out;
    size_t len;
    ck_assert_int_eq(rb_template_render(t, NULL, NULL, &out, &len, &err), RB_OK);
    ck_assert_str_eq(out, "no fields, {braces}");
    ck_assert_int_eq(len, strlen(out));
    free(out);
    rb_template_free(t);
    ck_assert_int_eq(rb_template_parse(&t, "", &err), RB_OK);
    ck_assert_int_eq(rb_template_render(t, NULL, NULL, &out, &len, &err), RB_OK);
    ck_assert_str_eq(out, "");
    free(out);
    rb_template_free(t);
    ck_assert_int_eq(rb_template_parse(&t, "a {b", &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 2"));
    ck_assert_int_eq(rb_template_parse(&t, "a } b", &err), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 2"));
    ck_assert_int_eq(rb_template_parse(&t, "x{}", &err), RB_EINVAL);
    ck_assert_int_eq(rb_template_parse(&t, "{a{b}}", &err), RB_EINVAL);
}
END_TEST

typedef struct {
    int calls;
    uint64_t last, total;
    int stop_after;
} progress_log;

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress_log *p = ctx;
    ck_assert_msg(done >= p->last, "progress went backwards");
    ck_assert(done <= total);
    p->last = done;
    p->total = total;
    p->calls++;
    return p->stop_after > 0 && p->calls >= p->stop_after;
}

START_TEST(progress_and_stop)
{
    /* ~3 MB of text: several throttled reports, the last one at 100% */
    const char *path = tmp_path("big.txt");
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 60000; i++) fprintf(f, "document number %d with some text<SEP>", i);
    fclose(f);
    rb_ingest_opts o = byte_opts();
    o.separator = "<SEP>";
    progress_log log = {0, 0, 0, 0};
    o.progress = on_progress;
    o.progress_ctx = &log;
    rb_ingest_stats st;
    const char *out = tmp_path("big.rbtok");
    rb_packer *pk = open_packer(out);
    rb_error err;
    ck_assert_int_eq(rb_ingest_text(path, &o, pk, &st, &err), RB_OK);
    ck_assert_int_eq(rb_packer_finish(pk, NULL, &err), RB_OK);
    ck_assert_int_ge(log.calls, 2);
    ck_assert_int_eq(log.last, log.total);
    ck_assert_int_eq(st.docs, 60000);
    /* stop on the second report */
    log = (progress_log){0, 0, 0, 2};
    pk = open_packer(out);
    ck_assert_int_eq(rb_ingest_text(path, &o, pk, &st, &err), RB_EINTERRUPTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "stopped"));
    ck_assert_int_lt(st.docs, 60000);
    rb_packer_abort(pk);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_ingest");
    TCase *tc = tcase_create("ingest");
    tcase_add_test(tc, text_separator);
    tcase_add_test(tc, text_whole_file);
    tcase_add_test(tc, jsonl_field_and_template);
    tcase_add_test(tc, jsonl_errors);
    tcase_add_test(tc, templates);
    tcase_add_test(tc, progress_and_stop);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
