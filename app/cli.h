/* cli.h: the subcommands of the retrobench program. Each takes argv with
 * argv[0] = the subcommand name and returns the process exit status. */
#ifndef RB_APP_CLI_H
#define RB_APP_CLI_H

int cmd_bench(int argc, char **argv);

#endif
