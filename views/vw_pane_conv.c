/* vw_pane_conv.c: the latent state converging for the selected token: the
 * relative change of the state and the KL divergence to the previous
 * iteration, over iterations, on a log axis; beside it the selected
 * iteration's numbers and its top tokens with probabilities. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vw_chart.h"
#include "vw_format.h"
#include "vw_panes.h"
#include "vw_text.h"

void vw_quote_piece(const char *piece, char *out, size_t cap)
{
    char tmp[VW_PIECE * 2 + 4];
    snprintf(tmp, sizeof tmp, "'%s'", piece);
    vw_copy_text(out, cap, tmp);
}

static int trace_matches(const vw_snapshot *s, const vw_ui *u)
{
    const vw_trace *t = &s->trace;
    return t->answers_id == s->answers.id && t->row == u->row && t->token == u->token;
}

/* Right-hand detail: iteration, numbers, top tokens with bars. */
static void detail(vw_grid *g, vw_rect r, const vw_trace *t, int it, int ctx_depth)
{
    char b[160], f1[24], f2[24];
    int y = r.y;
    snprintf(b, sizeof b, "iter %d/%d", it + 1, t->iters);
    int x = r.x + vw_grid_str(g, r.x, y, r.w, b, VW_ST_BOLD);
    if (ctx_depth > 0) vw_grid_printf(g, x, y, r.x + r.w - x, VW_ST_DIM, "  answer at r=%d", ctx_depth);
    if (++y >= r.y + r.h) return;
    snprintf(b, sizeof b, "rel %s  KL %s", vw_fmt_num(t->rel[it], f1, sizeof f1),
             isnan(t->kl[it]) ? "-" : vw_fmt_num(t->kl[it], f2, sizeof f2));
    vw_grid_str(g, r.x, y, r.w, b, VW_ST_NORMAL);
    if (++y >= r.y + r.h) return;
    const vw_tok *tk = t->have_topk[it] ? t->topk[it] : &t->top1[it];
    int n = t->have_topk[it] ? VW_TOPK : 1;
    for (int i = 0; i < n && y < r.y + r.h; i++, y++) {
        if (tk[i].id < 0) break;
        char q[VW_PIECE + 8], p[16];
        vw_quote_piece(tk[i].text, q, sizeof q);
        snprintf(p, sizeof p, "%5.1f%%", tk[i].p * 100);
        int qw = 12, bw = r.w - qw - 8;
        int xx = r.x;
        char qq[64];
        vw_text_ellipsize(q, qw, g->utf8, qq, sizeof qq);
        vw_grid_str(g, xx, y, qw, qq, i == 0 ? VW_ST_BOLD : VW_ST_NORMAL);
        xx += qw + 1;
        vw_grid_str(g, xx, y, 7, p, VW_ST_NORMAL);
        xx += 7;
        if (bw > 2) vw_grid_bar(g, xx, y, bw, tk[i].p, VW_ST_SERIES(i));
    }
    if (!t->have_topk[it] && y < r.y + r.h) vw_grid_str(g, r.x, y, r.w, "(more tokens on the way)", VW_ST_DIM);
}

/* Narrow panes: the iteration and its numbers on one line, the top tokens
 * on the next. */
static void compact(vw_grid *g, vw_rect r, const vw_trace *t, int it, int ctx_depth)
{
    char b[256], f1[24], f2[24];
    snprintf(b, sizeof b, "iter %d/%d  rel %s  KL %s", it + 1, t->iters, vw_fmt_num(t->rel[it], f1, sizeof f1),
             isnan(t->kl[it]) ? "-" : vw_fmt_num(t->kl[it], f2, sizeof f2));
    int x = r.x + vw_grid_str(g, r.x, r.y, r.w, b, VW_ST_BOLD);
    if (ctx_depth > 0) vw_grid_printf(g, x, r.y, r.x + r.w - x, VW_ST_DIM, "  (r=%d)", ctx_depth);
    if (r.h < 2) return;
    const vw_tok *tk = t->have_topk[it] ? t->topk[it] : &t->top1[it];
    int n = t->have_topk[it] ? VW_TOPK : 1;
    x = r.x;
    for (int i = 0; i < n && x < r.x + r.w; i++) {
        if (tk[i].id < 0) break;
        char q[VW_PIECE + 8], item[VW_PIECE + 24];
        vw_quote_piece(tk[i].text, q, sizeof q);
        snprintf(item, sizeof item, "%s%s %.0f%%", i ? "  " : "", q, tk[i].p * 100);
        int w = vw_text_width(item, strlen(item), g->utf8);
        if (x + w > r.x + r.w) break;
        x += vw_grid_str(g, x, r.y + 1, w, item, i == 0 ? VW_ST_BOLD : VW_ST_NORMAL);
    }
}

void vw_pane_conv(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u)
{
    if (r.w <= 0 || r.h <= 0) return;
    const vw_trace *t = &s->trace;
    if (s->answers.n_rows == 0) {
        vw_grid_str(g, r.x, r.y, r.w, "no answers yet: press p to type a prompt", VW_ST_DIM);
        return;
    }
    if (t->state == VW_TRACE_UNAVAILABLE) {
        vw_grid_str(g, r.x, r.y, r.w, t->note[0] ? t->note : "no trace", VW_ST_DIM);
        return;
    }
    if (t->state != VW_TRACE_DONE || !trace_matches(s, u)) {
        vw_grid_printf(g, r.x, r.y, r.w, VW_ST_DIM, "tracing token %d of the r=%d answer...", u->token + 1,
                       u->row < s->answers.n_rows ? s->answers.rows[u->row].depth : 0);
        return;
    }
    int it = u->iter < t->iters ? u->iter : t->iters - 1;
    if (it < 0) it = 0;
    int ctx = u->row < s->answers.n_rows ? s->answers.rows[u->row].depth : 0;
    /* wide: chart left, detail right; narrow: two summary lines above the chart */
    int dw = r.w >= 70 ? 34 : r.w >= 60 ? 26 : 0;
    vw_rect cr = {r.x, r.y, r.w - (dw ? dw + 1 : 0), r.h};
    if (!dw) {
        compact(g, (vw_rect){r.x, r.y, r.w, 2}, t, it, ctx);
        cr.y += 2;
        cr.h -= 2;
    }
    static double xs[VW_MAX_ITERS], rel[VW_MAX_ITERS], kl[VW_MAX_ITERS];
    for (int i = 0; i < t->iters; i++) {
        xs[i] = i + 1;
        rel[i] = t->rel[i];
        kl[i] = t->kl[i];
    }
    if (cr.h < 2) return;
    /* legend, then the chart */
    int x = cr.x;
    x += vw_grid_str(g, x, cr.y, cr.w, "rel change", VW_ST_S0);
    x += vw_grid_str(g, x, cr.y, cr.x + cr.w - x, "  KL(p_i||p_i-1)", VW_ST_S1);
    vw_series se[2] = {{xs, rel, t->iters, VW_ST_S0, 1}, {xs, kl, t->iters, VW_ST_S1, 1}};
    vw_chart c;
    vw_chart_init(&c);
    c.series = se;
    c.n_series = 2;
    c.ylog = 1;
    c.x_integer = 1;
    c.marker_x = it + 1;
    c.have_x = 1;
    c.xr = (vw_range){1, t->iters > 1 ? t->iters : 2, 0, 1};
    c.empty = "no finite values";
    vw_chart_draw(g, (vw_rect){cr.x, cr.y + 1, cr.w, cr.h - 1}, &c, NULL);
    if (dw) detail(g, (vw_rect){r.x + r.w - dw, r.y, dw, r.h}, t, it, ctx);
}
