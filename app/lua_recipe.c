/* lua_recipe.c: a training recipe from a Lua table, read through the
 * engine's one table of training settings (rb_train_fields.h), so every
 * knob of `retrobench train --help` is reachable from Lua with the same
 * defaults and the same error messages; and the curricula: built-in
 * shapes by name, or a Lua function of the step that is evaluated for
 * every step up front into a tabulated curriculum (never inside a step;
 * its hash goes into the checkpoint so a resume refuses another function).
 *
 * Keys of a recipe: a setting's name ("optim.muon_lr", nested or dotted:
 * optim = {muon_lr = ...}), or its command-line flag with _ for -
 * (lr_muon, val_every, curriculum). Values: numbers, strings, booleans,
 * lists for val_depths and data. rbar and backprop also take a curriculum:
 * rb.curriculum(...), a function of (step, steps), or {values = {...}}. */
#include "lua_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_recipe.h"
#include "rb_sched.h"
#include "rb_train_fields.h"

/* ---------------- setting one field ---------------- */

/* Lua value at idx -> the text a user would type on the command line, so
 * rb_train_field_parse gives the command line's messages */
static const char *as_text(lua_State *L, int idx, const rb_train_field *f, int negate, char *buf, size_t cap)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: {
        int v = lua_toboolean(L, idx);
        if (negate) v = !v;
        snprintf(buf, cap, "%s", v ? "true" : "false");
        return buf;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) snprintf(buf, cap, "%lld", (long long)lua_tointeger(L, idx));
        else lh_format_number(lua_tonumber(L, idx), buf, cap);
        return buf;
    case LUA_TSTRING: return lua_tostring(L, idx);
    default:
        lh_error(L, "rb.train: training setting %s%s%s%s takes a %s, not a %s", f->name, f->flag ? " (" : "",
                 f->flag ? f->flag : "", f->flag ? ")" : "",
                 f->type == RB_TF_BOOL ? "boolean" : f->type == RB_TF_CHOICE ? "string" : "number",
                 luaL_typename(L, idx));
        return NULL;
    }
}

static void parse_field(lua_State *L, const char *fn, rb_train_config *c, const rb_train_field *f, const char *text)
{
    rb_error err = {0};
    if (rb_train_field_parse(c, f, text, &err) != RB_OK) lh_error(L, "%s: %s", fn, err.msg);
}

/* sources: "FILE", {"FILE", WEIGHT}, {path = FILE, weight = W}, rb.pack's
 * result (a table with path), or a list of those */
static void add_source(lua_State *L, const char *fn, rb_train_config *c, int idx)
{
    idx = lua_absindex(L, idx);
    const char *path = NULL;
    double w = 1;
    if (lua_type(L, idx) == LUA_TSTRING) {
        path = lua_tostring(L, idx);
    } else if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "path");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_rawgeti(L, idx, 1);
        }
        path = lua_tostring(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, idx, "weight");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_rawgeti(L, idx, 2);
        }
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER)
                lh_error(L, "%s: the weight of a data source must be a number > 0, not a %s", fn, luaL_typename(L, -1));
            w = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    if (!path)
        lh_error(L, "%s: a data source is a path, {path, weight} or {path = P, weight = W} (rb.pack's result "
                    "works too), not a %s", fn, luaL_typename(L, idx));
    if (c->n_sources >= RB_TRAIN_MAX_SOURCES)
        lh_error(L, "%s: training setting sources (--data): at most %d data sources", fn, RB_TRAIN_MAX_SOURCES);
    if (!(w > 0) || !isfinite(w) || strlen(path) == 0 || strlen(path) >= sizeof c->sources[0].path)
        lh_error(L, "%s: training setting sources (--data): bad data source '%s' with weight %g (a path and a "
                    "weight > 0)", fn, path, w);
    snprintf(c->sources[c->n_sources].path, sizeof c->sources[0].path, "%s", path);
    c->sources[c->n_sources++].weight = w;
}

static void set_sources(lua_State *L, const char *fn, rb_train_config *c, int idx)
{
    c->n_sources = 0; /* a phase's data replaces the run's */
    idx = lua_absindex(L, idx);
    /* one source ({path=...}, {"f", 0.5}) or a list of them */
    int list = lua_istable(L, idx);
    if (list) {
        lua_getfield(L, idx, "path");
        int has_path = !lua_isnil(L, -1);
        lua_pop(L, 1);
        lua_rawgeti(L, idx, 2);
        int pair = lua_type(L, -1) == LUA_TNUMBER;
        lua_pop(L, 1);
        list = !has_path && !pair;
    }
    if (!list) {
        add_source(L, fn, c, idx);
        return;
    }
    lua_Integer n = luaL_len(L, idx);
    if (n < 1) lh_error(L, "%s: data is an empty list; give at least one token file", fn);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        add_source(L, fn, c, -1);
        lua_pop(L, 1);
    }
}

static void set_depths(lua_State *L, const char *fn, rb_train_config *c, const rb_train_field *f, int idx)
{
    if (!lua_istable(L, idx)) {
        char buf[64];
        parse_field(L, fn, c, f, as_text(L, idx, f, 0, buf, sizeof buf));
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        char buf[64];
        const char *t = as_text(L, -1, f, 0, buf, sizeof buf);
        lua_pop(L, 1);
        if (i > 1) luaL_addchar(&b, ',');
        luaL_addstring(&b, t);
    }
    luaL_pushresult(&b);
    parse_field(L, fn, c, f, lua_tostring(L, -1));
    lua_pop(L, 1);
}

static void set_field(lua_State *L, const char *fn, lh_recipe *r, const rb_train_field *f, int idx, int negate)
{
    int nf;
    const rb_train_field *all = rb_train_fields(&nf);
    r->given[f - all] = 1;
    if (f->type == RB_TF_SOURCES) {
        set_sources(L, fn, &r->cfg, idx);
        return;
    }
    if (f->type == RB_TF_DEPTHS) {
        set_depths(L, fn, &r->cfg, f, idx);
        return;
    }
    char buf[64];
    parse_field(L, fn, &r->cfg, f, as_text(L, idx, f, negate, buf, sizeof buf));
}

/* ---------------- curricula in a recipe ---------------- */

/* which: 0 rbar, 1 backprop */
static void set_curriculum_fn(lua_State *L, lh_recipe *r, int which, int idx)
{
    lua_pushvalue(L, idx);
    if (r->curric_ref[which] != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, r->curric_ref[which]);
    r->curric_ref[which] = luaL_ref(L, LUA_REGISTRYINDEX);
}

static int group_has(const char *prefix)
{
    int nf;
    const rb_train_field *f = rb_train_fields(&nf);
    size_t n = strlen(prefix);
    for (int i = 0; i < nf; i++)
        if (!strncmp(f[i].name, prefix, n) && f[i].name[n] == '.') return 1;
    return 0;
}

static void apply(lua_State *L, const char *fn, lh_recipe *r, int idx, const char *prefix,
                  const char *const *skip);

/* one key (at -2) and value (at -1) of a recipe table */
static void apply_one(lua_State *L, const char *fn, lh_recipe *r, const char *prefix, const char *key,
                      const char *const *skip)
{
    const int v = lua_gettop(L);
    char full[160];
    snprintf(full, sizeof full, "%s%s", prefix, key);
    /* rbar / backprop given a curriculum: a function, {fn = f}, {values = {...}} */
    const int which = !strcmp(full, "rbar") ? 0 : !strcmp(full, "backprop") ? 1 : -1;
    if (which >= 0 && (lua_isfunction(L, v) || lua_istable(L, v))) {
        if (lua_isfunction(L, v)) {
            set_curriculum_fn(L, r, which, v);
            return;
        }
        lua_getfield(L, v, "fn");
        if (lua_isfunction(L, -1)) {
            set_curriculum_fn(L, r, which, lua_gettop(L));
            lua_pop(L, 1);
            return;
        }
        lua_pop(L, 1);
        lua_getfield(L, v, "values");
        if (lua_istable(L, -1)) {
            set_curriculum_fn(L, r, which, lua_gettop(L));
            lua_pop(L, 1);
            return;
        }
        lua_pop(L, 1);
        /* else a group table: {shape = ..., max = ..., warmup_fraction = ...} */
    }
    const rb_train_field *f = rb_train_field_find(full);
    if (f && !(lua_istable(L, v) && f->type != RB_TF_SOURCES && f->type != RB_TF_DEPTHS)) {
        set_field(L, fn, r, f, v, 0);
        return;
    }
    if (lua_istable(L, v) && group_has(full)) {
        char sub[170];
        snprintf(sub, sizeof sub, "%s.", full);
        apply(L, fn, r, v, sub, NULL);
        return;
    }
    if (!prefix[0]) { /* a command-line flag: lr_muon for --lr-muon */
        char flag[160];
        snprintf(flag, sizeof flag, "%s", key);
        for (char *p = flag; *p; p++)
            if (*p == '_') *p = '-';
        int nf, hit = 0;
        const rb_train_field *all = rb_train_fields(&nf);
        for (int i = 0; i < nf; i++)
            if (all[i].flag && !strcmp(all[i].flag, flag)) {
                set_field(L, fn, r, &all[i], v, (all[i].flags & RB_TF_NEGATE) != 0);
                hit = 1;
            }
        if (hit) return;
        if (!strcmp(key, "fuse")) { /* the command line's --fuse */
            if (lua_type(L, v) != LUA_TBOOLEAN) lh_error(L, "%s: fuse must be true or false", fn);
            set_field(L, fn, r, rb_train_field_find("optim.muon_fuse"), v, 0);
            return;
        }
    }
    (void)skip;
    lh_error(L, "%s: unknown training setting '%s'; the settings are listed by rb.settings() (and `retrobench train "
                "--help`)", fn, full);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Apply every key of the table at idx, in sorted order (so the outcome
 * does not depend on hash order when two keys set the same field). */
static void apply(lua_State *L, const char *fn, lh_recipe *r, int idx, const char *prefix, const char *const *skip)
{
    idx = lua_absindex(L, idx);
    const char *keys[256];
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            lh_error(L, "%s: recipe keys are setting names; found a %s key", fn, luaL_typename(L, -1));
        const char *k = lua_tostring(L, -1);
        int skipped = 0;
        for (int i = 0; skip && skip[i] && !skipped; i++) skipped = !strcmp(k, skip[i]);
        if (skipped) continue;
        if (n == 256) lh_error(L, "%s: too many keys in a recipe table", fn);
        keys[n++] = k; /* pinned by the table */
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    for (int i = 0; i < n; i++) {
        lua_getfield(L, idx, keys[i]);
        apply_one(L, fn, r, prefix, keys[i], skip);
        lua_pop(L, 1);
    }
}

void lh_recipe_init(lh_recipe *r)
{
    memset(r, 0, sizeof *r);
    rb_train_config_default(&r->cfg, 4);
    r->curric_ref[0] = r->curric_ref[1] = LUA_NOREF;
}

void lh_recipe_free(lua_State *L, lh_recipe *r)
{
    for (int i = 0; i < 2; i++)
        if (r->curric_ref[i] != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, r->curric_ref[i]);
    r->curric_ref[0] = r->curric_ref[1] = LUA_NOREF;
}

void lh_recipe_apply(lua_State *L, const char *fn, lh_recipe *r, int idx, const char *const *skip)
{
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx)) lh_error(L, "%s: a recipe is a table, not a %s", fn, luaL_typename(L, idx));
    apply(L, fn, r, idx, "", skip);
}

/* Evaluate a curriculum (function or list) for steps 0 .. steps-1 into a
 * userdata left on the stack. */
static int32_t *tabulate(lua_State *L, const char *fn, const char *what, int ref, int64_t steps)
{
    if (steps < 1 || steps > ((int64_t)1 << 31))
        lh_error(L, "%s: a %s curriculum given as a function needs steps in 1..2^31 (it is evaluated for every "
                    "step up front)", fn, what);
    int32_t *v = lua_newuserdatauv(L, (size_t)steps * sizeof(int32_t), 0);
    const int ud = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    const int is_fn = lua_isfunction(L, -1);
    if (!is_fn && luaL_len(L, -1) < steps)
        lh_error(L, "%s: the %s curriculum lists %lld values for %lld steps; give one per step", fn, what,
                 (long long)luaL_len(L, -1), (long long)steps);
    for (int64_t s = 0; s < steps; s++) {
        if (is_fn) {
            lua_pushvalue(L, -1);
            lua_pushinteger(L, s);
            lua_pushinteger(L, steps);
            if (lh_pcall(L, 2, 1) != LUA_OK) {
                if (lh_stop_value(L)) lh_raise_stop(L, NULL);
                lh_error(L, "%s: the %s curriculum function failed at step %lld: %s", fn, what, (long long)s,
                         lua_tostring(L, -1));
            }
        } else {
            lua_rawgeti(L, -1, s + 1);
        }
        int isint = 0;
        lua_Integer x = lua_tointegerx(L, -1, &isint);
        if (lua_type(L, -1) != LUA_TNUMBER || !isint || x < 1 || x > RB_DEPTH_RBAR_MAX)
            lh_error(L, "%s: the %s curriculum gave %s at step %lld; give a whole number in 1..%d (math.ceil rounds "
                        "up)", fn, what, lua_isnil(L, -1) ? "nil" : luaL_tolstring(L, -1, NULL), (long long)s,
                     RB_DEPTH_RBAR_MAX);
        v[s] = (int32_t)x;
        lua_pop(L, 1);
    }
    lua_settop(L, ud);
    return v;
}

void lh_recipe_finish(lua_State *L, const char *fn, lh_recipe *r, int need_steps)
{
    int nf;
    const rb_train_field *fl = rb_train_fields(&nf);
    for (int i = 0; i < nf; i++) {
        if (!(fl[i].flags & RB_TF_REQUIRED) || r->given[i]) continue;
        if (fl[i].type == RB_TF_SOURCES)
            lh_error(L, "%s: give data = FILE.rbtok (or a list of {path, weight}); there is no default", fn);
        if (need_steps || fl[i].type != RB_TF_INT64)
            lh_error(L, "%s: give %s = %s (%s); there is no default", fn, fl[i].name, fl[i].arg, fl[i].help);
    }
    rb_train_config_resolve(&r->cfg, r->given);
    static const char *const what[2] = {"rbar", "backprop"};
    rb_curriculum *cs[2] = {&r->cfg.rbar, &r->cfg.backprop};
    for (int k = 0; k < 2; k++) {
        if (r->curric_ref[k] == LUA_NOREF) continue;
        const char *shape_name = k == 0 ? "rbar.shape" : "backprop.shape";
        if (r->given[rb_train_field_index(rb_train_field_find(shape_name))])
            lh_error(L, "%s: %s is given as a function (or a list of values), so %s does not apply; drop one", fn,
                     what[k], shape_name);
        int32_t *v = tabulate(L, fn, what[k], r->curric_ref[k], r->cfg.steps);
        r->table_ud[k] = luaL_ref(L, LUA_REGISTRYINDEX); /* keeps the values alive */
        rb_curriculum_set_table(cs[k], v, r->cfg.steps);
    }
}

void lh_recipe_release(lua_State *L, lh_recipe *r)
{
    for (int k = 0; k < 2; k++)
        if (r->table_ud[k] > 0) luaL_unref(L, LUA_REGISTRYINDEX, r->table_ud[k]);
    lh_recipe_free(L, r);
}

/* ---------------- the recipe as Lua values ---------------- */

static void push_field_value(lua_State *L, const rb_train_config *c, const rb_train_field *f)
{
    char buf[4200];
    switch (f->type) {
    case RB_TF_BOOL: lua_pushboolean(L, rb_train_field_number(c, f) != 0); break;
    case RB_TF_CHOICE:
        if (f->offset == offsetof(rb_train_config, rbar.shape) && c->rbar.shape == RB_CURRIC_TABLE)
            lua_pushstring(L, "table");
        else if (f->offset == offsetof(rb_train_config, backprop.shape) && c->backprop.shape == RB_CURRIC_TABLE)
            lua_pushstring(L, "table");
        else {
            rb_train_field_format(c, f, buf, sizeof buf);
            lua_pushstring(L, buf);
        }
        break;
    case RB_TF_INT:
    case RB_TF_INT64:
    case RB_TF_U64: lua_pushinteger(L, (lua_Integer)rb_train_field_number(c, f)); break;
    case RB_TF_DOUBLE:
    case RB_TF_FLOAT: lua_pushnumber(L, rb_train_field_number(c, f)); break;
    case RB_TF_DEPTHS:
        lua_createtable(L, c->n_val_depths, 0);
        for (int i = 0; i < c->n_val_depths; i++) {
            lua_pushinteger(L, c->val_depths[i]);
            lua_rawseti(L, -2, i + 1);
        }
        break;
    case RB_TF_SOURCES:
        lua_createtable(L, c->n_sources, 0);
        for (int i = 0; i < c->n_sources; i++) {
            lua_createtable(L, 0, 2);
            lua_pushstring(L, c->sources[i].path);
            lua_setfield(L, -2, "path");
            lua_pushnumber(L, c->sources[i].weight);
            lua_setfield(L, -2, "weight");
            lua_rawseti(L, -2, i + 1);
        }
        break;
    }
}

void lh_push_recipe(lua_State *L, const rb_train_config *c)
{
    int nf;
    const rb_train_field *fl = rb_train_fields(&nf);
    lua_createtable(L, 0, nf);
    for (int i = 0; i < nf; i++) {
        push_field_value(L, c, &fl[i]);
        lua_setfield(L, -2, fl[i].name);
    }
}

/* rb.settings(): every training setting, as the command line's help lists them */
static int l_settings(lua_State *L)
{
    int nf;
    const rb_train_field *fl = rb_train_fields(&nf);
    rb_train_config d;
    rb_train_config_default(&d, 4);
    rb_train_config_resolve(&d, NULL);
    static const char *const types[] = {"int", "int", "int", "number", "number", "boolean", "choice", "depths",
                                        "sources"};
    lua_createtable(L, nf, 0);
    for (int i = 0; i < nf; i++) {
        const rb_train_field *f = &fl[i];
        lua_createtable(L, 0, 10);
        lua_pushstring(L, f->name);
        lua_setfield(L, -2, "name");
        if (f->flag) {
            char lua_key[64];
            snprintf(lua_key, sizeof lua_key, "%s", f->flag);
            for (char *p = lua_key; *p; p++)
                if (*p == '-') *p = '_';
            lua_pushfstring(L, "--%s", f->flag);
            lua_setfield(L, -2, "flag");
            lua_pushstring(L, lua_key);
            lua_setfield(L, -2, "key");
        }
        lua_pushstring(L, f->group);
        lua_setfield(L, -2, "group");
        lua_pushstring(L, types[f->type]);
        lua_setfield(L, -2, "type");
        if (f->type != RB_TF_CHOICE && f->type != RB_TF_SOURCES && f->type != RB_TF_BOOL) {
            lua_pushnumber(L, f->min);
            lua_setfield(L, -2, "min");
            lua_pushnumber(L, f->max);
            lua_setfield(L, -2, "max");
        }
        if (f->type == RB_TF_CHOICE) {
            lua_newtable(L);
            int k = 1;
            for (const rb_train_choice *ch = f->choices; ch->name; ch++) {
                lua_pushstring(L, ch->name);
                lua_rawseti(L, -2, k++);
            }
            lua_setfield(L, -2, "choices");
        }
        lua_pushstring(L, f->help);
        lua_setfield(L, -2, "help");
        if (f->flags & RB_TF_REQUIRED) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "required");
        } else {
            push_field_value(L, &d, f);
            lua_setfield(L, -2, "default");
        }
        lua_pushboolean(L, (f->flags & RB_TF_RECIPE) != 0);
        lua_setfield(L, -2, "recipe");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* rb.recipe(t): the recipe t describes, resolved, every setting filled */
static int l_recipe(lua_State *L)
{
    const char *fn = "rb.recipe";
    luaL_checktype(L, 1, LUA_TTABLE);
    lh_recipe *r = lua_newuserdatauv(L, sizeof *r, 0);
    lh_recipe_init(r);
    static const char *const skip[] = {"model", "out", "ckpt_every", "resume", "phases", "on_step", "on_validation",
                                       "on_checkpoint", "on_phase", "quiet", "device", NULL};
    lh_recipe_apply(L, fn, r, 1, skip);
    lh_recipe_finish(L, fn, r, 1);
    lh_push_recipe(L, &r->cfg);
    lh_recipe_release(L, r);
    return 1;
}

/* ---------------- rb.curriculum ---------------- */

/* rb.curriculum("1-sqrt", {max = 4, warmup = 0.75}) or rb.curriculum(fn) */
static int l_curriculum(lua_State *L)
{
    const char *fn = "rb.curriculum";
    if (lua_isfunction(L, 1)) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "fn");
        return 1;
    }
    if (lua_istable(L, 1)) { /* a list of values, one per step */
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "values");
        return 1;
    }
    static const char *const shapes[] = {"1-sqrt", "linear", "constant", NULL};
    const char *shape = luaL_checkstring(L, 1);
    int known_shape = 0;
    for (int i = 0; shapes[i]; i++) known_shape |= !strcmp(shape, shapes[i]);
    if (!known_shape)
        lh_error(L, "%s: shape must be \"1-sqrt\", \"linear\" or \"constant\" (or a function of the step), not '%s'",
                 fn, shape);
    static const char *const known[] = {"max", "warmup", "min_ratio", "step_offset", NULL};
    lh_check_keys(L, 2, fn, known);
    lua_Integer mx = lh_opt_int(L, 2, fn, "max", 4, 1, RB_DEPTH_RBAR_MAX);
    double warm = lh_opt_num(L, 2, fn, "warmup", 0.75, 0, 1);
    double minr = lh_opt_num(L, 2, fn, "min_ratio", 0, 0, 0.999999);
    lua_Integer off = lh_opt_int(L, 2, fn, "step_offset", 0, 0, (lua_Integer)1 << 40);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, shape);
    lua_setfield(L, -2, "shape");
    lua_pushinteger(L, mx);
    lua_setfield(L, -2, "max");
    lua_pushnumber(L, warm);
    lua_setfield(L, -2, "warmup_fraction");
    lua_pushnumber(L, minr);
    lua_setfield(L, -2, "min_ratio");
    lua_pushinteger(L, off);
    lua_setfield(L, -2, "step_offset");
    return 1;
}

/* rb.backprop_schedule(start, max, warmup): the authors' backprop-depth
 * curriculum (linear growth from start to max over warmup) */
static int l_backprop_schedule(lua_State *L)
{
    const char *fn = "rb.backprop_schedule";
    lua_Integer start = luaL_checkinteger(L, 1), mx = luaL_checkinteger(L, 2);
    double warm = luaL_optnumber(L, 3, 0.1);
    if (mx < 1 || mx > RB_DEPTH_RBAR_MAX || start < 1 || start > mx)
        lh_error(L, "%s: (start %lld, max %lld): give 1 <= start <= max <= %d", fn, (long long)start, (long long)mx,
                 RB_DEPTH_RBAR_MAX);
    if (!(warm >= 0 && warm <= 1)) lh_error(L, "%s: warmup %g must be in [0, 1]", fn, warm);
    rb_curriculum c;
    rb_curriculum_backprop_authors(&c, (int)start, (int)mx, warm);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, "linear");
    lua_setfield(L, -2, "shape");
    lua_pushinteger(L, c.max_value);
    lua_setfield(L, -2, "max");
    lua_pushnumber(L, c.warmup_fraction);
    lua_setfield(L, -2, "warmup_fraction");
    lua_pushnumber(L, c.min_ratio);
    lua_setfield(L, -2, "min_ratio");
    lua_pushinteger(L, c.step_offset);
    lua_setfield(L, -2, "step_offset");
    return 1;
}

/* rb.curriculum_values(curriculum, steps): the value at every step, as
 * training will use them (1-based list: entry s + 1 is step s) */
static int l_curriculum_values(lua_State *L)
{
    const char *fn = "rb.curriculum_values";
    lua_Integer steps = luaL_checkinteger(L, 2);
    if (steps < 1 || steps > (1 << 24)) lh_error(L, "%s: steps %lld is out of range (1..2^24)", fn, (long long)steps);
    lh_recipe *r = lua_newuserdatauv(L, sizeof *r, 0);
    lh_recipe_init(r);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "rbar");
    lua_pushinteger(L, steps);
    lua_setfield(L, -2, "steps");
    lua_pushstring(L, "unused.rbtok");
    lua_setfield(L, -2, "data");
    lh_recipe_apply(L, fn, r, lua_gettop(L), NULL);
    lh_recipe_finish(L, fn, r, 1);
    rb_error err = {0};
    if (rb_curriculum_check(&r->cfg.rbar, steps, &err) != RB_OK) lh_engine_error(L, fn, &err);
    lua_createtable(L, (int)steps, 0);
    for (lua_Integer s = 0; s < steps; s++) {
        lua_pushinteger(L, rb_curriculum_value(&r->cfg.rbar, s, steps));
        lua_rawseti(L, -2, s + 1);
    }
    lh_recipe_release(L, r);
    return 1;
}

void lh_open_recipe(lua_State *L)
{
    static const luaL_Reg fns[] = {{"settings", l_settings},
                                   {"recipe", l_recipe},
                                   {"curriculum", l_curriculum},
                                   {"backprop_schedule", l_backprop_schedule},
                                   {"curriculum_values", l_curriculum_values},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
