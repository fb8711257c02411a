/* main.c: the retrobench command line; dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "blas_env.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrobench                      the default experiment (builds sample-data/ once)\n"
            "       retrobench <command> [options]\n"
            "commands:\n"
            "  info -m MODEL            architecture, layer map, parameter counts, FLOPs/token\n"
            "  generate -m MODEL -p PROMPT [-n N] [-r DEPTH] [-t TEMP] [--seed S]\n"
            "  trace -m MODEL -p PROMPT [-r DEPTH]   latent convergence per iteration\n"
            "  tokenize -m MODEL_OR_TOKENIZER [--bos] TEXT\n"
            "  surgery -m BASE -o OUT --prc P,R,C | --layers \"P|R|C\"\n"
            "  convert -m IN -o OUT     retrobench .safetensors or a Hugging Face folder\n"
            "  data -m TOKENIZER -o OUT.rbtok --seq T --text FILE | --jsonl FILE --template T\n"
            "  train -m MODEL --data OUT.rbtok --steps N --out DIR [recipe options]\n"
            "  loss -m MODEL --data FILE.rbtok [--depths 1,2,4,8]   held-out loss per depth\n"
            "  eval -m MODEL --data FILE.jsonl [--depths 1,2,4,8,16,32] [--shots N] [--limit N] [-o OUT]\n"
            "                           GSM8K-protocol accuracy per test depth (EVAL.md)\n"
            "  bench train|gemm|decode  throughput against the measured peak\n"
            "  help                     this text\n");
}

int main(int argc, char **argv)
{
    rb_blas_env_fix(argc, argv);
    if (argc < 2) return cmd_demo(argc, argv);
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"bench", cmd_bench},       {"generate", cmd_generate}, {"info", cmd_info},
                {"tokenize", cmd_tokenize}, {"surgery", cmd_surgery},   {"convert", cmd_convert},
                {"trace", cmd_trace},       {"data", cmd_data},         {"train", cmd_train},
                {"loss", cmd_loss},         {"demo", cmd_demo},         {"eval", cmd_eval}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "retrobench: unknown command '%s'; run 'retrobench help' for the list\n", argv[1]);
    return 2;
}
