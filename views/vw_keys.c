/* vw_keys.c: see vw_keys.h. */
#include "vw_keys.h"

#include <stdio.h>
#include <string.h>

#include "vw_text.h"

static const vw_binding keymap[] = {
    {'\t', 0, 0, VW_ACT_FOCUS_NEXT, "Tab", "next pane"},
    {VW_KEY_BTAB, 0, 0, VW_ACT_FOCUS_PREV, "Shift-Tab", "previous pane"},
    {'z', VW_KEY_ENTER, 0, VW_ACT_ZOOM, "z  Enter", "zoom the pane / back"},
    {VW_KEY_ESC, 0, 0, VW_ACT_ESCAPE, "Esc", "unzoom; cancel typing"},
    {'?', VW_KEY_F1, 0, VW_ACT_HELP, "?  F1", "this list"},
    {'q', 0, 0, VW_ACT_QUIT, "q  Ctrl-C", "quit (saves if training)"},
    {VW_KEY_CTRL('l'), 0, 0, VW_ACT_REDRAW, "Ctrl-L", "repaint the screen"},
    {VW_KEY_LEFT, 'h', 0, VW_ACT_ITER_PREV, "Left  h", "previous iteration"},
    {VW_KEY_RIGHT, 'l', 0, VW_ACT_ITER_NEXT, "Right  l", "next iteration"},
    {VW_KEY_HOME, 0, 0, VW_ACT_ITER_FIRST, "Home", "first iteration"},
    {VW_KEY_END, 0, 0, VW_ACT_ITER_LAST, "End", "last iteration"},
    {',', '<', 0, VW_ACT_TOKEN_PREV, ",  <", "previous token"},
    {'.', '>', 0, VW_ACT_TOKEN_NEXT, ".  >", "next token"},
    {VW_KEY_UP, 'k', 0, VW_ACT_UP, "Up  k", "previous depth; log: up"},
    {VW_KEY_DOWN, 'j', 0, VW_ACT_DOWN, "Down  j", "next depth; log: down"},
    {VW_KEY_PGUP, 0, 0, VW_ACT_PAGE_UP, "PgUp", "log: page up"},
    {VW_KEY_PGDN, 0, 0, VW_ACT_PAGE_DOWN, "PgDn", "log: page down"},
    {'p', '/', 0, VW_ACT_PROMPT, "p  /", "type a prompt"},
    {':', 0, 0, VW_ACT_LUA, ":", "a Lua line"},
    {'g', 0, 0, VW_ACT_LOG_SCALE, "g", "loss: log / linear axis"},
    {'+', '=', 0, VW_ACT_STEPS_FEWER, "+", "loss: fewer recent steps"},
    {'-', '_', 0, VW_ACT_STEPS_MORE, "-", "loss: more steps"},
    {'0', 0, 0, VW_ACT_STEPS_ALL, "0", "loss: the whole run"},
    {' ', 'P', 0, VW_ACT_PAUSE, "Space  P", "pause / resume training"},
    {'s', 0, 0, VW_ACT_SAVE, "s", "save a checkpoint now"},
    {'r', 0, 0, VW_ACT_RELOAD, "r", "load the newest checkpoint"},
    {'a', 0, 0, VW_ACT_AUTO_RELOAD, "a", "auto-load checkpoints"},
};

const vw_binding *vw_keymap(int *n)
{
    *n = (int)(sizeof keymap / sizeof keymap[0]);
    return keymap;
}

vw_action vw_key_action(int key)
{
    if (key <= 0) return VW_ACT_NONE;
    for (size_t i = 0; i < sizeof keymap / sizeof keymap[0]; i++)
        if (keymap[i].key == key || keymap[i].alt == key || keymap[i].alt2 == key) return keymap[i].action;
    return VW_ACT_NONE;
}

int vw_help_lines(char lines[][96], int cap)
{
    int n = 0;
    for (size_t i = 0; i < sizeof keymap / sizeof keymap[0] && n < cap; i++, n++)
        snprintf(lines[n], 96, "%-10s %s", keymap[i].label, keymap[i].what);
    static const char *edit[] = {"typing:    Enter sends, Esc cancels", "           Ctrl-U clears, arrows move"};
    for (size_t i = 0; i < 2 && n < cap; i++, n++) snprintf(lines[n], 96, "%s", edit[i]);
    return n;
}

void vw_ui_init(vw_ui *u, vw_mode mode)
{
    memset(u, 0, sizeof *u);
    u->mode = mode;
    u->zoom = -1;
    u->focus = vw_focus_step(mode, -1, 1);
    u->ylog = mode != VW_MODE_INSPECT; /* losses read best on a log axis */
}

static int n_rows(const vw_snapshot *s) { return s ? s->answers.n_rows : 0; }

static int n_tokens(const vw_snapshot *s, int row)
{
    if (!s || row < 0 || row >= s->answers.n_rows) return 0;
    return s->answers.rows[row].n_tokens;
}

/* Iterations the cursor may visit: the trace's, once it is there. */
static int n_iters(const vw_ui *u, const vw_snapshot *s)
{
    if (!s) return 1;
    const vw_trace *t = &s->trace;
    if (t->state == VW_TRACE_DONE && t->row == u->row && t->token == u->token && t->iters > 0) return t->iters;
    return t->depth > 0 ? t->depth : 1;
}

static vw_event ev(vw_event_kind k, const vw_ui *u)
{
    vw_event e = {k, u->row, u->token, u->iter, NULL};
    return e;
}

/* Text entry: returns 1 when the key was consumed. */
static int edit_key(vw_ui *u, int key, vw_event *out)
{
    char *b = u->edit;
    switch (key) {
    case VW_KEY_ENTER:
    case '\r':
    case '\n': {
        int kind = u->editing;
        u->editing = VW_EDIT_NONE;
        if (kind == VW_EDIT_PROMPT) {
            u->token = 0;
            u->iter = 0;
            *out = ev(VW_EV_PROMPT, u);
        } else {
            *out = ev(VW_EV_LUA, u);
        }
        out->text = u->edit;
        return 1;
    }
    case VW_KEY_ESC:
        u->editing = VW_EDIT_NONE;
        return 1;
    case VW_KEY_BACKSPACE:
    case 127:
    case 8:
        if (u->edit_cur > 0) {
            int p = u->edit_cur - 1;
            while (p > 0 && ((unsigned char)b[p] & 0xC0) == 0x80) p--;
            memmove(b + p, b + u->edit_cur, (size_t)(u->edit_len - u->edit_cur + 1));
            u->edit_len -= u->edit_cur - p;
            u->edit_cur = p;
        }
        return 1;
    case VW_KEY_DELETE:
        if (u->edit_cur < u->edit_len) {
            uint32_t cp;
            int n = vw_utf8_next(b + u->edit_cur, (size_t)(u->edit_len - u->edit_cur), &cp);
            memmove(b + u->edit_cur, b + u->edit_cur + n, (size_t)(u->edit_len - u->edit_cur - n + 1));
            u->edit_len -= n;
        }
        return 1;
    case VW_KEY_LEFT:
        while (u->edit_cur > 0) {
            u->edit_cur--;
            if (((unsigned char)b[u->edit_cur] & 0xC0) != 0x80) break;
        }
        return 1;
    case VW_KEY_RIGHT:
        if (u->edit_cur < u->edit_len) {
            uint32_t cp;
            u->edit_cur += vw_utf8_next(b + u->edit_cur, (size_t)(u->edit_len - u->edit_cur), &cp);
        }
        return 1;
    case VW_KEY_HOME:
        u->edit_cur = 0;
        return 1;
    case VW_KEY_END:
        u->edit_cur = u->edit_len;
        return 1;
    case VW_KEY_CTRL('u'):
        u->edit_len = u->edit_cur = 0;
        b[0] = '\0';
        return 1;
    default:
        break;
    }
    if (key >= 0x20 && key < VW_KEY_BASE && key != 0x7F && !(key >= 0x80 && key < 0xA0) &&
        !(key >= 0xD800 && key <= 0xDFFF)) {
        char enc[4];
        int n = vw_utf8_put((uint32_t)key, enc);
        if (u->edit_len + n < (int)sizeof u->edit) {
            memmove(b + u->edit_cur + n, b + u->edit_cur, (size_t)(u->edit_len - u->edit_cur + 1));
            memcpy(b + u->edit_cur, enc, (size_t)n);
            u->edit_len += n;
            u->edit_cur += n;
        }
        return 1;
    }
    return 1; /* other keys are ignored while typing */
}

static void start_edit(vw_ui *u, int kind, const char *text)
{
    u->editing = kind;
    vw_copy_text(u->edit, sizeof u->edit, text ? text : "");
    u->edit_len = u->edit_cur = (int)strlen(u->edit);
}

vw_event vw_ui_key(vw_ui *u, int key, const vw_snapshot *s)
{
    vw_event none = {VW_EV_NONE, 0, 0, 0, NULL};
    if (key == VW_KEY_NONE || key == VW_KEY_RESIZE) return none;
    if (u->editing) {
        vw_event e = none;
        edit_key(u, key, &e);
        return e;
    }
    if (u->help) { /* any key closes the help */
        u->help = 0;
        return none;
    }
    vw_action a = vw_key_action(key);
    int rows = n_rows(s), iters = n_iters(u, s);
    switch (a) {
    case VW_ACT_QUIT: return ev(VW_EV_QUIT, u);
    case VW_ACT_HELP: u->help = 1; return none;
    case VW_ACT_ESCAPE: u->zoom = -1; return none;
    case VW_ACT_FOCUS_NEXT: u->focus = vw_focus_step(u->mode, u->focus, 1); return none;
    case VW_ACT_FOCUS_PREV: u->focus = vw_focus_step(u->mode, u->focus, -1); return none;
    case VW_ACT_ZOOM: u->zoom = u->zoom == u->focus ? -1 : u->focus; return none;
    case VW_ACT_REDRAW: return ev(VW_EV_REDRAW, u);
    case VW_ACT_ITER_PREV:
    case VW_ACT_ITER_NEXT:
    case VW_ACT_ITER_FIRST:
    case VW_ACT_ITER_LAST: {
        int it = a == VW_ACT_ITER_PREV ? u->iter - 1 : a == VW_ACT_ITER_NEXT ? u->iter + 1
                 : a == VW_ACT_ITER_FIRST ? 0 : iters - 1;
        if (it < 0) it = 0;
        if (it > iters - 1) it = iters - 1;
        if (it == u->iter) return none;
        u->iter = it;
        return ev(VW_EV_ITER, u);
    }
    case VW_ACT_TOKEN_PREV:
    case VW_ACT_TOKEN_NEXT: {
        int nt = n_tokens(s, u->row);
        int t = u->token + (a == VW_ACT_TOKEN_NEXT ? 1 : -1);
        if (t > nt - 1) t = nt - 1;
        if (t < 0) t = 0;
        if (t == u->token) return none;
        u->token = t;
        return ev(VW_EV_SELECT, u);
    }
    case VW_ACT_UP:
    case VW_ACT_DOWN:
        if (u->focus == VW_PANE_LOG) {
            u->log_scroll += a == VW_ACT_UP ? 1 : -1;
            if (u->log_scroll < 0) u->log_scroll = 0;
            if (s && u->log_scroll > s->log.n) u->log_scroll = s->log.n;
            return none;
        } else {
            int r = u->row + (a == VW_ACT_DOWN ? 1 : -1);
            if (r > rows - 1) r = rows - 1;
            if (r < 0) r = 0;
            if (r == u->row) return none;
            u->row = r;
            int nt = n_tokens(s, r);
            if (u->token > nt - 1) u->token = nt > 0 ? nt - 1 : 0;
            return ev(VW_EV_SELECT, u);
        }
    case VW_ACT_PAGE_UP:
    case VW_ACT_PAGE_DOWN:
        u->log_scroll += a == VW_ACT_PAGE_UP ? 10 : -10;
        if (u->log_scroll < 0) u->log_scroll = 0;
        if (s && u->log_scroll > s->log.n) u->log_scroll = s->log.n;
        return none;
    case VW_ACT_PROMPT: start_edit(u, VW_EDIT_PROMPT, s ? s->answers.prompt : ""); return none;
    case VW_ACT_LUA: start_edit(u, VW_EDIT_LUA, ""); return none;
    case VW_ACT_LOG_SCALE: u->ylog = !u->ylog; return none;
    case VW_ACT_STEPS_FEWER:
    case VW_ACT_STEPS_MORE: {
        const vw_metric *last = s ? vw_metrics_last(&s->metrics) : NULL;
        int total = last ? (int)last->x : 0;
        if (a == VW_ACT_STEPS_FEWER) {
            if (u->window == 0) {
                int w = 16;
                while (w < total / 2) w *= 2;
                u->window = w;
            } else if (u->window > 8) {
                u->window /= 2;
            }
        } else if (u->window) {
            u->window *= 2;
            if (u->window >= total) u->window = 0;
        }
        return none;
    }
    case VW_ACT_STEPS_ALL: u->window = 0; return none;
    case VW_ACT_PAUSE: return ev(VW_EV_PAUSE, u);
    case VW_ACT_SAVE: return ev(VW_EV_SAVE, u);
    case VW_ACT_RELOAD: return ev(VW_EV_RELOAD, u);
    case VW_ACT_AUTO_RELOAD: return ev(VW_EV_AUTO_RELOAD, u);
    default: return none;
    }
}

vw_event vw_ui_sync(vw_ui *u, const vw_snapshot *s)
{
    vw_event none = {VW_EV_NONE, 0, 0, 0, NULL};
    if (!s || s->answers.id == u->seen_answers) return none;
    u->seen_answers = s->answers.id;
    int rows = s->answers.n_rows, row = u->row, token = u->token;
    if (row > rows - 1) row = rows > 0 ? rows - 1 : 0;
    int nt = n_tokens(s, row);
    if (token > nt - 1) token = nt > 0 ? nt - 1 : 0;
    if (row == u->row && token == u->token) return none;
    u->row = row;
    u->token = token;
    return ev(VW_EV_SELECT, u);
}
