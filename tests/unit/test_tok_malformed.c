/* test_tok_malformed.c: broken tokenizer files and bad arguments give clean
 * errors (the right status, one message naming the source and the field),
 * never crashes or leaks (this suite also runs under ASan + UBSan). Uses
 * small tokenizers written here, so it needs no assets; the few positive
 * cases check ids derived by hand from the BPE and llama2.c definitions. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_test.h"
#include "rb_tokenizer.h"

/* a minimal valid tokenizer.json; %s slots: vocab extra, merges, rest */
static char *make_json(const char *vocab, const char *merges, const char *rest)
{
    static const char fmt[] = "{\"model\": {\"type\": \"BPE\", \"vocab\": {%s}, \"merges\": [%s]}%s}";
    size_t n = strlen(fmt) + strlen(vocab) + strlen(merges) + strlen(rest) + 1;
    char *s = malloc(n);
    snprintf(s, n, fmt, vocab, merges, rest);
    return s;
}

static const char *VOCAB = "\"a\": 0, \"b\": 1, \"ab\": 2, \"<unk>\": 3";

static void expect_json_n(const char *json, size_t len, rb_status code, const char *needle)
{
    rb_tokenizer *t = (rb_tokenizer *)1;
    rb_error e = {0};
    rb_status st = rb_tokenizer_load_json_mem(&t, json, len, "test.json", &e);
    ck_assert_msg(st == code, "expected %s, got %s (%s) for: %.200s", rb_status_name(code), rb_status_name(st),
                  e.msg, json);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(e.msg, "test.json") != NULL, "message lacks the source: %s", e.msg);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", e.msg, needle);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
}

static void expect_json(const char *json, rb_status code, const char *needle)
{
    expect_json_n(json, strlen(json), code, needle);
}

static void expect_json_parts(const char *vocab, const char *merges, const char *rest, rb_status code,
                              const char *needle)
{
    char *j = make_json(vocab, merges, rest);
    expect_json(j, code, needle);
    free(j);
}

START_TEST(test_json_structure_errors)
{
    expect_json("", RB_EFORMAT, "empty input");
    expect_json("{", RB_EFORMAT, "JSON syntax error at byte offset");
    expect_json("{\"model\": {\"vocab\": {\"a\": 0}}, oops}", RB_EFORMAT, "JSON syntax error");
    expect_json("[]", RB_EFORMAT, "top level");
    expect_json("{}", RB_EFORMAT, "no \"model\"");
    expect_json("{\"model\": 5}", RB_EFORMAT, "no \"model\"");
    expect_json("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}", RB_EUNSUPPORTED, "Unigram");
    expect_json("{\"model\": {\"type\": 7, \"vocab\": {\"a\": 0}}}", RB_EFORMAT, "model.type");
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": []}}", RB_EFORMAT, "model.vocab");
    expect_json("{\"model\": {\"vocab\": {\"a\": 0}, \"unk_token\": \"a\"}}", RB_EUNSUPPORTED, "no \"type\"");
    expect_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", RB_EFORMAT, "model.vocab is empty");
    /* cJSON stops at its nesting limit instead of overflowing the stack */
    size_t depth = 20000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = 0;
    expect_json_n(deep, 2 * depth, RB_EFORMAT, "JSON syntax error");
    free(deep);
}
END_TEST

START_TEST(test_json_vocab_errors)
{
    expect_json_parts("\"a\": \"0\"", "", "", RB_EFORMAT, "model.vocab[\"a\"]");
    expect_json_parts("\"a\": -1", "", "", RB_EFORMAT, "integer id");
    expect_json_parts("\"a\": 1.5", "", "", RB_EFORMAT, "integer id");
    expect_json_parts("\"a\": 1e12", "", "", RB_EFORMAT, "integer id");
    expect_json_parts("\"a\": 0, \"b\": 0", "", "", RB_EFORMAT, "id 0");
    /* one piece with id 10^6 would be a vocabulary of holes */
    expect_json_parts("\"a\": 1000000", "", "", RB_EFORMAT, "holes");
}
END_TEST

START_TEST(test_json_merge_errors)
{
    expect_json_parts(VOCAB, "\"ab\"", "", RB_EFORMAT, "model.merges[0]");
    expect_json_parts(VOCAB, "\"a b\", \"a b c\"", "", RB_EFORMAT, "model.merges[1]");
    expect_json_parts(VOCAB, "\"a z\"", "", RB_EFORMAT, "\"z\" is not in model.vocab");
    expect_json_parts(VOCAB, "\"b a\"", "", RB_EFORMAT, "merged piece \"ba\"");
    expect_json_parts(VOCAB, "[\"a\", 5]", "", RB_EFORMAT, "model.merges[0]");
    expect_json_parts(VOCAB, "[\"a\"]", "", RB_EFORMAT, "model.merges[0]");
    expect_json_parts(VOCAB, "7", "", RB_EFORMAT, "model.merges[0]");
    char *j = make_json(VOCAB, "", "");
    char *k = malloc(strlen(j) + 64);
    /* merges of the wrong type altogether */
    sprintf(k, "{\"model\": {\"type\": \"BPE\", \"vocab\": {%s}, \"merges\": {}}}", VOCAB);
    expect_json(k, RB_EFORMAT, "model.merges must be an array");
    free(j);
    free(k);
}
END_TEST

START_TEST(test_json_option_errors)
{
    expect_json_parts(VOCAB, "\"a b\"", ", \"added_tokens\": 5", RB_EFORMAT, "added_tokens");
    expect_json_parts(VOCAB, "\"a b\"", ", \"added_tokens\": [{\"id\": 9}]", RB_EFORMAT, "added_tokens[0].content");
    expect_json_parts(VOCAB, "\"a b\"", ", \"added_tokens\": [{\"id\": 99999999, \"content\": \"x\"}]", RB_EFORMAT,
                      "added_tokens[0]");
    expect_json_parts(VOCAB, "\"a b\"", ", \"added_tokens\": [{\"id\": 4, \"content\": \"x\", \"special\": 1}]",
                      RB_EFORMAT, "special must be true or false");
    expect_json_parts(VOCAB, "\"a b\"", ", \"normalizer\": {\"type\": \"NFKC\"}", RB_EUNSUPPORTED, "NFKC");
    expect_json_parts(VOCAB, "\"a b\"", ", \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \" \"}, "
                      "\"content\": \"x\"}", RB_EUNSUPPORTED, "Regex");
    expect_json_parts(VOCAB, "\"a b\"", ", \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": 3}", RB_EFORMAT,
                      "normalizers");
    expect_json_parts(VOCAB, "\"a b\"", ", \"normalizer\": {\"prepend\": \"x\"}", RB_EFORMAT, "normalizer.type");
    expect_json_parts(VOCAB, "\"a b\"", ", \"pre_tokenizer\": {\"type\": \"Whitespace\"}", RB_EUNSUPPORTED,
                      "Whitespace");
    expect_json_parts(VOCAB, "\"a b\"", ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"},"
                      " \"behavior\": \"Isolated\", \"invert\": false}", RB_EUNSUPPORTED, "not one of the known");
    expect_json_parts(VOCAB, "\"a b\"", ", \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}",
                      RB_EFORMAT, "one character");
    expect_json_parts(VOCAB, "\"a b\"", ", \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": \"yes\"}",
                      RB_EFORMAT, "use_regex must be true or false");
    expect_json_parts(VOCAB, "\"a b\"", ", \"decoder\": {\"type\": \"WordPiece\"}", RB_EUNSUPPORTED, "WordPiece");
    expect_json_parts(VOCAB, "\"a b\"", ", \"decoder\": {\"type\": \"Strip\", \"content\": \" \", \"start\": 0, "
                      "\"stop\": 1}", RB_EUNSUPPORTED, "Strip");
    /* model options */
    char rest[256];
    const char *bad_models[][2] = {
        {"\"byte_fallback\": \"yes\"", "byte_fallback must be true or false"},
        {"\"unk_token\": \"<nope>\"", "unk_token \"<nope>\""},
        {"\"unk_token\": 3", "unk_token must be a string"},
        {"\"dropout\": 0.1", "dropout"},
        {"\"continuing_subword_prefix\": \"##\"", "continuing_subword_prefix"},
    };
    for (size_t i = 0; i < sizeof bad_models / sizeof bad_models[0]; i++) {
        snprintf(rest, sizeof rest, "{\"model\": {\"type\": \"BPE\", %s, \"vocab\": {%s}, \"merges\": []}}",
                 bad_models[i][0], VOCAB);
        expect_json(rest, strstr(bad_models[i][1], "dropout") || strstr(bad_models[i][1], "prefix")
                                            ? RB_EUNSUPPORTED : RB_EFORMAT, bad_models[i][1]);
    }
}
END_TEST

/* BPE by hand: "a b" is the only merge, so "aab" -> a, ab and "abab" -> ab ab. */
START_TEST(test_json_minimal_ok)
{
    char *j = make_json(VOCAB, "\"a b\"", "");
    rb_tokenizer *t;
    rb_error e = {0};
    ck_assert_msg(rb_tokenizer_load_json_mem(&t, j, strlen(j), "min.json", &e) == RB_OK, "%s", e.msg);
    int32_t *ids;
    size_t n;
    ck_assert(rb_tokenizer_encode(t, "aab", 3, 0, &ids, &n, &e) == RB_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(ids[1], 2);
    free(ids);
    ck_assert(rb_tokenizer_encode(t, "abab", 4, 0, &ids, &n, &e) == RB_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[1], 2);
    free(ids);
    /* a character with no token, no byte_fallback, no unk_token */
    ck_assert_int_eq(rb_tokenizer_encode(t, "abc", 3, 0, &ids, &n, &e), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "U+0063"));
    /* BOS requested but none known */
    ck_assert_int_eq(rb_tokenizer_encode(t, "a", 1, 1, &ids, &n, &e), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "BOS"));
    /* decode of an id outside the vocabulary */
    int32_t badid[2] = {0, 4};
    char *text = (char *)1;
    size_t len;
    ck_assert_int_eq(rb_tokenizer_decode(t, badid, 2, &text, &len, &e), RB_EINVAL);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(strstr(e.msg, "token id 4"));
    rb_detok *d;
    ck_assert(rb_detok_create(&d, t, &e) == RB_OK);
    char *out = NULL;
    size_t ol = 0;
    ck_assert_int_eq(rb_detok_push(d, -1, &out, &ol, &e), RB_EINVAL);
    ck_assert(rb_detok_push(d, 2, &out, &ol, &e) == RB_OK);
    ck_assert_str_eq(out, "ab");
    free(out);
    rb_detok_free(d);
    rb_tokenizer_free(t);
    free(j);
}
END_TEST

/* ---------------- llama2.c tokenizer.bin ---------------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_i32(bytes *b, int32_t v) { put(b, &v, 4); } /* little-endian hosts */
static void put_tok(bytes *b, float score, const char *s, int32_t len)
{
    put(b, &score, 4);
    put_i32(b, len);
    put(b, s, (size_t)(len > 0 ? len : 0));
}

/* <unk> <s> </s>, the 256 byte pieces, then " ", "a", "b", " a", "ab", " ab" */
static bytes make_bin(void)
{
    bytes b = {0};
    put_i32(&b, 6);
    put_tok(&b, 0, "<unk>", 5);
    put_tok(&b, 0, "\n<s>\n", 5);
    put_tok(&b, 0, "\n</s>\n", 6);
    for (int i = 0; i < 256; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", i);
        put_tok(&b, 0, name, 6);
    }
    put_tok(&b, -10, " ", 1);  /* 259 */
    put_tok(&b, -11, "a", 1);  /* 260 */
    put_tok(&b, -12, "b", 1);  /* 261 */
    put_tok(&b, -1, " a", 2);  /* 262 */
    put_tok(&b, -2, "ab", 2);  /* 263 */
    put_tok(&b, -3, " ab", 3); /* 264 */
    return b;
}

static void expect_bin(const void *p, size_t n, int vocab, const char *needle)
{
    rb_tokenizer *t = (rb_tokenizer *)1;
    rb_error e = {0};
    rb_status st = rb_tokenizer_load_llama2c_mem(&t, p, n, vocab, "test.bin", &e);
    ck_assert_msg(st == RB_EFORMAT, "got %s (%s)", rb_status_name(st), e.msg);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(e.msg, "test.bin") && strstr(e.msg, needle), "message \"%s\" lacks \"%s\"", e.msg, needle);
}

START_TEST(test_llama2c_errors)
{
    bytes b = make_bin();
    int32_t v;
    expect_bin(b.p, 0, 0, "too short");
    expect_bin(b.p, 3, 0, "too short");
    unsigned char *c = malloc(b.n);
    memcpy(c, b.p, b.n);
    v = 0;
    memcpy(c, &v, 4);
    expect_bin(c, b.n, 0, "max_token_length = 0");
    v = -5;
    memcpy(c, &v, 4);
    expect_bin(c, b.n, 0, "max_token_length = -5");
    v = 1 << 30;
    memcpy(c, &v, 4);
    expect_bin(c, b.n, 0, "max_token_length");
    memcpy(c, b.p, b.n);
    v = -1; /* length of token 0 */
    memcpy(c + 8, &v, 4);
    expect_bin(c, b.n, 0, "length -1");
    memcpy(c, b.p, b.n);
    v = 60000; /* an absurd length, allowed by an equally large max_token_length */
    memcpy(c, &v, 4);
    memcpy(c + 8, &v, 4);
    expect_bin(c, b.n, 0, "claims 60000 bytes");
    memcpy(c, b.p, b.n);
    v = 7; /* more than max_token_length 6 */
    memcpy(c + 8, &v, 4);
    expect_bin(c, b.n, 0, "outside 0..max_token_length");
    memcpy(c, b.p, b.n);
    float nan = NAN;
    memcpy(c + 4, &nan, 4);
    expect_bin(c, b.n, 0, "NaN");
    expect_bin(b.p, b.n, 1000, "needs at least");
    expect_bin(b.p, b.n, 300, "truncated at byte offset");
    expect_bin(b.p, b.n, 200, "left after 200 tokens");
    expect_bin(b.p, b.n - 1, 0, "claims 3 bytes but only 2 remain");
    expect_bin(b.p, b.n - 1, 265, "claims 3 bytes");
    expect_bin(b.p, b.n - 5, 265, "truncated at byte offset");
    free(c);
    free(b.p);
}
END_TEST

/* llama2.c by hand: "ab" -> " ab" (dummy prefix) -> best pair " a" (-1)
 * -> [" a", "b"] -> " ab" (-3) -> [264]. "ba" -> " ", "b", "a": no pair
 * scores -> [259, 261, 260]. "c" has no piece -> <0x63> = 3 + 0x63. */
START_TEST(test_llama2c_minimal_ok)
{
    bytes b = make_bin();
    rb_tokenizer *t;
    rb_error e = {0};
    ck_assert_msg(rb_tokenizer_load_llama2c_mem(&t, b.p, b.n, 0, "mini.bin", &e) == RB_OK, "%s", e.msg);
    ck_assert_int_eq(rb_tokenizer_vocab_size(t), 265);
    int32_t *ids;
    size_t n;
    ck_assert(rb_tokenizer_encode(t, "ab", 2, 1, &ids, &n, &e) == RB_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 264);
    free(ids);
    ck_assert(rb_tokenizer_encode(t, "ba", 2, 0, &ids, &n, &e) == RB_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[0], 259);
    ck_assert_int_eq(ids[1], 261);
    ck_assert_int_eq(ids[2], 260);
    free(ids);
    ck_assert(rb_tokenizer_encode(t, "c", 1, 0, &ids, &n, &e) == RB_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[1], 3 + 'c');
    char *text;
    size_t len;
    ck_assert(rb_tokenizer_decode(t, ids, n, &text, &len, &e) == RB_OK);
    ck_assert_str_eq(text, "c");
    free(text);
    free(ids);
    /* the same vocabulary through the file loader */
    char path[512];
    snprintf(path, sizeof path, "%s/mini.bin", rb_test_tmpdir());
    FILE *f = fopen(path, "wb");
    ck_assert(fwrite(b.p, 1, b.n, f) == b.n);
    fclose(f);
    rb_tokenizer *t2;
    ck_assert_msg(rb_tokenizer_load_file(&t2, path, &e) == RB_OK, "%s", e.msg);
    ck_assert_int_eq(rb_tokenizer_vocab_size(t2), 265);
    rb_tokenizer_free(t2);
    rb_tokenizer_free(t);
    free(b.p);
}
END_TEST

START_TEST(test_constructor_argument_errors)
{
    const char *pieces[3] = {"<unk>", "x", "<0x41>"};
    size_t lens[3] = {5, 1, 6};
    float scores[3] = {0, 0, 0};
    int32_t types[3] = {RB_TOKTYPE_UNKNOWN, RB_TOKTYPE_BYTE, RB_TOKTYPE_BYTE};
    rb_tokenizer *t = (rb_tokenizer *)1;
    rb_error e = {0};
    ck_assert_int_eq(rb_tokenizer_from_spm_scores(&t, 0, pieces, lens, scores, NULL, -1, -1, 0, "g", &e), RB_EINVAL);
    ck_assert_int_eq(rb_tokenizer_from_spm_scores(&t, 3, pieces, lens, scores, NULL, 3, -1, 0, "g", &e), RB_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "BOS id 3"));
    ck_assert_int_eq(rb_tokenizer_from_spm_scores(&t, 3, pieces, lens, scores, types, -1, -1, 0, "g", &e),
                     RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "piece 1 has the byte type"));
    types[1] = 9;
    ck_assert_int_eq(rb_tokenizer_from_spm_scores(&t, 3, pieces, lens, scores, types, -1, -1, 0, "g", &e),
                     RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "token type 9"));
    scores[2] = NAN;
    ck_assert_int_eq(rb_tokenizer_from_spm_scores(&t, 3, pieces, lens, scores, NULL, -1, -1, 0, "g", &e),
                     RB_EFORMAT);
    ck_assert_ptr_null(t);

    const char *bp[4] = {"a", "b", "ab", "<|end|>"};
    size_t bl[4] = {1, 1, 2, 7};
    const char *bad_merge[1] = {"ab"};
    const char *missing[1] = {"b a"};
    const char *good[1] = {"a b"};
    ck_assert_int_eq(rb_tokenizer_from_bpe(&t, 4, bp, bl, NULL, 1, bad_merge, "gpt2", -1, -1, 0, "g", &e), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "merge 0"));
    ck_assert_int_eq(rb_tokenizer_from_bpe(&t, 4, bp, bl, NULL, 1, missing, "gpt2", -1, -1, 0, "g", &e), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "merged piece"));
    ck_assert_int_eq(rb_tokenizer_from_bpe(&t, 4, bp, bl, NULL, 1, good, NULL, -1, -1, 0, "g", &e), RB_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "smollm"));
    ck_assert_int_eq(rb_tokenizer_from_bpe(&t, 4, bp, bl, NULL, 1, good, "gpt2", 4, -1, 0, "g", &e), RB_EINVAL);
    ck_assert_ptr_null(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tok_malformed");
    TCase *tc = tcase_create("malformed");
    tcase_add_test(tc, test_json_structure_errors);
    tcase_add_test(tc, test_json_vocab_errors);
    tcase_add_test(tc, test_json_merge_errors);
    tcase_add_test(tc, test_json_option_errors);
    tcase_add_test(tc, test_json_minimal_ok);
    tcase_add_test(tc, test_llama2c_errors);
    tcase_add_test(tc, test_llama2c_minimal_ok);
    tcase_add_test(tc, test_constructor_argument_errors);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
