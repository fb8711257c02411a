/* vw_pane_status.c: where the run is (step, progress, ETA, learning rate,
 * depth schedule, throughput, FLOPs, data phase), or, when inspecting a
 * model, what is loaded and what the worker is doing. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vw_format.h"
#include "vw_panes.h"
#include "vw_text.h"

/* A line of the pane, wrapped onto the next rows when it is too long. */
static void line(vw_grid *g, vw_rect r, int *y, int style, const char *text)
{
    vw_span sp[4];
    int n = vw_text_wrap(text, strlen(text), r.w, g->utf8, 1, sp, 4);
    for (int i = 0; i < n && i < 4 && *y < r.y + r.h; i++, (*y)++)
        vw_grid_text(g, r.x + (i ? 2 : 0), *y, r.w - (i ? 2 : 0), text + sp[i].begin, (size_t)(sp[i].end - sp[i].begin),
                     style);
}

void vw_pane_status(vw_grid *g, vw_rect r, const vw_snapshot *s, const vw_ui *u)
{
    (void)u;
    if (r.w <= 0 || r.h <= 0) return;
    const vw_status *st = &s->status;
    char b[512], f1[32], f2[32], f3[32];
    int y = r.y;
    if (st->mode == VW_MODE_INSPECT) {
        line(g, r, &y, VW_ST_BOLD, st->model[0] ? st->model : "no model");
        snprintf(b, sizeof b, "file %s", st->source);
        line(g, r, &y, VW_ST_NORMAL, b);
        if (st->loaded[0]) {
            snprintf(b, sizeof b, "checkpoint %s", st->loaded);
            line(g, r, &y, VW_ST_NORMAL, b);
        }
        snprintf(b, sizeof b, "worker %s", st->worker[0] ? st->worker : "idle");
        line(g, r, &y, st->worker_busy ? VW_ST_WARN : VW_ST_DIM, b);
        return;
    }
    const vw_metric *m = vw_metrics_last(&s->metrics);
    if (st->total_steps > 0)
        snprintf(b, sizeof b, "step %lld/%lld  phase %d", (long long)st->step, (long long)st->total_steps, st->phase);
    else snprintf(b, sizeof b, "step %lld  phase %d", (long long)st->step, st->phase);
    const char *state = st->paused ? "  paused" : st->finished ? "  finished" : "";
    strncat(b, state, sizeof b - strlen(b) - 1);
    line(g, r, &y, VW_ST_BOLD, b);
    if (y < r.y + r.h) { /* progress bar and percentage */
        double frac = st->total_steps > 0 ? (double)st->step / (double)st->total_steps : NAN;
        vw_fmt_percent(frac, f1, sizeof f1);
        int pw = r.w - 7;
        if (pw > 0) vw_grid_bar(g, r.x, y, pw, isnan(frac) ? 0 : frac, VW_ST_GOOD);
        vw_grid_str(g, r.x + (pw > 0 ? pw + 1 : 0), y, 6, f1, VW_ST_NORMAL);
        y++;
    }
    if (!m) {
        line(g, r, &y, VW_ST_DIM, "no steps yet");
    } else {
        snprintf(b, sizeof b, "loss %s  lr x%s", vw_fmt_num(st->loss, f1, sizeof f1),
                 vw_fmt_num(st->lr_mult, f2, sizeof f2));
        line(g, r, &y, VW_ST_NORMAL, b);
        snprintf(b, sizeof b, "rbar %d  n,k %d,%d  grad %s", st->rbar, st->n, st->k,
                 vw_fmt_num(st->grad_norm, f1, sizeof f1));
        line(g, r, &y, VW_ST_NORMAL, b);
        snprintf(b, sizeof b, "tok/s %s  FLOPs %s", vw_fmt_si(st->tokens_per_s, f1, sizeof f1),
                 vw_fmt_si(st->flops, f2, sizeof f2));
        line(g, r, &y, VW_ST_NORMAL, b);
        double eta = st->total_steps > 0 && !st->finished
                         ? vw_eta((double)st->step, (double)st->total_steps, m->time)
                         : (st->finished ? 0 : -1);
        snprintf(b, sizeof b, "elapsed %s  ETA %s", vw_fmt_duration(st->elapsed, f1, sizeof f1),
                 st->finished ? "done" : vw_fmt_duration(eta, f3, sizeof f3));
        line(g, r, &y, VW_ST_NORMAL, b);
        snprintf(b, sizeof b, "lr muon %s adam %s", vw_fmt_num(st->lr_muon, f1, sizeof f1),
                 vw_fmt_num(st->lr_adam, f2, sizeof f2));
        line(g, r, &y, VW_ST_DIM, b);
    }
    if (st->data[0]) {
        snprintf(b, sizeof b, "data %s", st->data);
        line(g, r, &y, VW_ST_NORMAL, b);
    }
    if (st->newest[0]) {
        snprintf(b, sizeof b, "newest %s%s", st->newest, st->auto_reload ? "  (auto-load)" : "");
        line(g, r, &y, VW_ST_NORMAL, b);
    }
    if (st->loaded[0]) {
        snprintf(b, sizeof b, "answers from %s", st->loaded);
        line(g, r, &y, VW_ST_DIM, b);
    }
    if (st->worker[0]) {
        snprintf(b, sizeof b, "worker %s", st->worker);
        line(g, r, &y, st->worker_busy ? VW_ST_WARN : VW_ST_DIM, b);
    }
}
