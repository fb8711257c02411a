/* main.c: the retrobench command line; dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrobench <command> [options]\n"
            "commands:\n"
            "  info -m MODEL            architecture, layer map, parameter counts\n"
            "  help                     this text\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "retrobench: unknown command '%s'; run 'retrobench help' for the list\n", argv[1]);
    return 2;
}
