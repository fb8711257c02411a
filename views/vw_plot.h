/* vw_plot.h: series to terminal cells: axis ranges (linear or log), tick
 * labels, and a dot canvas drawn as braille (2 x 4 dots per cell, the
 * U+2800 block) or, in ASCII, as one character per cell chosen from where
 * its dots lie.
 *
 * Values that cannot be placed are skipped, never drawn at an edge: NaN,
 * infinities, and on a log axis zeros and negatives (counted, so the pane
 * can say how many were hidden). A line is broken where a point is skipped. */
#ifndef VW_PLOT_H
#define VW_PLOT_H

#include <stdint.h>

#include "vw_grid.h"

/* An axis range, in data units. */
typedef struct {
    double lo, hi;
    int log;   /* base-10 log axis: lo > 0 */
    int valid; /* at least one placeable value was seen */
} vw_range;

void vw_range_init(vw_range *r, int log);
/* Widen r to take the placeable values among v[0..n) (stride in doubles
 * between values, >= 1). Returns how many were skipped as not placeable. */
int vw_range_add(vw_range *r, const double *v, int n, int stride);
/* Finish a range: equal ends are spread apart (a linear axis by 1 around
 * zero or 10% of the value, a log axis by a factor of 10^0.5 each way), a
 * linear axis gets 4% of room at each end (not below 0 when every value is
 * >= 0). Invalid ranges become [0, 1] (linear) or [1, 10] (log). */
void vw_range_finish(vw_range *r);
/* Where v falls in r as a fraction (0 at lo, 1 at hi); NaN when v cannot be
 * placed on this axis. */
double vw_range_pos(const vw_range *r, double v);
/* Whether v can be placed on an axis of this kind. */
int vw_placeable(double v, int log);

typedef struct {
    double v;
    char label[16];
} vw_tick;

/* Up to max_ticks ticks inside r at round values (1, 2, 5 x 10^k on a
 * linear axis; powers of ten, then 2 and 5 times them, on a log axis),
 * labelled with vw_fmt_num. Returns the count (<= cap). */
int vw_ticks(const vw_range *r, int max_ticks, vw_tick *out, int cap);

/* A dot canvas: w x h cells, 2w x 4h dots, (0, 0) at the top left. */
#define VW_CANVAS_MAX_W 320
#define VW_CANVAS_MAX_H 120
typedef struct {
    int w, h;
    uint8_t bits[VW_CANVAS_MAX_H][VW_CANVAS_MAX_W];  /* braille dot bits per cell */
    uint8_t style[VW_CANVAS_MAX_H][VW_CANVAS_MAX_W]; /* the last series that drew there */
} vw_canvas;

/* Sizes are clamped to 0 .. VW_CANVAS_MAX_*. */
void vw_canvas_init(vw_canvas *c, int w, int h);
void vw_canvas_dot(vw_canvas *c, int x, int y, int style);
void vw_canvas_line(vw_canvas *c, int x0, int y0, int x1, int y1, int style);
/* Plot points (xs[i], ys[i]) on the axes xr, yr: a dot per point and, when
 * lines is set, a line between consecutive placeable points. Returns the
 * number of points placed; *hidden (may be NULL) gets how many were not. */
int vw_canvas_series(vw_canvas *c, const double *xs, const double *ys, int n, const vw_range *xr,
                     const vw_range *yr, int style, int lines, int *hidden);
/* The glyph of cell (cx, cy): a braille character (U+2800 + bits) or an
 * ASCII stand-in; a cell without dots is a space. Returns its style. */
int vw_canvas_glyph(const vw_canvas *c, int cx, int cy, int utf8, char out[5]);
/* Copy the canvas into the grid at (x, y); empty cells are left alone. */
void vw_canvas_blit(const vw_canvas *c, vw_grid *g, int x, int y);

#endif
