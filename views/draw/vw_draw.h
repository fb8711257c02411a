/* vw_draw.h: the drawing layer: the only code that calls ncursesw.
 *
 * Called from the UI thread alone (ncurses is not thread-safe). It starts
 * and stops curses, reads keys as vw_keys codes, and copies a vw_grid to
 * the screen. Colours map each style (vw_grid.h) to a colour pair; without
 * colours (a terminal that has none, or NO_COLOR set) styles become bold,
 * dim, underline and reverse video. */
#ifndef VW_DRAW_H
#define VW_DRAW_H

#include <stddef.h>

#include "vw_grid.h"

typedef struct {
    int utf8;  /* the locale is UTF-8: braille, box drawing, wide characters */
    int color; /* colour pairs in use */
} vw_term;

/* Take the terminal (stdin/stdout). want_color = 0 forces monochrome.
 * Returns 0, or -1 with a message in err. */
int vw_draw_start(vw_term *t, int want_utf8, int want_color, char *err, size_t cap);
/* Give the terminal back (endwin). Safe to call when not started, twice,
 * and, as a last resort, from a fatal-signal handler. */
void vw_draw_stop(void);
int vw_draw_active(void);

/* The next key (vw_keys codes), or VW_KEY_NONE when none is waiting. */
int vw_draw_key(void);
/* The terminal's size now. */
void vw_draw_size(int *cols, int *rows);
/* Copy the grid to the screen and update the terminal. */
void vw_draw_grid(const vw_grid *g);
/* Repaint everything at the next update (Ctrl-L, after a resize). */
void vw_draw_invalidate(void);
/* The file descriptor keys arrive on (for poll). */
int vw_draw_input_fd(void);

#endif
