/* default_experiment.h: what `retrobench` does with no arguments: the
 * embedded default experiment, scripts/default.lua (docs/default-experiment.md),
 * run headless as `retrobench run` would. The workbench will open the same
 * script instead; it finds it with app_default_experiment_path(). */
#ifndef APP_DEFAULT_EXPERIMENT_H
#define APP_DEFAULT_EXPERIMENT_H

/* The default experiment's script: $RB_SCRIPTS_DIR/default.lua when the
 * environment sets it, else the project's scripts/default.lua (compiled in).
 * A static buffer; valid until the next call. */
const char *app_default_experiment_path(void);

/* Runs that script headless (cmd_run) and returns its exit status. */
int app_default_experiment(void);

#endif
