/* test_views_text.c: UTF-8 text measured in terminal columns (vw_text.h)
 * and numbers as the panes print them (vw_format.h).
 *
 * Widths of wide (CJK), combining and narrow characters are checked
 * against Python's unicodedata (East Asian Width W/F = 2 columns, a
 * combining mark = 0) when python3 is there, and against the Unicode
 * standard's classes written out for a few characters otherwise. */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vw_format.h"
#include "vw_text.h"

static void utf8_locale(void)
{
    ck_assert_msg(setlocale(LC_CTYPE, "C.UTF-8") || setlocale(LC_CTYPE, "en_US.UTF-8"),
                  "a UTF-8 locale (C.UTF-8) is needed for wcwidth");
}

START_TEST(test_utf8_decode)
{
    uint32_t cp;
    ck_assert_int_eq(vw_utf8_next("A", 1, &cp), 1);
    ck_assert_uint_eq(cp, 'A');
    ck_assert_int_eq(vw_utf8_next("\xE4\xB8\xAD", 3, &cp), 3); /* 中 */
    ck_assert_uint_eq(cp, 0x4E2D);
    ck_assert_int_eq(vw_utf8_next("\xF0\x9F\x98\x80", 4, &cp), 4); /* U+1F600 */
    ck_assert_uint_eq(cp, 0x1F600);
    /* malformed: one byte, U+FFFD */
    ck_assert_int_eq(vw_utf8_next("\xE4\xB8", 2, &cp), 1); /* truncated */
    ck_assert_uint_eq(cp, 0xFFFD);
    ck_assert_int_eq(vw_utf8_next("\xC0\x80", 2, &cp), 1); /* overlong */
    ck_assert_uint_eq(cp, 0xFFFD);
    ck_assert_int_eq(vw_utf8_next("\xED\xA0\x80", 3, &cp), 1); /* surrogate */
    ck_assert_uint_eq(cp, 0xFFFD);
    ck_assert_int_eq(vw_utf8_next("\x80", 1, &cp), 1); /* stray continuation */
    ck_assert_uint_eq(cp, 0xFFFD);
    ck_assert_int_eq(vw_utf8_next("", 0, &cp), 0);
    char b[5];
    ck_assert_int_eq(vw_utf8_put(0x2800 + 0xFF, b), 3);
    ck_assert(!memcmp(b, "\xE2\xA3\xBF", 3));
}
END_TEST

START_TEST(test_widths)
{
    utf8_locale();
    ck_assert_int_eq(vw_text_width("abc", 3, 1), 3);
    ck_assert_int_eq(vw_text_width("\xE4\xB8\xAD\xE6\x96\x87", 6, 1), 4);  /* 中文: wide */
    ck_assert_int_eq(vw_text_width("e\xCC\x81", 3, 1), 1);                  /* e + combining acute */
    ck_assert_int_eq(vw_text_width("a\nb", 3, 1), 3);                       /* \n shows as one glyph */
    ck_assert_int_eq(vw_text_width("\xFF", 1, 1), 1);                       /* invalid byte: U+FFFD */
    /* ASCII mode: every non-ASCII character is one '?' */
    ck_assert_int_eq(vw_text_width("\xE4\xB8\xAD\xE6\x96\x87", 6, 0), 2);
    char g[5];
    ck_assert_int_eq(vw_glyph(0x4E2D, 0, g), 1);
    ck_assert_str_eq(g, "?");
    ck_assert_int_eq(vw_glyph('\n', 0, g), 1);
    ck_assert_str_eq(g, "~");
    ck_assert_int_eq(vw_glyph(0x07, 1, g), 1); /* BEL never reaches the terminal */
    ck_assert_str_eq(g, "?");
}
END_TEST

/* Every character of a mixed string against Python's unicodedata. */
START_TEST(test_widths_vs_python)
{
    utf8_locale();
    const char *text = "a\xE4\xB8\xAD\xED\x95\x9C\xEF\xBD\xB1\xE2\x80\xA6\xF0\x9F\x98\x80"
                       "e\xCC\x81\xE6\x97\xA5\xE3\x81\x82\xE2\xA0\x81Z"; /* a中한ｱ…😀é日あ⠁Z */
    FILE *p = popen("/usr/bin/python3 -c \"import sys,unicodedata as u\n"
                    "for c in sys.argv[1]:\n"
                    " print(0 if u.combining(c) else 2 if u.east_asian_width(c) in 'WF' else 1)\" "
                    "'a\xE4\xB8\xAD\xED\x95\x9C\xEF\xBD\xB1\xE2\x80\xA6\xF0\x9F\x98\x80"
                    "e\xCC\x81\xE6\x97\xA5\xE3\x81\x82\xE2\xA0\x81Z' 2>/dev/null",
                    "r");
    int want[64], n = 0;
    while (p && n < 64 && fscanf(p, "%d", &want[n]) == 1) n++;
    int st = p ? pclose(p) : -1;
    if (st != 0 || n == 0) {
        fprintf(stderr, "SKIP part: python3 is not available; checked against the standard's classes only\n");
        static const int fallback[] = {1, 2, 2, 1, 1, 2, 1, 0, 2, 2, 1, 1};
        memcpy(want, fallback, sizeof fallback);
        n = 12;
    }
    size_t len = strlen(text), i = 0;
    int k = 0;
    while (i < len) {
        uint32_t cp;
        int b = vw_utf8_next(text + i, len - i, &cp);
        ck_assert_int_lt(k, n);
        ck_assert_msg(vw_text_width(text + i, (size_t)b, 1) == want[k], "U+%04X: width %d, Python says %d", cp,
                      vw_text_width(text + i, (size_t)b, 1), want[k]);
        i += (size_t)b;
        k++;
    }
    ck_assert_int_eq(k, n);
}
END_TEST

START_TEST(test_fit_and_ellipsize)
{
    utf8_locale();
    const char *cjk = "\xE4\xB8\xAD\xE6\x96\x87" "abc"; /* 中文abc */
    int cols;
    /* 3 columns: 中 fits (2), 文 would make 4 */
    ck_assert_uint_eq(vw_text_fit(cjk, strlen(cjk), 3, 1, &cols), 3);
    ck_assert_int_eq(cols, 2);
    ck_assert_uint_eq(vw_text_fit(cjk, strlen(cjk), 0, 1, &cols), 0);
    /* combining marks stay with their base */
    ck_assert_uint_eq(vw_text_fit("e\xCC\x81x", 4, 1, 1, &cols), 3);
    char out[64];
    ck_assert_int_eq(vw_text_ellipsize("short", 10, 1, out, sizeof out), 5);
    ck_assert_str_eq(out, "short");
    /* a very long label: cut to the width, with an ellipsis */
    char longl[2048];
    memset(longl, 'x', sizeof longl - 1);
    longl[sizeof longl - 1] = '\0';
    int w = vw_text_ellipsize(longl, 10, 1, out, sizeof out);
    ck_assert_int_eq(w, 10);
    ck_assert_int_eq(vw_text_width(out, strlen(out), 1), 10);
    ck_assert(strstr(out, "\xE2\x80\xA6") != NULL);
    w = vw_text_ellipsize(longl, 10, 0, out, sizeof out);
    ck_assert_int_eq(w, 10);
    ck_assert_str_eq(out + 9, "~");
    /* wide characters never split, and the result never exceeds the width */
    for (int width = 0; width < 12; width++) {
        w = vw_text_ellipsize("\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD", width, 1, out, sizeof out);
        ck_assert_int_le(w, width);
        ck_assert_int_eq(vw_text_width(out, strlen(out), 1), w);
    }
    /* a tiny output buffer still gets a valid string */
    ck_assert_int_le(vw_text_ellipsize(longl, 50, 1, out, 4), 50);
    ck_assert_uint_lt(strlen(out), 4);
    vw_copy_text(out, 4, "\xE4\xB8\xAD\xE6\x96\x87"); /* room for one character */
    ck_assert_str_eq(out, "\xE4\xB8\xAD");
}
END_TEST

START_TEST(test_wrap)
{
    utf8_locale();
    vw_span sp[16];
    const char *t = "the quick brown fox";
    int n = vw_text_wrap(t, strlen(t), 10, 1, 1, sp, 16);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(sp[0].end - sp[0].begin, 9); /* "the quick" */
    ck_assert(!strncmp(t + sp[1].begin, "brown fox", 9));
    /* a word longer than the width is cut inside */
    n = vw_text_wrap("abcdefghij", 10, 4, 1, 1, sp, 16);
    ck_assert_int_eq(n, 3);
    /* CJK without spaces: 2 columns each, 5 columns hold 2 */
    const char *cjk = "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD";
    n = vw_text_wrap(cjk, strlen(cjk), 5, 1, 1, sp, 16);
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < n; i++) ck_assert_int_le(vw_text_width(cjk + sp[i].begin, (size_t)(sp[i].end - sp[i].begin), 1), 5);
    /* width 1 and a wide character: one per line, never stuck */
    n = vw_text_wrap(cjk, strlen(cjk), 1, 1, 1, sp, 16);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(vw_text_wrap(cjk, strlen(cjk), 0, 1, 1, sp, 16), 0);
    /* newlines: breaks, or glyphs */
    ck_assert_int_eq(vw_text_wrap("a\nb\n", 4, 10, 1, 1, sp, 16), 2);
    ck_assert_int_eq(vw_text_wrap("a\nb\n", 4, 10, 1, 0, sp, 16), 1);
    ck_assert_int_eq(vw_text_wrap("", 0, 10, 1, 1, sp, 16), 1);
    /* more lines than room: the count is still the whole text's */
    char many[400];
    memset(many, 'a', sizeof many);
    ck_assert_int_eq(vw_text_wrap(many, sizeof many, 10, 1, 1, sp, 4), 40);
}
END_TEST

START_TEST(test_format)
{
    char b[32];
    ck_assert_str_eq(vw_fmt_si(0, b, sizeof b), "0");
    ck_assert_str_eq(vw_fmt_si(950, b, sizeof b), "950");
    ck_assert_str_eq(vw_fmt_si(12345, b, sizeof b), "12.3k");
    ck_assert_str_eq(vw_fmt_si(1.2e12, b, sizeof b), "1.20T");
    ck_assert_str_eq(vw_fmt_si(999999, b, sizeof b), "1.00M");
    ck_assert_str_eq(vw_fmt_si(-2500, b, sizeof b), "-2.50k");
    ck_assert_str_eq(vw_fmt_si(NAN, b, sizeof b), "nan");
    ck_assert_str_eq(vw_fmt_si(-INFINITY, b, sizeof b), "-inf");
    ck_assert_str_eq(vw_fmt_si(3e21, b, sizeof b), "3.00e21");
    ck_assert_str_eq(vw_fmt_num(2.3125, b, sizeof b), "2.31");
    ck_assert_str_eq(vw_fmt_num(0.0153, b, sizeof b), "0.0153");
    ck_assert_str_eq(vw_fmt_num(1e-5, b, sizeof b), "1e-5");
    ck_assert_str_eq(vw_fmt_num(0.000123, b, sizeof b), "1.23e-4");
    ck_assert_str_eq(vw_fmt_num(3.5e12, b, sizeof b), "3.5e12");
    ck_assert_str_eq(vw_fmt_num(INFINITY, b, sizeof b), "inf");
    ck_assert_str_eq(vw_fmt_num(0, b, sizeof b), "0");
    ck_assert_str_eq(vw_fmt_duration(0.25, b, sizeof b), "250ms");
    ck_assert_str_eq(vw_fmt_duration(1.5, b, sizeof b), "1.5s");
    ck_assert_str_eq(vw_fmt_duration(45, b, sizeof b), "45s");
    ck_assert_str_eq(vw_fmt_duration(185, b, sizeof b), "3m05s");
    ck_assert_str_eq(vw_fmt_duration(3720, b, sizeof b), "1h02m");
    ck_assert_str_eq(vw_fmt_duration(2 * 86400 + 3 * 3600, b, sizeof b), "2d03h");
    ck_assert_str_eq(vw_fmt_duration(-1, b, sizeof b), "--");
    ck_assert_str_eq(vw_fmt_duration(NAN, b, sizeof b), "--");
    ck_assert_double_eq(vw_eta(25, 100, 50), 150);
    ck_assert_double_eq(vw_eta(100, 100, 50), 0);
    ck_assert_double_eq(vw_eta(0, 100, 50), -1);
    ck_assert_double_eq(vw_eta(10, 0, 50), -1);
    ck_assert_double_eq(vw_eta(10, NAN, 50), -1);
    ck_assert_str_eq(vw_fmt_percent(0.4567, b, sizeof b), "45.7%");
    ck_assert_str_eq(vw_fmt_percent(1.7, b, sizeof b), "100.0%");
    ck_assert_str_eq(vw_fmt_percent(NAN, b, sizeof b), "--");
    /* short buffers are never overrun */
    char tiny[4];
    vw_fmt_si(123456789, tiny, sizeof tiny);
    ck_assert_uint_lt(strlen(tiny), 4);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("views_text");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, test_utf8_decode);
    tcase_add_test(tc, test_widths);
    tcase_add_test(tc, test_widths_vs_python);
    tcase_add_test(tc, test_fit_and_ellipsize);
    tcase_add_test(tc, test_wrap);
    tcase_add_test(tc, test_format);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
