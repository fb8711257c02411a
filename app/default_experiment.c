/* default_experiment.c: see default_experiment.h. */
#include "default_experiment.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

#ifndef RB_SCRIPTS_DIR
#define RB_SCRIPTS_DIR "scripts"
#endif

const char *app_default_experiment_path(void)
{
    static char path[PATH_MAX];
    const char *dir = getenv("RB_SCRIPTS_DIR");
    snprintf(path, sizeof path, "%s/default.lua", dir && *dir ? dir : RB_SCRIPTS_DIR);
    return path;
}

int app_default_experiment(void)
{
    char run[] = "run";
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s", app_default_experiment_path());
    char *argv[] = {run, script, NULL};
    return cmd_run(2, argv);
}
