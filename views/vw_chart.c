/* vw_chart.c: see vw_chart.h. */
#include "vw_chart.h"

#include <math.h>
#include <string.h>

#include "vw_text.h"

void vw_chart_init(vw_chart *c)
{
    memset(c, 0, sizeof *c);
    c->marker_x = NAN;
}

/* The x window: every series' x values (only placeable points count). */
static void fit_x(const vw_chart *c, vw_range *xr)
{
    vw_range_init(xr, c->xlog);
    for (int s = 0; s < c->n_series; s++) {
        const vw_series *se = &c->series[s];
        for (int i = 0; i < se->n; i++)
            if (vw_placeable(se->xs[i], c->xlog) && vw_placeable(se->ys[i], c->ylog))
                vw_range_add(xr, &se->xs[i], 1, 1);
    }
    /* an x axis is not padded: the first and last points sit at the edges */
    if (xr->valid && xr->hi > xr->lo) return;
    vw_range_finish(xr);
}

/* The y range over the points inside the x window. */
static void fit_y(const vw_chart *c, const vw_range *xr, vw_range *yr)
{
    vw_range_init(yr, c->ylog);
    for (int s = 0; s < c->n_series; s++) {
        const vw_series *se = &c->series[s];
        for (int i = 0; i < se->n; i++) {
            double fx = vw_range_pos(xr, se->xs[i]);
            if (isnan(fx) || fx < -1e-9 || fx > 1 + 1e-9) continue;
            vw_range_add(yr, &se->ys[i], 1, 1);
        }
    }
    vw_range_finish(yr);
}

void vw_chart_draw(vw_grid *g, vw_rect r, const vw_chart *c, vw_chart_info *info)
{
    vw_chart_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    if (r.w <= 0 || r.h <= 0) return;
    vw_range xr, yr;
    if (c->have_x) xr = c->xr;
    else fit_x(c, &xr);
    if (c->have_y) yr = c->yr;
    else fit_y(c, &xr, &yr);
    info->xr = xr;
    info->yr = yr;

    /* y labels: as wide as the widest tick label, at most 8 columns */
    vw_tick yt[16], xt[32];
    int labels = r.h >= 2 && r.w >= 12;
    int plot_h = labels ? r.h - 1 : r.h;
    int ny = labels ? vw_ticks(&yr, plot_h >= 4 ? plot_h / 2 + 1 : 2, yt, 16) : 0;
    int lw = 0;
    for (int i = 0; i < ny; i++) {
        int w = vw_text_width(yt[i].label, strlen(yt[i].label), g->utf8);
        if (w > lw) lw = w;
    }
    if (lw > 8) lw = 8;
    if (c->label_w > 0 && labels) lw = c->label_w;
    int px = r.x + (labels ? lw + 1 : 0), pw = r.w - (labels ? lw + 1 : 0);
    if (pw < 2) { /* too narrow for labels: the canvas alone */
        px = r.x, pw = r.w, labels = 0, plot_h = r.h, ny = 0;
    }
    vw_rect plot = {px, r.y, pw, plot_h};
    info->plot = plot;

    static vw_canvas cv; /* 77 KB: static (drawing happens on one thread) */
    vw_canvas_init(&cv, pw, plot_h);
    int placed = 0, hidden = 0;
    for (int s = 0; s < c->n_series; s++) {
        int h = 0;
        placed += vw_canvas_series(&cv, c->series[s].xs, c->series[s].ys, c->series[s].n, &xr, &yr,
                                   c->series[s].style, c->series[s].lines, &h);
        hidden += h;
    }
    info->placed = placed;
    info->hidden = hidden;

    /* marker column under the dots */
    double mf = vw_range_pos(&xr, c->marker_x);
    if (!isnan(mf) && mf >= 0 && mf <= 1) {
        int mx = px + (int)lround(mf * (2 * pw - 1)) / 2;
        const char *bar = g->utf8 ? "\xE2\x94\x82" : "|";
        for (int y = 0; y < plot_h; y++) vw_grid_str(g, mx, r.y + y, 1, bar, VW_ST_DIM);
    }
    vw_canvas_blit(&cv, g, px, r.y);

    if (placed == 0) {
        const char *msg = c->empty ? c->empty : "no data";
        int w = vw_text_width(msg, strlen(msg), g->utf8);
        int x = px + (pw - w) / 2;
        if (x < r.x) x = r.x;
        vw_grid_str(g, x, r.y + (plot_h - 1) / 2, r.x + r.w - x, msg, VW_ST_DIM);
    }
    if (!labels) return;

    /* y labels, right-aligned, at their rows; a row taken keeps its first label */
    int used_row[256] = {0};
    for (int i = 0; i < ny; i++) {
        double f = vw_range_pos(&yr, yt[i].v);
        if (isnan(f)) continue;
        int row = (int)lround((1 - f) * (plot_h - 1));
        if (row < 0 || row >= plot_h || row >= 256 || used_row[row]) continue;
        used_row[row] = 1;
        char lab[32];
        int w = vw_text_ellipsize(yt[i].label, lw, g->utf8, lab, sizeof lab);
        vw_grid_str(g, r.x + lw - w, r.y + row, w, lab, VW_ST_AXIS);
    }
    /* x labels on the bottom row, centred on their column, never overlapping */
    int nx = vw_ticks(&xr, pw / 6 > 1 ? pw / 6 : 2, xt, 32);
    int next_free = r.x;
    for (int i = 0; i < nx; i++) {
        if (c->x_integer && fabs(xt[i].v - round(xt[i].v)) > 1e-9) continue;
        double f = vw_range_pos(&xr, xt[i].v);
        if (isnan(f)) continue;
        int col = px + (int)lround(f * (2 * pw - 1)) / 2;
        int w = vw_text_width(xt[i].label, strlen(xt[i].label), g->utf8);
        int x = col - w / 2;
        if (x + w > r.x + r.w) x = r.x + r.w - w;
        if (x < next_free) continue;
        vw_grid_str(g, x, r.y + plot_h, w, xt[i].label, VW_ST_AXIS);
        next_free = x + w + 1;
    }
}
