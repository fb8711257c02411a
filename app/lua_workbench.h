/* lua_workbench.h: the Lua host inside the workbench (the plug-in point;
 * `retrobench tui EXP.lua` will start it). The worker thread runs the
 * script with lua_wb_main; what the script shows goes into the snapshot
 * (print and log lines into the log pane, training steps and validations
 * into the curves, the progress line into the worker status); WB_CMD_LUA
 * lines run between training steps (or at once when no script runs),
 * WB_CMD_SAVE saves the run in progress; quitting the workbench is the
 * host's stop flag. */
#ifndef RB_APP_LUA_WORKBENCH_H
#define RB_APP_LUA_WORKBENCH_H

#include "lua_host.h"
#include "workbench.h"

typedef struct {
    const char *script;      /* the experiment */
    int argc;                /* its arguments */
    char *const *argv;
    double budget_seconds;   /* 0: none */
    long long budget_instructions;
    lh_result result;        /* after lua_wb_main returns */
    char error[4096];        /* its message when not LH_OK */
} lua_wb_job;

/* A worker main for wb_start(w, lua_wb_main, job): create the host with the
 * workbench's sink and stop flag, install the command handler, run the
 * script, then keep answering Lua lines until the workbench quits. */
void lua_wb_main(wb *w, void *job);

/* The pieces, for a mode that makes its own host: the sink that publishes
 * to w, and the command handler (ctx = the lua_host). */
void lua_wb_sink(wb *w, lua_host_sink *out);
void lua_wb_command(void *host, wb *w, const wb_cmd *c);

#endif
