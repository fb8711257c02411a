/* lua_recipe.h: a training recipe read from Lua tables (lua_recipe.c),
 * shared by rb.train, rb.trainer and rb.recipe. */
#ifndef RB_APP_LUA_RECIPE_H
#define RB_APP_LUA_RECIPE_H

#include <lua.h>

#include "rb_train.h"

#define LH_RECIPE_FIELDS_MAX 128

typedef struct {
    rb_train_config cfg;
    unsigned char given[LH_RECIPE_FIELDS_MAX]; /* per rb_train_fields() entry: set by the script */
    int curric_ref[2];  /* registry refs of an rbar / backprop curriculum function or value list */
    int table_ud[2];    /* registry refs of the tabulated values (cfg points into them) */
} lh_recipe;

/* Defaults: rb_train_config_default(c, 4), nothing given. */
void lh_recipe_init(lh_recipe *r);
/* Apply the recipe table at idx (keys in `skip` are the caller's). Raises
 * with the command line's message on a bad value. */
void lh_recipe_apply(lua_State *L, const char *fn, lh_recipe *r, int idx, const char *const *skip);
/* Check the required settings, resolve dependent defaults as `retrobench
 * train` does, and tabulate function curricula over cfg.steps. */
void lh_recipe_finish(lua_State *L, const char *fn, lh_recipe *r, int need_steps);
/* Drop the registry references (the tabulated values may then be collected). */
void lh_recipe_release(lua_State *L, lh_recipe *r);
void lh_recipe_free(lua_State *L, lh_recipe *r);
/* The configuration as a table of setting name -> value. */
void lh_push_recipe(lua_State *L, const rb_train_config *c);

#endif
