/* vw_layout.c: see vw_layout.h. */
#include "vw_layout.h"

#include <string.h>

typedef struct {
    int left, right;  /* panes; right = -1: left spans the band */
    int left_pct;     /* left pane's share of the width */
    int min_h, weight;
} band;

/* Three bands per mode, top to bottom. Minimum heights add up to
 * VW_MIN_ROWS - 2 (header and footer). */
static const band inspect_bands[3] = {
    {VW_PANE_ANSWERS, -1, 100, 9, 1}, /* prompt line + 6 depths */
    {VW_PANE_CONV, -1, 100, 8, 4},    /* iteration detail + top 5 tokens */
    {VW_PANE_STATUS, VW_PANE_LOG, 40, 5, 2},
};
static const band run_bands[3] = {
    {VW_PANE_LOSS, VW_PANE_STATUS, 60, 9, 5}, /* status: 7 lines */
    {VW_PANE_CONV, VW_PANE_ANSWERS, 50, 8, 4},
    {VW_PANE_ACC, VW_PANE_LOG, 40, 5, 3},
};

static const band *bands_of(vw_mode mode) { return mode == VW_MODE_INSPECT ? inspect_bands : run_bands; }

unsigned vw_mode_panes(vw_mode mode)
{
    const band *b = bands_of(mode);
    unsigned m = 0;
    for (int i = 0; i < 3; i++) {
        m |= 1u << b[i].left;
        if (b[i].right >= 0) m |= 1u << b[i].right;
    }
    return m;
}

/* Focus order: reading order of the bands. */
static int order(vw_mode mode, int *out)
{
    const band *b = bands_of(mode);
    int n = 0;
    for (int i = 0; i < 3; i++) {
        out[n++] = b[i].left;
        if (b[i].right >= 0) out[n++] = b[i].right;
    }
    return n;
}

int vw_focus_step(vw_mode mode, int from, int dir)
{
    int o[VW_PANE_COUNT], n = order(mode, o), at = -1;
    for (int i = 0; i < n; i++)
        if (o[i] == from) at = i;
    if (at < 0) return o[0];
    return o[((at + (dir > 0 ? 1 : -1)) % n + n) % n];
}

const char *vw_pane_name(int pane)
{
    static const char *names[VW_PANE_COUNT] = {"loss", "status", "convergence", "answers", "accuracy", "log"};
    return pane >= 0 && pane < VW_PANE_COUNT ? names[pane] : "?";
}

void vw_layout_compute(int cols, int rows, vw_mode mode, int zoom, vw_layout *out)
{
    memset(out, 0, sizeof *out);
    out->cols = cols;
    out->rows = rows;
    if (cols < VW_MIN_COLS || rows < VW_MIN_ROWS) {
        out->too_small = 1;
        return;
    }
    out->header = (vw_rect){0, 0, cols, 1};
    out->footer = (vw_rect){0, rows - 1, cols, 1};
    const int top = 1, avail = rows - 2;
    if (zoom >= 0 && zoom < VW_PANE_COUNT && (vw_mode_panes(mode) >> zoom & 1)) {
        out->pane[zoom] = (vw_rect){0, top, cols, avail};
        return;
    }
    const band *b = bands_of(mode);
    int h[3], min_sum = 0, wsum = 0;
    for (int i = 0; i < 3; i++) {
        min_sum += b[i].min_h;
        wsum += b[i].weight;
    }
    int extra = avail - min_sum, given = 0;
    for (int i = 0; i < 3; i++) {
        h[i] = b[i].min_h + extra * b[i].weight / wsum;
        given += h[i];
    }
    /* rounding leftovers go to the heaviest bands first */
    for (int left = avail - given; left > 0;) {
        int best = 0;
        for (int i = 1; i < 3; i++)
            if (b[i].weight > b[best].weight) best = i;
        for (int i = 0; i < 3 && left > 0; i++)
            if (b[i].weight == b[best].weight) h[i]++, left--;
        if (left > 0) h[best]++, left--;
    }
    int y = top;
    for (int i = 0; i < 3; i++) {
        if (b[i].right < 0) {
            out->pane[b[i].left] = (vw_rect){0, y, cols, h[i]};
        } else {
            int lw = (cols * b[i].left_pct + 50) / 100;
            out->pane[b[i].left] = (vw_rect){0, y, lw, h[i]};
            out->pane[b[i].right] = (vw_rect){lw, y, cols - lw, h[i]};
        }
        y += h[i];
    }
}
