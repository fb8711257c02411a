/* lua_host.h: the Lua host. It runs experiment scripts (Lua 5.4) against
 * the `retrobench` module, for `retrobench run` today and the workbench's
 * worker thread later, unchanged.
 *
 * What it guarantees (docs/lua-api.md, "The host"):
 *  - a curated environment: no process control, no io library, no native
 *    code or bytecode; require finds only the script's own folder and the
 *    project's scripts/ folder;
 *  - every call into Lua is protected; an error comes back as one message
 *    that names file:line and carries a traceback;
 *  - a count hook checks the stop flag (Ctrl-C, the workbench's quit) and
 *    the instruction budget; a watchdog sets the stop flag when the time
 *    budget runs out, so long engine work (training, evaluation) stops too;
 *  - the host never prints: everything a script shows goes through a sink
 *    (print, log lines, a progress line, training metrics), and at safe
 *    points between units of work it calls the sink's between_steps (the
 *    workbench drains its command queue there) and runs queued Lua lines.
 *
 * Threads: one thread (the one that created the host) runs Lua and the
 * engine. lua_host_post and the stop flag may be used from any thread.
 *
 * The workbench plugs in with: a sink that publishes through wb_edit /
 * wb_push_metric / wb_log and whose between_steps calls wb_between_steps;
 * the host's stop flag = wb_stop_flag(w); WB_CMD_LUA handled by
 * lua_host_post (or lua_host_run_line when no script is running). */
#ifndef RB_APP_LUA_HOST_H
#define RB_APP_LUA_HOST_H

#include <stdatomic.h>
#include <stddef.h>

#include "rb_train.h"
#include "runner.h"

/* Values of the stop flag: SIGINT and SIGTERM by their numbers; 1 (the
 * workbench's quit, any other request) is not SIGHUP, which has its own. */
#define LH_STOP_TIME 1001   /* the time budget ran out */
#define LH_STOP_INSTR 1002  /* the instruction budget ran out */
#define LH_STOP_HANGUP 1003 /* SIGHUP: the terminal went away */

typedef enum {
    LH_LOG_INFO = 0,
    LH_LOG_WARN = 1,
    LH_LOG_ERROR = 2
} lh_level;

/* Where everything a script shows goes. Every callback may be NULL. */
typedef struct {
    void *user;
    /* print(): the script's own output, one call per print, no newline */
    void (*print)(void *user, const char *text, size_t len);
    /* rb.log and what the engine and the runner report (notices, warnings) */
    void (*log)(void *user, int level, const char *msg);
    /* long work in progress: a one-line status redrawn in place; NULL ends it
       (the caller throttles nothing: the sink decides how often to draw) */
    void (*progress)(void *user, const char *line);
    /* each training step (after its metrics line) and each validation */
    void (*train_step)(void *user, int phase, const rb_train_metrics *m);
    void (*validation)(void *user, const app_run_validation *v);
    /* a safe point between units of work (training steps, evaluation
       batches, answers): the workbench drains its command queue here */
    void (*between_steps)(void *user);
} lua_host_sink;

typedef struct {
    atomic_int *stop;               /* NULL: the host's own flag (lua_host_stop_flag) */
    double budget_seconds;          /* wall time of a run (0: none) */
    long long budget_instructions;  /* Lua VM instructions of a run (0: none) */
    const char *scripts_dir;        /* the project's scripts/; NULL: $RB_SCRIPTS_DIR or the built-in path */
    lua_host_sink sink;
} lua_host_opts;

typedef enum {
    LH_OK = 0,
    LH_ERROR,     /* the script failed; lua_host_error says why (file:line, traceback) */
    LH_STOPPED,   /* stopped by the stop flag (a signal, the workbench); lua_host_stop_value */
    LH_BUDGET     /* a budget ran out (lua_host_error says which) */
} lh_result;

typedef struct lua_host lua_host;

/* NULL on failure (out of memory), with the reason in msg. */
lua_host *lua_host_create(const lua_host_opts *o, char *msg, size_t cap);
void lua_host_destroy(lua_host *h);

/* Run a script file: the chunk gets args as `...` and as the global
 * table `arg` (arg[0] = path; "key=value" args also as arg.key). */
lh_result lua_host_run_file(lua_host *h, const char *path, int argc, char *const *argv);
/* Run one chunk of text in the script's environment (the workbench's
 * Lua line): an expression's values are printed, as in lua.c. */
lh_result lua_host_run_line(lua_host *h, const char *line);
/* Queue a line from any thread; it runs at the next safe point of a
 * running script (or by lua_host_drain). Returns 0, or -1 when full. */
int lua_host_post(lua_host *h, const char *line);
/* Run the queued lines now (on the host's thread). */
void lua_host_drain(lua_host *h);

/* The last error: one message, file:line first, then the traceback. */
const char *lua_host_error(const lua_host *h);
/* The stop flag's value after LH_STOPPED / LH_BUDGET (a signal number or LH_STOP_*). */
int lua_host_stop_value(const lua_host *h);
atomic_int *lua_host_stop_flag(lua_host *h);

#endif
