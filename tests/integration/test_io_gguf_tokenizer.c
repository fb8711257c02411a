/* test_io_gguf_tokenizer.c: the tokenizer embedded in the stories260K GGUF
 * (tokenizer.ggml.model "llama": pieces, scores, token types) encodes text
 * to the same ids as llama2.c's tok512.bin, the same vocabulary exported by
 * a different tool in a different format (its pieces use ' ' where the GGUF
 * uses U+2581), and decodes back to the text. Inputs: fixed strings, the
 * texts of tests/data/tok/tok512_reference.jsonl and lines of the
 * TinyStories sample. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_gguf.h"
#include "rb_io.h"
#include "rb_test.h"
#include "rb_tokenizer.h"
#include "test_io_gguf_util.h"

static char gguf_path[1024], tok_path[1024];
static char **texts;
static int n_texts;

static void add_text(const char *s, size_t n)
{
    texts = realloc(texts, (size_t)(n_texts + 1) * sizeof *texts);
    texts[n_texts] = malloc(n + 1);
    memcpy(texts[n_texts], s, n);
    texts[n_texts][n] = '\0';
    n_texts++;
}

static void collect_texts(void)
{
    static const char *const fixed[] = {
        "Once upon a time, there was a little girl named Lily.",
        "Hello world",
        " leading space",
        "trailing space ",
        "",
        "a",
        "Tim and Sue went to the park. They saw a big red ball!",
        "numbers 12345 and symbols #$%&*",
        "unicode: caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80 (byte fallback)",
        "tab\tand\nnewline",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) add_text(fixed[i], strlen(fixed[i]));

    size_t n;
    char *jl = gguf_test_read_file(rb_test_source_path("tests/data/tok/tok512_reference.jsonl"), &n);
    if (jl) {
        jl = realloc(jl, n + 1);
        jl[n] = '\0';
        for (char *line = strtok(jl, "\n"); line; line = strtok(NULL, "\n")) {
            cJSON *j = cJSON_Parse(line);
            const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
            if (cJSON_IsString(t)) add_text(t->valuestring, strlen(t->valuestring));
            cJSON_Delete(j);
        }
        free(jl);
    }
    const char *sample = rb_test_asset("tinystories/tinystories_sample.txt");
    char *txt = sample ? gguf_test_read_file(sample, &n) : NULL;
    if (txt) {
        size_t start = 0;
        int lines = 0;
        for (size_t i = 0; i <= n && lines < 60; i++)
            if (i == n || txt[i] == '\n') {
                if (i > start) add_text(txt + start, i - start);
                start = i + 1;
                lines++;
            }
        free(txt);
    }
}

START_TEST(same_ids_as_tok512)
{
    rb_gguf *g;
    rb_error err = {0};
    ck_assert_msg(rb_gguf_open(&g, gguf_path, &err) == RB_OK, "%s", err.msg);
    rb_tokenizer *a = NULL, *b = NULL;
    ck_assert_msg(rb_gguf_tokenizer(g, &a, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(a);
    rb_gguf_close(g); /* the tokenizer must not keep pointers into the file */
    ck_assert_msg(rb_tokenizer_load_llama2c(&b, tok_path, 512, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(rb_tokenizer_vocab_size(a), rb_tokenizer_vocab_size(b));
    ck_assert_int_eq(rb_tokenizer_bos(a), 1);
    ck_assert_int_eq(rb_tokenizer_eos(a), 2);
    ck_assert_int_gt(n_texts, 20);
    size_t total = 0;
    for (int i = 0; i < n_texts; i++) {
        int32_t *ia, *ib;
        size_t na, nb;
        size_t len = strlen(texts[i]);
        ck_assert_msg(rb_tokenizer_encode(a, texts[i], len, 0, &ia, &na, &err) == RB_OK, "%s",
                      err.msg);
        ck_assert_msg(rb_tokenizer_encode(b, texts[i], len, 0, &ib, &nb, &err) == RB_OK, "%s",
                      err.msg);
        ck_assert_msg(na == nb && !memcmp(ia, ib, na * sizeof *ia),
                      "text %d \"%s\": %zu ids from the GGUF vocabulary, %zu from tok512.bin", i,
                      texts[i], na, nb);
        total += na;
        char *back;
        size_t blen;
        ck_assert_int_eq(rb_tokenizer_decode(a, ia, na, &back, &blen, &err), RB_OK);
        ck_assert_msg(blen == len && !memcmp(back, texts[i], len), "decode \"%s\" gave \"%s\"",
                      texts[i], back);
        free(back);
        free(ia);
        free(ib);
    }
    ck_assert_uint_gt(total, 500);
    /* add_bos (tokenizer.ggml.add_bos_token absent: llama default) prepends BOS */
    int32_t *ids;
    size_t n;
    ck_assert_int_eq(rb_tokenizer_encode(a, "Hi", 2, 1, &ids, &n, &err), RB_OK);
    ck_assert_uint_ge(n, 2);
    ck_assert_int_eq(ids[0], 1);
    free(ids);
    rb_tokenizer_free(a);
    rb_tokenizer_free(b);
}
END_TEST

START_TEST(loaded_model_carries_it)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(gguf_path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(m.tok);
    int32_t *ids;
    size_t n;
    const char *s = "Once upon a time";
    ck_assert_int_eq(rb_tokenizer_encode(m.tok, s, strlen(s), 0, &ids, &n, &err), RB_OK);
    ck_assert_uint_gt(n, 0);
    for (size_t i = 0; i < n; i++) ck_assert(ids[i] >= 0 && ids[i] < m.cfg.vocab_size);
    free(ids);
    rb_loaded_model_free(&m);

    /* an explicit tokenizer replaces the embedded one */
    rb_load_opts o = {.tokenizer_path = tok_path};
    ck_assert_msg(rb_load_gguf(gguf_path, &o, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(m.tok);
    ck_assert_int_eq(rb_tokenizer_vocab_size(m.tok), 512);
    rb_loaded_model_free(&m);
}
END_TEST

int main(void)
{
    snprintf(gguf_path, sizeof gguf_path, "%s",
             rb_test_asset_or_skip("stories260K-gguf/stories260K.gguf"));
    snprintf(tok_path, sizeof tok_path, "%s", rb_test_asset_or_skip("stories260K/tok512.bin"));
    collect_texts();
    Suite *s = suite_create("io_gguf_tokenizer");
    TCase *tc = tcase_create("embedded");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, same_ids_as_tok512);
    tcase_add_test(tc, loaded_model_carries_it);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    for (int i = 0; i < n_texts; i++) free(texts[i]);
    free(texts);
    return rc;
}
