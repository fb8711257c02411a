/* test_views_layout.c: pane layout for every terminal size from the
 * minimum up (vw_layout.h), and the snapshot's bounded stores
 * (vw_snapshot.h): the metrics ring and thinned history, validation
 * points, the log.
 *
 * For each mode, zoom and size: every shown pane lies inside the screen
 * between the header and the footer, no two overlap, together they cover
 * that area, and each has a frame with at least one row and column inside.
 * Below 80 x 24 (including zero and negative sizes) the layout says the
 * terminal is too small and places nothing. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vw_layout.h"
#include "vw_snapshot.h"

/* Returns NULL when the layout is valid, else what is wrong (libcheck's
 * asserts report through a pipe, too slow for every cell). */
static const char *layout_error(int cols, int rows, vw_mode mode, int zoom)
{
    static char why[256];
    vw_layout l;
    vw_layout_compute(cols, rows, mode, zoom, &l);
    if (l.too_small) return "too small";
    if (l.header.y != 0 || l.footer.y != rows - 1) return "header or footer misplaced";
    static unsigned char owner[512][512];
    for (int y = 0; y < rows; y++) memset(owner[y], 0, (size_t)cols);
    unsigned shown = vw_mode_panes(mode);
    int covered = 0;
    for (int p = 0; p < VW_PANE_COUNT; p++) {
        vw_rect r = l.pane[p];
        if (r.w == 0 && r.h == 0) continue;
        snprintf(why, sizeof why, "%dx%d mode %d zoom %d: %s at %d,%d %dx%d", cols, rows, mode, zoom,
                 vw_pane_name(p), r.x, r.y, r.w, r.h);
        if (!(shown >> p & 1)) return strcat(why, " is not part of the mode");
        if (r.x < 0 || r.y < 1 || r.x + r.w > cols || r.y + r.h > rows - 1) return strcat(why, " leaves the screen");
        if (r.w < 3 || r.h < 3) return strcat(why, " has no room inside its frame");
        for (int y = r.y; y < r.y + r.h; y++)
            for (int x = r.x; x < r.x + r.w; x++) {
                if (owner[y][x]) return strcat(why, " overlaps another pane");
                owner[y][x] = (unsigned char)(p + 1);
                covered++;
            }
    }
    if (covered != cols * (rows - 2)) {
        snprintf(why, sizeof why, "%dx%d mode %d zoom %d: panes cover %d of %d cells", cols, rows, mode, zoom,
                 covered, cols * (rows - 2));
        return why;
    }
    if (zoom >= 0 && (shown >> zoom & 1) && (l.pane[zoom].w != cols || l.pane[zoom].h != rows - 2))
        return "the zoomed pane does not fill the screen";
    return NULL;
}

static void check_layout(int cols, int rows, vw_mode mode, int zoom)
{
    const char *e = layout_error(cols, rows, mode, zoom);
    ck_assert_msg(e == NULL, "%s", e);
}

START_TEST(test_every_size)
{
    for (int mode = 0; mode < 3; mode++)
        for (int cols = VW_MIN_COLS; cols <= 300; cols += (cols < 90 ? 1 : 13))
            for (int rows = VW_MIN_ROWS; rows <= 120; rows += (rows < 34 ? 1 : 11))
                for (int zoom = -1; zoom < VW_PANE_COUNT; zoom++) {
                    const char *e = layout_error(cols, rows, (vw_mode)mode, zoom);
                    if (e) ck_abort_msg("%s", e);
                }
    check_layout(80, 24, VW_MODE_WATCH, -1);
    check_layout(200, 60, VW_MODE_WATCH, -1);
    check_layout(200, 60, VW_MODE_INSPECT, -1);
}
END_TEST

START_TEST(test_too_small)
{
    static const int sizes[][2] = {{79, 24}, {80, 23}, {0, 0}, {-5, -5}, {1, 1}, {10000, 5}, {5, 10000}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        vw_layout l;
        vw_layout_compute(sizes[i][0], sizes[i][1], VW_MODE_WATCH, -1, &l);
        ck_assert(l.too_small);
        for (int p = 0; p < VW_PANE_COUNT; p++) ck_assert_int_eq(l.pane[p].w * l.pane[p].h, 0);
    }
}
END_TEST

START_TEST(test_focus_cycle)
{
    for (int mode = 0; mode < 3; mode++) {
        unsigned shown = vw_mode_panes((vw_mode)mode), seen = 0;
        int f = vw_focus_step((vw_mode)mode, -1, 1);
        for (int i = 0; i < 2 * VW_PANE_COUNT; i++) {
            ck_assert(shown >> f & 1);
            seen |= 1u << f;
            int g = vw_focus_step((vw_mode)mode, f, 1);
            ck_assert_int_eq(vw_focus_step((vw_mode)mode, g, -1), f); /* back and forth agree */
            f = g;
        }
        ck_assert_uint_eq(seen, shown);
    }
    /* a zoom on a pane the mode does not show is ignored */
    vw_layout l;
    vw_layout_compute(100, 30, VW_MODE_INSPECT, VW_PANE_LOSS, &l);
    ck_assert_int_eq(l.pane[VW_PANE_LOSS].w, 0);
    ck_assert_int_gt(l.pane[VW_PANE_ANSWERS].w, 0);
}
END_TEST

static vw_snapshot snap;

START_TEST(test_metrics_store)
{
    vw_snapshot_init(&snap, VW_MODE_WATCH);
    ck_assert_ptr_null(vw_metrics_last(&snap.metrics));
    static const vw_metric *pts[VW_RECENT + VW_HISTORY];
    ck_assert_int_eq(vw_metrics_collect(&snap.metrics, -INFINITY, pts, VW_RECENT + VW_HISTORY), 0);
    const int N = 100000;
    for (int i = 1; i <= N; i++) {
        vw_metric m;
        memset(&m, 0, sizeof m);
        m.x = i;
        m.step = i;
        m.loss = (float)(10.0 / i);
        vw_metrics_push(&snap.metrics, &m);
    }
    ck_assert_int_eq((int)vw_metrics_last(&snap.metrics)->x, N);
    int n = vw_metrics_collect(&snap.metrics, -INFINITY, pts, VW_RECENT + VW_HISTORY);
    ck_assert_int_le(n, VW_RECENT + VW_HISTORY);
    ck_assert_int_gt(n, VW_RECENT);
    /* increasing x, the start of the run kept, the last VW_RECENT steps all there */
    ck_assert_double_eq(pts[0]->x, 1);
    for (int i = 1; i < n; i++) ck_assert(pts[i]->x > pts[i - 1]->x);
    for (int i = 0; i < VW_RECENT; i++) ck_assert_double_eq(pts[n - VW_RECENT + i]->x, N - VW_RECENT + 1 + i);
    /* a window on recent steps */
    n = vw_metrics_collect(&snap.metrics, N - 99, pts, VW_RECENT + VW_HISTORY);
    ck_assert_int_eq(n, 100);
    /* few points: all of them */
    vw_metrics_clear(&snap.metrics);
    vw_metric one = {.x = 7, .loss = 1};
    vw_metrics_push(&snap.metrics, &one);
    ck_assert_int_eq(vw_metrics_collect(&snap.metrics, -INFINITY, pts, 10), 1);
}
END_TEST

START_TEST(test_vals_and_log)
{
    vw_snapshot_init(&snap, VW_MODE_WATCH);
    ck_assert_int_eq(vw_snapshot_val_slot(&snap, 4), 0);
    ck_assert_int_eq(vw_snapshot_val_slot(&snap, 1), 1);
    ck_assert_int_eq(vw_snapshot_val_slot(&snap, 4), 0);
    for (int d = 2; d < 100; d++) vw_snapshot_val_slot(&snap, 100 + d);
    ck_assert_int_eq(snap.n_val_depths, VW_MAX_DEPTHS);
    ck_assert_int_eq(vw_snapshot_val_slot(&snap, 9999), -1);
    for (int i = 0; i < 5000; i++) {
        vw_val v = {.x = i, .step = i, .final = i == 10};
        vw_snapshot_push_val(&snap, &v);
    }
    ck_assert_int_le(snap.n_vals, VW_VALS);
    int has_final = 0;
    for (int i = 0; i < snap.n_vals; i++) {
        has_final |= snap.vals[i].final;
        if (i) ck_assert(snap.vals[i].x > snap.vals[i - 1].x);
    }
    ck_assert(has_final); /* thinning keeps end-of-phase validations */
    ck_assert_double_eq(snap.vals[snap.n_vals - 1].x, 4999);

    vw_log_push(&snap.log, VW_LOG_ERROR, 1.0, "Error: bad\nstack traceback:\n\tfoo.lua:3\n");
    ck_assert_int_eq(snap.log.n, 3);
    ck_assert_str_eq(vw_log_at(&snap.log, 1)->text, "stack traceback:");
    ck_assert_ptr_null(vw_log_at(&snap.log, 3));
    /* a long line is cut at a character boundary */
    char big[1000];
    for (int i = 0; i < 999; i += 3) memcpy(big + i, "\xE4\xB8\xAD", 3);
    big[999] = '\0';
    vw_log_push(&snap.log, VW_LOG_INFO, 2.0, big);
    const char *t = vw_log_at(&snap.log, 3)->text;
    ck_assert_uint_lt(strlen(t), VW_LOG_BYTES);
    ck_assert_uint_eq(strlen(t) % 3, 0);
    for (int i = 0; i < 1000; i++) vw_log_push(&snap.log, VW_LOG_INFO, 3.0, "x");
    ck_assert_int_eq(snap.log.n, VW_LOG_LINES);
    ck_assert_int_eq(snap.log.total, 1004);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("views_layout");
    TCase *tc = tcase_create("layout");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_size);
    tcase_add_test(tc, test_too_small);
    tcase_add_test(tc, test_focus_cycle);
    tcase_add_test(tc, test_metrics_store);
    tcase_add_test(tc, test_vals_and_log);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
