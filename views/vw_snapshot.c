/* vw_snapshot.c: see vw_snapshot.h. */
#include "vw_snapshot.h"

#include <math.h>
#include <string.h>

#include "vw_text.h"

void vw_metrics_clear(vw_metrics *m)
{
    m->recent_head = m->recent_n = 0;
    m->hist_n = 0;
    m->hist_stride = 1;
    m->total = 0;
}

void vw_metrics_push(vw_metrics *m, const vw_metric *p)
{
    /* recent ring */
    if (m->recent_n < VW_RECENT) {
        m->recent[(m->recent_head + m->recent_n) % VW_RECENT] = *p;
        m->recent_n++;
    } else {
        m->recent[m->recent_head] = *p;
        m->recent_head = (m->recent_head + 1) % VW_RECENT;
    }
    /* thinned history: keep every stride-th step; when full, keep every other one */
    if (m->hist_stride < 1) m->hist_stride = 1;
    if (m->total % m->hist_stride == 0) {
        if (m->hist_n == VW_HISTORY) {
            for (int i = 0; i < VW_HISTORY / 2; i++) m->hist[i] = m->hist[2 * i];
            m->hist_n = VW_HISTORY / 2;
            m->hist_stride *= 2;
        }
        if (m->total % m->hist_stride == 0) m->hist[m->hist_n++] = *p;
    }
    m->total++;
}

const vw_metric *vw_metrics_last(const vw_metrics *m)
{
    if (m->recent_n == 0) return NULL;
    return &m->recent[(m->recent_head + m->recent_n - 1) % VW_RECENT];
}

int vw_metrics_collect(const vw_metrics *m, double x_from, const vw_metric **out, int cap)
{
    int n = 0;
    double first_recent = m->recent_n ? m->recent[m->recent_head].x : INFINITY;
    for (int i = 0; i < m->hist_n && n < cap; i++)
        if (m->hist[i].x >= x_from && m->hist[i].x < first_recent) out[n++] = &m->hist[i];
    for (int i = 0; i < m->recent_n && n < cap; i++) {
        const vw_metric *p = &m->recent[(m->recent_head + i) % VW_RECENT];
        if (p->x >= x_from) out[n++] = p;
    }
    return n;
}

void vw_log_push(vw_log *l, int level, double t, const char *text)
{
    const char *s = text ? text : "";
    do {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        vw_log_line *ln;
        if (l->n < VW_LOG_LINES) {
            ln = &l->lines[(l->head + l->n) % VW_LOG_LINES];
            l->n++;
        } else {
            ln = &l->lines[l->head];
            l->head = (l->head + 1) % VW_LOG_LINES;
        }
        char tmp[VW_LOG_BYTES * 4];
        if (len >= sizeof tmp) len = sizeof tmp - 1;
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        if (len && tmp[len - 1] == '\r') tmp[len - 1] = '\0';
        vw_copy_text(ln->text, sizeof ln->text, tmp);
        ln->t = t;
        ln->level = (uint8_t)level;
        l->total++;
        s = nl ? nl + 1 : NULL;
    } while (s && *s); /* a trailing newline adds no empty line */
}

const vw_log_line *vw_log_at(const vw_log *l, int i)
{
    if (i < 0 || i >= l->n) return NULL;
    return &l->lines[(l->head + i) % VW_LOG_LINES];
}

void vw_snapshot_init(vw_snapshot *s, int mode)
{
    memset(s, 0, sizeof *s);
    s->status.mode = mode;
    vw_metrics_clear(&s->metrics);
    s->trace.row = s->trace.token = -1;
}

int vw_snapshot_val_slot(vw_snapshot *s, int depth)
{
    for (int i = 0; i < s->n_val_depths; i++)
        if (s->val_depth[i] == depth) return i;
    if (s->n_val_depths == VW_MAX_DEPTHS) return -1;
    s->val_depth[s->n_val_depths] = depth;
    return s->n_val_depths++;
}

void vw_snapshot_push_val(vw_snapshot *s, const vw_val *v)
{
    if (s->n_vals == VW_VALS) { /* keep every other point, and the final ones */
        int n = 0;
        for (int i = 0; i < VW_VALS; i++)
            if (i % 2 == 0 || s->vals[i].final) s->vals[n++] = s->vals[i];
        s->n_vals = n;
        if (n == VW_VALS) { /* all final: drop the oldest */
            memmove(s->vals, s->vals + 1, sizeof s->vals[0] * (VW_VALS - 1));
            s->n_vals--;
        }
    }
    s->vals[s->n_vals++] = *v;
}

void vw_snapshot_push_eval(vw_snapshot *s, const vw_eval *e)
{
    if (s->n_evals == VW_EVALS) {
        memmove(s->evals, s->evals + 1, sizeof s->evals[0] * (VW_EVALS - 1));
        s->n_evals--;
    }
    s->evals[s->n_evals++] = *e;
}
