/* lua_util.c: helpers of the rb.* bindings: option tables read with
 * errors that name the function and the key, Lua values to and from JSON
 * (cJSON), number formatting, and the atomic file writer every rb.write_*
 * uses. */
#include "lua_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_output.h"

/* ---------------- options ---------------- */

void lh_check_keys(lua_State *L, int idx, const char *fn, const char *const *known)
{
    if (idx == 0 || lua_isnoneornil(L, idx)) return;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; known[i] && !ok; i++) ok = !strcmp(k, known[i]);
        }
        if (!ok) {
            luaL_Buffer b;
            const char *bad = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
            lua_pushfstring(L, "%s: unknown option '%s' (known: ", fn, bad);
            luaL_buffinit(L, &b);
            for (int i = 0; known[i]; i++) {
                if (i) luaL_addstring(&b, ", ");
                luaL_addstring(&b, known[i]);
            }
            luaL_addstring(&b, ")");
            luaL_pushresult(&b);
            lua_concat(L, 2);
            lh_error(L, "%s", lua_tostring(L, -1));
        }
    }
}

/* pushes field key of table idx; returns its type (LUA_TNIL when no table) */
static int field(lua_State *L, int idx, const char *fn, const char *key)
{
    if (idx == 0 || lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    if (!lua_istable(L, idx)) lh_error(L, "%s: options must be a table, not a %s", fn, luaL_typename(L, idx));
    return lua_getfield(L, idx, key);
}

lua_Integer lh_opt_int(lua_State *L, int idx, const char *fn, const char *key, lua_Integer def, lua_Integer lo,
                       lua_Integer hi)
{
    int t = field(L, idx, fn, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (t != LUA_TNUMBER || !isint)
        lh_error(L, "%s: %s must be an integer, not %s%s%s", fn, key, t == LUA_TNUMBER ? "" : "a ",
                 t == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1), "");
    if (v < lo || v > hi)
        lh_error(L, "%s: %s = %lld is out of range; give %lld..%lld", fn, key, (long long)v, (long long)lo,
                 (long long)hi);
    lua_pop(L, 1);
    return v;
}

double lh_opt_num(lua_State *L, int idx, const char *fn, const char *key, double def, double lo, double hi)
{
    int t = field(L, idx, fn, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (t != LUA_TNUMBER) lh_error(L, "%s: %s must be a number, not a %s", fn, key, luaL_typename(L, -1));
    double v = lua_tonumber(L, -1);
    if (!(v >= lo && v <= hi)) lh_error(L, "%s: %s = %g is out of range; give a number in [%g, %g]", fn, key, v, lo, hi);
    lua_pop(L, 1);
    return v;
}

int lh_opt_bool(lua_State *L, int idx, const char *fn, const char *key, int def)
{
    int t = field(L, idx, fn, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (t != LUA_TBOOLEAN) lh_error(L, "%s: %s must be true or false, not a %s", fn, key, luaL_typename(L, -1));
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *lh_opt_str(lua_State *L, int idx, const char *fn, const char *key, const char *def)
{
    int t = field(L, idx, fn, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (t != LUA_TSTRING) lh_error(L, "%s: %s must be a string, not a %s", fn, key, luaL_typename(L, -1));
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* the table still holds the string */
    return s;
}

int lh_opt_choice(lua_State *L, int idx, const char *fn, const char *key, const char *const *choices, int def)
{
    const char *s = lh_opt_str(L, idx, fn, key, NULL);
    if (!s) return def;
    for (int i = 0; choices[i]; i++)
        if (!strcmp(s, choices[i])) return i;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; choices[i]; i++) {
        if (i) luaL_addstring(&b, choices[i + 1] ? ", " : " or ");
        luaL_addstring(&b, choices[i]);
    }
    luaL_pushresult(&b);
    return lh_error(L, "%s: %s must be %s, not '%s'", fn, key, lua_tostring(L, -1), s);
}

int lh_opt_int_list(lua_State *L, int idx, const char *fn, const char *key, int *out, int cap, int lo, int hi)
{
    int t = field(L, idx, fn, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return -1;
    }
    int n = 0;
    if (t == LUA_TNUMBER) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    } else if (t != LUA_TTABLE) {
        lh_error(L, "%s: %s must be a list of integers like {1, 2, 4}, not a %s", fn, key, luaL_typename(L, -1));
    }
    lua_Integer len = luaL_len(L, -1);
    if (len < 1) lh_error(L, "%s: %s is an empty list; give at least one value", fn, key);
    if (len > cap) lh_error(L, "%s: %s lists %lld values; at most %d", fn, key, (long long)len, cap);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, -1, i);
        int isint = 0;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || lua_type(L, -1) != LUA_TNUMBER)
            lh_error(L, "%s: %s[%lld] must be an integer, not %s", fn, key, (long long)i,
                     lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
        if (v < lo || v > hi)
            lh_error(L, "%s: %s[%lld] = %lld is out of range; give %d..%d", fn, key, (long long)i, (long long)v, lo,
                     hi);
        out[n++] = (int)v;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

/* ---------------- numbers and JSON ---------------- */

void lh_format_number(double v, char *buf, size_t cap)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%.0f", v);
        return;
    }
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int is_array(lua_State *L, int idx, lua_Integer *n)
{
    lua_Integer count = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int isint = 0;
        lua_Integer k = lua_tointegerx(L, -1, &isint);
        if (lua_type(L, -1) != LUA_TNUMBER || !isint || k < 1) {
            lua_pop(L, 1);
            return 0;
        }
        if (k > max) max = k;
        count++;
    }
    *n = count;
    return count > 0 && max == count;
}

typedef struct {
    const char *text;
    lua_Integer index;
} key_ref;

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const key_ref *)a)->text, ((const key_ref *)b)->text);
}

/* Add the value at idx to parent (under key, or appended when key is
 * NULL). Every node is attached before its children are made, so an error
 * raised halfway leaves one tree that the caller frees. */
static void to_json(lua_State *L, int idx, const char *fn, int depth, cJSON *parent, const char *key)
{
    idx = lua_absindex(L, idx);
    cJSON *node = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: node = cJSON_CreateNull(); break;
    case LUA_TBOOLEAN: node = cJSON_CreateBool(lua_toboolean(L, idx)); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            node = cJSON_CreateNumber((double)lua_tointeger(L, idx));
        } else {
            double v = lua_tonumber(L, idx);
            char buf[40];
            lh_format_number(v, buf, sizeof buf);
            node = isfinite(v) ? cJSON_CreateRaw(buf) : cJSON_CreateNull(); /* JSON has no NaN */
        }
        break;
    case LUA_TSTRING: node = cJSON_CreateString(lua_tostring(L, idx)); break;
    case LUA_TTABLE: break;
    default:
        lh_error(L, "%s: a %s cannot be written as JSON (only nil, booleans, numbers, strings and tables)", fn,
                 luaL_typename(L, idx));
    }
    if (lua_type(L, idx) != LUA_TTABLE) {
        if (!node) lh_error(L, "%s: out of memory", fn);
        if (key) cJSON_AddItemToObject(parent, key, node);
        else cJSON_AddItemToArray(parent, node);
        return;
    }
    if (depth > 100) lh_error(L, "%s: tables nested more than 100 deep (a cycle?) cannot be written as JSON", fn);
    luaL_checkstack(L, 8, fn);
    lua_Integer n = 0;
    const int arr = is_array(L, idx, &n);
    node = arr ? cJSON_CreateArray() : cJSON_CreateObject();
    if (!node) lh_error(L, "%s: out of memory", fn);
    if (key) cJSON_AddItemToObject(parent, key, node);
    else cJSON_AddItemToArray(parent, node);
    if (arr) {
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            to_json(L, -1, fn, depth + 1, node, NULL);
            lua_pop(L, 1);
        }
        return;
    }
    /* an object: keys as text, sorted (a Lua list of the key strings, so
       an error leaves nothing to free) */
    lua_newtable(L);
    const int list = lua_gettop(L);
    lua_Integer nk = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TNUMBER) {
            char kb[64];
            lh_format_number(lua_tonumber(L, -1), kb, sizeof kb);
            lua_pushstring(L, kb);
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
        } else {
            lh_error(L, "%s: a table key of type %s cannot be written as JSON", fn, luaL_typename(L, -1));
        }
        lua_pushvalue(L, -2); /* the original key */
        lua_createtable(L, 2, 0);
        lua_insert(L, -3);
        lua_rawseti(L, -3, 2);
        lua_rawseti(L, -2, 1);
        lua_rawseti(L, list, ++nk);
    }
    /* sorted by text; the entries live in Lua memory, so an error frees them */
    key_ref *ord = lua_newuserdatauv(L, (size_t)(nk > 0 ? nk : 1) * sizeof *ord, 0);
    for (lua_Integer i = 1; i <= nk; i++) {
        lua_rawgeti(L, list, i);
        lua_rawgeti(L, -1, 1);
        ord[i - 1].text = lua_tostring(L, -1); /* pinned by the list */
        ord[i - 1].index = i;
        lua_pop(L, 2);
    }
    qsort(ord, (size_t)nk, sizeof *ord, cmp_key);
    for (lua_Integer i = 0; i < nk; i++) {
        lua_rawgeti(L, list, ord[i].index);
        lua_rawgeti(L, -1, 2);
        lua_rawget(L, idx);
        to_json(L, -1, fn, depth + 1, node, ord[i].text);
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
}

typedef struct {
    const char *fn;
    cJSON *root;
} json_job;

/* protected: the value at 1, the job at 2 */
static int to_json_cf(lua_State *L)
{
    json_job *j = lua_touserdata(L, 2);
    to_json(L, 1, j->fn, 0, j->root, NULL);
    return 0;
}

cJSON *lh_to_json(lua_State *L, int idx, const char *fn)
{
    idx = lua_absindex(L, idx);
    json_job j = {fn, cJSON_CreateArray()};
    if (!j.root) lh_error(L, "%s: out of memory", fn);
    lua_pushcfunction(L, to_json_cf);
    lua_pushvalue(L, idx);
    lua_pushlightuserdata(L, &j);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        cJSON_Delete(j.root);
        luaL_where(L, 1); /* the script's line: the error was made one call down */
        lua_insert(L, -2);
        lua_concat(L, 2);
        lua_error(L);
    }
    cJSON *out = cJSON_DetachItemFromArray(j.root, 0);
    cJSON_Delete(j.root);
    return out;
}

void lh_push_json(lua_State *L, const cJSON *j)
{
    luaL_checkstack(L, 4, "JSON");
    if (cJSON_IsNull(j) || !j) lua_pushnil(L);
    else if (cJSON_IsBool(j)) lua_pushboolean(L, cJSON_IsTrue(j));
    else if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        if (v == floor(v) && fabs(v) < 9007199254740992.0) lua_pushinteger(L, (lua_Integer)v);
        else lua_pushnumber(L, v);
    } else if (cJSON_IsString(j)) lua_pushstring(L, j->valuestring);
    else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        int i = 1;
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            lh_push_json(L, it);
            lua_rawseti(L, -2, i++);
        }
    } else if (cJSON_IsObject(j)) {
        lua_newtable(L);
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            lh_push_json(L, it);
            lua_setfield(L, -2, it->string);
        }
    } else {
        lua_pushnil(L);
    }
}

/* ---------------- files ---------------- */

void lh_write_file(lua_State *L, const char *fn, const char *path, const char *data, size_t n)
{
    rb_error err = {0};
    if (rb_output_check(path, &err) != RB_OK) lh_engine_error(L, fn, &err);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) lh_error(L, "%s: cannot write %s: %s", fn, tmp, strerror(errno));
    int slot = rb_output_tmp_register(tmp);
    size_t off = 0;
    int e = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            e = errno;
            break;
        }
        off += (size_t)w;
    }
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (!e && rb_output_check(path, &err) != RB_OK) {
        unlink(tmp);
        rb_output_tmp_unregister(slot);
        lh_engine_error(L, fn, &err);
    }
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        unlink(tmp);
        rb_output_tmp_unregister(slot);
        lh_error(L, "%s: writing %s failed (%s%s%s); the previous file, if any, is unchanged", fn, path, strerror(e),
                 rb_output_errno_hint(e)[0] ? ": " : "", rb_output_errno_hint(e));
    }
    rb_output_tmp_unregister(slot);
    /* the folder, so the rename is durable */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}
