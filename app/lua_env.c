/* lua_env.c: the curated environment a script runs in (docs/lua-api.md,
 * "The environment"), and its require.
 *
 * A script gets the parts of the standard library that compute (base,
 * string, table, math, utf8, coroutine), the harmless parts of os (clock,
 * time, date, difftime, getenv), debug.traceback, and the retrobench
 * module. It does not get what would let it escape the host or leave half
 * a file behind: io (files are written by rb.write_* atomically, under the
 * project's output rules), os.execute / os.exit / os.remove / os.rename /
 * os.tmpname / os.setlocale (a locale change would alter how every number
 * in the program is printed and parsed), package.loadlib and C modules,
 * binary chunks (load is text only; string.dump is gone: bytecode can
 * crash the VM), dofile / loadfile (require is the one way to read code),
 * and the rest of debug (debug.sethook would remove the stop hook).
 * pcall, xpcall and coroutine.resume give a stop (Ctrl-C, a budget) back
 * to the script's caller instead of swallowing it. */
#include "lua_int.h"

#include <ctype.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* print -> the sink, one call per print (tab-separated, tostring'd) */
static int l_print(lua_State *L)
{
    lua_host *h = lh_host(L);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_addvalue(&b);
        (void)s;
    }
    luaL_pushresult(&b);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    if (h->o.sink.print) h->o.sink.print(h->o.sink.user, text, len);
    return 0;
}

/* load(chunk [, name [, mode [, env]]]): text chunks only */
static int l_load(lua_State *L)
{
    const char *mode = luaL_optstring(L, 3, "t");
    if (strcmp(mode, "t") != 0)
        return lh_error(L, "load: binary chunks are not allowed here (mode '%s'); load text (mode \"t\")", mode);
    lua_settop(L, 4);
    lua_pushstring(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1)); /* the original load */
    lua_insert(L, 1);
    int env_given = !lua_isnil(L, 5);
    if (!env_given) lua_settop(L, 4); /* the default environment: the script's globals */
    lua_call(L, env_given ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L);
}

/* collectgarbage: the options that only observe or help */
static int l_collectgarbage(lua_State *L)
{
    static const char *const ok[] = {"collect", "count", "step", "isrunning", NULL};
    const char *opt = luaL_optstring(L, 1, "collect");
    int known = 0;
    for (int i = 0; ok[i]; i++) known |= !strcmp(opt, ok[i]);
    if (!known) return lh_error(L, "collectgarbage: option '%s' is not available here (use collect, count, step or "
                                   "isrunning)", opt);
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

static int l_is_stop(lua_State *L)
{
    lua_pushboolean(L, lh_is_stop(L, 1));
    return 1;
}

/* pcall, xpcall and coroutine.resume that pass a stop on (in Lua, so that
 * they yield across coroutines like the originals) */
static const char wrappers[] =
    "local raw_pcall, raw_xpcall, raw_resume, is_stop, error = ...\n"
    "local function pass(ok, ...)\n"
    "  if not ok and is_stop((...)) then error((...), 0) end\n"
    "  return ok, ...\n"
    "end\n"
    "local function pcall(f, ...) return pass(raw_pcall(f, ...)) end\n"
    "local function xpcall(f, msgh, ...)\n"
    "  return pass(raw_xpcall(f, function(e) if is_stop(e) then return e end return msgh(e) end, ...))\n"
    "end\n"
    "local function resume(co, ...) return pass(raw_resume(co, ...)) end\n"
    "return pcall, xpcall, resume\n";

/* ---------------- require ---------------- */

/* "plans.tinyllama" -> "plans/tinyllama.lua"; names are words joined by dots */
static int module_path(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200) return -1;
    int prev_dot = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (prev_dot) return -1;
            prev_dot = 1;
        } else if (isalnum(c) || c == '_' || c == '-') {
            prev_dot = 0;
        } else {
            return -1;
        }
    }
    if (prev_dot) return -1;
    snprintf(out, cap, "%s.lua", name);
    for (char *p = out; *p && strcmp(p, ".lua"); p++)
        if (*p == '.') *p = '/';
    return 0;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int l_require(lua_State *L)
{
    lua_host *h = lh_host(L);
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, name);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);
    char rel[400];
    if (module_path(name, rel, sizeof rel))
        return lh_error(L, "require '%s': a module name is words of letters, digits, _ and - joined by dots "
                           "(e.g. \"plans.paper\"); paths are not allowed", name);
    char path[8500];
    const char *dirs[2] = {h->script_dir, h->scripts_dir};
    int found = 0;
    for (int i = 0; i < 2 && !found; i++) {
        if (!strcmp(dirs[i], ".")) snprintf(path, sizeof path, "%s", rel); /* messages say lib/x.lua, not ./lib/x.lua */
        else snprintf(path, sizeof path, "%s/%s", dirs[i], rel);
        found = is_file(path);
    }
    if (!found)
        return lh_error(L, "require '%s': no %s in the script's folder (%s) or in scripts/ (%s)", name, rel,
                        h->script_dir, h->scripts_dir);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
    lua_pushstring(L, name);
    lua_pushstring(L, path);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

/* ---------------- the environment ---------------- */

static void keep_only(lua_State *L, const char *lib, const char *const *names)
{
    lua_getglobal(L, lib);
    lua_newtable(L);
    for (int i = 0; names[i]; i++) {
        lua_getfield(L, -2, names[i]);
        lua_setfield(L, -2, names[i]);
    }
    lua_setglobal(L, lib);
    lua_pop(L, 1);
}

void lh_open_env(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},        {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table},  {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
                                    {LUA_OSLIBNAME, luaopen_os},      {LUA_DBLIBNAME, luaopen_debug},
                                    {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    /* the string library is shared with every string's metatable: remove
       dump from the real table */
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    static const char *const os_keep[] = {"clock", "time", "date", "difftime", "getenv", NULL};
    keep_only(L, "os", os_keep);
    static const char *const debug_keep[] = {"traceback", NULL};
    keep_only(L, "debug", debug_keep);
    /* the loaded debug and os modules are the full ones: drop them from
       the registry's table too, so nothing finds them there */
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getglobal(L, "os");
    lua_setfield(L, -2, LUA_OSLIBNAME);
    lua_getglobal(L, "debug");
    lua_setfield(L, -2, LUA_DBLIBNAME);
    lua_pop(L, 1);
    static const char *const drop[] = {"dofile", "loadfile", NULL};
    for (int i = 0; drop[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, drop[i]);
    }
    lua_pushcfunction(L, l_print);
    lua_setglobal(L, "print");
    lua_getglobal(L, "load");
    lua_pushcclosure(L, l_load, 1);
    lua_setglobal(L, "load");
    lua_getglobal(L, "collectgarbage");
    lua_pushcclosure(L, l_collectgarbage, 1);
    lua_setglobal(L, "collectgarbage");
    lua_pushcfunction(L, l_require);
    lua_setglobal(L, "require");
    /* pcall, xpcall, coroutine.resume */
    if (luaL_loadbufferx(L, wrappers, sizeof wrappers - 1, "=(host)", "t") != LUA_OK) lua_error(L);
    lua_getglobal(L, "pcall");
    lua_getglobal(L, "xpcall");
    lua_getglobal(L, "coroutine");
    lua_getfield(L, -1, "resume");
    lua_remove(L, -2);
    lua_pushcfunction(L, l_is_stop);
    lua_getglobal(L, "error");
    lua_call(L, 5, 3);
    lua_getglobal(L, "coroutine");
    lua_insert(L, -2);
    lua_setfield(L, -2, "resume");
    lua_pop(L, 1);
    lua_setglobal(L, "xpcall");
    lua_setglobal(L, "pcall");
    /* the module, preloaded under its name */
    luaL_requiref(L, "retrobench", lh_open_module, 0);
    lua_pop(L, 1);
}
