/* workbench_watch.c: see workbench_watch.h. */
#include "workbench_watch.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rb_safetensors.h"
#include "rb_train.h"
#include "vw_text.h"

static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* {"1": 2.5, "4": 2.1} -> depths and losses */
static int depth_map(const cJSON *obj, int *depth, float *loss)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (n == VW_MAX_DEPTHS || !cJSON_IsNumber(it) || !it->string) continue;
        char *end;
        long d = strtol(it->string, &end, 10);
        if (*end || d < 1) continue;
        depth[n] = (int)d;
        loss[n++] = (float)it->valuedouble;
    }
    return n;
}

int wb_metrics_parse(const char *line, wb_metrics_line *out)
{
    memset(out, 0, sizeof *out);
    cJSON *o = cJSON_Parse(line);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -1;
    }
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(o, "phase"), *st = cJSON_GetObjectItemCaseSensitive(o, "step");
    if (!cJSON_IsNumber(ph) || !cJSON_IsNumber(st)) {
        cJSON_Delete(o);
        return -1;
    }
    out->phase = ph->valueint;
    out->step = (int64_t)st->valuedouble;
    out->total_steps = (int64_t)num(o, "total_steps", 0);
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(o, "loss");
    if (cJSON_IsNumber(loss)) {
        vw_metric *m = &out->m;
        out->has_step = 1;
        m->step = (int32_t)out->step;
        m->phase = (int16_t)out->phase;
        m->loss = (float)loss->valuedouble;
        m->lr_mult = (float)num(o, "lr_mult", NAN);
        m->lr_muon = (float)num(o, "lr_muon", NAN);
        m->lr_adam = (float)num(o, "lr_adam", NAN);
        m->grad_norm = (float)num(o, "grad_norm", NAN);
        m->tokens_per_s = (float)num(o, "tokens_per_s", NAN);
        m->flops = num(o, "flops", NAN);
        m->time = num(o, "time", NAN);
        m->rbar = (int16_t)num(o, "rbar", 0);
        m->n = (int16_t)num(o, "n", 0);
        m->k = (int16_t)num(o, "k", 0);
        m->skipped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "skipped"));
    }
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(o, "val_loss");
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(o, "final_val_loss");
    if (cJSON_IsObject(val)) out->n_val = depth_map(val, out->val_depth, out->val_loss);
    else if (cJSON_IsObject(fin)) {
        out->n_val = depth_map(fin, out->val_depth, out->val_loss);
        out->final = 1;
    }
    cJSON_Delete(o);
    return 0;
}

void wb_watch_init(wb_watch *wt, const char *dir, int64_t total_steps, int auto_reload, const char *tok_path,
                   wb_inspect *insp)
{
    memset(wt, 0, sizeof *wt);
    snprintf(wt->dir, sizeof wt->dir, "%s", dir);
    snprintf(wt->path, sizeof wt->path, "%s/metrics.jsonl", dir);
    wt->total_steps_opt = total_steps;
    wt->auto_reload = auto_reload;
    wt->tok_path = tok_path;
    wt->insp = insp;
}

void wb_watch_free(wb_watch *wt)
{
    if (wt->f) fclose(wt->f);
    if (wt->am) app_model_close(wt->am);
    free(wt->am);
    wt->f = NULL;
    wt->am = NULL;
}

/* Start over: the file was replaced or cut (a resumed run rewrote it). */
static void restart(wb_watch *wt, wb *w)
{
    if (wt->f) fclose(wt->f);
    wt->f = NULL;
    wt->pos = 0;
    wt->n_partial = 0;
    wt->phase = 0;
    wt->last_step = 0;
    wt->x_base = 0;
    vw_snapshot *s = wb_edit(w);
    vw_metrics_clear(&s->metrics);
    s->n_vals = 0;
    wb_commit(w);
}

static void take_line(wb_watch *wt, wb *w, const char *line)
{
    wb_metrics_line ml;
    if (wb_metrics_parse(line, &ml) != 0) {
        wb_log(w, VW_LOG_WARN, "%s: a line that is not a metrics record was skipped", wt->path);
        return;
    }
    if (wt->phase && ml.phase > wt->phase) wt->x_base += (double)wt->last_step; /* a new phase continues the axis */
    wt->phase = ml.phase;
    double x = wt->x_base + (double)ml.step;
    if (ml.has_step) {
        wt->last_step = ml.step;
        ml.m.x = x;
        wb_push_metric(w, &ml.m);
    }
    if (ml.n_val > 0) wb_push_val(w, x, (int32_t)ml.step, ml.phase, ml.final, ml.val_depth, ml.val_loss, ml.n_val);
    if (ml.total_steps > 0 && wt->total_steps_opt == 0) {
        vw_snapshot *s = wb_edit(w);
        s->status.total_steps = ml.total_steps;
        wb_commit(w);
    }
}

/* New complete lines of metrics.jsonl. */
static int read_metrics(wb_watch *wt, wb *w)
{
    struct stat sb;
    if (stat(wt->path, &sb) != 0) {
        if (!wt->waiting_logged) {
            wb_log(w, VW_LOG_INFO, "waiting for %s", wt->path);
            wt->waiting_logged = 1;
        }
        return 0;
    }
    if (wt->f && (sb.st_ino != wt->ino || sb.st_size < wt->pos)) {
        wb_log(w, VW_LOG_INFO, "%s was rewritten (a resumed run?): reading it again", wt->path);
        restart(wt, w);
    }
    if (!wt->f) {
        wt->f = fopen(wt->path, "r");
        if (!wt->f) return 0;
        wt->ino = sb.st_ino;
        wt->pos = 0;
        wt->n_partial = 0;
    }
    if (sb.st_size <= wt->pos + (off_t)wt->n_partial) return 0;
    if (fseeko(wt->f, wt->pos + (off_t)wt->n_partial, SEEK_SET) != 0) return 0;
    char buf[65536];
    size_t n;
    int any = 0;
    while ((n = fread(buf, 1, sizeof buf, wt->f)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (wt->n_partial < sizeof wt->partial - 1) wt->partial[wt->n_partial] = buf[i];
                wt->n_partial++;
                continue;
            }
            size_t len = wt->n_partial < sizeof wt->partial - 1 ? wt->n_partial : sizeof wt->partial - 1;
            wt->partial[len] = '\0';
            take_line(wt, w, wt->partial);
            wt->pos += (off_t)wt->n_partial + 1;
            wt->n_partial = 0;
            any = 1;
        }
    }
    clearerr(wt->f);
    return any;
}

/* The run's total steps and data sources from a checkpoint's metadata. */
static void read_checkpoint_meta(wb_watch *wt, wb *w, const char *name)
{
    char path[2400];
    snprintf(path, sizeof path, "%s/%s/model.safetensors", wt->dir, name);
    rb_safetensors *st = NULL;
    if (rb_st_open(&st, path, NULL) != RB_OK) return;
    const char *ts = rb_st_metadata_get(st, "train_state");
    cJSON *o = ts ? cJSON_Parse(ts) : NULL;
    if (o) {
        int64_t total = (int64_t)num(o, "total_steps", 0);
        char data[128] = "";
        const cJSON *src, *srcs = cJSON_GetObjectItemCaseSensitive(o, "sources");
        cJSON_ArrayForEach(src, srcs)
        {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(src, "path");
            if (!cJSON_IsString(p)) continue;
            const char *base = strrchr(p->valuestring, '/');
            char one[96];
            snprintf(one, sizeof one, "%s%s:%g", data[0] ? " " : "", base ? base + 1 : p->valuestring,
                     num(src, "weight", 1));
            strncat(data, one, sizeof data - strlen(data) - 1);
        }
        vw_snapshot *s = wb_edit(w);
        if (wt->total_steps_opt == 0 && total > 0) s->status.total_steps = total;
        if (data[0]) {
            char line[160];
            snprintf(line, sizeof line, "phase %d: %s", wt->phase, data);
            vw_copy_text(s->status.data, sizeof s->status.data, line);
        }
        wb_commit(w);
        cJSON_Delete(o);
    }
    rb_st_close(st);
}

static int check_latest(wb_watch *wt, wb *w)
{
    char name[256];
    if (rb_train_latest_checkpoint(wt->dir, name, sizeof name, NULL) != RB_OK) return 0;
    if (!strcmp(name, wt->newest)) return 0;
    snprintf(wt->newest, sizeof wt->newest, "%s", name);
    vw_snapshot *s = wb_edit(w);
    vw_copy_text(s->status.newest, sizeof s->status.newest, name);
    wb_commit(w);
    read_checkpoint_meta(wt, w, name);
    wb_log(w, VW_LOG_INFO, "new checkpoint %s%s", name, wt->auto_reload ? "" : " (r loads it)");
    if (wt->auto_reload) wb_watch_reload(wt, w);
    return 1;
}

void wb_watch_reload(wb_watch *wt, wb *w)
{
    if (!wt->newest[0]) {
        wb_log(w, VW_LOG_WARN, "%s has no checkpoint yet (no %s/latest)", wt->dir, wt->dir);
        return;
    }
    if (!wt->insp) return;
    char path[2400];
    snprintf(path, sizeof path, "%s/%s/model.safetensors", wt->dir, wt->newest);
    wb_set_worker(w, 1, "loading %s", wt->newest);
    app_model *am = malloc(sizeof *am);
    /* app_model_open prints its errors to stderr, which the log pane shows */
    if (!am || app_model_open(am, "tui", path, wt->tok_path, 1) != 0) {
        free(am);
        wb_log(w, VW_LOG_ERROR, "could not load %s; the answers stay as they were", path);
        wb_set_worker(w, 0, "idle");
        return;
    }
    wb_inspect_set_model(wt->insp, w, am); /* the old model is no longer used: close it */
    if (wt->am) app_model_close(wt->am);
    free(wt->am);
    wt->am = am;
    snprintf(wt->loaded, sizeof wt->loaded, "%s", wt->newest);
    vw_snapshot *s = wb_edit(w);
    vw_copy_text(s->status.loaded, sizeof s->status.loaded, wt->newest);
    wb_describe_model(am, s->status.model, sizeof s->status.model);
    wb_commit(w);
    wb_log(w, VW_LOG_INFO, "loaded %s for the answers and convergence panes", wt->newest);
}

int wb_watch_poll(wb_watch *wt, wb *w)
{
    double now = wb_now(w);
    if (now < wt->next_poll) return 0;
    int any = read_metrics(wt, w);
    any |= check_latest(wt, w);
    vw_snapshot *s = wb_edit(w);
    const vw_metric *last = vw_metrics_last(&s->metrics);
    s->status.training = last && now - s->status.wall_updated < 30;
    s->status.finished = s->status.total_steps > 0 && s->status.step >= s->status.total_steps;
    wb_commit(w);
    wt->next_poll = now + (any ? 0.05 : 0.25); /* catch up quickly, then look four times a second */
    return any;
}

static void watch_command(void *ctx, wb *w, const wb_cmd *c)
{
    wb_watch *wt = ctx;
    switch (c->kind) {
    case WB_CMD_RELOAD: wb_watch_reload(wt, w); break;
    case WB_CMD_AUTO_RELOAD: {
        wt->auto_reload = !wt->auto_reload;
        vw_snapshot *s = wb_edit(w);
        s->status.auto_reload = wt->auto_reload;
        wb_commit(w);
        wb_log(w, VW_LOG_INFO, "new checkpoints are %s", wt->auto_reload ? "loaded as they appear" : "not loaded");
        if (wt->auto_reload && strcmp(wt->loaded, wt->newest)) wb_watch_reload(wt, w);
        break;
    }
    case WB_CMD_SAVE: wb_log(w, VW_LOG_WARN, "save: the watched run saves its own checkpoints"); break;
    case WB_CMD_LUA: wb_log(w, VW_LOG_WARN, "Lua: the watched run is not driven from here"); break;
    default:
        if (wt->insp) wb_inspect_command(wt->insp, w, c);
        break;
    }
}

static int watch_idle(void *ctx, wb *w)
{
    wb_watch *wt = ctx;
    int did = wb_watch_poll(wt, w);
    if (wt->insp && wb_inspect_idle(wt->insp, w)) did = 1;
    return did;
}

wb_handlers wb_watch_handlers(wb_watch *wt)
{
    wb_handlers h = {wt, watch_command, watch_idle, 0};
    return h;
}
