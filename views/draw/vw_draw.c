/* vw_draw.c: see vw_draw.h. */
#define NCURSES_WIDECHAR 1
#include "vw_draw.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "vw_keys.h"
#include "vw_text.h"

static int active;
static attr_t style_attr[VW_ST_COUNT];
static short style_pair[VW_ST_COUNT];

/* Colour and monochrome looks of each style. */
static void setup_styles(int color)
{
    static const struct {
        short fg, bg;
        attr_t attr, mono;
    } look[VW_ST_COUNT] = {
        [VW_ST_NORMAL] = {-1, -1, 0, 0},
        [VW_ST_DIM] = {-1, -1, A_DIM, A_DIM},
        [VW_ST_BOLD] = {-1, -1, A_BOLD, A_BOLD},
        [VW_ST_TITLE] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
        [VW_ST_BORDER] = {COLOR_BLUE, -1, 0, 0},
        [VW_ST_BORDER_FOCUS] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD},
        [VW_ST_SELECT] = {-1, -1, A_REVERSE, A_REVERSE},
        [VW_ST_GOOD] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
        [VW_ST_BAD] = {COLOR_RED, -1, A_BOLD, A_BOLD | A_UNDERLINE},
        [VW_ST_WARN] = {COLOR_YELLOW, -1, 0, A_BOLD},
        [VW_ST_HEADER] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
        [VW_ST_KEY] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
        [VW_ST_AXIS] = {-1, -1, A_DIM, A_DIM},
        [VW_ST_S0] = {COLOR_CYAN, -1, 0, A_BOLD},
        [VW_ST_S1] = {COLOR_YELLOW, -1, 0, 0},
        [VW_ST_S2] = {COLOR_GREEN, -1, 0, 0},
        [VW_ST_S3] = {COLOR_MAGENTA, -1, 0, 0},
        [VW_ST_S4] = {COLOR_RED, -1, 0, 0},
        [VW_ST_S5] = {COLOR_BLUE, -1, A_BOLD, A_BOLD},
        [VW_ST_S6] = {COLOR_WHITE, -1, 0, A_DIM},
        [VW_ST_S7] = {COLOR_GREEN, -1, A_BOLD, 0},
    };
    for (int s = 0; s < VW_ST_COUNT; s++) {
        style_pair[s] = 0;
        style_attr[s] = color ? look[s].attr : look[s].mono;
        if (color && (look[s].fg >= 0 || look[s].bg >= 0)) {
            init_pair((short)(s + 1), look[s].fg, look[s].bg);
            style_pair[s] = (short)(s + 1);
        }
    }
}

int vw_draw_start(vw_term *t, int want_utf8, int want_color, char *err, size_t cap)
{
    if (active) return 0;
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(err, cap, "the workbench needs a terminal on stdin and stdout");
        return -1;
    }
    const char *term = getenv("TERM");
    SCREEN *sc = newterm(NULL, stdout, stdin);
    if (!sc) {
        snprintf(err, cap, "cannot start curses on TERM=%s; set TERM to a terminal type this system knows "
                 "(e.g. xterm-256color)", term ? term : "(unset)");
        return -1;
    }
    set_term(sc);
    active = 1;
    cbreak(); /* Ctrl-C still raises SIGINT, which the workbench handles */
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    leaveok(stdscr, TRUE);
    t->utf8 = want_utf8;
    t->color = want_color && has_colors();
    if (t->color) {
        start_color();
        use_default_colors();
    }
    setup_styles(t->color);
    return 0;
}

void vw_draw_stop(void)
{
    if (!active) return;
    active = 0;
    curs_set(1);
    endwin();
    fflush(stdout);
}

int vw_draw_active(void) { return active; }

int vw_draw_input_fd(void) { return STDIN_FILENO; }

int vw_draw_key(void)
{
    wint_t ch;
    int r = wget_wch(stdscr, &ch);
    if (r == ERR) return VW_KEY_NONE;
    if (r == KEY_CODE_YES) {
        switch (ch) {
        case KEY_UP: return VW_KEY_UP;
        case KEY_DOWN: return VW_KEY_DOWN;
        case KEY_LEFT: return VW_KEY_LEFT;
        case KEY_RIGHT: return VW_KEY_RIGHT;
        case KEY_HOME: return VW_KEY_HOME;
        case KEY_END: return VW_KEY_END;
        case KEY_PPAGE: return VW_KEY_PGUP;
        case KEY_NPAGE: return VW_KEY_PGDN;
        case KEY_BTAB: return VW_KEY_BTAB;
        case KEY_BACKSPACE: return VW_KEY_BACKSPACE;
        case KEY_DC: return VW_KEY_DELETE;
        case KEY_ENTER: return VW_KEY_ENTER;
        case KEY_F(1): return VW_KEY_F1;
        case KEY_RESIZE: return VW_KEY_RESIZE;
        default: return VW_KEY_BASE; /* a key with no binding */
        }
    }
    if (ch == 27) return VW_KEY_ESC;
    if (ch == '\r' || ch == '\n') return VW_KEY_ENTER;
    if (ch == 127 || ch == 8) return VW_KEY_BACKSPACE;
    return (int)ch;
}

void vw_draw_size(int *cols, int *rows)
{
    *cols = COLS;
    *rows = LINES;
}

void vw_draw_invalidate(void) { clearok(curscr, TRUE); }

void vw_draw_grid(const vw_grid *g)
{
    wchar_t run[1024];
    for (int y = 0; y < g->h && y < LINES; y++) {
        int x = 0;
        while (x < g->w && x < COLS) {
            const vw_cell *c0 = &g->cells[(size_t)y * g->w + x];
            if (c0->w == 0) { /* the right half of a wide glyph drawn before */
                x++;
                continue;
            }
            int style = c0->style, start = x, n = 0;
            /* one run of cells in the same style (a wide glyph's right half goes with it) */
            while (x < g->w && x < COLS && n < 1000) {
                const vw_cell *c = &g->cells[(size_t)y * g->w + x];
                if (c->w != 0 && c->style != style) break;
                if (c->w != 0) {
                    const char *p = c->g;
                    size_t len = strlen(p);
                    for (size_t i = 0; i < len && n < 1020;) {
                        uint32_t cp;
                        i += (size_t)vw_utf8_next(p + i, len - i, &cp);
                        run[n++] = (wchar_t)cp;
                    }
                }
                x++;
            }
            run[n] = 0;
            attr_t a = style_attr[style < VW_ST_COUNT ? style : 0];
            attr_set(a, style_pair[style < VW_ST_COUNT ? style : 0], NULL);
            mvaddnwstr(y, start, run, n); /* the last cell of the screen reports ERR; it is drawn */
        }
    }
    attr_set(A_NORMAL, 0, NULL);
    wnoutrefresh(stdscr);
    doupdate();
}
