/* commands.h - the subcommands of the `cassnn` program.
 *
 * Each subcommand lives in its own cmd_<name>.c, parses its own flags and
 * returns the process exit status (0 ok, 1 failure, 2 usage error, 3 done
 * but checkpoints left in the local spool: spool.h). main.c
 * only dispatches. Subcommands call libcassnn modules; they never talk to each
 * other.
 */
#ifndef CASSNN_CLI_COMMANDS_H
#define CASSNN_CLI_COMMANDS_H

typedef int (*cassnn_command_fn)(int argc, char **argv);

typedef struct cassnn_command {
    const char *name;
    cassnn_command_fn run;
    const char *summary;
} cassnn_command;

int cmd_cluster(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_cql(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_models_alias(int argc, char **argv); /* `cassnn models alias ...` */
int cmd_serve(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
