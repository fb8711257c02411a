/* vw_pane_log.c: the log (messages, captured stderr, errors with their
 * tracebacks; newest at the bottom, scrollable) and the accuracy pane
 * (accuracy against depth for the newest evaluation, and against training
 * FLOPs per depth over the run). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vw_chart.h"
#include "vw_panes.h"
#include "vw_text.h"

static int level_style(int level)
{
    switch (level) {
    case VW_LOG_ERROR: return VW_ST_BAD;
    case VW_LOG_TRACE: return VW_ST_BAD;
    case VW_LOG_WARN: return VW_ST_WARN;
    case VW_LOG_STDERR: return VW_ST_DIM;
    default: return VW_ST_NORMAL;
    }
}

void vw_pane_log(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u)
{
    if (r.w <= 0 || r.h <= 0) return;
    const vw_log *l = &s->log;
    if (l->n == 0) {
        vw_grid_str(g, r.x, r.y, r.w, "no messages", VW_ST_DIM);
        return;
    }
    /* walk back from the newest line (minus the scroll), wrapping each */
    int y = r.y + r.h; /* next row to fill, going up */
    int newest = l->n - 1 - u->log_scroll;
    for (int i = newest; i >= 0 && y > r.y; i--) {
        const vw_log_line *ln = vw_log_at(l, i);
        int indent = ln->level == VW_LOG_TRACE ? 2 : 0;
        vw_span sp[16];
        size_t len = strlen(ln->text);
        int n = vw_text_wrap(ln->text, len, r.w - indent, g->utf8, 1, sp, 16);
        if (n > 16) n = 16;
        for (int k = n - 1; k >= 0 && y > r.y; k--) {
            y--;
            vw_grid_text(g, r.x + indent + (k ? 2 : 0), y, r.w - indent - (k ? 2 : 0), ln->text + sp[k].begin,
                         (size_t)(sp[k].end - sp[k].begin), level_style(ln->level));
        }
    }
    if (u->log_scroll > 0) {
        char b[32];
        snprintf(b, sizeof b, "[%d newer]", u->log_scroll);
        int w = (int)strlen(b);
        vw_grid_str(g, r.x + r.w - w, r.y + r.h - 1, w, b, VW_ST_WARN);
    }
}

void vw_pane_accuracy(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u)
{
    (void)u;
    if (r.w <= 0 || r.h <= 0) return;
    if (s->n_evals == 0) {
        vw_span sp[4];
        const char *msg = "no evaluation yet: accuracy per depth comes from the "
                          "experiment's evaluations (rb.eval)";
        int n = vw_text_wrap(msg, strlen(msg), r.w, g->utf8, 1, sp, 4);
        for (int i = 0; i < n && i < 4 && i < r.h; i++)
            vw_grid_text(g, r.x, r.y + i, r.w, msg + sp[i].begin, (size_t)(sp[i].end - sp[i].begin), VW_ST_DIM);
        return;
    }
    const vw_eval *last = &s->evals[s->n_evals - 1];
    int half = r.w / 2;
    /* accuracy against depth, newest round */
    static double dx[VW_MAX_DEPTHS], dy[VW_MAX_DEPTHS];
    for (int i = 0; i < last->n; i++) {
        dx[i] = last->depth[i];
        dy[i] = last->accuracy[i];
    }
    vw_grid_str(g, r.x, r.y, half - 1, "accuracy vs depth", VW_ST_S0);
    vw_series a = {dx, dy, last->n, VW_ST_S0, 1};
    vw_chart c;
    vw_chart_init(&c);
    c.series = &a;
    c.n_series = 1;
    c.xlog = 1;
    vw_chart_draw(g, (vw_rect){r.x, r.y + 1, half - 1, r.h - 1}, &c, NULL);
    /* accuracy against training FLOPs, a series per depth */
    static double fx[VW_MAX_DEPTHS][VW_EVALS], fy[VW_MAX_DEPTHS][VW_EVALS];
    vw_series fs[VW_MAX_DEPTHS];
    int nd = last->n;
    for (int d = 0; d < nd; d++) {
        int n = 0;
        for (int e = 0; e < s->n_evals; e++)
            for (int j = 0; j < s->evals[e].n; j++)
                if (s->evals[e].depth[j] == last->depth[d]) {
                    fx[d][n] = s->evals[e].train_flops;
                    fy[d][n++] = s->evals[e].accuracy[j];
                }
        fs[d] = (vw_series){fx[d], fy[d], n, VW_ST_SERIES(1 + d), 1};
    }
    vw_grid_str(g, r.x + half, r.y, r.w - half, "vs training FLOPs", VW_ST_S1);
    vw_chart c2;
    vw_chart_init(&c2);
    c2.series = fs;
    c2.n_series = nd;
    c2.xlog = 1;
    vw_chart_draw(g, (vw_rect){r.x + half, r.y + 1, r.w - half, r.h - 1}, &c2, NULL);
}
