/* lua_dist.c: Lua experiments under `mpirun -np N retrobench run EXP.lua`
 * (docs/distributed.md, docs/lua-api.md "Running on several ranks").
 *
 * The script runs on every rank, the same calls in the same order. rb.train
 * trains as one data-parallel group (the runner writes on rank 0 only);
 * every other function that writes a file writes it on rank 0 alone and
 * every rank then waits for it (one small allreduce), so a file a script
 * writes and then reads exists for all ranks, and a failure on rank 0 stops
 * the job (cmd_run aborts the group when a script fails). rb.rank() and
 * rb.world_size() let a script choose other behaviour explicitly. */
#include "lua_int.h"

#include "dist.h"

int lh_group_root(void) { return app_dist_rank() == 0; }

void lh_group_wait(lua_State *L, const char *fn)
{
    if (app_dist_size() <= 1) return;
    const int failed = app_dist_failures(0);
    if (failed) lh_error(L, "%s: %d rank(s) of the group failed while rank 0 wrote the file", fn, failed);
}

/* rb.rank() -> 0-based rank in the mpirun group (0 without mpirun) */
static int l_rank(lua_State *L)
{
    lua_pushinteger(L, app_dist_rank());
    return 1;
}

/* rb.world_size() -> ranks in the group (1 without mpirun) */
static int l_world_size(lua_State *L)
{
    lua_pushinteger(L, app_dist_size());
    return 1;
}

void lh_open_dist(lua_State *L)
{
    static const luaL_Reg fns[] = {{"rank", l_rank}, {"world_size", l_world_size}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
