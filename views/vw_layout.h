/* vw_layout.h: where each pane goes for a terminal size, a mode and a zoom.
 *
 * The screen is a header row, bands of panes, and a footer row (key hints
 * or the line being typed). Each mode stacks three bands; a band holds one
 * or two panes side by side. Bands get their minimum height first and share
 * the rest by weight, so 80 x 24 (the minimum) and anything larger give
 * every shown pane a frame and at least one row inside it. Below 80 x 24
 * the layout says the terminal is too small instead. A zoomed pane takes
 * every row between header and footer. */
#ifndef VW_LAYOUT_H
#define VW_LAYOUT_H

#include "vw_grid.h"

#define VW_MIN_COLS 80
#define VW_MIN_ROWS 24

typedef enum {
    VW_PANE_LOSS = 0,
    VW_PANE_STATUS,
    VW_PANE_CONV,
    VW_PANE_ANSWERS,
    VW_PANE_ACC,
    VW_PANE_LOG,
    VW_PANE_COUNT
} vw_pane;

typedef enum {
    VW_MODE_INSPECT = 0, /* tui -m MODEL: no training */
    VW_MODE_WATCH,       /* tui --watch RUN_DIR */
    VW_MODE_TRAIN        /* tui EXP.lua (with the runner) */
} vw_mode;

typedef struct {
    int cols, rows;
    int too_small;               /* below VW_MIN_COLS x VW_MIN_ROWS: nothing else is set */
    vw_rect header, footer;
    vw_rect pane[VW_PANE_COUNT]; /* w = h = 0: not shown */
} vw_layout;

/* zoom: a pane to show alone, or -1. A zoom on a pane the mode does not
 * show is ignored. */
void vw_layout_compute(int cols, int rows, vw_mode mode, int zoom, vw_layout *out);

/* Bit i set: pane i is part of this mode's screen. */
unsigned vw_mode_panes(vw_mode mode);
/* The next (dir > 0) or previous pane the mode shows, after `from`. */
int vw_focus_step(vw_mode mode, int from, int dir);
const char *vw_pane_name(int pane);

#endif
