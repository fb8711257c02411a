/* main.c: the retrobench command line; dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "blas_env.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrobench <command> [options]\n"
            "commands:\n"
            "  bench train|gemm         throughput against the measured SGEMM peak\n"
            "  help                     this text\n");
}

int main(int argc, char **argv)
{
    rb_blas_env_fix(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 1, argv + 1);
    fprintf(stderr, "retrobench: unknown command '%s'; run 'retrobench help' for the list\n", argv[1]);
    return 2;
}
