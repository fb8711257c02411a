/* vw_pane_answers.c: one prompt answered at each test depth, one row per
 * depth, marked right or wrong when the answer is known; the selected
 * token is highlighted and kept in view (rows wrap when there is room,
 * else they scroll). */
#include <stdio.h>
#include <string.h>

#include "vw_panes.h"
#include "vw_text.h"

#define MAX_LINES 64

/* Draw text[b, e) at (x, y); bytes inside [hb, he) get hl_style. */
static void text_hl(vw_grid *g, int x, int y, int max_w, const char *text, int b, int e, int hb, int he,
                    int style, int hl_style)
{
    int cols = 0;
    for (int i = b; i < e && cols < max_w;) {
        uint32_t cp;
        int n = vw_utf8_next(text + i, (size_t)(e - i), &cp);
        int st = i >= hb && i < he ? hl_style : style;
        int w = vw_grid_text(g, x + cols, y, max_w - cols, text + i, (size_t)n, st);
        char gl[5];
        if (w == 0 && vw_glyph(cp, g->utf8, gl) > 0) break; /* did not fit */
        cols += w;
        i += n;
    }
}

void vw_pane_answers(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u)
{
    if (r.w <= 0 || r.h <= 0) return;
    const vw_answers *a = &s->answers;
    char b[VW_PROMPT_BYTES + 160];
    int y = r.y;
    if (a->n_rows == 0) {
        vw_grid_str(g, r.x, y, r.w, "no prompt yet: press p, type a prompt, Enter", VW_ST_DIM);
        return;
    }
    snprintf(b, sizeof b, "prompt %s%s%s", a->prompt, a->expect[0] ? "   expect " : "", a->expect);
    vw_grid_text(g, r.x, y++, r.w, b, strlen(b), VW_ST_BOLD);
    if (!a->recurrent && y < r.y + r.h)
        vw_grid_str(g, r.x, y++, r.w, "(a plain model: every depth gives this answer)", VW_ST_DIM);
    int avail = r.y + r.h - y;
    if (avail <= 0) return;
    int per = avail / a->n_rows;
    if (per < 1) per = 1;
    /* with fewer lines than rows, keep the selected row in view */
    int first_row = 0;
    if (avail < a->n_rows && u->row >= avail) first_row = u->row - avail + 1;
    const int lab_w = 8;
    for (int ri = first_row; ri < a->n_rows && y < r.y + r.h; ri++) {
        const vw_answer *an = &a->rows[ri];
        int sel_row = ri == u->row;
        const char *mark = an->verdict == 1 ? (g->utf8 ? "\xE2\x9C\x93" : "+")
                           : an->verdict == 0 ? (g->utf8 ? "\xE2\x9C\x97" : "x") : " ";
        char lab[32];
        snprintf(lab, sizeof lab, "r=%-3d", an->depth);
        vw_grid_str(g, r.x, y, 6, lab, sel_row ? VW_ST_SELECT : VW_ST_TITLE);
        vw_grid_str(g, r.x + 6, y, 1, mark, an->verdict == 1 ? VW_ST_GOOD : VW_ST_BAD);
        int tx = r.x + lab_w, tw = r.w - lab_w;
        if (tw <= 0) {
            y += per;
            continue;
        }
        if (an->state == VW_ANS_QUEUED || (an->state == VW_ANS_RUNNING && an->n_tokens == 0)) {
            vw_grid_str(g, tx, y, tw, an->state == VW_ANS_QUEUED ? "queued" : "answering...", VW_ST_DIM);
            y += per;
            continue;
        }
        if (an->state == VW_ANS_ERROR) {
            vw_grid_str(g, tx, y, tw, an->text, VW_ST_BAD);
            y += per;
            continue;
        }
        int len = an->n_tokens > 0 ? an->off[an->n_tokens] : 0;
        int hb = -1, he = -1;
        if (sel_row && u->token >= 0 && u->token < an->n_tokens) {
            hb = an->off[u->token];
            he = an->off[u->token + 1];
        }
        vw_span lines[MAX_LINES];
        int nl = vw_text_wrap(an->text, (size_t)len, tw, g->utf8, 0, lines, MAX_LINES);
        if (nl > MAX_LINES) nl = MAX_LINES;
        int show = per < r.y + r.h - y ? per : r.y + r.h - y;
        int first = 0;
        if (hb >= 0) { /* the line holding the selected token stays visible */
            int at = 0;
            for (int i = 0; i < nl; i++)
                if (lines[i].begin <= hb) at = i;
            if (at >= show) first = at - show + 1;
        }
        if (first > 0) vw_grid_str(g, tx - 1, y, 1, g->utf8 ? "\xE2\x80\xA6" : "<", VW_ST_DIM);
        for (int i = first; i < nl && i < first + show; i++) {
            text_hl(g, tx, y + (i - first), tw, an->text, lines[i].begin, lines[i].end, hb, he, VW_ST_NORMAL,
                    VW_ST_SELECT);
        }
        if (nl > first + show) /* more text below: say so at the end of the last line shown */
            vw_grid_str(g, r.x + r.w - 1, y + show - 1, 1, g->utf8 ? "\xE2\x80\xA6" : ">", VW_ST_DIM);
        if (an->state == VW_ANS_RUNNING)
            vw_grid_str(g, r.x + r.w - 3, y, 3, "...", VW_ST_DIM);
        y += per;
    }
}
