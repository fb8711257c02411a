/* vw_panes.h: the whole screen drawn into a grid from a snapshot and the
 * UI state, and each pane on its own. Pure: no curses, no engine. */
#ifndef VW_PANES_H
#define VW_PANES_H

#include "vw_grid.h"
#include "vw_keys.h"
#include "vw_layout.h"
#include "vw_snapshot.h"

typedef struct {
    double fps;       /* frames drawn per second, measured (0: not yet) */
    int color;        /* the terminal shows colours (for the help's legend) */
} vw_frame_info;

/* Everything: header, panes (or the zoomed one), footer, the help when
 * open; "terminal too small" below 80 x 24. The grid must be l->cols x
 * l->rows. */
void vw_render(vw_grid *g, const vw_snapshot *s, const vw_ui *u, const vw_layout *l,
               const vw_frame_info *fi);

/* One pane inside its frame (r is the inside). */
void vw_pane_loss(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u);
void vw_pane_status(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u);
void vw_pane_conv(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u);
void vw_pane_answers(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u);
void vw_pane_accuracy(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u);
void vw_pane_log(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u);

/* The title a pane's frame shows. */
void vw_pane_title(int pane, const vw_snapshot *s, const vw_ui *u, char *out, size_t cap);

/* Shared by the panes: a token's text made printable and quoted. */
void vw_quote_piece(const char *piece, char *out, size_t cap);

#endif
