/* test_views_keys.c: the key map and the UI state keys change (vw_keys.h):
 * no key bound twice, every action reachable, every key documented in the
 * README, and what each key does to focus, zoom, selection, iteration,
 * the loss plot's window and the line being typed (UTF-8 included). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vw_keys.h"

START_TEST(test_keymap_unique_and_complete)
{
    int n;
    const vw_binding *b = vw_keymap(&n);
    int seen_action[VW_ACT_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        int keys[3] = {b[i].key, b[i].alt, b[i].alt2};
        seen_action[b[i].action]++;
        ck_assert_msg(strlen(b[i].what) <= 27, "'%s' is too long for the help at 80 columns", b[i].what);
        for (int k = 0; k < 3; k++) {
            if (!keys[k]) continue;
            ck_assert_int_eq(vw_key_action(keys[k]), b[i].action);
            for (int j = 0; j < n; j++) {
                if (j == i) continue;
                ck_assert_msg(b[j].key != keys[k] && b[j].alt != keys[k] && b[j].alt2 != keys[k],
                              "key %d bound to both '%s' and '%s'", keys[k], b[i].label, b[j].label);
            }
        }
    }
    for (int a = 1; a < VW_ACT_COUNT; a++) ck_assert_msg(seen_action[a] == 1, "action %d bound %d times", a, seen_action[a]);
    ck_assert_int_eq(vw_key_action('Q'), VW_ACT_NONE);
    ck_assert_int_eq(vw_key_action(0), VW_ACT_NONE);
    char lines[64][96];
    ck_assert_int_eq(vw_help_lines(lines, 64), n + 2);
}
END_TEST

/* The README's keys section names every binding's keys and the text-entry keys. */
START_TEST(test_readme_documents_every_key)
{
    const char *src = getenv("RB_SOURCE_DIR");
    if (!src) {
        fprintf(stderr, "SKIP: RB_SOURCE_DIR is not set\n");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/README.md", src);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    const char *sec = strstr(text, "## Workbench keys");
    ck_assert_msg(sec != NULL, "README.md has no '## Workbench keys' section");
    const char *end = strstr(sec + 3, "\n## ");
    size_t slen = end ? (size_t)(end - sec) : strlen(sec);
    char *s = strndup(sec, slen);
    int n;
    const vw_binding *b = vw_keymap(&n);
    for (int i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof want, "| `%s`", b[i].label);
        ck_assert_msg(strstr(s, want) != NULL, "README.md's keys table lacks a row for '%s' (%s)", b[i].label, b[i].what);
    }
    ck_assert_msg(strstr(s, "Ctrl-U") != NULL, "README.md does not document the text-entry keys");
    free(s);
}
END_TEST

static vw_snapshot snap;

static void make_answers(void)
{
    vw_snapshot_init(&snap, VW_MODE_INSPECT);
    snap.answers.id = 1;
    snap.answers.n_rows = 3;
    for (int r = 0; r < 3; r++) {
        snap.answers.rows[r].depth = 1 << r;
        snap.answers.rows[r].n_tokens = 4 + r;
    }
    snap.trace.answers_id = 1;
    snap.trace.depth = 8;
    snap.trace.state = VW_TRACE_DONE;
    snap.trace.iters = 8;
    snap.trace.row = 0;
    snap.trace.token = 0;
}

START_TEST(test_navigation)
{
    make_answers();
    vw_ui u;
    vw_ui_init(&u, VW_MODE_INSPECT);
    ck_assert_int_eq(u.focus, VW_PANE_ANSWERS);
    ck_assert_int_eq(vw_ui_sync(&u, &snap).kind, VW_EV_NONE); /* the selection fits the new answers */
    /* iterations: clamped to the trace */
    vw_event e = vw_ui_key(&u, VW_KEY_LEFT, &snap);
    ck_assert_int_eq(e.kind, VW_EV_NONE);
    e = vw_ui_key(&u, VW_KEY_RIGHT, &snap);
    ck_assert_int_eq(e.kind, VW_EV_ITER);
    ck_assert_int_eq(e.iter, 1);
    e = vw_ui_key(&u, VW_KEY_END, &snap);
    ck_assert_int_eq(e.iter, 7);
    ck_assert_int_eq(vw_ui_key(&u, 'l', &snap).kind, VW_EV_NONE); /* already at the last */
    e = vw_ui_key(&u, VW_KEY_HOME, &snap);
    ck_assert_int_eq(e.iter, 0);
    /* tokens: clamped to the row */
    for (int i = 0; i < 10; i++) vw_ui_key(&u, '.', &snap);
    ck_assert_int_eq(u.token, 3);
    e = vw_ui_key(&u, ',', &snap);
    ck_assert_int_eq(e.kind, VW_EV_SELECT);
    ck_assert_int_eq(e.token, 2);
    /* depth rows: Down/Up, the token kept inside the new row */
    e = vw_ui_key(&u, VW_KEY_DOWN, &snap);
    ck_assert_int_eq(e.kind, VW_EV_SELECT);
    ck_assert_int_eq(e.row, 1);
    ck_assert_int_eq(vw_ui_key(&u, 'j', &snap).row, 2);
    ck_assert_int_eq(vw_ui_key(&u, 'j', &snap).kind, VW_EV_NONE);
    /* new, shorter answers move the selection onto them */
    snap.answers.id = 2;
    snap.answers.n_rows = 1;
    snap.answers.rows[0].n_tokens = 2;
    e = vw_ui_sync(&u, &snap);
    ck_assert_int_eq(e.kind, VW_EV_SELECT);
    ck_assert_int_eq(u.row, 0);
    ck_assert_int_eq(u.token, 1);
    /* no snapshot at all: nothing breaks */
    vw_ui_key(&u, VW_KEY_RIGHT, NULL);
    vw_ui_key(&u, '.', NULL);
    vw_ui_key(&u, VW_KEY_DOWN, NULL);
}
END_TEST

START_TEST(test_focus_zoom_help)
{
    vw_ui u;
    vw_ui_init(&u, VW_MODE_WATCH);
    int first = u.focus;
    vw_ui_key(&u, '\t', NULL);
    ck_assert_int_ne(u.focus, first);
    vw_ui_key(&u, VW_KEY_BTAB, NULL);
    ck_assert_int_eq(u.focus, first);
    vw_ui_key(&u, 'z', NULL);
    ck_assert_int_eq(u.zoom, first);
    vw_ui_key(&u, VW_KEY_ENTER, NULL);
    ck_assert_int_eq(u.zoom, -1);
    vw_ui_key(&u, 'z', NULL);
    vw_ui_key(&u, VW_KEY_ESC, NULL);
    ck_assert_int_eq(u.zoom, -1);
    vw_ui_key(&u, '?', NULL);
    ck_assert(u.help);
    ck_assert_int_eq(vw_ui_key(&u, 'q', NULL).kind, VW_EV_NONE); /* q closes the help first */
    ck_assert(!u.help);
    ck_assert_int_eq(vw_ui_key(&u, 'q', NULL).kind, VW_EV_QUIT);
    /* the log pane scrolls with Up/Down */
    make_answers();
    for (int i = 0; i < 5; i++) vw_log_push(&snap.log, VW_LOG_INFO, 0, "line");
    while (u.focus != VW_PANE_LOG) vw_ui_key(&u, '\t', NULL);
    vw_ui_key(&u, VW_KEY_UP, &snap);
    ck_assert_int_eq(u.log_scroll, 1);
    vw_ui_key(&u, VW_KEY_PGUP, &snap);
    ck_assert_int_eq(u.log_scroll, 5);
    vw_ui_key(&u, VW_KEY_PGDN, &snap);
    ck_assert_int_eq(u.log_scroll, 0);
    /* loss plot: log toggle and recent-step windows */
    int ylog = u.ylog;
    vw_ui_key(&u, 'g', &snap);
    ck_assert_int_ne(u.ylog, ylog);
    for (int i = 1; i <= 1000; i++) {
        vw_metric m = {.x = i};
        vw_metrics_push(&snap.metrics, &m);
    }
    vw_ui_key(&u, '+', &snap);
    ck_assert_int_eq(u.window, 512);
    vw_ui_key(&u, '+', &snap);
    ck_assert_int_eq(u.window, 256);
    vw_ui_key(&u, '-', &snap);
    vw_ui_key(&u, '-', &snap);
    ck_assert_int_eq(u.window, 0); /* as wide as the run: the whole run */
    vw_ui_key(&u, '+', &snap);
    vw_ui_key(&u, '0', &snap);
    ck_assert_int_eq(u.window, 0);
    /* commands for the worker */
    ck_assert_int_eq(vw_ui_key(&u, ' ', &snap).kind, VW_EV_PAUSE);
    ck_assert_int_eq(vw_ui_key(&u, 's', &snap).kind, VW_EV_SAVE);
    ck_assert_int_eq(vw_ui_key(&u, 'r', &snap).kind, VW_EV_RELOAD);
    ck_assert_int_eq(vw_ui_key(&u, 'a', &snap).kind, VW_EV_AUTO_RELOAD);
    ck_assert_int_eq(vw_ui_key(&u, VW_KEY_CTRL('l'), &snap).kind, VW_EV_REDRAW);
    ck_assert_int_eq(vw_ui_key(&u, VW_KEY_RESIZE, &snap).kind, VW_EV_NONE);
}
END_TEST

START_TEST(test_typing)
{
    make_answers();
    snprintf(snap.answers.prompt, sizeof snap.answers.prompt, "Once");
    vw_ui u;
    vw_ui_init(&u, VW_MODE_INSPECT);
    vw_ui_key(&u, 'p', &snap);
    ck_assert_int_eq(u.editing, VW_EDIT_PROMPT);
    ck_assert_str_eq(u.edit, "Once"); /* starts from the current prompt */
    /* keys that are commands elsewhere are text here */
    const int keys[] = {' ', 'q', 0x4E2D /* 中 */, 'z'};
    for (size_t i = 0; i < 4; i++) ck_assert_int_eq(vw_ui_key(&u, keys[i], &snap).kind, VW_EV_NONE);
    ck_assert_str_eq(u.edit, "Once q\xE4\xB8\xAD" "z");
    vw_ui_key(&u, VW_KEY_LEFT, &snap);
    vw_ui_key(&u, VW_KEY_BACKSPACE, &snap); /* removes the whole 中 */
    ck_assert_str_eq(u.edit, "Once qz");
    vw_ui_key(&u, VW_KEY_HOME, &snap);
    vw_ui_key(&u, VW_KEY_DELETE, &snap);
    ck_assert_str_eq(u.edit, "nce qz");
    vw_ui_key(&u, VW_KEY_END, &snap);
    vw_ui_key(&u, '!', &snap);
    vw_event e = vw_ui_key(&u, VW_KEY_ENTER, &snap);
    ck_assert_int_eq(e.kind, VW_EV_PROMPT);
    ck_assert_str_eq(e.text, "nce qz!");
    ck_assert_int_eq(e.token, 0);
    ck_assert_int_eq(u.editing, VW_EDIT_NONE);
    /* Esc cancels; Ctrl-U clears */
    vw_ui_key(&u, ':', &snap);
    ck_assert_int_eq(u.editing, VW_EDIT_LUA);
    vw_ui_key(&u, 'x', &snap);
    vw_ui_key(&u, VW_KEY_CTRL('u'), &snap);
    ck_assert_str_eq(u.edit, "");
    ck_assert_int_eq(vw_ui_key(&u, VW_KEY_ESC, &snap).kind, VW_EV_NONE);
    ck_assert_int_eq(u.editing, VW_EDIT_NONE);
    /* the buffer never overflows */
    vw_ui_key(&u, 'p', &snap);
    for (int i = 0; i < 2000; i++) vw_ui_key(&u, 0x4E2D, &snap);
    ck_assert_uint_lt(strlen(u.edit), sizeof u.edit);
    ck_assert_uint_eq(strlen(u.edit) % 3, 1); /* "Once" and whole characters only */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("views_keys");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_keymap_unique_and_complete);
    tcase_add_test(tc, test_readme_documents_every_key);
    tcase_add_test(tc, test_navigation);
    tcase_add_test(tc, test_focus_zoom_help);
    tcase_add_test(tc, test_typing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
