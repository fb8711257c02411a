/* lua_train.c: training from Lua.
 *
 * rb.train(recipe) runs the experiment runner (runner.h) that `retrobench
 * train` runs: the same run folder, metrics file, checkpoints, resume and
 * final validation, so the same recipe gives byte-identical files. Between
 * steps it calls the script's on_step(metrics, control) (and on_validation,
 * on_checkpoint, on_phase): control:set_lr_scale, set_rbar, validate, save
 * and stop change the run from the next step on, and are recorded in the
 * checkpoints so a resume repeats them. Every callback runs protected: an
 * error in one stops training (the last checkpoint stays as it was) and is
 * raised from rb.train with the callback's file:line and traceback. Queued
 * Lua lines (the workbench) run after each step; rb.training() gives them
 * the control.
 *
 * rb.trainer(recipe) is the engine's trainer one step at a time, for
 * scripts that drive the loop themselves (no run folder: the script saves
 * and restores checkpoints where it wants). */
#include "lua_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_data.h"
#include "lua_recipe.h"
#include "rb_optim.h"
#include "rb_train_fields.h"
#include "runner.h"

#define CONTROL_MT "retrobench.control"
#define TRAINER_MT "retrobench.trainer"

enum { CB_STEP, CB_VALIDATION, CB_CHECKPOINT, CB_PHASE, CB_COUNT };
static const char *const cb_names[CB_COUNT] = {"on_step", "on_validation", "on_checkpoint", "on_phase"};

struct lh_run {
    lua_State *L;
    int cb_ref[CB_COUNT];     /* the script's callbacks (LUA_NOREF: none) */
    int ctl_ref;              /* the control userdata */
    app_run_control *ctl;     /* during a step callback */
    char *cb_error;           /* the first callback error, with its traceback */
    int cb_failed_name;
    char errors[4096];        /* what the runner reported as errors */
    int quiet;
    const char *out;
    int n_phases;
    int64_t steps[APP_RUN_MAX_PHASES];
    double tok, sec;
    int64_t stepped;          /* steps trained by this process */
    /* what a callback trampoline reads */
    int phase;
    const rb_train_metrics *mt;
    const app_run_validation *val;
    const app_run_phase_info *pinfo;
    const char *ck_dir, *ck_name;
    int64_t ck_step;
    /* the result */
    double flops_total;
    int n_final[APP_RUN_MAX_PHASES];
    int final_depth[APP_RUN_MAX_PHASES][RB_TRAIN_MAX_VAL_DEPTHS];
    double final_loss[APP_RUN_MAX_PHASES][RB_TRAIN_MAX_VAL_DEPTHS];
    char last_ckpt[APP_RUN_MAX_PHASES][4400];
};

typedef struct {
    lh_run *run;
} control_ud;

/* ---------------- the control ---------------- */

static app_run_control *check_ctl(lua_State *L, const char *fn)
{
    control_ud *c = luaL_checkudata(L, 1, CONTROL_MT);
    if (!c->run || !c->run->ctl)
        lh_error(L, "%s: this control is valid only inside on_step (or a queued line run between steps)", fn);
    return c->run->ctl;
}

static int c_stop(lua_State *L)
{
    check_ctl(L, "control:stop")->stop = 1;
    return 0;
}
static int c_save(lua_State *L)
{
    check_ctl(L, "control:save")->save = 1;
    return 0;
}
static int c_validate(lua_State *L)
{
    check_ctl(L, "control:validate")->validate = 1;
    return 0;
}
static int c_set_lr_scale(lua_State *L)
{
    app_run_control *c = check_ctl(L, "control:set_lr_scale");
    double v = luaL_checknumber(L, 2);
    if (!(v > 0) || !isfinite(v)) lh_error(L, "control:set_lr_scale: the scale must be a number > 0, not %g", v);
    c->lr_scale = v;
    return 0;
}
static int c_set_rbar(lua_State *L)
{
    app_run_control *c = check_ctl(L, "control:set_rbar");
    lua_Integer v = luaL_checkinteger(L, 2);
    if (v < 0 || v > RB_DEPTH_RBAR_MAX)
        lh_error(L, "control:set_rbar: rbar %lld must be in 1..%d (0: back to the curriculum)", (long long)v,
                 RB_DEPTH_RBAR_MAX);
    c->rbar = (int)v;
    return 0;
}
static int c_lr_scale(lua_State *L)
{
    lua_pushnumber(L, check_ctl(L, "control:lr_scale")->lr_scale);
    return 1;
}

/* rb.training(): the control of the run in progress, inside a step */
static int l_training(lua_State *L)
{
    lua_host *h = lh_host(L);
    if (!h->run || !h->run->ctl) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->run->ctl_ref);
    return 1;
}

/* ---------------- tables handed to callbacks ---------------- */

static void seti(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}
static void setn(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}
static void sets(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}
static void setb(lua_State *L, const char *k, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

static void push_metrics(lua_State *L, int phase, const rb_train_metrics *m)
{
    lua_createtable(L, 0, 24);
    seti(L, "phase", phase);
    seti(L, "step", m->step);
    setn(L, "loss", m->loss);
    setn(L, "lr_mult", m->lr_mult);
    setn(L, "lr_muon", m->lr_muon);
    setn(L, "lr_adam", m->lr_adam);
    seti(L, "rbar", m->rbar);
    seti(L, "backprop", m->backprop);
    seti(L, "n", m->n);
    seti(L, "k", m->k);
    seti(L, "n_sum", m->n_sum);
    seti(L, "k_sum", m->k_sum);
    setn(L, "grad_norm", m->grad_norm);
    setb(L, "skipped", m->skipped);
    setn(L, "tokens", m->tokens);
    setn(L, "seconds", m->seconds);
    setn(L, "flops", m->flops);
    setn(L, "flops_total", m->flops_total);
    if (m->n_val > 0) {
        lua_createtable(L, 0, m->n_val);
        for (int i = 0; i < m->n_val; i++) {
            lua_pushnumber(L, m->val_loss[i]);
            lua_rawseti(L, -2, m->val_depth[i]);
        }
        lua_setfield(L, -2, "val");
    }
    setb(L, "val_interrupted", m->val_interrupted);
}

/* ---------------- runner callbacks ---------------- */

/* Runs protected: call callback `which` with the tables for it. */
static int call_cb(lua_State *L)
{
    lh_run *r = lua_touserdata(L, 1);
    const int which = (int)lua_tointeger(L, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->cb_ref[which]);
    int nargs = 1;
    if (which == CB_STEP) {
        push_metrics(L, r->phase, r->mt);
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->ctl_ref);
        nargs = 2;
    } else if (which == CB_VALIDATION) {
        const app_run_validation *v = r->val;
        lua_createtable(L, 0, 8);
        seti(L, "phase", v->phase);
        seti(L, "step", v->step);
        setb(L, "final", v->final);
        seti(L, "depth", v->depth);
        if (v->event == APP_RUN_VAL_DEPTH) setn(L, "loss", v->loss);
        else sets(L, "error", v->message ? v->message : "");
        seti(L, "index", v->index + 1);
        seti(L, "count", v->count);
    } else if (which == CB_CHECKPOINT) {
        lua_createtable(L, 0, 4);
        seti(L, "phase", r->phase);
        seti(L, "step", r->ck_step);
        lua_pushfstring(L, "%s/%s", r->ck_dir, r->ck_name);
        lua_setfield(L, -2, "path");
        sets(L, "name", r->ck_name);
    } else {
        const app_run_phase_info *p = r->pinfo;
        lua_createtable(L, 0, 6);
        seti(L, "phase", p->phase);
        seti(L, "phases", p->n_phases);
        sets(L, "dir", p->dir);
        seti(L, "seq_len", p->seq_len);
        lh_push_recipe(L, p->cfg);
        lua_setfield(L, -2, "recipe");
    }
    lua_call(L, nargs, 0);
    return 0;
}

typedef struct {
    lh_run *run;
    int which;
} cb_job;

static int call_cb_cf(lua_State *L)
{
    cb_job *j = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_pushlightuserdata(L, j->run);
    lua_pushinteger(L, j->which);
    return call_cb(L);
}

/* Call a script callback; an error (not a stop) is kept and fails the run
 * at the next step. */
static void invoke(lh_run *r, int which)
{
    if (r->cb_ref[which] == LUA_NOREF || r->cb_error) return;
    cb_job j = {r, which};
    char *msg = NULL;
    if (lh_protected(r->L, call_cb_cf, &j, &msg) != LUA_OK) {
        if (lh_stop_value(r->L)) { /* Ctrl-C or a budget inside the callback: the runner stops and saves */
            free(msg);
            return;
        }
        r->cb_error = msg;
        r->cb_failed_name = which;
    }
}

static void r_phase_start(void *u, const app_run_phase_info *p)
{
    lh_run *r = u;
    r->phase = p->phase;
    r->pinfo = p;
    r->tok = r->sec = 0;
    lh_log(r->L, LH_LOG_INFO, "rb.train: phase %d of %d, %lld steps of %d x %d x %d tokens, rbar to %d, %s, checkpoints in %s",
           p->phase, p->n_phases, (long long)p->cfg->steps, p->cfg->grad_accum, p->cfg->batch, p->seq_len,
           rb_config_is_recurrent(&p->model->cfg) ? p->cfg->rbar.max_value : 0,
           p->cfg->optim.kind == RB_OPTIM_MUON ? "Muon + AdamW" : "AdamW", p->dir);
    invoke(r, CB_PHASE);
}

static void r_resumed(void *u, int phase, const char *dir, const char *name, int64_t step)
{
    lh_run *r = u;
    lh_log(r->L, LH_LOG_INFO, "rb.train: phase %d resumed from %s/%s at step %lld", phase, dir, name, (long long)step);
}

static int r_step(void *u, int phase, const rb_train_metrics *m, app_run_control *ctl)
{
    lh_run *r = u;
    lua_host *h = lh_host(r->L);
    r->phase = phase;
    r->mt = m;
    r->tok += m->tokens;
    r->sec += m->seconds;
    r->stepped++;
    r->flops_total = m->flops_total;
    if (h->o.sink.train_step) h->o.sink.train_step(h->o.sink.user, phase, m);
    if (!r->quiet)
        lh_progress(r->L, "phase %d step %lld/%lld loss %.4f%s rbar %d lr x%.3f  %.0f tok/s", phase, (long long)m->step,
                    (long long)r->steps[phase - 1], m->loss, m->skipped ? " (skipped)" : "", m->rbar, m->lr_mult,
                    r->sec > 0 ? r->tok / r->sec : 0.0);
    r->ctl = ctl;
    invoke(r, CB_STEP);
    if (!r->cb_error) lh_safe_point(r->L); /* the workbench's commands and queued Lua lines */
    r->ctl = NULL;
    return r->cb_error != NULL;
}

static void r_validation(void *u, const app_run_validation *v)
{
    lh_run *r = u;
    lua_host *h = lh_host(r->L);
    if (h->o.sink.validation) h->o.sink.validation(h->o.sink.user, v);
    if (v->event == APP_RUN_VAL_START) return;
    if (v->event == APP_RUN_VAL_DEPTH && v->final && v->phase >= 1 && v->phase <= APP_RUN_MAX_PHASES) {
        int p = v->phase - 1, k = r->n_final[p];
        if (k < RB_TRAIN_MAX_VAL_DEPTHS) {
            r->final_depth[p][k] = v->depth;
            r->final_loss[p][k] = v->loss;
            r->n_final[p] = k + 1;
        }
    }
    if (v->event == APP_RUN_VAL_DEPTH && !r->quiet)
        lh_progress(r->L, "phase %d %svalidation: depth %d loss %.4f (%d of %d)", v->phase, v->final ? "final " : "",
                    v->depth, v->loss, v->index + 1, v->count);
    if (v->event == APP_RUN_VAL_FAILED) lh_log(r->L, LH_LOG_WARN, "rb.train: validation failed: %s", v->message);
    r->val = v;
    invoke(r, CB_VALIDATION);
}

static void r_progress(void *u, int phase, int depth, uint64_t done, uint64_t total)
{
    lh_run *r = u;
    if (!r->quiet && total)
        lh_progress(r->L, "phase %d validation: depth %d, %d%% of %llu rows", phase, depth, (int)(100 * done / total),
                    (unsigned long long)total);
}

static void r_checkpoint(void *u, int phase, const char *dir, const char *name, int64_t step)
{
    lh_run *r = u;
    if (phase >= 1 && phase <= APP_RUN_MAX_PHASES)
        snprintf(r->last_ckpt[phase - 1], sizeof r->last_ckpt[0], "%s/%s", dir, name);
    r->phase = phase;
    r->ck_dir = dir;
    r->ck_name = name;
    r->ck_step = step;
    invoke(r, CB_CHECKPOINT);
}

static void r_stopping(void *u, int phase, int stop_value, int64_t step)
{
    lh_run *r = u;
    (void)stop_value;
    lh_log(r->L, LH_LOG_INFO, "rb.train: stopping; saving a checkpoint of phase %d at step %lld", phase, (long long)step);
}

static void r_notice(void *u, const char *msg)
{
    lh_run *r = u;
    lh_log(r->L, LH_LOG_INFO, "rb.train: %s", msg);
}

static void r_error(void *u, const char *msg)
{
    lh_run *r = u;
    size_t n = strlen(r->errors);
    snprintf(r->errors + n, sizeof r->errors - n, "%s%s", n ? "; " : "", msg);
}

/* ---------------- rb.train ---------------- */

static const char *const front_keys[] = {"model", "out", "ckpt_every", "resume", "phases", "on_step", "on_validation",
                                         "on_checkpoint", "on_phase", "quiet", NULL};

/* final validation lines of phase p from OUT/metrics.jsonl (a run that a
   resume found finished) */
static void finals_from_file(lh_run *r, int p)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->out);
    FILE *f = fopen(path, "re");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (!strstr(line, "\"final_val_loss\"")) continue;
        cJSON *j = cJSON_Parse(line);
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(j, "phase");
        const cJSON *fv = cJSON_GetObjectItemCaseSensitive(j, "final_val_loss");
        if (cJSON_IsNumber(ph) && ph->valueint == p + 1 && cJSON_IsObject(fv)) {
            const cJSON *it;
            cJSON_ArrayForEach(it, fv)
            {
                int k = r->n_final[p];
                if (k < RB_TRAIN_MAX_VAL_DEPTHS && cJSON_IsNumber(it)) {
                    r->final_depth[p][k] = atoi(it->string);
                    r->final_loss[p][k] = it->valuedouble;
                    r->n_final[p] = k + 1;
                }
            }
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
}

static void push_result(lua_State *L, lh_run *r, const app_run_result *res, const char *outcome)
{
    lua_createtable(L, 0, 8);
    sets(L, "outcome", outcome);
    seti(L, "phase", res->phase);
    seti(L, "step", res->step);
    sets(L, "out", r->out);
    setn(L, "flops_total", r->flops_total);
    lua_createtable(L, r->n_phases, 0);
    for (int p = 0; p < r->n_phases; p++) {
        if (r->n_final[p] == 0) finals_from_file(r, p);
        lua_createtable(L, 0, r->n_final[p]);
        for (int k = 0; k < r->n_final[p]; k++) {
            lua_pushnumber(L, r->final_loss[p][k]);
            lua_rawseti(L, -2, r->final_depth[p][k]);
        }
        lua_rawseti(L, -2, p + 1);
    }
    lua_rawgeti(L, -1, r->n_phases);
    lua_setfield(L, -3, "final");
    lua_setfield(L, -2, "finals");
    /* the newest checkpoint of the last phase (this process's, else latest) */
    int lp = res->phase >= 1 && res->phase <= r->n_phases ? res->phase - 1 : r->n_phases - 1;
    if (r->last_ckpt[lp][0]) {
        sets(L, "checkpoint", r->last_ckpt[lp]);
    } else {
        char dir[4400], name[256];
        if (r->n_phases == 1) snprintf(dir, sizeof dir, "%s", r->out);
        else snprintf(dir, sizeof dir, "%s/phase%d", r->out, lp + 1);
        if (rb_train_latest_checkpoint(dir, name, sizeof name, NULL) == RB_OK) {
            lua_pushfstring(L, "%s/%s", dir, name);
            lua_setfield(L, -2, "checkpoint");
        }
    }
}

/* the run holder's references and the callback error */
static void run_release(lua_State *L, lh_run *r)
{
    for (int i = 0; i < CB_COUNT; i++)
        if (r->cb_ref[i] != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, r->cb_ref[i]);
    if (r->ctl_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->ctl_ref);
        control_ud *c = lua_touserdata(L, -1);
        if (c) c->run = NULL;
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, r->ctl_ref);
    }
    for (int i = 0; i < CB_COUNT; i++) r->cb_ref[i] = LUA_NOREF;
    r->ctl_ref = LUA_NOREF;
    free(r->cb_error);
    r->cb_error = NULL;
}

static int run_gc(lua_State *L)
{
    run_release(L, lua_touserdata(L, 1));
    return 0;
}

/* Read every phase's recipe (top level, then the phase's table). */
static int read_phases(lua_State *L, const char *fn, lh_recipe *rec, int *n_out)
{
    lua_getfield(L, 1, "phases");
    int n = 1;
    if (!lua_isnil(L, -1)) {
        if (!lua_istable(L, -1)) lh_error(L, "%s: phases must be a list of recipe tables, not a %s", fn, luaL_typename(L, -1));
        n = (int)luaL_len(L, -1);
        if (n < 1 || n > APP_RUN_MAX_PHASES) lh_error(L, "%s: phases lists %d phases; give 1..%d", fn, n, APP_RUN_MAX_PHASES);
    }
    const int phases_idx = lua_gettop(L);
    for (int p = 0; p < n; p++) {
        lh_recipe_init(&rec[p]);
        lh_recipe_apply(L, fn, &rec[p], 1, front_keys);
        if (!lua_isnil(L, phases_idx)) {
            lua_rawgeti(L, phases_idx, p + 1);
            if (!lua_istable(L, -1)) lh_error(L, "%s: phases[%d] must be a recipe table, not a %s", fn, p + 1, luaL_typename(L, -1));
            char pfn[64];
            snprintf(pfn, sizeof pfn, "%s: phases[%d]", fn, p + 1);
            lh_recipe_apply(L, pfn, &rec[p], lua_gettop(L), NULL);
            lua_pop(L, 1);
        }
        lh_recipe_finish(L, fn, &rec[p], 1);
    }
    lua_pop(L, 1);
    *n_out = n;
    return n;
}

/* The data of every phase against the model's tokenizer. */
static void check_data(lua_State *L, const char *fn, const lh_model *mm, const rb_train_config *c)
{
    const rb_loaded_model *lm = mm->tok_lm && mm->tok_lm->tok ? mm->tok_lm : &mm->lm;
    rb_loaded_model view = *lm; /* the model's own configuration with the tokenizer's provenance */
    view.cfg = mm->m->cfg;
    if (lm != &mm->lm) snprintf(view.source, sizeof view.source, "%s", mm->lm.source);
    for (int i = 0; i < c->n_sources; i++) {
        char msg[2048];
        int bad = app_data_problem(&view, c->sources[i].path, msg, sizeof msg);
        if (bad) lh_error(L, "%s: %s", fn, msg);
        if (msg[0]) lh_log(L, LH_LOG_WARN, "%s: %s", fn, msg);
    }
}

static int l_train(lua_State *L)
{
    const char *fn = "rb.train";
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_host *h = lh_host(L);
    if (h->run) lh_error(L, "%s: a run is in progress (rb.train inside a training callback); train after it returns", fn);
    lua_getfield(L, 1, "model");
    if (lua_isnil(L, -1)) lh_error(L, "%s: give model = a model (rb.load, rb.surgery, rb.model)", fn);
    lh_model *mm = lh_check_model(L, -1, fn);
    if (mm->busy) lh_error(L, "%s: the model is being trained already", fn);
    const int model_idx = lua_gettop(L);
    const char *out = lh_opt_str(L, 1, fn, "out", NULL);
    if (!out) lh_error(L, "%s: give out = DIR (the run folder: metrics.jsonl and the checkpoints)", fn);
    const lua_Integer ckpt_every = lh_opt_int(L, 1, fn, "ckpt_every", 0, 0, (lua_Integer)1 << 40);
    const int resume = lh_opt_bool(L, 1, fn, "resume", 0);
    const int quiet = lh_opt_bool(L, 1, fn, "quiet", 0);

    /* the holder of everything the run references, freed by the collector
       whatever happens */
    lh_run *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    for (int i = 0; i < CB_COUNT; i++) r->cb_ref[i] = LUA_NOREF;
    r->ctl_ref = LUA_NOREF;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, run_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    const int run_idx = lua_gettop(L);
    r->L = L;
    r->out = out;
    r->quiet = quiet;
    for (int i = 0; i < CB_COUNT; i++) {
        lua_getfield(L, 1, cb_names[i]);
        if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
            lh_error(L, "%s: %s must be a function, not a %s", fn, cb_names[i], luaL_typename(L, -1));
        if (lua_isnil(L, -1)) lua_pop(L, 1);
        else r->cb_ref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    control_ud *cu = lua_newuserdatauv(L, sizeof *cu, 0);
    cu->run = r;
    luaL_setmetatable(L, CONTROL_MT);
    r->ctl_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* the recipes (userdata: freed by the collector) */
    lh_recipe *rec = lua_newuserdatauv(L, sizeof(lh_recipe) * APP_RUN_MAX_PHASES, 0);
    memset(rec, 0, sizeof(lh_recipe) * APP_RUN_MAX_PHASES);
    const int rec_idx = lua_gettop(L);
    (void)rec_idx;
    int n = 0;
    read_phases(L, fn, rec, &n);
    r->n_phases = n;
    app_run_spec spec;
    memset(&spec, 0, sizeof spec);
    for (int p = 0; p < n; p++) {
        spec.phases[p] = rec[p].cfg;
        r->steps[p] = rec[p].cfg.steps;
    }
    /* the static baseline trains Muon on separate matrices, as `retrobench train` does */
    const int fuse_field = rb_train_field_index(rb_train_field_find("optim.muon_fuse"));
    if (!rec[0].given[fuse_field] && spec.phases[0].optim.kind == RB_OPTIM_MUON &&
        !rb_optim_default_fuse(mm->lm.has_plan ? mm->lm.plan.kind : NULL)) {
        for (int p = 0; p < n; p++)
            if (!rec[p].given[fuse_field]) spec.phases[p].optim.muon_fuse = 0;
        lh_log(L, LH_LOG_INFO, "%s: the model is the static baseline: Muon on q, k, v, o, gate, up, down as separate "
                               "matrices (fuse = true to fuse)", fn);
    }
    for (int p = 0; p < n; p++) check_data(L, fn, mm, &spec.phases[p]);
    /* checkpoint metadata: the tokenizer embedded, special ids; the values
       live on the Lua stack during the run */
    const char *keys[4], *vals[4];
    int nm = 0;
    char *owned = NULL;
    char bos[32], eos[32];
    lh_model_meta(L, fn, mm, keys, vals, &nm, &owned, bos, eos);
    if (owned) {
        lua_pushstring(L, owned);
        for (int i = 0; i < nm; i++)
            if (vals[i] == owned) vals[i] = lua_tostring(L, -1);
        free(owned);
    }
    spec.model = mm->m;
    spec.extras = (rb_ckpt_extras){mm->lm.has_plan ? &mm->lm.plan : NULL, keys, vals, nm, NULL, 0};
    spec.n_phases = n;
    spec.out_dir = out;
    spec.ckpt_every = ckpt_every;
    spec.resume = resume;
    spec.stop = h->stop;

    app_run_callbacks cb = {.user = r,
                            .phase_start = r_phase_start,
                            .resumed = r_resumed,
                            .step = r_step,
                            .validation = r_validation,
                            .progress = r_progress,
                            .checkpoint = r_checkpoint,
                            .stopping = r_stopping,
                            .notice = r_notice,
                            .error = r_error};
    mm->busy = 1;
    h->run = r;
    app_run_result res = app_run(&spec, &cb);
    h->run = NULL;
    mm->busy = 0;
    lh_progress_end(L);
    for (int p = 0; p < n; p++) lh_recipe_release(L, &rec[p]);
    (void)model_idx;
    if (r->cb_error) {
        lua_pushstring(L, r->cb_error);
        const int which = r->cb_failed_name;
        run_release(L, r);
        return lh_error(L, "%s: the %s callback failed, so training stopped (the last checkpoint in %s is intact): %s",
                        fn, cb_names[which], out, lua_tostring(L, -1));
    }
    run_release(L, r);
    if (res.outcome == APP_RUN_STOPPED && lh_stop_value(L)) {
        char what[4600];
        snprintf(what, sizeof what, " during rb.train; the run in %s is saved at phase %d step %lld: continue it with "
                 "resume = true", out, res.phase, (long long)res.step);
        return lh_raise_stop(L, what);
    }
    if (res.outcome == APP_RUN_REFUSED || res.outcome == APP_RUN_FAILED)
        return lh_error(L, "%s: %s", fn, r->errors[0] ? r->errors : "the run failed");
    push_result(L, r, &res, res.outcome == APP_RUN_DONE ? "done" : "stopped");
    if (res.outcome == APP_RUN_DONE && r->stepped == 0) {
        /* a resume that found the run finished: the model gets the final weights, as after training */
        lua_getfield(L, -1, "checkpoint");
        if (lua_isstring(L, -1)) {
            char path[4500];
            snprintf(path, sizeof path, "%s/model.safetensors", lua_tostring(L, -1));
            rb_loaded_model lm;
            memset(&lm, 0, sizeof lm);
            rb_error err = {0};
            rb_status st = rb_load_checkpoint(path, NULL, &lm, &err);
            if (st == RB_OK && lm.n_params != mm->m->table.total)
                st = rb_fail(&err, RB_EINVAL, "%s does not fit the model (%zu parameters, not %zu)", path, lm.n_params,
                             mm->m->table.total);
            if (st == RB_OK) st = rb_model_set_params(mm->m, lm.params, &err);
            rb_loaded_model_free(&lm);
            if (st != RB_OK) lh_engine_error(L, fn, &err);
        }
        lua_pop(L, 1);
    }
    (void)run_idx;
    return 1;
}

/* ---------------- rb.trainer: one step at a time ---------------- */

typedef struct {
    rb_trainer *t;
    lh_model *mm;
    int model_ref;
    lh_recipe rec;
} trainer_ud;

static trainer_ud *check_trainer(lua_State *L, const char *fn)
{
    trainer_ud *u = luaL_checkudata(L, 1, TRAINER_MT);
    if (!u->t) lh_error(L, "%s: the trainer was closed", fn);
    return u;
}

static int t_close(lua_State *L)
{
    trainer_ud *u = luaL_checkudata(L, 1, TRAINER_MT);
    if (u->t) rb_trainer_destroy(u->t);
    u->t = NULL;
    if (u->mm) u->mm->busy = 0;
    u->mm = NULL;
    if (u->model_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, u->model_ref);
    u->model_ref = LUA_NOREF;
    lh_recipe_release(L, &u->rec);
    return 0;
}

static int l_trainer(lua_State *L)
{
    const char *fn = "rb.trainer";
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "model");
    if (lua_isnil(L, -1)) lh_error(L, "%s: give model = a model (rb.load, rb.surgery, rb.model)", fn);
    lh_model *mm = lh_check_model(L, 2, fn);
    if (mm->busy) lh_error(L, "%s: the model is being trained already (close the other trainer first)", fn);
    trainer_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    u->model_ref = LUA_NOREF;
    lh_recipe_init(&u->rec);
    luaL_setmetatable(L, TRAINER_MT);
    static const char *const skip[] = {"model", NULL};
    lh_recipe_apply(L, fn, &u->rec, 1, skip);
    lh_recipe_finish(L, fn, &u->rec, 1);
    const int fuse_field = rb_train_field_index(rb_train_field_find("optim.muon_fuse"));
    if (!u->rec.given[fuse_field] && u->rec.cfg.optim.kind == RB_OPTIM_MUON &&
        !rb_optim_default_fuse(mm->lm.has_plan ? mm->lm.plan.kind : NULL))
        u->rec.cfg.optim.muon_fuse = 0;
    check_data(L, fn, mm, &u->rec.cfg);
    rb_error err = {0};
    if (rb_trainer_create(&u->t, mm->m, &u->rec.cfg, lh_host(L)->stop, &err) != RB_OK) lh_engine_error(L, fn, &err);
    u->mm = mm;
    mm->busy = 1;
    lua_pushvalue(L, 2);
    u->model_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static int t_step(lua_State *L)
{
    const char *fn = "trainer:step";
    trainer_ud *u = check_trainer(L, fn);
    if (rb_trainer_done(u->t)) return 0;
    rb_train_metrics m;
    rb_error err = {0};
    rb_status st = rb_trainer_step(u->t, &m, &err);
    if (st == RB_EINTERRUPTED) return lh_raise_stop(L, " during trainer:step (the step was not applied)");
    if (st != RB_OK) lh_engine_error(L, fn, &err);
    lua_host *h = lh_host(L);
    if (h->o.sink.train_step) h->o.sink.train_step(h->o.sink.user, 1, &m);
    push_metrics(L, 1, &m);
    return 1;
}

static int t_validate(lua_State *L)
{
    const char *fn = "trainer:validate";
    trainer_ud *u = check_trainer(L, fn);
    lua_Integer d = luaL_optinteger(L, 2, 1);
    if (d < 1 || d > 4096) lh_error(L, "%s: depth %lld must be in 1..4096", fn, (long long)d);
    double loss = 0;
    rb_error err = {0};
    rb_status st = rb_trainer_validate(u->t, (int)d, &loss, &err);
    if (st == RB_EINTERRUPTED) return lh_raise_stop(L, " during trainer:validate");
    if (st != RB_OK) lh_engine_error(L, fn, &err);
    lua_pushnumber(L, loss);
    return 1;
}

static int t_save(lua_State *L)
{
    const char *fn = "trainer:save";
    trainer_ud *u = check_trainer(L, fn);
    const char *dir = luaL_checkstring(L, 2);
    const char *keys[4], *vals[4];
    int nm = 0;
    char *owned = NULL, bos[32], eos[32];
    lh_model_meta(L, fn, u->mm, keys, vals, &nm, &owned, bos, eos);
    rb_ckpt_extras x = {u->mm->lm.has_plan ? &u->mm->lm.plan : NULL, keys, vals, nm, NULL, 0};
    rb_error err = {0};
    rb_status st = rb_trainer_save_with(u->t, dir, &x, &err);
    free(owned);
    if (st != RB_OK) lh_engine_error(L, fn, &err);
    char name[256];
    if (rb_train_latest_checkpoint(dir, name, sizeof name, &err) != RB_OK) lh_engine_error(L, fn, &err);
    lua_pushfstring(L, "%s/%s", dir, name);
    return 1;
}

static int t_restore(lua_State *L)
{
    const char *fn = "trainer:restore";
    trainer_ud *u = check_trainer(L, fn);
    const char *dir = luaL_checkstring(L, 2);
    rb_error err = {0};
    if (rb_trainer_restore(u->t, dir, &err) != RB_OK) lh_engine_error(L, fn, &err);
    lua_pushinteger(L, rb_trainer_step_count(u->t));
    return 1;
}

static int t_set_lr_scale(lua_State *L)
{
    trainer_ud *u = check_trainer(L, "trainer:set_lr_scale");
    rb_error err = {0};
    if (rb_trainer_set_lr_scale(u->t, luaL_checknumber(L, 2), &err) != RB_OK)
        lh_engine_error(L, "trainer:set_lr_scale", &err);
    return 0;
}

static int t_set_rbar(lua_State *L)
{
    trainer_ud *u = check_trainer(L, "trainer:set_rbar");
    lua_Integer v = luaL_checkinteger(L, 2);
    rb_error err = {0};
    if (v < 0 || v > RB_DEPTH_RBAR_MAX || rb_trainer_set_rbar(u->t, (int)v, &err) != RB_OK) {
        if (!err.msg[0]) snprintf(err.msg, sizeof err.msg, "rbar %lld must be in 1..%d (0: the curriculum)", (long long)v,
                                  RB_DEPTH_RBAR_MAX);
        lh_engine_error(L, "trainer:set_rbar", &err);
    }
    return 0;
}

static int t_step_count(lua_State *L)
{
    lua_pushinteger(L, rb_trainer_step_count(check_trainer(L, "trainer:step_count")->t));
    return 1;
}

static int t_done(lua_State *L)
{
    lua_pushboolean(L, rb_trainer_done(check_trainer(L, "trainer:done")->t));
    return 1;
}

static int t_recipe(lua_State *L)
{
    trainer_ud *u = check_trainer(L, "trainer:recipe");
    lh_push_recipe(L, &u->rec.cfg);
    return 1;
}

void lh_open_train(lua_State *L)
{
    static const luaL_Reg cmethods[] = {{"stop", c_stop},
                                        {"save", c_save},
                                        {"validate", c_validate},
                                        {"set_lr_scale", c_set_lr_scale},
                                        {"set_rbar", c_set_rbar},
                                        {"lr_scale", c_lr_scale},
                                        {NULL, NULL}};
    if (luaL_newmetatable(L, CONTROL_MT)) {
        luaL_newlib(L, cmethods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    static const luaL_Reg tmethods[] = {{"step", t_step},
                                        {"validate", t_validate},
                                        {"save", t_save},
                                        {"restore", t_restore},
                                        {"set_lr_scale", t_set_lr_scale},
                                        {"set_rbar", t_set_rbar},
                                        {"step_count", t_step_count},
                                        {"done", t_done},
                                        {"recipe", t_recipe},
                                        {"close", t_close},
                                        {NULL, NULL}};
    if (luaL_newmetatable(L, TRAINER_MT)) {
        luaL_newlib(L, tmethods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, t_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, t_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"train", l_train}, {"trainer", l_trainer}, {"training", l_training}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
