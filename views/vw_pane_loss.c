/* vw_pane_loss.c: training loss and held-out loss per depth over steps
 * (log or linear axis, whole run or the last N steps), with the rbar
 * schedule and the sampled (n, k) under it when the pane is tall enough. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vw_chart.h"
#include "vw_format.h"
#include "vw_panes.h"

#define MAXP (VW_RECENT + VW_HISTORY)

void vw_pane_loss(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u)
{
    if (r.w <= 0 || r.h <= 0) return;
    const vw_metric *last = vw_metrics_last(&s->metrics);
    if (!last) {
        const char *msg = s->status.mode == VW_MODE_INSPECT ? "no training in inspect mode"
                                                             : "waiting for the first step...";
        vw_grid_str(g, r.x, r.y + r.h / 2, r.w, msg, VW_ST_DIM);
        return;
    }
    double x_from = u->window > 0 ? last->x - u->window + 1 : -INFINITY;
    static const vw_metric *pts[MAXP];
    static double xs[MAXP], loss[MAXP], rbar[MAXP], nk[MAXP];
    int n = vw_metrics_collect(&s->metrics, x_from, pts, MAXP);
    for (int i = 0; i < n; i++) {
        xs[i] = pts[i]->x;
        loss[i] = pts[i]->loss;
        rbar[i] = pts[i]->rbar;
        nk[i] = pts[i]->n + pts[i]->k;
    }
    /* validation per depth */
    static double vx[VW_MAX_DEPTHS][VW_VALS], vy[VW_MAX_DEPTHS][VW_VALS];
    int vn[VW_MAX_DEPTHS] = {0};
    for (int i = 0; i < s->n_vals; i++) {
        if (s->vals[i].x < x_from) continue;
        for (int d = 0; d < s->n_val_depths; d++) {
            if (isnan(s->vals[i].loss[d])) continue;
            vx[d][vn[d]] = s->vals[i].x;
            vy[d][vn[d]++] = s->vals[i].loss[d];
        }
    }
    vw_series se[1 + VW_MAX_DEPTHS];
    int ns = 0;
    se[ns++] = (vw_series){xs, loss, n, VW_ST_S0, 1};
    for (int d = 0; d < s->n_val_depths; d++)
        if (vn[d]) se[ns++] = (vw_series){vx[d], vy[d], vn[d], VW_ST_SERIES(1 + d), 1};

    /* legend */
    int x = r.x, end = r.x + r.w;
    x += vw_grid_str(g, x, r.y, end - x, "train", VW_ST_S0);
    for (int d = 0; d < s->n_val_depths && x < end; d++)
        x += vw_grid_printf(g, x, r.y, end - x, VW_ST_SERIES(1 + d), " val r=%d", s->val_depth[d]);
    char right[96], win[24] = "";
    if (u->window) snprintf(win, sizeof win, "  last %d", u->window);
    snprintf(right, sizeof right, "%s%s  rbar %d  n,k %d,%d", u->ylog ? "log" : "linear", win,
             last->rbar, last->n, last->k);
    int rw = (int)strlen(right);
    if (x + 2 + rw <= end) vw_grid_str(g, end - rw, r.y, rw, right, VW_ST_DIM);

    int strip = r.h >= 12 ? (r.h >= 24 ? r.h / 4 : 4) : 0;
    vw_rect cr = {r.x, r.y + 1, r.w, r.h - 1 - strip};
    vw_chart c;
    vw_chart_init(&c);
    c.series = se;
    c.n_series = ns;
    c.ylog = u->ylog;
    c.x_integer = 1;
    c.label_w = 6; /* the same as the strip's, so the x axes line up */
    if (u->window > 0) {
        c.have_x = 1;
        c.xr = (vw_range){x_from < 1 ? 1 : x_from, last->x, 0, 1};
        if (c.xr.hi <= c.xr.lo) c.xr.hi = c.xr.lo + 1;
    }
    vw_chart_info info;
    vw_chart_draw(g, cr, &c, &info);
    if (info.hidden > 0 && u->ylog) {
        char note[48];
        snprintf(note, sizeof note, "%d not > 0 hidden", info.hidden);
        int w = (int)strlen(note);
        if (cr.w > w + 10) vw_grid_str(g, cr.x + cr.w - w, cr.y, w, note, VW_ST_WARN);
    }
    if (!strip) return;
    /* rbar (line) and sampled n + k (dots) on the same x axis */
    vw_rect sr = {r.x, r.y + r.h - strip, r.w, strip};
    int sx = sr.x;
    sx += vw_grid_str(g, sx, sr.y, sr.w, "rbar", VW_ST_S5);
    vw_grid_str(g, sx, sr.y, sr.x + sr.w - sx, "  sampled n+k", VW_ST_S6);
    vw_series ss[2] = {{xs, nk, n, VW_ST_S6, 0}, {xs, rbar, n, VW_ST_S5, 1}};
    vw_chart c2;
    vw_chart_init(&c2);
    c2.series = ss;
    c2.n_series = 2;
    c2.x_integer = 1;
    c2.label_w = 6;
    c2.have_x = 1;
    c2.xr = info.xr;
    vw_chart_draw(g, (vw_rect){sr.x, sr.y + 1, sr.w, sr.h - 1}, &c2, NULL);
}
