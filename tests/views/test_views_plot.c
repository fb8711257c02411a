/* test_views_plot.c: series to braille cells (vw_plot.h) and charts with
 * labelled axes (vw_chart.h): degenerate sizes, empty series, one point,
 * NaN and infinite values, log scale with zeros and negatives, very long
 * labels, and the ASCII fallback.
 *
 * The braille dots are checked against the Unicode standard's numbering
 * (dot n is bit n-1 of U+2800 + bits; dots 1-2-3-7 run down the left
 * column, 4-5-6-8 down the right), and, where python3 is there, against
 * the character names in Python's unicodedata ("BRAILLE PATTERN DOTS-n"). */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vw_chart.h"
#include "vw_plot.h"
#include "vw_text.h"

static vw_canvas cv; /* 77 KB: not on the stack */

static int count_dots(const vw_canvas *c)
{
    int n = 0;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) n += __builtin_popcount(c->bits[y][x]);
    return n;
}

START_TEST(test_braille_numbering)
{
    /* (column, row) of dots 1..8 in the standard's braille cell */
    static const int pos[8][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {0, 3}, {1, 3}};
    FILE *py = NULL;
    char cmd[512];
    for (int d = 0; d < 8; d++) {
        vw_canvas_init(&cv, 1, 1);
        vw_canvas_dot(&cv, pos[d][0], pos[d][1], 0);
        char g[5];
        vw_canvas_glyph(&cv, 0, 0, 1, g);
        uint32_t cp;
        vw_utf8_next(g, strlen(g), &cp);
        ck_assert_uint_eq(cp, 0x2800u + (1u << d));
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import unicodedata; print(unicodedata.name(chr(%u)))\" 2>/dev/null", cp);
        py = popen(cmd, "r");
        char name[128] = "";
        if (py && fgets(name, sizeof name, py)) {
            char want[64];
            snprintf(want, sizeof want, "BRAILLE PATTERN DOTS-%d\n", d + 1);
            ck_assert_str_eq(name, want);
        }
        if (py) pclose(py);
    }
}
END_TEST

START_TEST(test_range)
{
    vw_range r;
    vw_range_init(&r, 0);
    ck_assert_int_eq(vw_range_add(&r, NULL, 0, 1), 0);
    ck_assert(!r.valid);
    vw_range_finish(&r); /* nothing seen: a default window, never NaN */
    ck_assert_double_eq(r.lo, 0);
    ck_assert_double_eq(r.hi, 1);
    double v[] = {NAN, 3, INFINITY, -INFINITY, 3};
    vw_range_init(&r, 0);
    ck_assert_int_eq(vw_range_add(&r, v, 5, 1), 3); /* NaN and infinities skipped, and counted */
    vw_range_finish(&r);                           /* equal ends spread apart */
    ck_assert(r.lo < 3 && r.hi > 3);
    ck_assert(isfinite(r.lo) && isfinite(r.hi));
    /* log: zeros and negatives skipped */
    double w[] = {0, -1, 1e-3, 10, -5};
    vw_range_init(&r, 1);
    ck_assert_int_eq(vw_range_add(&r, w, 5, 1), 3);
    vw_range_finish(&r);
    ck_assert_double_eq(r.lo, 1e-3);
    ck_assert_double_eq(r.hi, 10);
    ck_assert_double_eq_tol(vw_range_pos(&r, 0.1), 0.5, 1e-12);
    ck_assert(isnan(vw_range_pos(&r, 0)));
    ck_assert(isnan(vw_range_pos(&r, -2)));
    /* log with only non-positive values: invalid, default [1, 10] */
    vw_range_init(&r, 1);
    ck_assert_int_eq(vw_range_add(&r, w, 2, 1), 2);
    ck_assert(!r.valid);
    vw_range_finish(&r);
    ck_assert(r.lo > 0 && r.hi > r.lo);
    /* linear, non-negative data: padding never goes below 0 */
    double z[] = {0, 5};
    vw_range_init(&r, 0);
    vw_range_add(&r, z, 2, 1);
    vw_range_finish(&r);
    ck_assert_double_eq(r.lo, 0);
    ck_assert(r.hi > 5);
    /* stride reads every other value */
    double s2[] = {1, 100, 2, 100};
    vw_range_init(&r, 0);
    vw_range_add(&r, s2, 2, 2);
    ck_assert_double_eq(r.hi, 2);
}
END_TEST

START_TEST(test_ticks)
{
    vw_tick t[16];
    vw_range r = {0, 10, 0, 1};
    int n = vw_ticks(&r, 6, t, 16);
    ck_assert_int_ge(n, 2);
    ck_assert_int_le(n, 6);
    for (int i = 0; i < n; i++) {
        ck_assert(t[i].v >= 0 && t[i].v <= 10);
        /* round values: a multiple of 1, 2 or 5 times a power of ten apart */
        if (i) ck_assert_double_eq_tol(t[i].v - t[i - 1].v, t[1].v - t[0].v, 1e-9);
    }
    ck_assert_str_eq(t[0].label, "0");
    /* floating steps print cleanly (0.1 + 0.2 is not 0.3) */
    vw_range f = {0, 0.5, 0, 1};
    n = vw_ticks(&f, 6, t, 16);
    for (int i = 0; i < n; i++) ck_assert_uint_le(strlen(t[i].label), 4);
    /* log: powers of ten */
    vw_range lg = {1e-4, 1, 1, 1};
    n = vw_ticks(&lg, 8, t, 16);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(t[0].label, "1e-4");
    ck_assert_str_eq(t[4].label, "1");
    /* many decades, few ticks: thinned */
    vw_range wide = {1e-12, 1e12, 1, 1};
    n = vw_ticks(&wide, 4, t, 16);
    ck_assert_int_le(n, 4);
    ck_assert_int_ge(n, 2);
    /* less than a decade: 1, 2, 5 steps inside the range */
    vw_range narrow = {1.5, 9, 1, 1};
    n = vw_ticks(&narrow, 6, t, 16);
    ck_assert_int_ge(n, 2);
    for (int i = 0; i < n; i++) ck_assert(t[i].v >= 1.5 && t[i].v <= 9);
    /* degenerate */
    vw_range bad = {5, 5, 0, 1};
    ck_assert_int_eq(vw_ticks(&bad, 6, t, 16), 0);
    ck_assert_int_eq(vw_ticks(&r, 0, t, 16), 0);
}
END_TEST

START_TEST(test_canvas_degenerate)
{
    vw_canvas_init(&cv, 0, 0);
    vw_canvas_dot(&cv, 0, 0, 0);
    vw_canvas_line(&cv, -5, -5, 50, 50, 0);
    ck_assert_int_eq(count_dots(&cv), 0);
    vw_canvas_init(&cv, -3, 100000); /* clamped */
    ck_assert_int_eq(cv.w, 0);
    ck_assert_int_eq(cv.h, VW_CANVAS_MAX_H);
    /* a line far outside the canvas draws nothing and ends */
    vw_canvas_init(&cv, 4, 2);
    vw_canvas_line(&cv, -1000, -1000, -900, -2000, 0);
    ck_assert_int_eq(count_dots(&cv), 0);
    /* a line across: every dot column gets a dot */
    vw_canvas_line(&cv, 0, 0, 7, 7, 0);
    ck_assert_int_eq(count_dots(&cv), 8);
    char g[5];
    ck_assert_int_eq(vw_canvas_glyph(&cv, 99, 99, 1, g), 0);
    ck_assert_str_eq(g, " ");
}
END_TEST

START_TEST(test_series)
{
    vw_range xr = {0, 10, 0, 1}, yr = {0, 10, 0, 1};
    int hidden;
    /* empty */
    vw_canvas_init(&cv, 10, 4);
    ck_assert_int_eq(vw_canvas_series(&cv, NULL, NULL, 0, &xr, &yr, 0, 1, &hidden), 0);
    ck_assert_int_eq(count_dots(&cv), 0);
    /* one point: one dot, at the right place (x = 5 of 0..10 -> dot column 10 of 0..19) */
    double x1[] = {5}, y1[] = {10};
    ck_assert_int_eq(vw_canvas_series(&cv, x1, y1, 1, &xr, &yr, 0, 1, &hidden), 1);
    ck_assert_int_eq(count_dots(&cv), 1);
    ck_assert_uint_ne(cv.bits[0][5], 0); /* top row, cell 5 */
    /* NaN and infinities: skipped, counted, and the line is broken there */
    double xs[] = {0, 2, 4, 6, 8, 10}, ys[] = {0, NAN, 5, INFINITY, 5, -INFINITY};
    vw_canvas_init(&cv, 10, 4);
    ck_assert_int_eq(vw_canvas_series(&cv, xs, ys, 6, &xr, &yr, 0, 1, &hidden), 3);
    ck_assert_int_eq(hidden, 3);
    /* points 4 and 8 were not joined across the infinity at 6: nothing drawn in between */
    for (int cy = 0; cy < 4; cy++) ck_assert_uint_eq(cv.bits[cy][6], 0);
    /* log axis: zeros and negatives hidden, positive values placed */
    vw_range ly = {0.1, 10, 1, 1};
    double lx[] = {0, 2, 4, 6}, lv[] = {0, -1, 1, 10};
    vw_canvas_init(&cv, 10, 4);
    ck_assert_int_eq(vw_canvas_series(&cv, lx, lv, 4, &xr, &ly, 0, 1, &hidden), 2);
    ck_assert_int_eq(hidden, 2);
    /* points outside the x window are left out (a zoom), not counted as hidden */
    vw_range xw = {4, 6, 0, 1};
    vw_canvas_init(&cv, 10, 4);
    ck_assert_int_eq(vw_canvas_series(&cv, xs, xs, 6, &xw, &yr, 0, 0, &hidden), 2);
    ck_assert_int_eq(hidden, 0);
}
END_TEST

START_TEST(test_ascii_fallback)
{
    vw_canvas_init(&cv, 4, 1);
    vw_canvas_dot(&cv, 0, 0, 0); /* top */
    vw_canvas_dot(&cv, 2, 3, 0); /* bottom */
    vw_canvas_dot(&cv, 4, 1, 0); /* middle */
    vw_canvas_line(&cv, 6, 0, 6, 3, 0); /* full height */
    char g[5];
    vw_canvas_glyph(&cv, 0, 0, 0, g);
    ck_assert_str_eq(g, "'");
    vw_canvas_glyph(&cv, 1, 0, 0, g);
    ck_assert_str_eq(g, ".");
    vw_canvas_glyph(&cv, 2, 0, 0, g);
    ck_assert_str_eq(g, "-");
    vw_canvas_glyph(&cv, 3, 0, 0, g);
    ck_assert_str_eq(g, "|");
}
END_TEST

/* A chart in a grid: what is on screen. */
static int grid_has(const vw_grid *g, const char *needle)
{
    char row[4096];
    for (int y = 0; y < g->h; y++) {
        vw_grid_row(g, y, row, sizeof row);
        if (strstr(row, needle)) return 1;
    }
    return 0;
}

static int grid_all_ascii(const vw_grid *g)
{
    char row[4096];
    for (int y = 0; y < g->h; y++) {
        size_t n = vw_grid_row(g, y, row, sizeof row);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)row[i] >= 0x80) return 0;
    }
    return 1;
}

START_TEST(test_chart)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    vw_grid g;
    ck_assert_int_eq(vw_grid_init(&g, 40, 10, 1), 0);
    vw_chart c;
    vw_chart_init(&c);
    vw_chart_info info;
    /* no series at all */
    vw_chart_draw(&g, (vw_rect){0, 0, 40, 10}, &c, &info);
    ck_assert_int_eq(info.placed, 0);
    ck_assert(grid_has(&g, "no data"));
    /* degenerate rectangles draw nothing outside themselves and do not crash */
    double xs[] = {1, 2, 3}, ys[] = {1, 4, 9};
    vw_series s = {xs, ys, 3, VW_ST_S0, 1};
    c.series = &s;
    c.n_series = 1;
    vw_rect tiny[] = {{0, 0, 0, 0}, {0, 0, 1, 1}, {0, 0, 3, 2}, {0, 0, 40, 1}, {0, 0, 1, 10}, {35, 5, 20, 20}};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
        vw_grid_clear(&g);
        vw_chart_draw(&g, tiny[i], &c, &info);
    }
    /* labelled axes: y ticks at the left, x ticks on the bottom row */
    vw_grid_clear(&g);
    vw_chart_draw(&g, (vw_rect){0, 0, 40, 10}, &c, &info);
    ck_assert_int_eq(info.placed, 3);
    char row[512];
    vw_grid_row(&g, 9, row, sizeof row);
    ck_assert_msg(strstr(row, "2") != NULL, "x labels on the bottom row: '%s'", row);
    ck_assert_int_gt(info.plot.x, 0); /* room was made for y labels */
    /* log y with zeros and negatives: hidden and counted, the rest drawn */
    double ly[] = {0, -3, 100};
    s.ys = ly;
    c.ylog = 1;
    vw_grid_clear(&g);
    vw_chart_draw(&g, (vw_rect){0, 0, 40, 10}, &c, &info);
    ck_assert_int_eq(info.placed, 1);
    ck_assert_int_eq(info.hidden, 2);
    /* every value unplaceable: the empty message */
    double none[] = {NAN, INFINITY, -INFINITY};
    s.ys = none;
    c.ylog = 0;
    c.empty = "nothing finite";
    vw_grid_clear(&g);
    vw_chart_draw(&g, (vw_rect){0, 0, 40, 10}, &c, &info);
    ck_assert_int_eq(info.hidden, 3);
    ck_assert(grid_has(&g, "nothing finite"));
    /* huge values: labels stay within their column width */
    double big[] = {1e300, 2e300, 3e300};
    s.ys = big;
    vw_grid_clear(&g);
    vw_chart_draw(&g, (vw_rect){0, 0, 40, 10}, &c, &info);
    ck_assert_int_le(info.plot.x, 9);
    /* ASCII: only ASCII on screen */
    vw_grid a;
    ck_assert_int_eq(vw_grid_init(&a, 40, 10, 0), 0);
    s.ys = ys;
    vw_chart_draw(&a, (vw_rect){0, 0, 40, 10}, &c, &info);
    ck_assert(grid_all_ascii(&a));
    ck_assert_int_eq(info.placed, 3);
    vw_grid_free(&a);
    vw_grid_free(&g);
}
END_TEST

START_TEST(test_grid_wide_and_bar)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    vw_grid g;
    ck_assert_int_eq(vw_grid_init(&g, 6, 2, 1), 0);
    /* 中文中: 6 columns; a 5-column limit keeps 2 and pads with a space */
    int w = vw_grid_str(&g, 0, 0, 5, "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD", VW_ST_NORMAL);
    ck_assert_int_eq(w, 5);
    ck_assert_int_eq(vw_grid_at(&g, 1, 0)->w, 0); /* right half of 中 */
    /* overwriting the right half of a wide glyph blanks its left half */
    vw_grid_str(&g, 1, 0, 1, "x", VW_ST_NORMAL);
    char row[64];
    vw_grid_row(&g, 0, row, sizeof row);
    ck_assert_str_eq(row, " x\xE6\x96\x87  ");
    /* a wide glyph at the right edge does not fit: a space */
    vw_grid_str(&g, 5, 1, 5, "\xE4\xB8\xAD", VW_ST_NORMAL);
    ck_assert_str_eq(vw_grid_at(&g, 5, 1)->g, " ");
    /* writes outside the grid are ignored */
    vw_grid_str(&g, -3, 0, 10, "abcdefghijklmnop", VW_ST_NORMAL);
    vw_grid_str(&g, 0, 7, 10, "abc", VW_ST_NORMAL);
    ck_assert_ptr_null(vw_grid_at(&g, 6, 0));
    /* a bar of 4 columns at 50% shows two full blocks */
    vw_grid_clear(&g);
    vw_grid_bar(&g, 0, 0, 4, 0.5, VW_ST_GOOD);
    vw_grid_row(&g, 0, row, sizeof row);
    ck_assert(!strncmp(row, "\xE2\x96\x88\xE2\x96\x88", 6));
    vw_grid_bar(&g, 0, 1, 4, NAN, VW_ST_GOOD); /* NaN: empty */
    vw_grid_row(&g, 1, row, sizeof row);
    ck_assert(strstr(row, "\xE2\x96\x88") == NULL);
    vw_grid_free(&g);
    /* a zero-size grid */
    ck_assert_int_eq(vw_grid_init(&g, 0, 0, 1), 0);
    vw_grid_box(&g, (vw_rect){0, 0, 10, 10}, "title", VW_ST_BORDER, VW_ST_TITLE);
    vw_grid_free(&g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("views_plot");
    TCase *tc = tcase_create("plot");
    tcase_add_test(tc, test_braille_numbering);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_ticks);
    tcase_add_test(tc, test_canvas_degenerate);
    tcase_add_test(tc, test_series);
    tcase_add_test(tc, test_ascii_fallback);
    tcase_add_test(tc, test_chart);
    tcase_add_test(tc, test_grid_wide_and_bar);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
