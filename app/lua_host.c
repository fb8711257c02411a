/* lua_host.c: the Lua host (see lua_host.h): the state, the count hook
 * and the time-budget watchdog, the protected calls and their message
 * handler, running a script or a line, and the queue of posted lines. */
#define _GNU_SOURCE
#include "lua_int.h"

#include <errno.h>
#include <lualib.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "app_signals.h"

#define STOP_MT "retrobench.stop"

lua_host *lh_host(lua_State *L) { return *(lua_host **)lua_getextraspace(L); }

double lh_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---------------- errors ---------------- */

/* printf formats (lua_pushfstring knows only a few), the caller's file:line in front */
int lh_error(lua_State *L, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    luaL_where(L, 1);
    if (n >= 0 && (size_t)n < sizeof small) {
        lua_pushstring(L, small);
    } else if (n >= 0) {
        char *big = lua_newuserdatauv(L, (size_t)n + 1, 0);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        lua_pushstring(L, big);
        lua_remove(L, -2);
    } else {
        lua_pushstring(L, fmt);
    }
    lua_concat(L, 2);
    return lua_error(L);
}

int lh_engine_error(lua_State *L, const char *fn, const rb_error *err)
{
    return lh_error(L, "%s: %s", fn, err && err->msg[0] ? err->msg : "failed (no message)");
}

int lh_stop_value(lua_State *L)
{
    lua_host *h = lh_host(L);
    return atomic_load(h->stop);
}

/* "file:line:" of the innermost Lua function with a current line. */
static void push_where(lua_State *L)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
    }
    lua_pushliteral(L, "");
}

static const char *stop_reason(lua_host *h, int v, char *buf, size_t cap)
{
    if (v == LH_STOP_TIME)
        snprintf(buf, cap, "stopped: the time budget of %g s ran out", h->o.budget_seconds);
    else if (v == LH_STOP_INSTR)
        snprintf(buf, cap, "stopped: the instruction budget of %lld Lua instructions ran out",
                 h->o.budget_instructions);
    else if (v == LH_STOP_HANGUP)
        snprintf(buf, cap, "interrupted by SIGHUP (the terminal went away)");
    else if (v == SIGINT || v == SIGTERM)
        snprintf(buf, cap, "interrupted by %s", app_signal_name(v));
    else
        snprintf(buf, cap, "stopped on request");
    return buf;
}

int lh_raise_stop(lua_State *L, const char *what)
{
    lua_host *h = lh_host(L);
    char reason[160];
    stop_reason(h, atomic_load(h->stop), reason, sizeof reason);
    lua_createtable(L, 0, 1);
    push_where(L);
    lua_pushstring(L, reason);
    lua_pushstring(L, what ? what : "");
    lua_concat(L, 3);
    lua_setfield(L, -2, "message");
    luaL_setmetatable(L, STOP_MT);
    return lua_error(L);
}

int lh_is_stop(lua_State *L, int idx)
{
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
    luaL_getmetatable(L, STOP_MT);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

static int stop_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    return 1;
}

int lh_msgh(lua_State *L)
{
    const char *msg = NULL;
    if (lh_is_stop(L, 1)) {
        lua_getfield(L, 1, "message");
        msg = lua_tostring(L, -1);
    } else if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
        msg = lua_tostring(L, 1);
    } else if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
        msg = lua_tostring(L, -1);
    }
    if (!msg) msg = lua_pushfstring(L, "(an error object of type %s, not a message)", luaL_typename(L, 1));
    if (strstr(msg, "\nstack traceback:")) { /* raised again from a nested protected call */
        lua_pushstring(L, msg);
        return 1;
    }
    luaL_traceback(L, L, msg, 1);
    /* no Lua function on the stack (a file that does not load): the message alone */
    const char *tb = lua_tostring(L, -1);
    const char *tail = "\nstack traceback:\n\t[C]: in ?";
    size_t n = strlen(tb), t = strlen(tail);
    if (n >= t && !strcmp(tb + n - t, tail)) lua_pushlstring(L, tb, n - t);
    return 1;
}

int lh_pcall(lua_State *L, int nargs, int nres)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, lh_msgh);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    return rc;
}

int lh_protected(lua_State *L, lua_CFunction fn, void *ud, char **msg)
{
    *msg = NULL;
    if (!lua_checkstack(L, 8)) {
        *msg = strdup("the Lua stack is full");
        return LUA_ERRMEM;
    }
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    int rc = lh_pcall(L, 1, 0);
    if (rc != LUA_OK) {
        const char *s = lua_tostring(L, -1);
        *msg = strdup(s ? s : "(error without a message)");
        lua_pop(L, 1);
    }
    return rc;
}

/* ---------------- the sink ---------------- */

void lh_log(lua_State *L, int level, const char *fmt, ...)
{
    lua_host *h = lh_host(L);
    if (!h->o.sink.log) return;
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    h->o.sink.log(h->o.sink.user, level, buf);
}

void lh_progress(lua_State *L, const char *fmt, ...)
{
    lua_host *h = lh_host(L);
    if (!h->o.sink.progress) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    h->o.sink.progress(h->o.sink.user, buf);
}

void lh_progress_end(lua_State *L)
{
    lua_host *h = lh_host(L);
    if (h->o.sink.progress) h->o.sink.progress(h->o.sink.user, NULL);
}

/* ---------------- hook and budgets ---------------- */

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_host *h = lh_host(L);
    h->instr += LH_HOOK_COUNT;
    if (h->o.budget_instructions > 0 && h->instr > h->o.budget_instructions) {
        int zero = 0;
        atomic_compare_exchange_strong(h->stop, &zero, LH_STOP_INSTR);
    }
    if (atomic_load_explicit(h->stop, memory_order_relaxed)) lh_raise_stop(L, NULL);
}

static void *watchdog(void *arg)
{
    lua_host *h = arg;
    struct timespec ts;
    double d = h->deadline;
    ts.tv_sec = (time_t)d;
    ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
    pthread_mutex_lock(&h->wd_mu);
    while (!h->wd_quit) {
        if (pthread_cond_timedwait(&h->wd_cv, &h->wd_mu, &ts) == ETIMEDOUT) {
            int zero = 0;
            atomic_compare_exchange_strong(h->stop, &zero, LH_STOP_TIME);
            break;
        }
    }
    pthread_mutex_unlock(&h->wd_mu);
    return NULL;
}

static void budget_start(lua_host *h)
{
    h->instr = 0;
    if (h->o.budget_seconds <= 0) return;
    h->deadline = lh_now() + h->o.budget_seconds;
    h->wd_quit = 0;
    h->wd_started = pthread_create(&h->wd, NULL, watchdog, h) == 0;
}

static void budget_end(lua_host *h)
{
    if (!h->wd_started) return;
    pthread_mutex_lock(&h->wd_mu);
    h->wd_quit = 1;
    pthread_cond_signal(&h->wd_cv);
    pthread_mutex_unlock(&h->wd_mu);
    pthread_join(h->wd, NULL);
    h->wd_started = 0;
}

/* ---------------- the host ---------------- */

static int open_env_cf(lua_State *L)
{
    lh_open_env(L);
    return 0;
}

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

/* Warnings (warn(), errors in __gc) go to the log. */
static void warnf(void *ud, const char *msg, int tocont)
{
    lua_host *h = ud;
    size_t n = strlen(msg);
    if (h->warn_len + n >= sizeof h->warn) n = sizeof h->warn - h->warn_len - 1;
    memcpy(h->warn + h->warn_len, msg, n);
    h->warn_len += n;
    h->warn[h->warn_len] = '\0';
    if (tocont) return;
    if (h->warn[0] != '@' && h->o.sink.log) h->o.sink.log(h->o.sink.user, LH_LOG_WARN, h->warn);
    h->warn_len = 0;
}

lua_host *lua_host_create(const lua_host_opts *o, char *msg, size_t cap)
{
    lua_host *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    h->o = *o;
    atomic_init(&h->own_stop, 0);
    h->stop = o->stop ? o->stop : &h->own_stop;
    pthread_mutex_init(&h->wd_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wd_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&h->q_mu, NULL);
    snprintf(h->script_dir, sizeof h->script_dir, ".");
    const char *sd = o->scripts_dir ? o->scripts_dir : getenv("RB_SCRIPTS_DIR");
#ifdef RB_SCRIPTS_DIR
    if (!sd || !*sd) sd = RB_SCRIPTS_DIR;
#endif
    snprintf(h->scripts_dir, sizeof h->scripts_dir, "%s", sd ? sd : "scripts");
    h->L = lua_newstate(l_alloc, NULL);
    if (!h->L) {
        snprintf(msg, cap, "cannot create a Lua state (out of memory)");
        lua_host_destroy(h);
        return NULL;
    }
    *(lua_host **)lua_getextraspace(h->L) = h;
    lua_setwarnf(h->L, warnf, h);
    if (luaL_newmetatable(h->L, STOP_MT)) {
        lua_pushcfunction(h->L, stop_tostring);
        lua_setfield(h->L, -2, "__tostring");
    }
    lua_pop(h->L, 1);
    char *err = NULL;
    if (lh_protected(h->L, open_env_cf, NULL, &err) != LUA_OK) {
        snprintf(msg, cap, "cannot set up the Lua environment: %s", err ? err : "?");
        free(err);
        lua_host_destroy(h);
        return NULL;
    }
    lua_sethook(h->L, count_hook, LUA_MASKCOUNT, LH_HOOK_COUNT);
    return h;
}

void lua_host_destroy(lua_host *h)
{
    if (!h) return;
    budget_end(h);
    if (h->L) lua_close(h->L);
    for (int i = 0; i < h->q_n; i++) free(h->queue[(h->q_head + i) % LH_QUEUE_CAP]);
    pthread_mutex_destroy(&h->q_mu);
    pthread_mutex_destroy(&h->wd_mu);
    pthread_cond_destroy(&h->wd_cv);
    free(h->error);
    free(h);
}

const char *lua_host_error(const lua_host *h) { return h->error ? h->error : ""; }
int lua_host_stop_value(const lua_host *h) { return h->stop_value; }
atomic_int *lua_host_stop_flag(lua_host *h) { return h->stop; }

static void set_error(lua_host *h, const char *msg)
{
    free(h->error);
    h->error = strdup(msg ? msg : "");
}

/* The outcome of a failed call: a stop (the flag is set) or an error. */
static lh_result failed(lua_host *h, lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    set_error(h, msg ? msg : "(error without a message)");
    lua_pop(L, 1);
    h->stop_value = atomic_load(h->stop);
    if (h->stop_value == LH_STOP_TIME || h->stop_value == LH_STOP_INSTR) return LH_BUDGET;
    return h->stop_value ? LH_STOPPED : LH_ERROR;
}

/* "key=value" arguments also as arg.key (a string); "flag" alone as arg.flag = true */
static void push_args(lua_State *L, const char *path, int argc, char *const *argv)
{
    lua_createtable(L, argc, argc);
    lua_pushstring(L, path);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
        const char *eq = strchr(argv[i], '=');
        if (eq && eq > argv[i]) {
            lua_pushlstring(L, argv[i], (size_t)(eq - argv[i]));
            lua_pushstring(L, eq + 1);
            lua_rawset(L, -3);
        } else if (!eq && argv[i][0] && !(argv[i][0] >= '0' && argv[i][0] <= '9')) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, argv[i]);
        }
    }
}

typedef struct {
    const char *path;
    int argc;
    char *const *argv;
} file_job;

/* Runs inside a protected call: load (text only) and run the script. */
static int run_file_cf(lua_State *L)
{
    file_job *j = lua_touserdata(L, 1);
    struct stat sb;
    if (stat(j->path, &sb) != 0)
        return luaL_error(L, "%s: %s", j->path, errno == ENOENT ? "no such file" : strerror(errno));
    if (S_ISDIR(sb.st_mode)) return luaL_error(L, "%s is a folder; give a Lua script file", j->path);
    if (luaL_loadfilex(L, j->path, "t") != LUA_OK) return lua_error(L); /* syntax: file:line: ... */
    push_args(L, j->path, j->argc, j->argv);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "arg");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "retrobench") == LUA_TTABLE) { /* rb.args too */
        lua_pushvalue(L, -3);
        lua_setfield(L, -2, "args");
    }
    lua_pop(L, 2);
    for (int i = 0; i < j->argc; i++) lua_pushstring(L, j->argv[i]);
    lua_remove(L, -1 - j->argc); /* the arg table was only for the global */
    lua_call(L, j->argc, 0);
    return 0;
}

lh_result lua_host_run_file(lua_host *h, const char *path, int argc, char *const *argv)
{
    lua_State *L = h->L;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    snprintf(h->script_dir, sizeof h->script_dir, "%s", dir);
    set_error(h, "");
    h->stop_value = 0;
    file_job j = {path, argc, argv};
    budget_start(h);
    lua_pushcfunction(L, run_file_cf);
    lua_pushlightuserdata(L, &j);
    int rc = lh_pcall(L, 1, 0);
    budget_end(h);
    if (rc != LUA_OK) return failed(h, L);
    /* a stop that arrived after the last hook (inside engine work that
       returned normally) still counts */
    h->stop_value = atomic_load(h->stop);
    return LH_OK;
}

/* print the values a line returned, as lua.c does */
static int run_line_cf(lua_State *L)
{
    const char *line = lua_touserdata(L, 1);
    lua_settop(L, 0);
    const char *ret = lua_pushfstring(L, "return %s", line);
    if (luaL_loadbufferx(L, ret, strlen(ret), "=lua-line", "t") != LUA_OK) {
        lua_settop(L, 0);
        if (luaL_loadbufferx(L, line, strlen(line), "=lua-line", "t") != LUA_OK) return lua_error(L);
    } else {
        lua_remove(L, 1);
    }
    lua_call(L, 0, LUA_MULTRET);
    int n = lua_gettop(L);
    if (n > 0) {
        lua_getglobal(L, "print");
        lua_insert(L, 1);
        lua_call(L, n, 0);
    }
    return 0;
}

lh_result lua_host_run_line(lua_host *h, const char *line)
{
    lua_State *L = h->L;
    lua_pushcfunction(L, run_line_cf);
    lua_pushlightuserdata(L, (void *)line);
    int rc = lh_pcall(L, 1, 0);
    if (rc != LUA_OK) return failed(h, L);
    return LH_OK;
}

int lua_host_post(lua_host *h, const char *line)
{
    char *copy = strdup(line);
    if (!copy) return -1;
    pthread_mutex_lock(&h->q_mu);
    int ok = h->q_n < LH_QUEUE_CAP;
    if (ok) h->queue[(h->q_head + h->q_n++) % LH_QUEUE_CAP] = copy;
    pthread_mutex_unlock(&h->q_mu);
    if (!ok) free(copy);
    return ok ? 0 : -1;
}

void lua_host_drain(lua_host *h)
{
    if (h->draining) return; /* a line that reaches a safe point does not run the next one inside */
    h->draining = 1;
    for (;;) {
        char *line = NULL;
        pthread_mutex_lock(&h->q_mu);
        if (h->q_n > 0) {
            line = h->queue[h->q_head];
            h->q_head = (h->q_head + 1) % LH_QUEUE_CAP;
            h->q_n--;
        }
        pthread_mutex_unlock(&h->q_mu);
        if (!line) break;
        if (lua_host_run_line(h, line) != LH_OK && h->o.sink.log)
            h->o.sink.log(h->o.sink.user, LH_LOG_ERROR, lua_host_error(h));
        free(line);
    }
    h->draining = 0;
}

void lh_safe_point(lua_State *L)
{
    lua_host *h = lh_host(L);
    if (h->o.sink.between_steps) h->o.sink.between_steps(h->o.sink.user);
    lua_host_drain(h);
}
