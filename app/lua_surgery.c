/* lua_surgery.c: model surgery from Lua (METHOD.md section 1): rb.surgery
 * with a plan that is a table of layer lists, counts (P, R, C) for the
 * default rule, the command line's "0-3|10-17|18-21" text, or a function
 * of the base model's layer count returning one of those; rb.plan (the
 * default rule as explicit lists); rb.static_baseline (the paper's
 * baseline: the whole base model). The result is a new model on the
 * backend, with the plan recorded and the base's tokenizer, exactly what
 * `retrobench surgery` writes when saved. */
#define _GNU_SOURCE
#include "lua_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_surgery.h"

#define MAX_LAYERS 4096

/* A list of layer indices at the top of the stack into out. */
static int read_layers(lua_State *L, const char *fn, const char *part, int *out)
{
    if (!lua_istable(L, -1))
        lh_error(L, "%s: plan.%s must be a list of layer indices like {0, 1, 2}, not a %s", fn, part,
                 luaL_typename(L, -1));
    lua_Integer n = luaL_len(L, -1);
    if (n > MAX_LAYERS) lh_error(L, "%s: plan.%s lists %lld layers; at most %d", fn, part, (long long)n, MAX_LAYERS);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        int isint = 0;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (lua_type(L, -1) != LUA_TNUMBER || !isint)
            lh_error(L, "%s: plan.%s[%lld] must be an integer layer index (0-based), not %s", fn, part, (long long)i,
                     lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
        if (v < 0 || v >= MAX_LAYERS)
            lh_error(L, "%s: plan.%s[%lld] = %lld is not a layer index (0-based, >= 0)", fn, part, (long long)i,
                     (long long)v);
        out[i - 1] = (int)v;
        lua_pop(L, 1);
    }
    return (int)n;
}

typedef struct {
    rb_surgery_spec sp;
    int lists[3][MAX_LAYERS];
    int *parsed; /* rb_surgery_parse_layers' storage */
} plan_spec;

/* The plan at index idx (after calling it when it is a function) into ps.
 * n_layers: the base model's layer count. */
static void read_plan(lua_State *L, int idx, const char *fn, int n_layers, plan_spec *ps)
{
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    if (lua_isfunction(L, -1)) {
        lua_pushinteger(L, n_layers);
        if (lh_pcall(L, 1, 1) != LUA_OK) { /* its own file:line, after the caller's */
            if (lh_stop_value(L)) lh_raise_stop(L, NULL);
            lh_error(L, "%s: the plan function refused a base of %d layers: %s", fn, n_layers, lua_tostring(L, -1));
        }
        if (lua_isnil(L, -1))
            lh_error(L, "%s: the plan function returned nil for a base model of %d layers; return a plan or raise "
                        "an error saying why it does not fit", fn, n_layers);
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        rb_error err = {0};
        if (rb_surgery_parse_layers(lua_tostring(L, -1), &ps->sp, &ps->parsed, &err) != RB_OK)
            lh_engine_error(L, fn, &err);
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        lh_error(L, "%s: a plan is {P, R, C}, {prelude = {...}, recur = {...}, coda = {...}}, \"0-3|10-17|18-21\" "
                    "or a function of the layer count returning one; got a %s", fn, luaL_typename(L, -1));
    lua_rawgeti(L, -1, 1);
    const int counts = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (counts) {
        if (luaL_len(L, -1) != 3) lh_error(L, "%s: a plan of counts is {P, R, C} (three integers)", fn);
        int v[3];
        for (int i = 0; i < 3; i++) {
            lua_rawgeti(L, -1, i + 1);
            int isint = 0;
            lua_Integer x = lua_tointegerx(L, -1, &isint);
            if (lua_type(L, -1) != LUA_TNUMBER || !isint || x < 0 || x > MAX_LAYERS)
                lh_error(L, "%s: plan[%d] must be a layer count (an integer >= 0), not %s", fn, i + 1,
                         luaL_tolstring(L, -1, NULL));
            v[i] = (int)x;
            lua_pop(L, 1);
        }
        ps->sp.n_prelude = v[0];
        ps->sp.n_recur = v[1];
        ps->sp.n_coda = v[2];
        lua_pop(L, 1);
        return;
    }
    static const char *const known[] = {"prelude", "recur", "recurrent", "coda", NULL};
    lh_check_keys(L, -1, fn, known);
    static const char *const parts[3] = {"prelude", "recur", "coda"};
    int n[3];
    for (int p = 0; p < 3; p++) {
        lua_getfield(L, -1, parts[p]);
        if (p == 1 && lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_getfield(L, -1, "recurrent");
        }
        if (lua_isnil(L, -1) && p != 1) {
            n[p] = 0; /* no prelude or no coda */
        } else if (lua_isnil(L, -1)) {
            lh_error(L, "%s: the plan has no recurrent layers (recur = {...})", fn);
        } else {
            n[p] = read_layers(L, fn, parts[p], ps->lists[p]);
        }
        lua_pop(L, 1);
    }
    ps->sp.prelude_layers = ps->lists[0];
    ps->sp.n_prelude_layers = n[0];
    ps->sp.recur_layers = ps->lists[1];
    ps->sp.n_recur_layers = n[1];
    ps->sp.coda_layers = ps->lists[2];
    ps->sp.n_coda_layers = n[2];
    lua_pop(L, 1);
}

/* the base by file name, not by a path that moving the file would break
   (as `retrobench surgery` records it) */
static void base_name_of(const char *path, char *out, size_t cap)
{
    size_t ml = strlen(path);
    while (ml > 1 && path[ml - 1] == '/') ml--;
    const char *slash = memrchr(path, '/', ml);
    const char *bn = slash ? slash + 1 : path;
    snprintf(out, cap, "%.*s", (int)(path + ml - bn), bn);
}

typedef struct {
    rb_loaded_model lm;  /* a base given by path */
    float *params;       /* base weights on the host */
    float *out;          /* the result's weights */
    rb_retrofit_plan plan;
    int have_plan;
    plan_spec *ps;
} surgery_res;

/* __gc of the resource holder: whatever an error left behind */
static int res_gc(lua_State *L)
{
    surgery_res *r = lua_touserdata(L, 1);
    if (r->params && r->params != r->lm.params) free(r->params);
    rb_loaded_model_free(&r->lm);
    free(r->out);
    if (r->have_plan) rb_retrofit_plan_free(&r->plan);
    if (r->ps) free(r->ps->parsed);
    free(r->ps);
    memset(r, 0, sizeof *r);
    return 0;
}

static int do_surgery(lua_State *L, const char *fn, int static_kind_default)
{
    /* arguments: base, plan, opts (the plan is absent for the static baseline) */
    const int opts = static_kind_default == RB_STATIC_BASELINE ? 2 : 3;
    static const char *const known[] = {"adapter", "seed", "state", "state_sigma", "static", "device", "tokenizer",
                                        "out", NULL};
    lh_check_keys(L, opts, fn, known);
    static const char *const adapters[] = {"uniform", "identity", NULL};
    static const char *const states[] = {"truncnormal", "zero", NULL};
    const int adapter = lh_opt_choice(L, opts, fn, "adapter", adapters, 0);
    const uint64_t seed = (uint64_t)lh_opt_int(L, opts, fn, "seed", 0, 0, INT64_MAX);
    const int state = lh_opt_choice(L, opts, fn, "state", states, 0);
    const double sigma = lh_opt_num(L, opts, fn, "state_sigma", RB_STATE_SIGMA_DEFAULT, 0, 100);
    const char *device = lh_opt_str(L, opts, fn, "device", NULL);
    const char *tok = lh_opt_str(L, opts, fn, "tokenizer", NULL);
    const char *out_path = lh_opt_str(L, opts, fn, "out", NULL);
    int static_kind = static_kind_default;
    if (static_kind_default == RB_STATIC_NONE && lua_istable(L, opts)) {
        lua_getfield(L, opts, "static");
        if (lua_type(L, -1) == LUA_TBOOLEAN) static_kind = lua_toboolean(L, -1) ? RB_STATIC_BASELINE : RB_STATIC_NONE;
        else if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "baseline"))
            static_kind = RB_STATIC_BASELINE;
        else if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "surgery-layers"))
            static_kind = RB_STATIC_SURGERY_LAYERS;
        else if (!lua_isnil(L, -1))
            lh_error(L, "%s: static must be true (the paper's baseline: the whole base model), \"baseline\" or "
                        "\"surgery-layers\" (the ablation of the plan's layers in sequence)", fn);
        lua_pop(L, 1);
    }
    surgery_res *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, res_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    const int res_idx = lua_gettop(L);
    rb_error err = {0};
    /* the base: a model, or a file read on the host */
    lh_model *base = NULL;
    rb_config base_cfg;
    char base_name[256];
    if (lua_type(L, 1) == LUA_TSTRING) {
        rb_load_opts lo = {.tokenizer_path = tok};
        if (rb_model_file_load(lua_tostring(L, 1), &lo, &r->lm, &err) != RB_OK) lh_engine_error(L, fn, &err);
        r->params = r->lm.params;
        base_cfg = r->lm.cfg;
        base_name_of(lua_tostring(L, 1), base_name, sizeof base_name);
    } else {
        base = lh_check_model(L, 1, fn);
        if (tok) lh_error(L, "%s: tokenizer applies to a base given by path; this base model has its own", fn);
        base_cfg = base->m->cfg;
        if (!(r->params = malloc(base->m->table.total * sizeof(float)))) lh_error(L, "%s: out of memory", fn);
        if (rb_model_get_params(base->m, r->params, &err) != RB_OK) lh_engine_error(L, fn, &err);
        base_name_of(base->lm.source, base_name, sizeof base_name);
    }
    r->ps = calloc(1, sizeof *r->ps);
    if (!r->ps) lh_error(L, "%s: out of memory", fn);
    if (static_kind != RB_STATIC_BASELINE) {
        if (lua_isnoneornil(L, 2)) lh_error(L, "%s: give a plan (argument #2)", fn);
        read_plan(L, 2, fn, rb_config_n_layers(&base_cfg), r->ps);
    } else if (opts == 3 && !lua_isnoneornil(L, 2)) {
        lh_error(L, "%s: static = true is the whole base model, so a plan does not apply; pass nil, or use static = "
                    "\"surgery-layers\" for the baseline made of the plan's layers", fn);
    }
    rb_surgery_spec sp = r->ps->sp;
    sp.adapter_init = adapter ? RB_ADAPTER_IDENTITY : RB_ADAPTER_UNIFORM;
    sp.seed = seed;
    sp.static_model = static_kind;
    sp.base_name = base_name;
    rb_config cfg;
    if (rb_surgery(&base_cfg, r->params, &sp, &cfg, &r->out, &r->plan, &err) != RB_OK) {
        lh_error(L, "%s: %s: %s", fn, base ? base->lm.source : lua_tostring(L, 1), err.msg);
    }
    r->have_plan = 1;
    if (rb_config_is_recurrent(&cfg)) {
        cfg.state_init = state ? RB_STATE_ZERO : RB_STATE_TRUNCNORMAL;
        cfg.state_sigma = (float)sigma;
    }
    lh_model *mm = lh_push_model(L, fn, &cfg, r->out, device);
    mm->lm.has_plan = 1;
    mm->lm.plan = r->plan; /* ownership moves to the model */
    r->have_plan = 0;
    snprintf(mm->lm.source, sizeof mm->lm.source, "surgery of %s", base_name);
    if (base) {
        mm->tok_lm = base->tok_lm;
        lua_pushvalue(L, 1);
        mm->tok_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
        /* the loaded base's tokenizer and its provenance move to the result */
        mm->lm.tok = r->lm.tok;
        r->lm.tok = NULL;
        memcpy(mm->lm.tokenizer_path, r->lm.tokenizer_path, sizeof mm->lm.tokenizer_path);
        mm->lm.bos_id = r->lm.bos_id;
        mm->lm.n_eos = r->lm.n_eos;
        memcpy(mm->lm.eos_ids, r->lm.eos_ids, sizeof mm->lm.eos_ids);
        memcpy(mm->lm.tok_embed_key, r->lm.tok_embed_key, sizeof mm->lm.tok_embed_key);
        mm->lm.tok_embed_value = r->lm.tok_embed_value;
        r->lm.tok_embed_value = NULL;
        mm->lm.format = r->lm.format;
        mm->tok_lm = &mm->lm;
    }
    lua_pushnil(L);
    lua_setmetatable(L, res_idx);
    lua_pushcfunction(L, res_gc); /* free now rather than at the next collection */
    lua_pushvalue(L, res_idx);
    lua_call(L, 1, 0);
    if (out_path) {
        lua_getfield(L, -1, "save");
        lua_pushvalue(L, -2);
        lua_pushstring(L, out_path);
        lua_call(L, 2, 0);
    }
    return 1;
}

static int l_surgery(lua_State *L)
{
    lua_settop(L, 3);
    return do_surgery(L, "rb.surgery", RB_STATIC_NONE);
}

static int l_static_baseline(lua_State *L)
{
    lua_settop(L, 2);
    return do_surgery(L, "rb.static_baseline", RB_STATIC_BASELINE);
}

/* rb.plan(n_layers, P, R, C): the default rule as explicit lists */
static int l_plan(lua_State *L)
{
    const char *fn = "rb.plan";
    lua_Integer n = luaL_checkinteger(L, 1), p = luaL_checkinteger(L, 2), r = luaL_checkinteger(L, 3),
                c = luaL_checkinteger(L, 4);
    if (n < 1 || n > MAX_LAYERS) lh_error(L, "%s: the base model's layer count %lld is out of range", fn, (long long)n);
    if (p < 0 || r < 1 || c < 0)
        lh_error(L, "%s: (P,R,C) = (%lld,%lld,%lld): the recurrent block needs at least one layer and no part may be "
                    "negative", fn, (long long)p, (long long)r, (long long)c);
    if (p + r + c > n)
        lh_error(L, "%s: (P,R,C) = (%lld,%lld,%lld) needs %lld layers but the base model has %lld; choose smaller "
                    "parts or a larger model", fn, (long long)p, (long long)r, (long long)c, (long long)(p + r + c),
                 (long long)n);
    lua_createtable(L, 0, 3);
    lua_createtable(L, (int)p, 0);
    for (lua_Integer i = 0; i < p; i++) {
        lua_pushinteger(L, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "prelude");
    lua_createtable(L, (int)r, 0);
    for (lua_Integer i = 0; i < r; i++) {
        lua_pushinteger(L, n - c - r + i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "recur");
    lua_createtable(L, (int)c, 0);
    for (lua_Integer i = 0; i < c; i++) {
        lua_pushinteger(L, n - c + i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "coda");
    return 1;
}

void lh_open_surgery(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"surgery", l_surgery}, {"static_baseline", l_static_baseline}, {"plan", l_plan}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
