/* vw_grid.h: a screen as a grid of styled cells.
 *
 * Panes draw into a grid with pure functions; the drawing layer
 * (views/draw) copies the grid to the terminal in one pass. So everything a
 * pane shows can be checked in a test without a terminal, and curses is
 * called from one place only.
 *
 * A cell holds one glyph (UTF-8, with any combining marks) of width 1 or 2;
 * the cell right of a wide glyph has w = 0 and is skipped when drawing.
 * Writes are clipped to the grid and to the width asked for; a wide glyph
 * that would straddle the limit is replaced by a space. */
#ifndef VW_GRID_H
#define VW_GRID_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int x, y, w, h;
} vw_rect;

/* Styles name a role, not a colour; the drawing layer maps each to colours
 * or, without colour, to bold / reverse / dim / underline. */
enum {
    VW_ST_NORMAL = 0,
    VW_ST_DIM,
    VW_ST_BOLD,
    VW_ST_TITLE,         /* pane titles */
    VW_ST_BORDER,
    VW_ST_BORDER_FOCUS,  /* the focused pane's frame */
    VW_ST_SELECT,        /* the selected token / row (reverse video) */
    VW_ST_GOOD,          /* right answers */
    VW_ST_BAD,           /* wrong answers, errors */
    VW_ST_WARN,
    VW_ST_HEADER,        /* the top bar */
    VW_ST_KEY,           /* key names in hints and help */
    VW_ST_AXIS,          /* axis labels */
    VW_ST_S0,            /* plot series 0..7 */
    VW_ST_S1,
    VW_ST_S2,
    VW_ST_S3,
    VW_ST_S4,
    VW_ST_S5,
    VW_ST_S6,
    VW_ST_S7,
    VW_ST_COUNT
};
#define VW_ST_SERIES(i) (VW_ST_S0 + ((i) & 7))

typedef struct {
    char g[12];     /* glyph, NUL-terminated */
    uint8_t w;      /* columns: 1 or 2; 0 = right half of the wide glyph on the left */
    uint8_t style;
} vw_cell;

typedef struct {
    int w, h;
    int utf8;       /* UTF-8 glyphs allowed (else ASCII only) */
    vw_cell *cells; /* [h][w] */
} vw_grid;

/* Allocate a w x h grid of blanks; returns 0, or -1 when out of memory. */
int vw_grid_init(vw_grid *g, int w, int h, int utf8);
void vw_grid_free(vw_grid *g);
void vw_grid_clear(vw_grid *g);
vw_cell *vw_grid_at(vw_grid *g, int x, int y); /* NULL outside */

/* Write len bytes of UTF-8 text at (x, y), at most max_w columns (and not
 * past the right edge). Returns the columns written. */
int vw_grid_text(vw_grid *g, int x, int y, int max_w, const char *s, size_t len, int style);
int vw_grid_str(vw_grid *g, int x, int y, int max_w, const char *s, int style);
int vw_grid_printf(vw_grid *g, int x, int y, int max_w, int style, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Fill a rectangle with one glyph of width 1. */
void vw_grid_fill(vw_grid *g, vw_rect r, const char *glyph, int style);
/* Set the style of every cell in r (keeps the glyphs). */
void vw_grid_restyle(vw_grid *g, vw_rect r, int style);
/* A frame around r (box-drawing characters, or + - | in ASCII) with a
 * title in its top edge; the inside is cleared. */
void vw_grid_box(vw_grid *g, vw_rect r, const char *title, int style, int title_style);
/* A horizontal bar of `width` columns filled to frac (eighth-blocks in
 * UTF-8, '#' in ASCII). */
void vw_grid_bar(vw_grid *g, int x, int y, int width, double frac, int style);

/* The text of row y (glyphs only) into out; returns its length in bytes. */
size_t vw_grid_row(const vw_grid *g, int y, char *out, size_t cap);

/* The inside of a framed pane. */
vw_rect vw_rect_inner(vw_rect r);

#endif
