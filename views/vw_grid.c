/* vw_grid.c: see vw_grid.h. */
#include "vw_grid.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vw_text.h"

int vw_grid_init(vw_grid *g, int w, int h, int utf8)
{
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    g->w = w;
    g->h = h;
    g->utf8 = utf8;
    g->cells = calloc((size_t)w * (size_t)h + 1, sizeof(vw_cell));
    if (!g->cells) {
        g->w = g->h = 0;
        return -1;
    }
    vw_grid_clear(g);
    return 0;
}

void vw_grid_free(vw_grid *g)
{
    free(g->cells);
    g->cells = NULL;
    g->w = g->h = 0;
}

void vw_grid_clear(vw_grid *g)
{
    for (int i = 0; i < g->w * g->h; i++) {
        vw_cell *c = &g->cells[i];
        c->g[0] = ' ';
        c->g[1] = '\0';
        c->w = 1;
        c->style = VW_ST_NORMAL;
    }
}

vw_cell *vw_grid_at(vw_grid *g, int x, int y)
{
    if (x < 0 || y < 0 || x >= g->w || y >= g->h) return NULL;
    return &g->cells[(size_t)y * g->w + x];
}

static void blank(vw_cell *c, int style)
{
    c->g[0] = ' ';
    c->g[1] = '\0';
    c->w = 1;
    c->style = (uint8_t)style;
}

/* Put a glyph of width w (1 or 2) at (x, y), keeping wide glyphs whole. */
static void put(vw_grid *g, int x, int y, const char *glyph, int w, int style)
{
    vw_cell *c = vw_grid_at(g, x, y);
    if (!c) return;
    if (c->w == 0 && x > 0) blank(c - 1, c[-1].style); /* we overwrite the right half of a wide glyph */
    if (c->w == 2 && x + 1 < g->w) blank(c + 1, c[1].style);
    if (w == 2) {
        vw_cell *r = vw_grid_at(g, x + 1, y);
        if (!r) {
            blank(c, style);
            return;
        }
        if (r->w == 2 && x + 2 < g->w) blank(r + 1, r[1].style);
        r->g[0] = '\0';
        r->w = 0;
        r->style = (uint8_t)style;
    }
    snprintf(c->g, sizeof c->g, "%s", glyph);
    c->w = (uint8_t)w;
    c->style = (uint8_t)style;
}

int vw_grid_text(vw_grid *g, int x, int y, int max_w, const char *s, size_t len, int style)
{
    if (y < 0 || y >= g->h || max_w <= 0) return 0;
    int limit = x + max_w;
    if (limit > g->w) limit = g->w;
    int cx = x, last = -1;
    char gl[5];
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)vw_utf8_next(s + i, len - i, &cp);
        int w = vw_glyph(cp, g->utf8, gl);
        if (w == 0) { /* a combining mark joins the glyph before it */
            vw_cell *p = last >= 0 ? vw_grid_at(g, last, y) : NULL;
            if (p && strlen(p->g) + strlen(gl) < sizeof p->g) strcat(p->g, gl);
            continue;
        }
        if (cx + w > limit) {
            if (w == 2 && cx < limit && cx >= 0) put(g, cx, y, " ", 1, style), cx++;
            break;
        }
        if (cx >= 0) {
            put(g, cx, y, gl, w, style);
            last = cx;
        }
        cx += w;
    }
    return cx > x ? cx - x : 0;
}

int vw_grid_str(vw_grid *g, int x, int y, int max_w, const char *s, int style)
{
    return vw_grid_text(g, x, y, max_w, s, strlen(s), style);
}

int vw_grid_printf(vw_grid *g, int x, int y, int max_w, int style, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return vw_grid_str(g, x, y, max_w, buf, style);
}

void vw_grid_fill(vw_grid *g, vw_rect r, const char *glyph, int style)
{
    for (int y = r.y; y < r.y + r.h; y++)
        for (int x = r.x; x < r.x + r.w; x++) put(g, x, y, glyph, 1, style);
}

void vw_grid_restyle(vw_grid *g, vw_rect r, int style)
{
    for (int y = r.y; y < r.y + r.h; y++)
        for (int x = r.x; x < r.x + r.w; x++) {
            vw_cell *c = vw_grid_at(g, x, y);
            if (c) c->style = (uint8_t)style;
        }
}

void vw_grid_box(vw_grid *g, vw_rect r, const char *title, int style, int title_style)
{
    if (r.w < 2 || r.h < 2) {
        vw_grid_fill(g, r, " ", VW_ST_NORMAL);
        return;
    }
    const int u = g->utf8;
    const char *hz = u ? "\xE2\x94\x80" : "-", *vt = u ? "\xE2\x94\x82" : "|";
    const char *tl = u ? "\xE2\x94\x8C" : "+", *tr = u ? "\xE2\x94\x90" : "+";
    const char *bl = u ? "\xE2\x94\x94" : "+", *br = u ? "\xE2\x94\x98" : "+";
    int x1 = r.x + r.w - 1, y1 = r.y + r.h - 1;
    for (int x = r.x + 1; x < x1; x++) {
        put(g, x, r.y, hz, 1, style);
        put(g, x, y1, hz, 1, style);
    }
    for (int y = r.y + 1; y < y1; y++) {
        put(g, r.x, y, vt, 1, style);
        put(g, x1, y, vt, 1, style);
    }
    put(g, r.x, r.y, tl, 1, style);
    put(g, x1, r.y, tr, 1, style);
    put(g, r.x, y1, bl, 1, style);
    put(g, x1, y1, br, 1, style);
    vw_grid_fill(g, vw_rect_inner(r), " ", VW_ST_NORMAL);
    if (title && title[0] && r.w > 4) {
        char t[256];
        vw_text_ellipsize(title, r.w - 4, u, t, sizeof t);
        put(g, r.x + 1, r.y, " ", 1, title_style);
        int n = vw_grid_str(g, r.x + 2, r.y, r.w - 4, t, title_style);
        if (r.x + 2 + n < x1) put(g, r.x + 2 + n, r.y, " ", 1, title_style);
    }
}

void vw_grid_bar(vw_grid *g, int x, int y, int width, double frac, int style)
{
    if (width <= 0) return;
    if (!(frac >= 0)) frac = 0;
    if (frac > 1) frac = 1;
    int eighths = (int)floor(frac * width * 8 + 0.5);
    for (int i = 0; i < width; i++) {
        int e = eighths - i * 8;
        if (e >= 8) {
            put(g, x + i, y, g->utf8 ? "\xE2\x96\x88" : "#", 1, style);
        } else if (e > 0 && g->utf8) {
            /* U+2589..U+258F: seven eighths down to one eighth */
            char b[5];
            b[vw_utf8_put(0x2590 - (uint32_t)e, b)] = '\0';
            put(g, x + i, y, b, 1, style);
        } else {
            put(g, x + i, y, g->utf8 ? "\xC2\xB7" : ".", 1, VW_ST_DIM);
        }
    }
}

size_t vw_grid_row(const vw_grid *g, int y, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0) return 0;
    if (y >= 0 && y < g->h)
        for (int x = 0; x < g->w; x++) {
            const vw_cell *c = &g->cells[(size_t)y * g->w + x];
            if (c->w == 0) continue;
            size_t l = strlen(c->g);
            if (n + l + 1 > cap) break;
            memcpy(out + n, c->g, l);
            n += l;
        }
    out[n] = '\0';
    return n;
}

vw_rect vw_rect_inner(vw_rect r)
{
    vw_rect i = {r.x + 1, r.y + 1, r.w - 2, r.h - 2};
    if (i.w < 0) i.w = 0;
    if (i.h < 0) i.h = 0;
    return i;
}
