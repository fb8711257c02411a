/* cmd_default.c: `retrobench` with no arguments: the default experiment,
 * scripts/default.lua, in the workbench when stdout and stdin are a
 * terminal (`retrobench tui scripts/default.lua`), headless otherwise
 * (`retrobench run scripts/default.lua`, for logs and pipes). The script
 * comes from the project's scripts folder ($RB_SCRIPTS_DIR, else the one
 * this program was built with). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The default experiment's path into buf; returns buf. */
static const char *default_script(char *buf, size_t cap)
{
    const char *dir = getenv("RB_SCRIPTS_DIR");
#ifdef RB_SCRIPTS_DIR
    if (!dir || !*dir) dir = RB_SCRIPTS_DIR;
#endif
    if (!dir || !*dir) dir = "scripts";
    snprintf(buf, cap, "%s/default.lua", dir);
    return buf;
}

int cmd_default(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char path[4096];
    default_script(path, sizeof path);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "retrobench: the default experiment %s cannot be read (%s); set RB_SCRIPTS_DIR to the "
                        "project's scripts/ folder, or run an experiment with retrobench tui EXP.lua\n",
                path, strerror(errno));
        return 1;
    }
    int tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    char *args[] = {tty ? "tui" : "run", path, NULL};
    return tty ? cmd_tui(2, args) : cmd_run(2, args);
}
