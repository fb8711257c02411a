/* test_tok_roundtrip.c: properties every real tokenizer must have.
 *  - decode(encode(s)) == s for random valid UTF-8 (1-4 byte characters),
 *    real story text, and text with NUL bytes, with and without BOS;
 *  - streaming decode (rb_detok, one id at a time) produces exactly the
 *    bytes of rb_tokenizer_decode, and never a partial UTF-8 character;
 *  - invalid UTF-8 is refused with RB_EINVAL naming the byte offset;
 *  - truncated or corrupted copies of the real files fail cleanly. */
#include "test_tok_common.h"

static const char *tokenizers[] = {"tokenizers/llama2/tokenizer.json",
                                   "tokenizers/llama2/tokenizer.merges-as-pairs.json",
                                   "tokenizers/gpt2/tokenizer.json", "stories260K/tok512.bin"};
#define N_TOK 4

/* Decode ids one at a time; checks that every step's new bytes are whole
 * UTF-8 characters. Returns the malloc'd text. */
static char *stream_decode(const rb_tokenizer *t, const int32_t *ids, size_t n, size_t *len)
{
    rb_detok *d;
    rb_error e = {0};
    ck_assert_msg(rb_detok_create(&d, t, &e) == RB_OK, "%s", e.msg);
    char *out = NULL;
    size_t out_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t before = out_len;
        ck_assert_msg(rb_detok_push(d, ids[i], &out, &out_len, &e) == RB_OK, "%s", e.msg);
        ck_assert_ptr_nonnull(out);
        ck_assert_int_eq(out[out_len], 0);
        /* what was added is valid UTF-8 on its own */
        char *chunk = strndup(out + before, out_len - before);
        int32_t *tmp;
        size_t nt;
        rb_error e2 = {0};
        ck_assert_msg(rb_tokenizer_encode(t, out + before, out_len - before, 0, &tmp, &nt, &e2) == RB_OK,
                      "streamed chunk is not valid UTF-8: %s", e2.msg);
        free(tmp);
        free(chunk);
    }
    ck_assert_msg(rb_detok_flush(d, &out, &out_len, &e) == RB_OK, "%s", e.msg);
    rb_detok_free(d);
    *len = out_len;
    return out;
}

static void check_round_trip(const rb_tokenizer *t, const char *name, const char *s, size_t len, int bos)
{
    int32_t *ids;
    size_t n, dl, sl;
    rb_error e = {0};
    ck_assert_msg(rb_tokenizer_encode(t, s, len, bos, &ids, &n, &e) == RB_OK, "%s: %s", name, e.msg);
    char *dec;
    ck_assert_msg(rb_tokenizer_decode(t, ids, n, &dec, &dl, &e) == RB_OK, "%s: %s", name, e.msg);
    ck_assert_msg(dl == len && memcmp(dec, s, len) == 0, "%s: round trip of \"%.60s\" (%zu bytes) gave \"%.60s\" (%zu)",
                  name, s, len, dec, dl);
    char *streamed = stream_decode(t, ids, n, &sl);
    ck_assert_msg(sl == dl && memcmp(streamed, dec, dl) == 0, "%s: streaming decode differs", name);
    free(streamed);
    free(dec);
    free(ids);
}

START_TEST(test_random_utf8_round_trip)
{
    const char *name = tokenizers[_i];
    rb_tokenizer *t = tokt_load(rb_test_asset(name));
    uint64_t rng = 0x1234567ull + (uint64_t)_i;
    char buf[4 * 80 + 1];
    for (int k = 0; k < 400; k++) {
        size_t len = tokt_rand_utf8(&rng, buf, 1 + tokt_rand(&rng) % 80);
        check_round_trip(t, name, buf, len, k & 1);
    }
    /* text with NUL bytes, spaces at both ends, only spaces, empty */
    static const char nul[] = " a\0b \0\0 ";
    check_round_trip(t, name, nul, sizeof nul - 1, 0);
    check_round_trip(t, name, "   ", 3, 1);
    check_round_trip(t, name, "", 0, 1);
    check_round_trip(t, name, " \n x \t", 6, 0);
    size_t len;
    /* real text (the train prefix has no <|endoftext|>, a special token
     * that decodes to nothing) */
    char *story = tokt_read_file(rb_test_asset("tinystories/tinystories_train_prefix_niklas6.txt"), &len);
    if (story) {
        size_t cut = len < 40000 ? len : 40000;
        while (cut < len && ((unsigned char)story[cut] & 0xC0) == 0x80) cut--; /* whole characters */
        check_round_trip(t, name, story, cut, 1);
        free(story);
    }
    rb_tokenizer_free(t);
}
END_TEST

/* Byte-level and byte-fallback tokens split characters between ids: the
 * streaming decoder must hold the pieces until the character is whole. */
START_TEST(test_streaming_holds_partial_characters)
{
    const char *name = tokenizers[_i];
    rb_tokenizer *t = tokt_load(rb_test_asset(name));
    const char *s = "\xF0\x9F\x98\x80\xF0\x9F\x8E\x89 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x90\x8D\x88"; /* emoji, CJK, U+10348 */
    int32_t *ids;
    size_t n, sl;
    rb_error e = {0};
    ck_assert_msg(rb_tokenizer_encode(t, s, strlen(s), 0, &ids, &n, &e) == RB_OK, "%s", e.msg);
    ck_assert_int_gt(n, 4); /* these characters take several ids each in all four vocabularies */
    char *streamed = stream_decode(t, ids, n, &sl);
    ck_assert_int_eq(sl, strlen(s));
    ck_assert_mem_eq(streamed, s, sl);
    free(streamed);
    free(ids);
    rb_tokenizer_free(t);
}
END_TEST

/* Text whose dummy-prefix space belongs to what came before: with
 * rb_detok_mid_text, the leading space of the first piece is kept. */
START_TEST(test_detok_mid_text)
{
    rb_tokenizer *t = tokt_load(rb_test_asset(tokenizers[_i]));
    int32_t *ids;
    size_t n;
    rb_error e = {0};
    ck_assert(rb_tokenizer_encode(t, "Hello world", 11, 0, &ids, &n, &e) == RB_OK);
    ck_assert_int_ge(n, 2);
    /* find the split where the tail decodes to " world" in context */
    char *full;
    size_t fl;
    ck_assert(rb_tokenizer_decode(t, ids, n, &full, &fl, &e) == RB_OK);
    ck_assert_str_eq(full, "Hello world");
    size_t cut = 0;
    for (size_t i = 1; i < n; i++) {
        char *head;
        size_t hl;
        ck_assert(rb_tokenizer_decode(t, ids, i, &head, &hl, &e) == RB_OK);
        if (strcmp(head, "Hello") == 0) cut = i;
        free(head);
    }
    ck_assert_msg(cut > 0, "no id boundary after \"Hello\"");
    rb_detok *d;
    ck_assert(rb_detok_create(&d, t, &e) == RB_OK);
    rb_detok_mid_text(d);
    char *out = NULL;
    size_t ol = 0;
    for (size_t i = cut; i < n; i++) ck_assert(rb_detok_push(d, ids[i], &out, &ol, &e) == RB_OK);
    ck_assert(rb_detok_flush(d, &out, &ol, &e) == RB_OK);
    ck_assert_str_eq(out, " world");
    free(out);
    rb_detok_free(d);
    free(full);
    free(ids);
    rb_tokenizer_free(t);
}
END_TEST

START_TEST(test_invalid_utf8_names_offset)
{
    /* well-formedness per the Unicode Standard, table 3-7 */
    static const struct { const char *s; size_t len, offset; } cases[] = {
        {"abc\xC0\x80", 5, 3},         /* overlong NUL */
        {"\xC1\xBF", 2, 0},            /* overlong */
        {"x\xE0\x80\x80", 4, 1},       /* overlong 3-byte */
        {"ok\xED\xA0\x80", 5, 2},      /* surrogate U+D800 */
        {"\xF4\x90\x80\x80", 4, 0},    /* above U+10FFFF */
        {"\xF5\x80\x80\x80", 4, 0},    /* invalid lead */
        {"a\xE2\x82", 3, 1},           /* truncated */
        {"\x80", 1, 0},                /* stray continuation */
        {"hello \xFF", 7, 6},          /* invalid byte */
        {"\xE2\x82\xAC\xE2\x28\xA1", 6, 3}, /* bad second byte after a valid euro sign */
    };
    rb_tokenizer *t = tokt_load(rb_test_asset(tokenizers[_i]));
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int32_t *ids = (int32_t *)1;
        size_t n = 99;
        rb_error e = {0};
        rb_status st = rb_tokenizer_encode(t, cases[k].s, cases[k].len, 0, &ids, &n, &e);
        ck_assert_int_eq(st, RB_EINVAL);
        ck_assert_ptr_null(ids);
        ck_assert_int_eq(n, 0);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", cases[k].offset);
        ck_assert_msg(strstr(e.msg, want), "case %zu: \"%s\" lacks \"%s\"", k, e.msg, want);
    }
    rb_tokenizer_free(t);
}
END_TEST

/* Every prefix of the real tokenizer.bin, and prefixes / corruptions of a
 * real tokenizer.json, load or fail with a clean error, never crash. */
START_TEST(test_truncated_real_files)
{
    size_t len;
    char *bin = tokt_read_file(rb_test_asset("stories260K/tok512.bin"), &len);
    ck_assert_ptr_nonnull(bin);
    int ok = 0, failed = 0;
    for (size_t cut = 0; cut < len; cut++) {
        rb_tokenizer *t = NULL;
        rb_error e = {0};
        rb_status st = rb_tokenizer_load_llama2c_mem(&t, bin, cut, 512, "tok512.bin (truncated)", &e);
        ck_assert_int_eq(st, RB_EFORMAT); /* 512 tokens never fit in a prefix */
        ck_assert_ptr_null(t);
        ck_assert(strstr(e.msg, "tok512.bin (truncated)") != NULL);
        st = rb_tokenizer_load_llama2c_mem(&t, bin, cut, 0, "tok512.bin (truncated)", &e);
        if (st == RB_OK) { ok++; rb_tokenizer_free(t); }
        else { failed++; ck_assert_int_eq(st, RB_EFORMAT); }
    }
    printf("tok512.bin prefixes with vocab_size 0: %d load (cut at a record boundary), %d fail\n", ok, failed);
    ck_assert_int_gt(ok, 400);
    free(bin);

    char *json = tokt_read_file(rb_test_asset("tokenizers/gpt2/tokenizer.json"), &len);
    ck_assert_ptr_nonnull(json);
    for (int k = 0; k < 64; k++) {
        size_t cut = len * (size_t)k / 64;
        rb_tokenizer *t = NULL;
        rb_error e = {0};
        rb_status st = rb_tokenizer_load_json_mem(&t, json, cut, "gpt2 tokenizer.json (truncated)", &e);
        ck_assert_int_eq(st, RB_EFORMAT);
        ck_assert_ptr_null(t);
    }
    free(json);
}
END_TEST

START_TEST(test_load_file_dispatch)
{
    rb_tokenizer *t = NULL;
    rb_error e = {0};
    ck_assert_int_eq(rb_tokenizer_load_file(&t, rb_test_asset("stories260K-gguf/stories260K.gguf"), &e),
                     RB_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "rb_tokenizer_from_spm_scores"));
    ck_assert_int_eq(rb_tokenizer_load_file(&t, "/nonexistent/tokenizer.json", &e), RB_EIO);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/tokenizer.json"));
    /* a model file is not a tokenizer.bin */
    ck_assert_int_eq(rb_tokenizer_load_llama2c(&t, rb_test_asset("stories260K/stories260K.bin"), 512, &e),
                     RB_EFORMAT);
    ck_assert_ptr_null(t);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < N_TOK; i++) rb_test_asset_or_skip(tokenizers[i]);
    rb_test_asset_or_skip("stories260K-gguf/stories260K.gguf");
    rb_test_asset_or_skip("stories260K/stories260K.bin");
    Suite *s = suite_create("tok_roundtrip");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_random_utf8_round_trip, 0, N_TOK);
    tcase_add_loop_test(tc, test_streaming_holds_partial_characters, 0, N_TOK);
    tcase_add_loop_test(tc, test_detok_mid_text, 0, N_TOK);
    tcase_add_loop_test(tc, test_invalid_utf8_names_offset, 0, N_TOK);
    tcase_add_test(tc, test_truncated_real_files);
    tcase_add_test(tc, test_load_file_dispatch);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
