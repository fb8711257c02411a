/* vw_keys.h: the key map, the help text, and the UI state that keys change.
 *
 * Keys arrive as Unicode codepoints (typed characters) or VW_KEY_* codes
 * (the drawing layer translates curses' codes). vw_ui_key applies a key to
 * the UI state and says what, if anything, the worker has to do; it is a
 * pure function, so every key is testable without a terminal. One table
 * (vw_keymap) drives both the handling and the `?` help, and the README
 * lists the same keys (a test checks that every key is documented). */
#ifndef VW_KEYS_H
#define VW_KEYS_H

#include "vw_layout.h"
#include "vw_snapshot.h"

enum {
    VW_KEY_NONE = -1,
    VW_KEY_BASE = 0x110000, /* above every codepoint */
    VW_KEY_UP,
    VW_KEY_DOWN,
    VW_KEY_LEFT,
    VW_KEY_RIGHT,
    VW_KEY_HOME,
    VW_KEY_END,
    VW_KEY_PGUP,
    VW_KEY_PGDN,
    VW_KEY_BTAB,
    VW_KEY_BACKSPACE,
    VW_KEY_DELETE,
    VW_KEY_ENTER,
    VW_KEY_ESC,
    VW_KEY_F1,
    VW_KEY_RESIZE
};
#define VW_KEY_CTRL(c) ((c) & 0x1f)

typedef enum {
    VW_ACT_NONE = 0,
    VW_ACT_QUIT,
    VW_ACT_HELP,
    VW_ACT_ESCAPE,
    VW_ACT_FOCUS_NEXT,
    VW_ACT_FOCUS_PREV,
    VW_ACT_ZOOM,
    VW_ACT_REDRAW,
    VW_ACT_ITER_PREV,
    VW_ACT_ITER_NEXT,
    VW_ACT_ITER_FIRST,
    VW_ACT_ITER_LAST,
    VW_ACT_TOKEN_PREV,
    VW_ACT_TOKEN_NEXT,
    VW_ACT_UP,
    VW_ACT_DOWN,
    VW_ACT_PAGE_UP,
    VW_ACT_PAGE_DOWN,
    VW_ACT_PROMPT,
    VW_ACT_LUA,
    VW_ACT_LOG_SCALE,
    VW_ACT_STEPS_FEWER,
    VW_ACT_STEPS_MORE,
    VW_ACT_STEPS_ALL,
    VW_ACT_PAUSE,
    VW_ACT_SAVE,
    VW_ACT_RELOAD,
    VW_ACT_AUTO_RELOAD,
    VW_ACT_COUNT
} vw_action;

typedef struct {
    int key, alt, alt2;   /* up to three keys for one action (0: none) */
    vw_action action;
    const char *label;    /* how help and the README name the keys */
    const char *what;     /* what the action does (<= 27 columns: help fits 80 x 24) */
} vw_binding;

/* The whole key map (n entries). */
const vw_binding *vw_keymap(int *n);
/* The action bound to a key outside text entry (VW_ACT_NONE if none). */
vw_action vw_key_action(int key);
/* The help screen's lines ("LABEL  what"), one per binding plus the text
 * entry keys; returns the count. */
int vw_help_lines(char lines[][96], int cap);

enum { VW_EDIT_NONE = 0, VW_EDIT_PROMPT, VW_EDIT_LUA };

/* The UI thread's own state: what is focused, zoomed, selected, typed. */
typedef struct {
    vw_mode mode;
    int focus;            /* vw_pane */
    int zoom;             /* zoomed pane or -1 */
    int help;             /* the key list is open */
    int ylog;             /* loss plot on a log axis */
    int window;           /* loss plot: last `window` steps; 0 = the whole run */
    int row, token, iter; /* selection: answer row, token in it, iteration (0-based) */
    int log_scroll;       /* log lines scrolled up from the newest */
    int editing;          /* VW_EDIT_* */
    char edit[VW_PROMPT_BYTES];
    int edit_len, edit_cur; /* bytes; cursor at a character boundary */
    uint32_t seen_answers;  /* answers id the selection belongs to */
} vw_ui;

typedef enum {
    VW_EV_NONE = 0,
    VW_EV_REDRAW,       /* clear and repaint the terminal */
    VW_EV_QUIT,
    VW_EV_PROMPT,       /* answer text at every depth */
    VW_EV_SELECT,       /* trace (row, token) */
    VW_EV_ITER,         /* the top tokens at (row, token, iter) */
    VW_EV_PAUSE,        /* pause or resume training */
    VW_EV_SAVE,
    VW_EV_LUA,          /* run text as Lua */
    VW_EV_RELOAD,       /* load the newest checkpoint */
    VW_EV_AUTO_RELOAD   /* toggle following new checkpoints */
} vw_event_kind;

typedef struct {
    vw_event_kind kind;
    int row, token, iter;
    const char *text;   /* PROMPT, LUA: the typed line (points into the vw_ui) */
} vw_event;

void vw_ui_init(vw_ui *u, vw_mode mode);
/* Apply one key. s is the snapshot being shown (for the bounds of the
 * selection); it may be NULL. */
vw_event vw_ui_key(vw_ui *u, int key, const vw_snapshot *s);
/* Keep the selection inside what the snapshot holds; called once per frame.
 * Returns a SELECT event when new answers arrived and the selection moved
 * onto them. */
vw_event vw_ui_sync(vw_ui *u, const vw_snapshot *s);

#endif
