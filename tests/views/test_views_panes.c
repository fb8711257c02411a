/* test_views_panes.c: whole screens drawn from snapshots (vw_panes.h), in
 * each mode, at 80 x 24 and 200 x 60, in UTF-8 and ASCII: every pane of the
 * mode shows its title; an empty snapshot draws; non-finite values and
 * zero losses on a log axis do not break the plots; wide (CJK) characters
 * in answers stay inside their pane with the selected token highlighted;
 * the help lists every key at 80 x 24; below 80 x 24 the screen says the
 * terminal is too small. */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vw_panes.h"
#include "vw_text.h"

static vw_snapshot snap;

static int grid_has(const vw_grid *g, const char *needle)
{
    char row[8192];
    for (int y = 0; y < g->h; y++) {
        vw_grid_row(g, y, row, sizeof row);
        if (strstr(row, needle)) return 1;
    }
    return 0;
}

/* Every row of the grid is exactly as wide as the screen. */
static void check_rows(const vw_grid *g)
{
    char row[8192];
    for (int y = 0; y < g->h; y++) {
        size_t n = vw_grid_row(g, y, row, sizeof row);
        ck_assert_int_eq(vw_text_width(row, n, g->utf8), g->w);
        if (!g->utf8)
            for (size_t i = 0; i < n; i++) ck_assert_msg((unsigned char)row[i] < 0x80, "non-ASCII in ASCII mode");
    }
}

static void render(vw_grid *g, int cols, int rows, int utf8, const vw_ui *u)
{
    vw_grid_free(g);
    ck_assert_int_eq(vw_grid_init(g, cols, rows, utf8), 0);
    vw_layout l;
    vw_layout_compute(cols, rows, u->mode, u->zoom, &l);
    vw_frame_info fi = {9.5, 1};
    vw_render(g, &snap, u, &l, &fi);
    check_rows(g);
}

static void fill_training(void)
{
    vw_snapshot_init(&snap, VW_MODE_WATCH);
    snprintf(snap.status.source, sizeof snap.status.source, "runs/demo");
    snap.status.total_steps = 300;
    int d1 = vw_snapshot_val_slot(&snap, 1), d4 = vw_snapshot_val_slot(&snap, 4);
    for (int i = 1; i <= 120; i++) {
        vw_metric m;
        memset(&m, 0, sizeof m);
        m.x = i;
        m.step = i;
        m.phase = 1;
        /* a zero, a NaN, an infinity among the losses */
        m.loss = i == 30 ? 0.0f : i == 40 ? NAN : i == 50 ? INFINITY : (float)(8.0 / sqrt(i));
        m.rbar = (int16_t)(1 + i / 40);
        m.n = (int16_t)(i % 5);
        m.k = 2;
        m.time = i * 0.5;
        m.flops = i * 1e9;
        vw_metrics_push(&snap.metrics, &m);
        snap.status.step = i;
        if (i % 20 == 0) {
            vw_val v;
            memset(&v, 0, sizeof v);
            v.x = i;
            for (int k = 0; k < VW_MAX_DEPTHS; k++) v.loss[k] = NAN;
            v.loss[d1] = (float)(9.0 / sqrt(i));
            v.loss[d4] = (float)(7.0 / sqrt(i));
            vw_snapshot_push_val(&snap, &v);
        }
    }
    snap.status.elapsed = 60;
    vw_log_push(&snap.log, VW_LOG_ERROR, 1, "experiment.lua:3: attempt to index a nil value\nstack traceback:\n\t[C]: in ?");
}

static void fill_answers(void)
{
    snap.answers.id = 7;
    snap.answers.recurrent = 1;
    snprintf(snap.answers.prompt, sizeof snap.answers.prompt, "\xE4\xB8\xAD\xE6\x96\x87 prompt"); /* 中文 */
    snprintf(snap.answers.expect, sizeof snap.answers.expect, "42");
    snap.answers.n_rows = 6;
    for (int r = 0; r < 6; r++) {
        vw_answer *a = &snap.answers.rows[r];
        a->depth = 1 << r;
        a->state = VW_ANS_DONE;
        a->verdict = r % 2;
        /* tokens: "日本" (wide), " the", " 42", then long filler */
        const char *toks[] = {"\xE6\x97\xA5\xE6\x9C\xAC", " the", " 42", " and a long tail", " that goes on",
                              " past the pane", " \xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87", "\n", " end"};
        size_t off = 0;
        for (int t = 0; t < 9; t++) {
            a->ids[t] = t;
            a->off[t] = (uint16_t)off;
            size_t l = strlen(toks[t]);
            memcpy(a->text + off, toks[t], l);
            off += l;
        }
        a->off[9] = (uint16_t)off;
        a->text[off] = '\0';
        a->n_tokens = 9;
    }
    vw_trace *t = &snap.trace;
    t->answers_id = 7;
    t->row = 0;
    t->token = 0;
    t->depth = 8;
    t->iters = 8;
    t->state = VW_TRACE_DONE;
    for (int i = 0; i < 8; i++) {
        t->rel[i] = i == 3 ? 0.0f : (float)pow(0.5, i);     /* a zero on a log axis */
        t->kl[i] = i == 0 ? NAN : i == 5 ? -1e-9f : (float)(0.1 * pow(0.3, i)); /* NaN at 1, a negative */
        t->top1[i].id = 5;
        t->top1[i].p = 0.5f;
        snprintf(t->top1[i].text, sizeof t->top1[i].text, " \xE6\x97\xA5");
    }
    t->have_topk[2] = 1;
    for (int k = 0; k < VW_TOPK; k++) {
        t->topk[2][k].id = k;
        t->topk[2][k].p = 0.4f / (k + 1);
        snprintf(t->topk[2][k].text, sizeof t->topk[2][k].text, "tok%d", k);
    }
}

START_TEST(test_empty_snapshot_every_mode)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    vw_grid g = {0};
    static const int sizes[][2] = {{80, 24}, {200, 60}, {81, 25}, {300, 100}};
    for (int mode = 0; mode < 3; mode++)
        for (size_t i = 0; i < 4; i++)
            for (int utf8 = 0; utf8 < 2; utf8++) {
                vw_snapshot_init(&snap, mode);
                vw_ui u;
                vw_ui_init(&u, (vw_mode)mode);
                render(&g, sizes[i][0], sizes[i][1], utf8, &u);
                unsigned shown = vw_mode_panes((vw_mode)mode);
                for (int p = 0; p < VW_PANE_COUNT; p++) {
                    if (!(shown >> p & 1)) continue;
                    char title[128];
                    vw_pane_title(p, &snap, &u, title, sizeof title);
                    ck_assert_msg(grid_has(&g, title), "mode %d %dx%d: no '%s' pane", mode, sizes[i][0], sizes[i][1], title);
                }
                ck_assert(grid_has(&g, "retrobench"));
            }
    vw_grid_free(&g);
}
END_TEST

START_TEST(test_training_screen)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    fill_training();
    fill_answers();
    vw_ui u;
    vw_ui_init(&u, VW_MODE_WATCH);
    vw_grid g = {0};
    for (int utf8 = 0; utf8 < 2; utf8++) {
        render(&g, 80, 24, utf8, &u);
        ck_assert(grid_has(&g, "Loss  120 steps"));
        ck_assert(grid_has(&g, "step 120/300"));
        ck_assert(grid_has(&g, "40.0%"));
        ck_assert(grid_has(&g, "val r=4"));
        ck_assert(grid_has(&g, "stack traceback:")); /* the error's traceback in the log */
        render(&g, 200, 60, utf8, &u);
        ck_assert(grid_has(&g, "sampled n+k")); /* the rbar strip under the loss plot */
        ck_assert(grid_has(&g, "3 not > 0 hidden") || grid_has(&g, "1 not > 0 hidden"));
    }
    /* linear axis, a window on the last 16 steps, a zoom */
    u.ylog = 0;
    u.window = 16;
    u.zoom = VW_PANE_LOSS;
    render(&g, 80, 24, 1, &u);
    ck_assert(grid_has(&g, "linear  last 16"));
    ck_assert(!grid_has(&g, "Status"));
    vw_grid_free(&g);
}
END_TEST

/* The answers pane: rows inside the pane, CJK measured in columns, the
 * selected token in reverse video, a long answer scrolled to it. */
START_TEST(test_answers_cjk)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    vw_snapshot_init(&snap, VW_MODE_INSPECT);
    fill_answers();
    vw_ui u;
    vw_ui_init(&u, VW_MODE_INSPECT);
    vw_grid g = {0};
    render(&g, 80, 24, 1, &u);
    ck_assert(grid_has(&g, "\xE6\x97\xA5\xE6\x9C\xAC the 42")); /* 日本 the 42 */
    ck_assert(grid_has(&g, "r=32"));
    ck_assert(grid_has(&g, "\xE2\x9C\x93")); /* ✓ */
    /* the selected token (row 0, token 0: 日本) is highlighted, and only it in that row */
    vw_layout l;
    vw_layout_compute(80, 24, VW_MODE_INSPECT, -1, &l);
    vw_rect ar = vw_rect_inner(l.pane[VW_PANE_ANSWERS]);
    int y = ar.y + 1, sel = 0;
    char hl[64] = "";
    for (int x = ar.x + 6; x < ar.x + ar.w; x++) {
        vw_cell *c = vw_grid_at(&g, x, y);
        if (c->style == VW_ST_SELECT && c->w) {
            strcat(hl, c->g);
            sel++;
        }
    }
    ck_assert_str_eq(hl, "\xE6\x97\xA5\xE6\x9C\xAC");
    ck_assert_int_eq(sel, 2);
    /* select a token far along: the row scrolls so it stays visible */
    u.token = 8; /* " end", after the line break glyph */
    render(&g, 80, 24, 1, &u);
    hl[0] = '\0';
    for (int x = ar.x; x < ar.x + ar.w; x++) {
        vw_cell *c = vw_grid_at(&g, x, y);
        if (c->style == VW_ST_SELECT && c->w && x > ar.x + 6) strcat(hl, c->g);
    }
    ck_assert_str_eq(hl, " end");
    /* in a tall pane the rows wrap instead */
    render(&g, 200, 60, 1, &u);
    ck_assert(grid_has(&g, "past the pane"));
    /* ASCII: the wide characters are '?', one column each */
    render(&g, 80, 24, 0, &u);
    ck_assert(grid_has(&g, "?? the 42"));
    vw_grid_free(&g);
}
END_TEST

START_TEST(test_convergence_detail)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    vw_snapshot_init(&snap, VW_MODE_INSPECT);
    fill_answers();
    vw_ui u;
    vw_ui_init(&u, VW_MODE_INSPECT);
    vw_grid g = {0};
    u.iter = 2;
    render(&g, 80, 24, 1, &u);
    ck_assert(grid_has(&g, "iter 3/8"));
    ck_assert(grid_has(&g, "rel 0.25"));
    ck_assert(grid_has(&g, "'tok0'"));
    ck_assert(grid_has(&g, "40.0%"));
    u.iter = 0; /* KL is not defined at the first iteration */
    render(&g, 80, 24, 1, &u);
    ck_assert(grid_has(&g, "iter 1/8"));
    ck_assert(grid_has(&g, "KL -"));
    ck_assert(grid_has(&g, "(more tokens on the way)"));
    /* the trace belongs to another token: not shown as this one's */
    u.token = 1;
    render(&g, 80, 24, 1, &u);
    ck_assert(grid_has(&g, "tracing token 2"));
    /* a plain model */
    snap.trace.state = VW_TRACE_UNAVAILABLE;
    snprintf(snap.trace.note, sizeof snap.trace.note, "a plain model has no recurrence to trace");
    render(&g, 80, 24, 1, &u);
    ck_assert(grid_has(&g, "no recurrence"));
    vw_grid_free(&g);
}
END_TEST

START_TEST(test_help_and_too_small)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    vw_snapshot_init(&snap, VW_MODE_WATCH);
    vw_ui u;
    vw_ui_init(&u, VW_MODE_WATCH);
    u.help = 1;
    vw_grid g = {0};
    for (int utf8 = 0; utf8 < 2; utf8++) {
        render(&g, 80, 24, utf8, &u);
        int n;
        const vw_binding *b = vw_keymap(&n);
        for (int i = 0; i < n; i++) ck_assert_msg(grid_has(&g, b[i].what), "help at 80x24 lacks '%s'", b[i].what);
    }
    u.help = 0;
    render(&g, 79, 24, 1, &u);
    ck_assert(grid_has(&g, "too small"));
    render(&g, 30, 5, 1, &u);
    ck_assert(grid_has(&g, "too"));
    render(&g, 1, 1, 1, &u);
    render(&g, 0, 0, 1, &u);
    /* typing: the footer shows the line and the cursor */
    u.editing = VW_EDIT_PROMPT;
    snprintf(u.edit, sizeof u.edit, "\xE4\xB8\xAD\xE6\x96\x87");
    u.edit_len = u.edit_cur = 6;
    render(&g, 80, 24, 1, &u);
    ck_assert(grid_has(&g, "prompt> \xE4\xB8\xAD\xE6\x96\x87"));
    vw_grid_free(&g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("views_panes");
    TCase *tc = tcase_create("panes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_snapshot_every_mode);
    tcase_add_test(tc, test_training_screen);
    tcase_add_test(tc, test_answers_cjk);
    tcase_add_test(tc, test_convergence_detail);
    tcase_add_test(tc, test_help_and_too_small);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
