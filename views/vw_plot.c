/* vw_plot.c: see vw_plot.h. */
#include "vw_plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vw_format.h"
#include "vw_text.h"

int vw_placeable(double v, int log) { return isfinite(v) && (!log || v > 0); }

void vw_range_init(vw_range *r, int log)
{
    r->lo = r->hi = 0;
    r->log = log;
    r->valid = 0;
}

int vw_range_add(vw_range *r, const double *v, int n, int stride)
{
    int skipped = 0;
    if (stride < 1) stride = 1;
    for (int i = 0; i < n; i++) {
        double x = v[(size_t)i * stride];
        if (!vw_placeable(x, r->log)) {
            skipped++;
            continue;
        }
        if (!r->valid) {
            r->lo = r->hi = x;
            r->valid = 1;
        } else {
            if (x < r->lo) r->lo = x;
            if (x > r->hi) r->hi = x;
        }
    }
    return skipped;
}

void vw_range_finish(vw_range *r)
{
    if (!r->valid) {
        r->lo = r->log ? 1 : 0;
        r->hi = r->log ? 10 : 1;
        return;
    }
    if (r->log) {
        if (r->hi <= r->lo * (1 + 1e-12)) {
            r->lo /= sqrt(10);
            r->hi *= sqrt(10);
        }
        return;
    }
    if (r->hi <= r->lo) {
        double d = r->lo == 0 ? 1 : fabs(r->lo) * 0.1;
        r->lo -= d;
        r->hi += d;
        return;
    }
    double pad = (r->hi - r->lo) * 0.04;
    int nonneg = r->lo >= 0;
    r->lo -= pad;
    r->hi += pad;
    if (nonneg && r->lo < 0) r->lo = 0;
}

double vw_range_pos(const vw_range *r, double v)
{
    if (!vw_placeable(v, r->log)) return NAN;
    if (r->log) {
        double a = log10(r->lo), b = log10(r->hi);
        return b > a ? (log10(v) - a) / (b - a) : 0.5;
    }
    return r->hi > r->lo ? (v - r->lo) / (r->hi - r->lo) : 0.5;
}

/* The round step (1, 2 or 5 x 10^k) nearest above span / n. */
static double nice_step(double span, int n)
{
    double raw = span / (n > 0 ? n : 1);
    double p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static int linear_ticks(double lo, double hi, int max_ticks, vw_tick *out, int cap)
{
    if (!(hi > lo) || max_ticks < 1) return 0;
    double step = nice_step(hi - lo, max_ticks > 1 ? max_ticks - 1 : 1);
    int n = 0;
    for (double k = ceil(lo / step - 1e-9); n < cap && n < max_ticks; k++) {
        double v = k * step;
        if (v > hi + step * 1e-9) break;
        if (fabs(v) < step * 1e-9) v = 0;
        out[n].v = v;
        vw_fmt_num(v, out[n].label, sizeof out[n].label);
        n++;
    }
    return n;
}

int vw_ticks(const vw_range *r, int max_ticks, vw_tick *out, int cap)
{
    if (max_ticks > cap) max_ticks = cap;
    if (max_ticks < 1) return 0;
    if (!r->log) return linear_ticks(r->lo, r->hi, max_ticks, out, cap);
    double a = log10(r->lo), b = log10(r->hi);
    if (!(b > a)) return 0;
    /* powers of ten, thinned to every k-th decade when there are too many */
    int d0 = (int)ceil(a - 1e-9), d1 = (int)floor(b + 1e-9);
    int decades = d1 - d0 + 1;
    if (decades >= 2) {
        int every = (decades + max_ticks - 1) / max_ticks;
        int n = 0;
        for (int d = d0; d <= d1 && n < max_ticks; d++) {
            if ((d - d0) % every) continue;
            out[n].v = pow(10, d);
            vw_fmt_num(out[n].v, out[n].label, sizeof out[n].label);
            n++;
        }
        return n;
    }
    /* under two decades: 1, 2, 5 times powers of ten */
    static const double mult[] = {1, 2, 5};
    int n = 0;
    for (int d = d0 - 1; d <= d1 && n < max_ticks; d++)
        for (int i = 0; i < 3 && n < max_ticks; i++) {
            double v = mult[i] * pow(10, d);
            if (v < r->lo * (1 - 1e-9) || v > r->hi * (1 + 1e-9)) continue;
            out[n].v = v;
            vw_fmt_num(v, out[n].label, sizeof out[n].label);
            n++;
        }
    if (n >= 2) return n;
    return linear_ticks(r->lo, r->hi, max_ticks, out, cap); /* a narrow range: plain round values */
}

void vw_canvas_init(vw_canvas *c, int w, int h)
{
    c->w = w < 0 ? 0 : w > VW_CANVAS_MAX_W ? VW_CANVAS_MAX_W : w;
    c->h = h < 0 ? 0 : h > VW_CANVAS_MAX_H ? VW_CANVAS_MAX_H : h;
    for (int y = 0; y < c->h; y++) {
        memset(c->bits[y], 0, (size_t)c->w);
        memset(c->style[y], 0, (size_t)c->w);
    }
}

/* Braille dot numbering: columns 0/1, rows 0..3 -> bit. */
static const uint8_t dot_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

void vw_canvas_dot(vw_canvas *c, int x, int y, int style)
{
    if (x < 0 || y < 0 || x >= 2 * c->w || y >= 4 * c->h) return;
    c->bits[y / 4][x / 2] |= dot_bit[y % 4][x % 2];
    c->style[y / 4][x / 2] = (uint8_t)style;
}

void vw_canvas_line(vw_canvas *c, int x0, int y0, int x1, int y1, int style)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (int guard = 0; guard < 4 * (VW_CANVAS_MAX_W + VW_CANVAS_MAX_H) * 4; guard++) {
        vw_canvas_dot(c, x0, y0, style);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

int vw_canvas_series(vw_canvas *c, const double *xs, const double *ys, int n, const vw_range *xr,
                     const vw_range *yr, int style, int lines, int *hidden)
{
    int placed = 0, skipped = 0, have_prev = 0, px = 0, py = 0;
    const int W = 2 * c->w, H = 4 * c->h;
    for (int i = 0; i < n; i++) {
        double fx = vw_range_pos(xr, xs[i]), fy = vw_range_pos(yr, ys[i]);
        if (isnan(fx) || isnan(fy) || fx < -1e-9 || fx > 1 + 1e-9) {
            /* outside the x window (zoom) is not "hidden"; unplaceable values are */
            if (isnan(fx) || isnan(fy)) {
                skipped++;
                have_prev = 0;
            }
            continue;
        }
        if (fy < 0) fy = 0;
        if (fy > 1) fy = 1;
        int x = (int)lround(fx * (W - 1)), y = (int)lround((1 - fy) * (H - 1));
        if (W <= 0 || H <= 0) {
            placed++;
            continue;
        }
        if (lines && have_prev) vw_canvas_line(c, px, py, x, y, style);
        else vw_canvas_dot(c, x, y, style);
        px = x, py = y, have_prev = 1;
        placed++;
    }
    if (hidden) *hidden = skipped;
    return placed;
}

int vw_canvas_glyph(const vw_canvas *c, int cx, int cy, int utf8, char out[5])
{
    out[0] = ' ';
    out[1] = '\0';
    if (cx < 0 || cy < 0 || cx >= c->w || cy >= c->h) return VW_ST_NORMAL;
    uint8_t b = c->bits[cy][cx];
    if (!b) return VW_ST_NORMAL;
    if (utf8) {
        out[vw_utf8_put(0x2800u + b, out)] = '\0';
        return c->style[cy][cx];
    }
    /* ASCII: from the rows the dots occupy: top ', middle -, bottom ., all | */
    int first = -1, last = -1, sum = 0, cnt = 0;
    for (int r = 0; r < 4; r++)
        if (b & (dot_bit[r][0] | dot_bit[r][1])) {
            if (first < 0) first = r;
            last = r;
            sum += r;
            cnt++;
        }
    double mean = (double)sum / cnt;
    char ch = first == 0 && last == 3 ? '|' : mean <= 0.5 ? '\'' : mean >= 2.5 ? '.' : '-';
    out[0] = ch;
    return c->style[cy][cx];
}

void vw_canvas_blit(const vw_canvas *c, vw_grid *g, int x, int y)
{
    char gl[5];
    for (int cy = 0; cy < c->h; cy++)
        for (int cx = 0; cx < c->w; cx++) {
            if (!c->bits[cy][cx]) continue;
            int st = vw_canvas_glyph(c, cx, cy, g->utf8, gl);
            vw_grid_text(g, x + cx, y + cy, 1, gl, strlen(gl), st);
        }
}
