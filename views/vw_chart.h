/* vw_chart.h: a line chart with labelled axes in a rectangle of a grid:
 * y tick labels on the left, x tick labels on the bottom row, the series
 * as braille (or ASCII) lines in the rest. Used by the loss, convergence
 * and accuracy panes. */
#ifndef VW_CHART_H
#define VW_CHART_H

#include "vw_grid.h"
#include "vw_plot.h"

typedef struct {
    const double *xs, *ys; /* n points */
    int n;
    int style;             /* VW_ST_S0.. */
    int lines;             /* join consecutive points */
} vw_series;

typedef struct {
    const vw_series *series;
    int n_series;
    int ylog;           /* log y axis (zeros and negatives are hidden, and counted) */
    int xlog;           /* log x axis (depths, FLOPs) */
    int have_x;         /* use xr as the x window instead of fitting the data */
    vw_range xr;
    int have_y;         /* use yr instead of fitting the visible points */
    vw_range yr;
    int x_integer;      /* x ticks at whole numbers only (steps, iterations) */
    int label_w;        /* columns for y labels (0: the widest label's, at most 8) */
    double marker_x;    /* a vertical marker at this x (NaN: none) */
    const char *empty;  /* shown when nothing can be drawn ("no data" when NULL) */
} vw_chart;

typedef struct {
    int placed, hidden;  /* points drawn; points not placeable on the axes */
    vw_rect plot;        /* where the canvas went */
    vw_range xr, yr;     /* the axes used */
} vw_chart_info;

void vw_chart_init(vw_chart *c);
void vw_chart_draw(vw_grid *g, vw_rect r, const vw_chart *c, vw_chart_info *info);

#endif
