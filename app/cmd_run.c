/* cmd_run.c: `retrobench run EXP.lua [options] [-- ARGS...]`: an experiment
 * script, headless. The script's print goes to stdout; log lines and the
 * progress of long work (a line redrawn in place on a terminal, a line
 * every 10 s in a log) go to stderr; an error is reported with its
 * file:line and traceback. Exit status (docs/cli.md): 0 the script
 * finished, 1 it failed (an error, a budget ran out), 2 the command line is
 * wrong, 128 + signal when interrupted (130 Ctrl-C, 143 SIGTERM): the
 * first signal stops the script at its next instruction or training step
 * (a run saves its checkpoint), a second one ends the process at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_model.h"
#include "app_signals.h"
#include "cli.h"
#include "lua_host.h"
#include "rb_output.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag is set from a signal handler");
static atomic_int stop_flag;

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_signal(int sig)
{
    int zero = 0;
    if (atomic_compare_exchange_strong(&stop_flag, &zero, sig == SIGHUP ? LH_STOP_HANGUP : sig)) return;
    /* the second: at once, removing unfinished outputs */
    say("\nretrobench run: a second signal: stopping now\n");
    rb_output_remove_temporaries(NULL);
    signal(sig, SIG_DFL);
    raise(sig);
}

typedef struct {
    int tty, quiet;
    int shown;       /* a progress line is on the terminal */
    double last;
    char line[1024];
} stderr_sink;

static double clock_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void clear_progress(stderr_sink *s)
{
    if (s->shown && s->tty) fputs("\r\x1b[K", stderr);
    s->shown = 0;
}

static void s_print(void *u, const char *text, size_t len)
{
    stderr_sink *s = u;
    clear_progress(s);
    fwrite(text, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void s_log(void *u, int level, const char *msg)
{
    stderr_sink *s = u;
    if (s->quiet && level == LH_LOG_INFO) return;
    clear_progress(s);
    fprintf(stderr, "retrobench run: %s%s\n", level == LH_LOG_WARN && strncmp(msg, "warning", 7) ? "warning: " : "", msg);
}

static void s_progress(void *u, const char *line)
{
    stderr_sink *s = u;
    if (s->quiet) return;
    if (!line) { /* the work ended: leave its last state on the terminal */
        if (s->shown && s->tty) fputc('\n', stderr);
        s->shown = 0;
        s->last = 0;
        return;
    }
    double t = clock_s();
    snprintf(s->line, sizeof s->line, "%s", line);
    if (s->last == 0 && !s->tty) { /* a log gets a line once the work has taken 10 s */
        s->last = t;
        return;
    }
    if (t - s->last < (s->tty ? 0.2 : 10.0)) return;
    s->last = t;
    if (s->tty) fprintf(stderr, "\r%s\x1b[K", line), s->shown = 1;
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: retrobench run EXP.lua [--budget-seconds S] [--budget-instructions N] [--quiet] [-- ARGS...]\n"
               "Runs a Lua experiment script headless (docs/lua-api.md). ARGS reach the script as `...`, as\n"
               "the table `arg` and as rb.args (KEY=VALUE also as arg.KEY). Its print goes to stdout, progress\n"
               "and log lines to stderr.\n"
               "  --budget-seconds S        stop the script (and any training it runs) after S seconds\n"
               "  --budget-instructions N   stop it after N Lua instructions (a runaway loop)\n"
               "  --quiet                   no progress lines or notices\n"
               "Exit status: 0 done, 1 the script failed or ran out of budget, 2 the command line is wrong,\n"
               "130/143 interrupted (a training run saves its checkpoint first).\n");
}

int cmd_run(int argc, char **argv)
{
    const char *script = NULL;
    double budget_s = 0;
    long long budget_i = 0;
    int quiet = 0, nargs = 0;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            if (!script) {
                fprintf(stderr, "retrobench run: give the script before --; see retrobench run --help\n");
                free(args);
                return APP_EXIT_USAGE;
            }
            for (i++; i < argc; i++) args[nargs++] = argv[i];
            break;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(args);
            return 0;
        }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (!strcmp(a, "--budget-seconds") || !strcmp(a, "--budget-instructions")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "retrobench run: option %s needs a value; see retrobench run --help\n", a);
                free(args);
                return APP_EXIT_USAGE;
            }
            double v;
            long iv;
            int bad = a[9] == 's' ? app_parse_float("run", a, argv[++i], 0.001, 1e9, &v)
                                  : app_parse_int("run", a, argv[++i], 1, 0x7fffffffffffffffL, &iv);
            if (bad) {
                free(args);
                return APP_EXIT_USAGE;
            }
            if (a[9] == 's') budget_s = v;
            else budget_i = iv;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "retrobench run: unknown option '%s'; see retrobench run --help (the script's own "
                            "arguments go after --)\n", a);
            free(args);
            return APP_EXIT_USAGE;
        } else if (!script) {
            script = a;
        } else {
            args[nargs++] = argv[i]; /* as lua.c: what follows the script is its arguments */
        }
    }
    if (!script) {
        fprintf(stderr, "retrobench run: give the script: retrobench run EXP.lua [-- ARGS...]\n");
        free(args);
        return APP_EXIT_USAGE;
    }
    stderr_sink sk = {.tty = isatty(2), .quiet = quiet};
    lua_host_opts o = {.stop = &stop_flag,
                       .budget_seconds = budget_s,
                       .budget_instructions = budget_i,
                       .sink = {.user = &sk, .print = s_print, .log = s_log, .progress = s_progress}};
    char msg[512];
    lua_host *h = lua_host_create(&o, msg, sizeof msg);
    if (!h) {
        fprintf(stderr, "retrobench run: %s\n", msg);
        free(args);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    lh_result r = lua_host_run_file(h, script, nargs, args);
    clear_progress(&sk);
    int rc = 0;
    if (r != LH_OK) fprintf(stderr, "retrobench run: %s\n", lua_host_error(h));
    if (r == LH_ERROR || r == LH_BUDGET) rc = 1;
    if (r == LH_STOPPED) {
        int v = lua_host_stop_value(h);
        rc = v == LH_STOP_HANGUP ? 128 + SIGHUP : v > 0 && v < 64 ? 128 + v : 130;
    }
    lua_host_destroy(h);
    free(args);
    return rc;
}
