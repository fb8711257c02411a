/* lua_int.h: what the Lua host's files share (lua_host.c, lua_env.c and
 * the rb.* bindings in lua_*.c): the host's state, argument and option
 * helpers, error raising, and each binding file's registration function. */
#ifndef RB_APP_LUA_INT_H
#define RB_APP_LUA_INT_H

#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lua_host.h"
#include "rb_error.h"
#include "rb_io.h"
#include "rb_model.h"

#define LH_QUEUE_CAP 64
#define LH_HOOK_COUNT 1000 /* VM instructions between two looks at the stop flag */

typedef struct lh_run lh_run;

struct lua_host {
    lua_State *L;
    lua_host_opts o;
    atomic_int own_stop;
    atomic_int *stop;
    long long instr;          /* instructions counted by the hook in this run */
    /* the time budget: a watchdog thread sets the stop flag at the deadline */
    pthread_t wd;
    pthread_mutex_t wd_mu;
    pthread_cond_t wd_cv;
    int wd_started, wd_quit;
    double deadline;          /* CLOCK_MONOTONIC seconds; 0: none */
    /* lines posted from other threads */
    pthread_mutex_t q_mu;
    char *queue[LH_QUEUE_CAP];
    int q_head, q_n;
    int draining;
    char *error;              /* the last error message (malloc'd) */
    int stop_value;
    char script_dir[4096];    /* the running script's folder ("." when none) */
    char scripts_dir[4096];   /* the project's scripts/ */
    lh_run *run;              /* the training run in progress (rb.training()) */
    char warn[1024];          /* a warning being assembled (warn's pieces) */
    size_t warn_len;
};

/* The host of a state (kept in the state's extra space). */
lua_host *lh_host(lua_State *L);

/* ---- errors ---- */
/* luaL_error with the caller's file:line in front. */
int lh_error(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "FN: <engine message>" as a Lua error. */
int lh_engine_error(lua_State *L, const char *fn, const rb_error *err);
/* Whether the stop flag is set (and its value). */
int lh_stop_value(lua_State *L);
/* Raise the stop error (a signal, a budget): "file:line: interrupted (SIGINT)<what>". */
int lh_raise_stop(lua_State *L, const char *what);
/* Whether the value at idx is a stop error (pcall must not swallow it). */
int lh_is_stop(lua_State *L, int idx);
/* The message handler of every protected call: adds a traceback (once). */
int lh_msgh(lua_State *L);
/* lua_pcall with lh_msgh; on error the message is left on the stack. */
int lh_pcall(lua_State *L, int nargs, int nres);
/* Call the C function fn(ud) protected: the way C code that holds
 * resources (the runner, the evaluator) calls into Lua. Returns LUA_OK or
 * an error code with the message (and traceback) in *msg (malloc'd). */
int lh_protected(lua_State *L, lua_CFunction fn, void *ud, char **msg);

/* A safe point between units of work: the sink's between_steps, then
 * queued lines. Never raises. */
void lh_safe_point(lua_State *L);

/* ---- the sink ---- */
void lh_log(lua_State *L, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void lh_progress(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lh_progress_end(lua_State *L);
double lh_now(void);

/* ---- options tables ---- */
/* Raise an error when the table at idx has a key not in `known` (NULL-
 * terminated), naming it and the known ones. */
void lh_check_keys(lua_State *L, int idx, const char *fn, const char *const *known);
/* Field `key` of the table at idx (absent or nil: def). Type and range
 * errors name fn and the key. idx may be 0: no table. */
lua_Integer lh_opt_int(lua_State *L, int idx, const char *fn, const char *key, lua_Integer def,
                       lua_Integer lo, lua_Integer hi);
double lh_opt_num(lua_State *L, int idx, const char *fn, const char *key, double def, double lo,
                  double hi);
int lh_opt_bool(lua_State *L, int idx, const char *fn, const char *key, int def);
/* The string is valid while the table holds it. */
const char *lh_opt_str(lua_State *L, int idx, const char *fn, const char *key, const char *def);
/* One of choices (NULL-terminated); returns its index, or def when absent. */
int lh_opt_choice(lua_State *L, int idx, const char *fn, const char *key, const char *const *choices,
                  int def);
/* A list of integers in [lo, hi] (a sequence, or one number) into out[cap];
 * returns the count, or -1 when absent. */
int lh_opt_int_list(lua_State *L, int idx, const char *fn, const char *key, int *out, int cap, int lo,
                    int hi);

/* ---- values ---- */
/* Lua value -> cJSON (tables with keys 1..n are arrays; other keys are
 * sorted, so files do not depend on hash order). Raises on cycles,
 * functions and userdata, naming fn. */
cJSON *lh_to_json(lua_State *L, int idx, const char *fn);
/* cJSON -> Lua value on the stack (null -> nil). */
void lh_push_json(lua_State *L, const cJSON *j);
/* A number as the shortest text that reads back to the same double. */
void lh_format_number(double v, char *buf, size_t cap);
/* Write a whole file atomically (rb_output rules); raises on failure. */
void lh_write_file(lua_State *L, const char *fn, const char *path, const char *data, size_t n);

/* ---- models (lua_model.c) ---- */
typedef struct lh_model {
    rb_backend *be;
    rb_model *m;
    rb_loaded_model lm;       /* configuration, tokenizer, plan, metadata, source (params not kept) */
    const rb_loaded_model *tok_lm; /* whose tokenizer and special ids to use: &lm, or a base model's */
    int tok_ref;              /* registry reference keeping that base model alive (or LUA_NOREF) */
    int busy;                 /* being trained: not closed, not trained again */
    int in_use;               /* an evaluation runs on it (its callbacks must not close it) */
    char device[64];
} lh_model;

#define LH_MODEL_MT "retrobench.model"
lh_model *lh_check_model(lua_State *L, int idx, const char *fn);
/* A new model userdata on the stack wrapping a host parameter buffer for
 * cfg (uploaded to a new backend for `device`); takes ownership of plan. */
lh_model *lh_push_model(lua_State *L, const char *fn, const rb_config *cfg, const float *params,
                        const char *device);
/* The checkpoint metadata of a model (tokenizer embedded, special ids):
 * keys/vals (room for 3), *n, *owned malloc'd. Raises on failure. */
void lh_model_meta(lua_State *L, const char *fn, const lh_model *mm, const char **keys, const char **vals,
                   int *n, char **owned, char *bos, char *eos);
const rb_tokenizer *lh_model_tok(const lh_model *mm);
/* Add methods to every model (generate, trace, loss live in lua_infer.c). */
void lh_model_add_methods(lua_State *L, const luaL_Reg *methods);

/* ---- registration: each adds its functions to the module table on top ---- */
void lh_open_model(lua_State *L);
void lh_open_surgery(lua_State *L);
void lh_open_recipe(lua_State *L);
void lh_open_train(lua_State *L);
void lh_open_data(lua_State *L);
void lh_open_infer(lua_State *L);
void lh_open_eval(lua_State *L);
void lh_open_results(lua_State *L);
/* luaopen_retrobench: the module (lua_module.c). */
int lh_open_module(lua_State *L);
/* The curated environment (lua_env.c). */
void lh_open_env(lua_State *L);

#endif
