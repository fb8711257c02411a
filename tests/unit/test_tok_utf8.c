/* test_tok_utf8.c: the UTF-8 side of encoding and decoding, on a small
 * byte-fallback vocabulary built here (no assets):
 *  - invalid input is refused with the offset the Unicode Standard's
 *    well-formedness table (3-7) implies;
 *  - byte tokens that do not form UTF-8 decode to U+FFFD per maximal
 *    subpart, reproducing the Unicode Standard's table 3-8 example;
 *  - the streaming decoder holds a character until its last byte, flushes
 *    a dangling one as U+FFFD, and always matches rb_tokenizer_decode;
 *  - random valid UTF-8 round-trips exactly. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_test.h"
#include "rb_tokenizer.h"

/* <unk> <s> </s> <0x00>..<0xFF> "▁" "▁a" "a" : ids 0..261 */
static rb_tokenizer *byte_vocab(void)
{
    static char names[256][8];
    const char *pieces[262];
    size_t lens[262];
    float scores[262];
    int32_t types[262];
    pieces[0] = "<unk>"; pieces[1] = "<s>"; pieces[2] = "</s>";
    types[0] = RB_TOKTYPE_UNKNOWN; types[1] = types[2] = RB_TOKTYPE_CONTROL;
    for (int i = 0; i < 256; i++) {
        snprintf(names[i], sizeof names[i], "<0x%02X>", i);
        pieces[3 + i] = names[i];
        types[3 + i] = RB_TOKTYPE_BYTE;
    }
    pieces[259] = "\xE2\x96\x81";
    pieces[260] = "\xE2\x96\x81" "a";
    pieces[261] = "a";
    types[259] = types[260] = types[261] = RB_TOKTYPE_NORMAL;
    for (int i = 0; i < 262; i++) {
        lens[i] = strlen(pieces[i]);
        scores[i] = i >= 259 ? -(float)(i - 258) : 0;
    }
    rb_tokenizer *t;
    rb_error e = {0};
    ck_assert_msg(rb_tokenizer_from_spm_scores(&t, 262, pieces, lens, scores, types, 1, 2, 1, "bytes", &e) == RB_OK,
                  "%s", e.msg);
    return t;
}

static int32_t byte_id(unsigned char b) { return 3 + b; }

START_TEST(test_unicode_table_3_8)
{
    /* Unicode Standard, "U+FFFD Substitution of Maximal Subparts", table 3-8 */
    static const unsigned char in[] = {0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64};
    static const char want[] = "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d";
    rb_tokenizer *t = byte_vocab();
    int32_t ids[sizeof in + 1];
    ids[0] = 1; /* BOS first: no text of its own */
    for (size_t i = 0; i < sizeof in; i++) ids[i + 1] = byte_id(in[i]);
    char *text;
    size_t len;
    rb_error e = {0};
    ck_assert(rb_tokenizer_decode(t, ids, sizeof in + 1, &text, &len, &e) == RB_OK);
    ck_assert_int_eq(len, strlen(want));
    ck_assert_str_eq(text, want);
    free(text);
    rb_tokenizer_free(t);
}
END_TEST

START_TEST(test_streaming_holds_and_flushes)
{
    rb_tokenizer *t = byte_vocab();
    rb_detok *d;
    rb_error e = {0};
    ck_assert(rb_detok_create(&d, t, &e) == RB_OK);
    char *out = NULL;
    size_t len = 0;
    /* U+20AC EURO SIGN, E2 82 AC, one byte token at a time */
    ck_assert(rb_detok_push(d, byte_id(0xE2), &out, &len, &e) == RB_OK);
    ck_assert_int_eq(len, 0);
    ck_assert_str_eq(out, "");
    ck_assert(rb_detok_push(d, byte_id(0x82), &out, &len, &e) == RB_OK);
    ck_assert_int_eq(len, 0);
    ck_assert(rb_detok_push(d, byte_id(0xAC), &out, &len, &e) == RB_OK);
    ck_assert_str_eq(out, "\xE2\x82\xAC");
    /* a dangling lead byte at the end of the stream */
    ck_assert(rb_detok_push(d, byte_id(0xF0), &out, &len, &e) == RB_OK);
    ck_assert_int_eq(len, 3);
    ck_assert(rb_detok_flush(d, &out, &len, &e) == RB_OK);
    ck_assert_str_eq(out, "\xE2\x82\xAC\xEF\xBF\xBD");
    /* an incomplete character interrupted by a text piece */
    ck_assert(rb_detok_push(d, byte_id(0xE2), &out, &len, &e) == RB_OK);
    ck_assert(rb_detok_push(d, 261, &out, &len, &e) == RB_OK);
    ck_assert_str_eq(out, "\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD" "a");
    free(out);
    rb_detok_free(d);
    rb_tokenizer_free(t);
}
END_TEST

/* The dummy-prefix space goes from the start only; BOS before it and
 * control tokens anywhere render as nothing. */
START_TEST(test_leading_space_strip)
{
    rb_tokenizer *t = byte_vocab();
    rb_error e = {0};
    int32_t ids[] = {1, 260, 260, 2, 259, 261};
    char *text;
    size_t len;
    ck_assert(rb_tokenizer_decode(t, ids, 6, &text, &len, &e) == RB_OK);
    ck_assert_str_eq(text, "a a a");
    free(text);
    int32_t *enc;
    size_t n;
    ck_assert(rb_tokenizer_encode(t, " a", 2, 0, &enc, &n, &e) == RB_OK);
    ck_assert(rb_tokenizer_decode(t, enc, n, &text, &len, &e) == RB_OK);
    ck_assert_str_eq(text, " a");
    free(text);
    free(enc);
    rb_tokenizer_free(t);
}
END_TEST

START_TEST(test_invalid_input_offsets)
{
    static const struct { const char *s; size_t len, off; } cases[] = {
        {"\xC0\xAF", 2, 0}, {"ab\xE0\x9F\x80", 5, 2}, {"\xED\xBF\xBF", 3, 0}, {"abc\xF0\x8F\xBF\xBF", 7, 3},
        {"\xF4\x90\x80\x80", 4, 0}, {"\xF8\x88\x80\x80\x80", 5, 0}, {"a\xC2", 2, 1}, {"a\xC2 ", 3, 1},
        {"\xE2\x82\xAC\xBF", 4, 3},
    };
    rb_tokenizer *t = byte_vocab();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int32_t *ids;
        size_t n;
        rb_error e = {0};
        ck_assert_int_eq(rb_tokenizer_encode(t, cases[k].s, cases[k].len, 0, &ids, &n, &e), RB_EINVAL);
        char want[48];
        snprintf(want, sizeof want, "byte offset %zu ", cases[k].off);
        ck_assert_msg(strstr(e.msg, want) != NULL, "case %zu: %s", k, e.msg);
    }
    /* the edges of the valid ranges pass */
    static const char ok[] = "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF";
    int32_t *ids;
    size_t n;
    rb_error e = {0};
    ck_assert_msg(rb_tokenizer_encode(t, ok, sizeof ok - 1, 0, &ids, &n, &e) == RB_OK, "%s", e.msg);
    free(ids);
    rb_tokenizer_free(t);
}
END_TEST

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

START_TEST(test_random_round_trip_and_stream)
{
    rb_tokenizer *t = byte_vocab();
    uint64_t s = 99;
    for (int k = 0; k < 2000; k++) {
        char buf[4 * 40 + 1];
        size_t len = 0, nc = rnd(&s) % 40;
        for (size_t i = 0; i < nc; i++) {
            uint32_t cp;
            do cp = (uint32_t)(rnd(&s) % (k & 1 ? 0x110000 : 0x800));
            while (cp >= 0xD800 && cp <= 0xDFFF);
            if (k % 3 == 0 && rnd(&s) % 3 == 0) cp = rnd(&s) % 2 ? ' ' : 'a';
            unsigned char *o = (unsigned char *)buf + len;
            if (cp < 0x80) { o[0] = (unsigned char)cp; len += 1; }
            else if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 63)); len += 2; }
            else if (cp < 0x10000) {
                o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
                o[2] = (unsigned char)(0x80 | (cp & 63)); len += 3;
            } else {
                o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
                o[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)); o[3] = (unsigned char)(0x80 | (cp & 63)); len += 4;
            }
        }
        int32_t *ids;
        size_t n, dl, sl = 0;
        rb_error e = {0};
        ck_assert_msg(rb_tokenizer_encode(t, buf, len, k & 1, &ids, &n, &e) == RB_OK, "%s", e.msg);
        char *dec, *str = NULL;
        ck_assert(rb_tokenizer_decode(t, ids, n, &dec, &dl, &e) == RB_OK);
        ck_assert_msg(dl == len && memcmp(dec, buf, len) == 0, "round trip %d failed", k);
        rb_detok *d;
        ck_assert(rb_detok_create(&d, t, &e) == RB_OK);
        for (size_t i = 0; i < n; i++) ck_assert(rb_detok_push(d, ids[i], &str, &sl, &e) == RB_OK);
        ck_assert(rb_detok_flush(d, &str, &sl, &e) == RB_OK);
        ck_assert(sl == dl && memcmp(str, dec, dl) == 0);
        rb_detok_free(d);
        free(str);
        free(dec);
        free(ids);
    }
    rb_tokenizer_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tok_utf8");
    TCase *tc = tcase_create("utf8");
    tcase_add_test(tc, test_unicode_table_3_8);
    tcase_add_test(tc, test_streaming_holds_and_flushes);
    tcase_add_test(tc, test_leading_space_strip);
    tcase_add_test(tc, test_invalid_input_offsets);
    tcase_add_test(tc, test_random_round_trip_and_stream);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
