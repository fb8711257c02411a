/* vw_screen.c: the whole screen: header, framed panes (or the zoomed one),
 * the footer with key hints or the line being typed, the help overlay, and
 * "terminal too small". */
#include <stdio.h>
#include <string.h>

#include "vw_format.h"
#include "vw_panes.h"
#include "vw_text.h"

static const char *mode_name(int mode)
{
    return mode == VW_MODE_INSPECT ? "inspect" : mode == VW_MODE_WATCH ? "watch" : "train";
}

void vw_pane_title(int pane, const vw_snapshot *s, const vw_ui *u, char *out, size_t cap)
{
    switch (pane) {
    case VW_PANE_LOSS: {
        if (s->metrics.total) snprintf(out, cap, "Loss  %lld steps", (long long)s->metrics.total);
        else snprintf(out, cap, "Loss");
        break;
    }
    case VW_PANE_STATUS: snprintf(out, cap, "Status"); break;
    case VW_PANE_CONV: {
        const vw_answers *a = &s->answers;
        if (u->row < a->n_rows && u->token < a->rows[u->row].n_tokens) {
            const vw_answer *an = &a->rows[u->row];
            char piece[VW_PIECE], q[VW_PIECE + 8];
            int b = an->off[u->token], e = an->off[u->token + 1], n = e - b;
            if (n > (int)sizeof piece - 1) n = (int)sizeof piece - 1;
            memcpy(piece, an->text + b, (size_t)n);
            piece[n] = '\0';
            vw_copy_text(piece, sizeof piece, piece);
            vw_quote_piece(piece, q, sizeof q);
            snprintf(out, cap, "Convergence  token %d %s of r=%d", u->token + 1, q, an->depth);
        } else {
            snprintf(out, cap, "Convergence");
        }
        break;
    }
    case VW_PANE_ANSWERS: snprintf(out, cap, "Answers at depths"); break;
    case VW_PANE_ACC: snprintf(out, cap, "Accuracy"); break;
    case VW_PANE_LOG: snprintf(out, cap, "Log"); break;
    default: snprintf(out, cap, "?");
    }
}

static void header(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_frame_info *fi)
{
    vw_grid_fill(g, r, " ", VW_ST_HEADER);
    char left[400], right[160], fps[32] = "";
    snprintf(left, sizeof left, " retrobench  %s  %s", mode_name(s->status.mode), s->status.source);
    if (fi && fi->fps > 0) snprintf(fps, sizeof fps, "%.0f fps  ", fi->fps);
    snprintf(right, sizeof right, "%s%s? keys  q quit ", fps,
             s->status.worker_busy ? "busy  " : "");
    int rw = vw_text_width(right, strlen(right), g->utf8);
    int lw = r.w - rw - 1;
    char cut[400];
    vw_text_ellipsize(left, lw, g->utf8, cut, sizeof cut);
    vw_grid_str(g, r.x, r.y, lw, cut, VW_ST_HEADER);
    vw_grid_str(g, r.x + r.w - rw, r.y, rw, right, VW_ST_HEADER);
}

static void footer(vw_grid *g, vw_rect r, const vw_ui *u)
{
    vw_grid_fill(g, r, " ", VW_ST_NORMAL);
    if (u->editing) {
        const char *label = u->editing == VW_EDIT_PROMPT ? "prompt> " : "lua> ";
        int x = r.x + vw_grid_str(g, r.x, r.y, r.w, label, VW_ST_KEY);
        int avail = r.x + r.w - x - 1;
        /* keep the cursor in view: show the tail that ends at the cursor when needed */
        int before = vw_text_width(u->edit, (size_t)u->edit_cur, g->utf8);
        int start = 0;
        while (before > avail && start < u->edit_cur) {
            uint32_t cp;
            int n = vw_utf8_next(u->edit + start, (size_t)(u->edit_cur - start), &cp);
            char gl[5];
            before -= vw_glyph(cp, g->utf8, gl);
            start += n;
        }
        int w = vw_grid_text(g, x, r.y, avail, u->edit + start, (size_t)(u->edit_cur - start), VW_ST_NORMAL);
        /* the cursor: the character under it in reverse video */
        const char *rest = u->edit + u->edit_cur;
        uint32_t cp = 0;
        int n = vw_utf8_next(rest, strlen(rest), &cp);
        int cw = vw_grid_text(g, x + w, r.y, 2, n ? rest : " ", n ? (size_t)n : 1, VW_ST_SELECT);
        vw_grid_text(g, x + w + cw, r.y, avail - w - cw, rest + n, strlen(rest + n), VW_ST_NORMAL);
        return;
    }
    static const char *hints[][2] = {{"Tab", "focus"}, {"z", "zoom"},     {"\xE2\x86\x90\xE2\x86\x92", "iteration"},
                                     {",.", "token"},  {"\xE2\x86\x91\xE2\x86\x93", "depth"}, {"p", "prompt"},
                                     {"g", "log"},     {"+-", "steps"},   {"Space", "pause"},
                                     {"s", "save"},    {"?", "keys"},     {"q", "quit"}};
    static const char *ascii_keys[] = {"Tab", "z", "<- ->", ",.", "up/dn", "p", "g", "+-", "Space", "s", "?", "q"};
    int x = r.x + 1;
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        const char *k = g->utf8 ? hints[i][0] : ascii_keys[i];
        int need = vw_text_width(k, strlen(k), g->utf8) + 1 + (int)strlen(hints[i][1]) + 2;
        if (x + need > r.x + r.w) break;
        x += vw_grid_str(g, x, r.y, r.w, k, VW_ST_KEY);
        x += vw_grid_str(g, x + 1, r.y, r.w, hints[i][1], VW_ST_DIM) + 3;
    }
}

static void help(vw_grid *g, const vw_layout *l)
{
    char lines[48][96];
    int n = vw_help_lines(lines, 48);
    int per_col, col_w = 0;
    for (int i = 0; i < n; i++) {
        int w = vw_text_width(lines[i], strlen(lines[i]), g->utf8);
        if (w > col_w) col_w = w;
    }
    /* two columns when one is too tall: frame, a space each side, 2 between */
    int two = 2 * col_w + 6 <= l->cols && n + 2 > l->rows - 2;
    per_col = two ? (n + 1) / 2 : n;
    int w = (two ? 2 * col_w + 2 : col_w) + 4, h = per_col + 2;
    if (w > l->cols) w = l->cols;
    if (h > l->rows) h = l->rows;
    vw_rect r = {(l->cols - w) / 2, (l->rows - h) / 2, w, h};
    vw_grid_box(g, r, "Keys (any key closes)", VW_ST_BORDER_FOCUS, VW_ST_TITLE);
    vw_rect in = vw_rect_inner(r);
    for (int i = 0; i < n; i++) {
        int c = two ? i / per_col : 0, row = two ? i % per_col : i;
        if (row >= in.h) continue; /* a short terminal shows what fits */
        int x = in.x + 1 + c * (col_w + 2);
        /* key label in KEY style, the rest normal */
        int kl = 10;
        vw_grid_text(g, x, in.y + row, kl, lines[i], (size_t)kl < strlen(lines[i]) ? (size_t)kl : strlen(lines[i]),
                     VW_ST_KEY);
        if ((int)strlen(lines[i]) > kl)
            vw_grid_str(g, x + kl, in.y + row, in.x + in.w - x - kl, lines[i] + kl, VW_ST_NORMAL);
    }
}

void vw_render(vw_grid *g, const vw_snapshot *s, const vw_ui *u, const vw_layout *l, const vw_frame_info *fi)
{
    vw_grid_clear(g);
    if (l->too_small) {
        char b[128];
        snprintf(b, sizeof b, "terminal too small: %d x %d; the workbench needs %d x %d", l->cols, l->rows,
                 VW_MIN_COLS, VW_MIN_ROWS);
        vw_span sp[8];
        int n = vw_text_wrap(b, strlen(b), g->w, g->utf8, 1, sp, 8);
        for (int i = 0; i < n && i < 8 && i < g->h; i++)
            vw_grid_text(g, 0, g->h / 2 - n / 2 + i, g->w, b + sp[i].begin, (size_t)(sp[i].end - sp[i].begin),
                         VW_ST_WARN);
        return;
    }
    header(g, l->header, s, fi);
    typedef void (*pane_fn)(vw_grid *, vw_rect, const vw_snapshot *, const vw_ui *);
    static const pane_fn fns[VW_PANE_COUNT] = {vw_pane_loss,    vw_pane_status,   vw_pane_conv,
                                               vw_pane_answers, vw_pane_accuracy, vw_pane_log};
    for (int p = 0; p < VW_PANE_COUNT; p++) {
        vw_rect r = l->pane[p];
        if (r.w <= 0 || r.h <= 0) continue;
        char title[256];
        vw_pane_title(p, s, u, title, sizeof title);
        int focus = p == u->focus;
        vw_grid_box(g, r, title, focus ? VW_ST_BORDER_FOCUS : VW_ST_BORDER, focus ? VW_ST_BORDER_FOCUS : VW_ST_TITLE);
        fns[p](g, vw_rect_inner(r), s, u);
    }
    footer(g, l->footer, u);
    if (u->help) help(g, l);
}
