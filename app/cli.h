/* cli.h: the subcommands of the retrobench program. Each takes argv with
 * argv[0] = the subcommand name and returns the process exit status. */
#ifndef RB_APP_CLI_H
#define RB_APP_CLI_H

#include "rb_infer.h"

int cmd_bench(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_surgery(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_init(int argc, char **argv); /* retrobench init: a random plain model (cmd_init.c) */
int bench_eval(int argc, char **argv); /* retrobench bench eval (bench_eval.c) */
int cmd_demo(int argc, char **argv);
int cmd_tui(int argc, char **argv);
int cmd_run(int argc, char **argv);  /* a Lua experiment script (cmd_run.c) */
int cmd_default(int argc, char **argv); /* no arguments: scripts/default.lua (cmd_default.c) */

/* "rel:0.03", "kl:5e-4", "argmax:5" -> rule; prints an error and returns -1. */
int app_parse_exit_rule(const char *cmd, const char *s, rb_exit_rule *ex);

#endif
