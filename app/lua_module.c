/* lua_module.c: the `retrobench` module (local rb = require "retrobench"):
 * assembles the functions of lua_model.c, lua_surgery.c, lua_recipe.c,
 * lua_data.c, lua_train.c, lua_infer.c, lua_eval.c and lua_results.c into
 * one table, and rb.api(), the list of every function and method (which
 * the documentation test checks against docs/lua-api.md). */
#include "lua_int.h"

#include <string.h>

/* names of the methods of a metatable's __index table, sorted, as a list */
static void push_methods(lua_State *L, const char *mt)
{
    lua_newtable(L);
    const int out = lua_gettop(L);
    if (luaL_getmetatable(L, mt) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "__index");
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, out, ++n);
    }
    lua_pop(L, 2);
}

/* rb.api(): {functions = {...}, model = {...}, trainer = {...}, control = {...}} */
static int l_api(lua_State *L)
{
    lua_newtable(L);
    lua_newtable(L);
    lua_Integer n = 0;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "retrobench");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        int fn = lua_isfunction(L, -1);
        lua_pop(L, 1);
        if (fn) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, -5, ++n);
        }
    }
    lua_pop(L, 2);
    lua_setfield(L, -2, "functions");
    push_methods(L, LH_MODEL_MT);
    lua_setfield(L, -2, "model");
    push_methods(L, "retrobench.trainer");
    lua_setfield(L, -2, "trainer");
    push_methods(L, "retrobench.control");
    lua_setfield(L, -2, "control");
    return 1;
}

/* rb.poll(): a safe point in a script's own loop: the workbench's commands
 * and queued Lua lines run here (training and evaluation have their own) */
static int l_poll(lua_State *L)
{
    lh_safe_point(L);
    return 0;
}

int lh_open_module(lua_State *L)
{
    lua_newtable(L);
    lh_open_model(L);
    lh_open_surgery(L);
    lh_open_recipe(L);
    lh_open_data(L);
    lh_open_train(L);
    lh_open_infer(L);
    lh_open_eval(L);
    lh_open_results(L);
    lua_pushcfunction(L, l_api);
    lua_setfield(L, -2, "api");
    lua_pushcfunction(L, l_poll);
    lua_setfield(L, -2, "poll");
    lua_pushstring(L, RB_VERSION);
    lua_setfield(L, -2, "version");
    lua_newtable(L);
    lua_setfield(L, -2, "args");
    return 1;
}
