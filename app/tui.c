/* tui.c: `retrobench tui`: the workbench in the terminal.
 *
 *   retrobench tui -m MODEL [...]         inspect a model or checkpoint: a
 *       prompt answered at several depths, its tokens' latent convergence,
 *       iteration by iteration;
 *   retrobench tui --watch RUN_DIR [...]  follow a run's metrics.jsonl and
 *       checkpoints (written by `retrobench train` here or elsewhere);
 *   retrobench tui EXP.lua [-- ARGS]      an experiment script: the Lua host on the
 *       worker thread, its training and evaluations in the panes.
 *
 * The UI thread (tui_loop.c) draws; the worker thread (workbench.c) owns
 * the model. See docs/workbench.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_model.h"
#include "cli.h"
#include "lua_workbench.h"
#include "tui_loop.h"
#include "vw_text.h"
#include "workbench.h"
#include "workbench_inspect.h"
#include "workbench_watch.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrobench tui EXP.lua [options] [-- ARGS]  run an experiment script (docs/lua-api.md)\n"
            "       retrobench tui -m MODEL [options]          inspect a model or checkpoint\n"
            "       retrobench tui --watch RUN_DIR [options]   follow a training run's folder\n"
            "options:\n"
            "  --tokenizer TOK     tokenizer for a model that carries none\n"
            "  -p, --prompt TEXT   the prompt answered at start (\"Once upon a time\")\n"
            "  --depths LIST       test depths, one answer row each (1,2,4,8,16,32; at most 8)\n"
            "  --trace-depth R     iterations traced for the selected token (the largest depth)\n"
            "  -n, --tokens N      tokens per answer (24, at most %d)\n"
            "  --expect TEXT       mark answers right when they contain TEXT\n"
            "  --seed S            initial-state seed, as retrobench generate (42)\n"
            "  --reload            (--watch) load each new checkpoint for the answers\n"
            "  --steps N           (--watch) the run's total steps, when no checkpoint says\n"
            "  --budget-seconds S  (EXP.lua) stop the script after S seconds (training saves first)\n"
            "  --fps F             frames per second (10)\n"
            "  --ascii             no braille or box drawing (also when the locale is not UTF-8)\n"
            "  --no-color          monochrome (also with NO_COLOR set)\n"
            "keys: ? in the workbench lists them; README.md documents them.\n",
            VW_ANS_TOKENS);
}

/* "1,2,4" -> depths; prints an error and returns -1 */
static int parse_depths(const char *s, int *out, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > VW_MAX_ITERS || *n == VW_MAX_DEPTHS || (*end && *end != ',')) {
            fprintf(stderr, "retrobench tui: --depths expects up to %d rising depths in 1..%d separated by "
                            "commas, got '%s'\n", VW_MAX_DEPTHS, VW_MAX_ITERS, s);
            return -1;
        }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) {
        fprintf(stderr, "retrobench tui: --depths is empty\n");
        return -1;
    }
    return 0;
}

/* The inspection mode's handler: the inspector, and a word for the rest. */
static void inspect_command(void *ctx, wb *w, const wb_cmd *c)
{
    switch (c->kind) {
    case WB_CMD_SAVE: wb_log(w, VW_LOG_WARN, "save: nothing to save, no training runs in inspect mode"); break;
    case WB_CMD_RELOAD:
    case WB_CMD_AUTO_RELOAD: wb_log(w, VW_LOG_WARN, "checkpoints are followed in --watch mode"); break;
    case WB_CMD_LUA: wb_log(w, VW_LOG_WARN, "Lua lines run against an experiment (retrobench tui EXP.lua)"); break;
    default: wb_inspect_command(ctx, w, c); break;
    }
}

static int inspect_idle(void *ctx, wb *w) { return wb_inspect_idle(ctx, w); }

static int start_worker(wb *w) { return wb_start(w, NULL, NULL); }

static lua_wb_job *exp_job; /* the experiment mode's job (UI thread, before the worker starts) */
static int start_lua_worker(wb *w) { return wb_start(w, lua_wb_main, exp_job); }

static int is_lua(const char *a)
{
    size_t l = strlen(a);
    return l > 4 && !strcmp(a + l - 4, ".lua");
}

/* retrobench tui EXP.lua: the script on the worker thread (it owns the
 * Lua state and the engine), the UI here. Answers at depths come from the
 * model being trained, for a prompt the script gives
 * (rb.workbench_prompt) or -p. */
static int run_experiment(const char *script, int nargs, char **args, const wb_inspect_opts *io, const char *prompt,
                          double budget_s, double fps, int ascii, int mono)
{
    char err[256];
    wb_inspect insp;
    if (wb_inspect_init(&insp, io, err, sizeof err) != 0) {
        fprintf(stderr, "retrobench tui: %s\n", err);
        return 2;
    }
    wb *w = wb_create(VW_MODE_TRAIN);
    if (!w) {
        fprintf(stderr, "retrobench tui: out of memory\n");
        wb_inspect_free(&insp);
        return 1;
    }
    if (prompt) vw_copy_text(insp.prompt, sizeof insp.prompt, prompt); /* answered once a run trains */
    vw_snapshot *s = wb_edit(w);
    vw_copy_text(s->status.source, sizeof s->status.source, script);
    snprintf(s->status.model, sizeof s->status.model, "experiment %s", script);
    wb_commit(w);
    wb_log(w, VW_LOG_INFO, "experiment %s; Space pauses, s saves, : runs Lua, ? lists the keys", script);
    static lua_wb_job job;
    memset(&job, 0, sizeof job);
    job.script = script;
    job.argc = nargs;
    job.argv = args;
    job.budget_seconds = budget_s;
    job.insp = &insp;
    exp_job = &job;
    tui_opts to = {fps, ascii, mono, getenv("RB_TUI_LATENCY"), start_lua_worker};
    int rc = tui_run(w, VW_MODE_TRAIN, &to);
    wb_join(w); /* a training run stops at its next micro-batch and saves first */
    if (job.result == LH_STOPPED) /* where the run was saved: the message's first line */
        fprintf(stderr, "retrobench tui: %.*s\n", (int)strcspn(job.error, "\n"), job.error);
    else if (job.result != LH_OK && rc == 0) rc = 1; /* the script failed: printed by tui_run */
    wb_inspect_free(&insp);
    wb_destroy(w);
    return rc;
}

int cmd_tui(int argc, char **argv)
{
    const char *model = NULL, *tok_path = NULL, *watch = NULL, *prompt = "Once upon a time", *expect = "";
    long n_new = 24, trace_depth = 0, seed = 42, steps = 0;
    double fps = 10, budget_s = 0;
    int reload = 0, ascii = 0, mono = 0, prompt_given = 0;
    wb_inspect_opts io;
    memset(&io, 0, sizeof io);
    static const int default_depths[] = {1, 2, 4, 8, 16, 32};
    io.n_depths = 6;
    memcpy(io.depths, default_depths, sizeof default_depths);
    static const struct option opts[] = {
        {"model", 1, 0, 'm'},  {"tokenizer", 1, 0, 'T'}, {"watch", 1, 0, 'w'},       {"prompt", 1, 0, 'p'},
        {"depths", 1, 0, 'd'}, {"trace-depth", 1, 0, 'R'}, {"tokens", 1, 0, 'n'},    {"expect", 1, 0, 'e'},
        {"seed", 1, 0, 's'},   {"reload", 0, 0, 'L'},    {"steps", 1, 0, 'S'},       {"fps", 1, 0, 'f'},
        {"ascii", 0, 0, 'A'},  {"no-color", 0, 0, 'C'},  {"help", 0, 0, 'h'},        {"budget-seconds", 1, 0, 'B'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:n:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'T': tok_path = optarg; break;
        case 'w': watch = optarg; break;
        case 'p': prompt = optarg, prompt_given = 1; break;
        case 'B': bad = app_parse_float("tui", "--budget-seconds", optarg, 0.001, 1e9, &budget_s); break;
        case 'd': bad = parse_depths(optarg, io.depths, &io.n_depths); break;
        case 'R': bad = app_parse_int("tui", "--trace-depth", optarg, 1, VW_MAX_ITERS, &trace_depth); break;
        case 'n': bad = app_parse_int("tui", "-n", optarg, 1, VW_ANS_TOKENS, &n_new); break;
        case 'e': expect = optarg; break;
        case 's': bad = app_parse_int("tui", "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case 'L': reload = 1; break;
        case 'S': bad = app_parse_int("tui", "--steps", optarg, 1, 0x7fffffffffffffffL, &steps); break;
        case 'f': bad = app_parse_float("tui", "--fps", optarg, 1, 120, &fps); break;
        case 'A': ascii = 1; break;
        case 'C': mono = 1; break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
        if (bad) return 2;
    }
    const char *script = NULL;
    char **args = argv + argc;
    int nargs = 0;
    if (optind < argc) { /* EXP.lua, then its arguments (after --, or everything after it) */
        const char *a = argv[optind];
        if (!is_lua(a) || model || watch) {
            fprintf(stderr, "retrobench tui: unexpected argument '%s'; run 'retrobench tui --help'\n", a);
            return 2;
        }
        script = a;
        int i = optind + 1;
        if (i < argc && !strcmp(argv[i], "--")) i++;
        args = argv + i;
        nargs = argc - i;
    }
    if (!script && !model == !watch) {
        fprintf(stderr, "retrobench tui: give EXP.lua (an experiment), -m MODEL (inspect a model) or --watch "
                        "RUN_DIR (follow a run); see 'retrobench tui --help'\n");
        return 2;
    }
    if (script) {
        FILE *f = fopen(script, "r");
        if (!f) {
            fprintf(stderr, "retrobench tui: cannot read the experiment %s: %s; give the path of a Lua script "
                            "(scripts/*.lua)\n", script, strerror(errno));
            return 2;
        }
        fclose(f);
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "retrobench tui: needs a terminal on stdin and stdout (for a run without one use "
                        "retrobench train, or retrobench run EXP.lua)\n");
        return 2;
    }
    for (int i = 1; i < io.n_depths; i++)
        if (io.depths[i] <= io.depths[i - 1]) {
            fprintf(stderr, "retrobench tui: --depths must rise (got %d after %d)\n", io.depths[i], io.depths[i - 1]);
            return 2;
        }
    io.trace_depth = trace_depth ? (int)trace_depth : io.depths[io.n_depths - 1];
    io.n_new = (int)n_new;
    io.seed = (uint64_t)seed;
    vw_copy_text(io.expect, sizeof io.expect, expect);
    if (strlen(prompt) >= VW_PROMPT_BYTES) {
        fprintf(stderr, "retrobench tui: the prompt is longer than %d bytes\n", VW_PROMPT_BYTES - 1);
        return 2;
    }
    if (script) {
        io.trace_depth = trace_depth ? (int)trace_depth : io.depths[io.n_depths - 1];
        return run_experiment(script, nargs, args, &io, prompt_given ? prompt : NULL, budget_s, fps, ascii, mono);
    }
    if (watch) {
        struct stat sb;
        if (stat(watch, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "retrobench tui: --watch %s: not a folder; give the --out folder of a "
                            "retrobench train run\n", watch);
            return 2;
        }
    }

    char err[256];
    wb_inspect insp;
    if (wb_inspect_init(&insp, &io, err, sizeof err) != 0) {
        fprintf(stderr, "retrobench tui: %s\n", err);
        return 2;
    }
    app_model am;
    int have_model = 0;
    if (model) {
        fprintf(stderr, "retrobench tui: loading %s\n", model);
        int rc = app_model_open(&am, "tui", model, tok_path, 1);
        if (rc) {
            wb_inspect_free(&insp);
            return rc;
        }
        have_model = 1;
    }
    vw_mode mode = watch ? VW_MODE_WATCH : VW_MODE_INSPECT;
    wb *w = wb_create(mode);
    if (!w) {
        fprintf(stderr, "retrobench tui: out of memory\n");
        if (have_model) app_model_close(&am);
        wb_inspect_free(&insp);
        return 1;
    }
    vw_snapshot *s = wb_edit(w);
    vw_copy_text(s->status.source, sizeof s->status.source, watch ? watch : model);
    if (have_model) wb_describe_model(&am, s->status.model, sizeof s->status.model);
    s->status.auto_reload = reload;
    s->status.total_steps = steps;
    wb_commit(w);

    wb_watch wt;
    wb_handlers h;
    if (watch) {
        wb_watch_init(&wt, watch, steps, reload, tok_path, &insp);
        vw_copy_text(insp.prompt, sizeof insp.prompt, prompt); /* answered once a checkpoint is loaded */
        h = wb_watch_handlers(&wt);
    } else {
        wb_inspect_set_model(&insp, w, &am);
        wb_inspect_prompt(&insp, w, prompt, 0);
        h = (wb_handlers){&insp, inspect_command, inspect_idle, 0};
    }
    wb_set_handlers(w, &h);
    wb_log(w, VW_LOG_INFO, "%s %s; ? lists the keys", watch ? "watching" : "inspecting", watch ? watch : model);

    tui_opts to = {fps, ascii, mono, getenv("RB_TUI_LATENCY"), start_worker};
    int rc = tui_run(w, mode, &to);
    wb_join(w);
    wb_inspect_free(&insp); /* its session refers to the model: before the model goes */
    if (watch) wb_watch_free(&wt);
    if (have_model) app_model_close(&am);
    wb_destroy(w);
    return rc;
}
