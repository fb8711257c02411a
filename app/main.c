/* main.c: the retrobench command line; dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "app_signals.h"
#include "blas_env.h"
#include "cli.h"
#include "device.h"
#include "dist.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrobench                      the default experiment (scripts/default.lua) in the workbench\n"
            "       retrobench <command> [options]\n"
            "commands:\n"
            "  info -m MODEL            architecture, layer map, parameter counts, FLOPs/token\n"
            "  generate -m MODEL -p PROMPT [-n N] [-r DEPTH] [-t TEMP] [--seed S]\n"
            "  trace -m MODEL -p PROMPT [-r DEPTH]   latent convergence per iteration\n"
            "  tokenize -m MODEL_OR_TOKENIZER [--bos] TEXT | --identity\n"
            "  surgery -m BASE -o OUT --prc P,R,C | --layers \"P|R|C\"\n"
            "  init -o OUT --tokenizer TOK --layers L --hidden H --heads N --mlp F   a random plain model\n"
            "  convert -m IN -o OUT     retrobench .safetensors, tokenizer .json or a Hugging Face folder\n"
            "  data -m TOKENIZER -o OUT.rbtok --seq T --text FILE | --jsonl FILE --template T\n"
            "  train -m MODEL --data OUT.rbtok --steps N --out DIR [recipe options]\n"
            "                           (mpirun -np N retrobench train ...: data parallel, docs/distributed.md)\n"
            "  loss -m MODEL --data FILE.rbtok [--depths 1,2,4,8]   held-out loss per depth\n"
            "  eval -m MODEL --data FILE.jsonl [--depths 1,2,4,8,16,32] [--shots N] [--limit N] [-o OUT]\n"
            "                           GSM8K-protocol accuracy per test depth (EVAL.md)\n"
            "  bench train|gemm|decode  throughput against the measured peak\n"
            "  tui EXP.lua | -m MODEL | --watch RUN_DIR   the workbench: an experiment, answers per depth, a run's curves\n"
            "  run EXP.lua [-- ARGS]    a Lua experiment script, headless (docs/lua-api.md)\n"
            "  demo                     stories260K retrofitted and healed, its answers per depth\n"
            "  help                     this text; --version prints the version\n"
            "Each command takes --help. Exit status: 0 done, 1 an input is wrong or the work\n"
            "failed, 2 the command line is wrong, 130/143 interrupted (docs/cli.md).\n"
            "Every command that computes takes " APP_DEVICE_USAGE "\n"
            "  (default cpu; auto uses a GPU when one works, else the CPU; docs/cuda.md)\n");
}

int main(int argc, char **argv)
{
    rb_blas_env_fix(argc, argv);
    app_signals_init();
    if (app_device_take_options(&argc, argv)) return 2;
    if (argc < 2) return app_dist_command_ok("tui") ? cmd_default(argc, argv) : 2; /* cmd_default.c */
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("retrobench %s\ntransports: %s\n", RB_VERSION, app_dist_transports());
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"bench", cmd_bench},       {"generate", cmd_generate}, {"info", cmd_info},
                {"tokenize", cmd_tokenize}, {"surgery", cmd_surgery},   {"convert", cmd_convert},
                {"trace", cmd_trace},       {"data", cmd_data},         {"train", cmd_train},
                {"loss", cmd_loss},         {"demo", cmd_demo},         {"tui", cmd_tui},
                {"eval", cmd_eval},         {"init", cmd_init},         {"run", cmd_run}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return app_dist_command_ok(argv[1]) ? cmds[i].fn(argc - 1, argv + 1) : 2;
    fprintf(stderr, "retrobench: unknown command '%s'; run 'retrobench help' for the list\n", argv[1]);
    return 2;
}
