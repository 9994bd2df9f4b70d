/* args.h - the one flag parser of the `cassnn` program.
 *
 * A subcommand lists its flags in a table; cli_parse reads argv against it,
 * adds the connection flags every command that talks to Cassandra shares
 * (conn.h: --host, --port, --credentials, TLS, --secure-connect-bundle,
 * --lz4, --request-timeout, --consistency, --local-dc; then the
 * environment's defaults; a bundle with --host, --port or TLS flags is a
 * usage error), --help, and positional arguments. A flag with a one-letter
 * name ("o") is given as -o. Every
 * problem is a usage error that names the flag (exit 2); --help prints the
 * command's usage and, for those commands, the one shared text on the
 * connection flags.
 */
#ifndef CASSNN_CLI_ARGS_H
#define CASSNN_CLI_ARGS_H

#include <stdint.h>
#include <stdio.h>

#include "cassnn/conn.h"

typedef enum cli_kind {
    CLI_TEXT,        /* const char **out: the value as given */
    CLI_INT,         /* int *out: a whole number in [min, max] */
    CLI_U64,         /* uint64_t *out: a whole number >= 0 */
    CLI_NUMBER,      /* double *out: a finite number in [min, max] */
    CLI_SIZE,        /* size_t *out: bytes, "64M", "2G" (data_parse_size) */
    CLI_SWITCH,      /* int *out: set to 1; the flag takes no value */
    CLI_CHOICE,      /* int *out: the index of the value in choices (NULL-terminated) */
    CLI_CALL,        /* call(out, name, value): the command parses the value itself */
    CLI_CALL_SWITCH, /* call(out, name, NULL): a switch the command handles itself */
} cli_kind;

typedef struct cli_flag {
    const char *name;        /* without the leading "--" */
    cli_kind kind;
    void *out;
    double min, max;         /* CLI_INT and CLI_NUMBER */
    const char *const *choices;
    /* CLI_CALL*: 0 when taken, -1 for a bad value (the callee printed why) */
    int (*call)(void *out, const char *name, const char *value);
} cli_flag;

/* Table entries (every field named, so the compiler checks them all). */
#define CLI_FLAG(name, kind, out) {(name), (kind), (out), 0, 0, NULL, NULL}
#define CLI_RANGE(name, kind, out, min, max) {(name), (kind), (out), (min), (max), NULL, NULL}
#define CLI_CHOICES(name, out, choices) {(name), CLI_CHOICE, (out), 0, 0, (choices), NULL}
#define CLI_END {NULL, CLI_TEXT, NULL, 0, 0, NULL, NULL}

typedef struct cli_command {
    const char *name;              /* "train": messages read "cassnn train: ..." */
    void (*usage)(FILE *out);      /* the command's own flags */
    const cli_flag *flags;         /* ends with an entry whose name is NULL */
    conn_options *conn;            /* not NULL: the connection flags too */
    const char **args;             /* positional arguments, in order ... */
    int max_args, n_args;          /* ... at most max_args of them (0: none allowed) */
} cli_command;

/* What cli_parse returns when the command should go on; anything else is
 * the exit status to return at once (0 after --help, 2 after a usage
 * error, both printed). */
#define CLI_GO (-1)

int cli_parse(cli_command *c, int argc, char **argv);

/* A usage error: "cassnn NAME: <message>" and the usage on stderr. Returns 2. */
int cli_usage_error(const cli_command *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens a session with the parsed connection options (keyspace and
 * max_inflight as conn_open). On failure prints "cassnn NAME: <error>" and
 * returns -1. */
int cli_connect(const cli_command *c, const char *keyspace, int max_inflight, cql_session **out);

/* Decides the consistency for work on keyspace (conn_use_consistency: the
 * --consistency given, else the default for its replication factor), makes
 * it the session's and says once, on stderr, which level is in force and
 * why. On failure prints the error and returns -1. */
int cli_use_consistency(const cli_command *c, cql_session *s, const char *keyspace);

/* cli_connect (no keyspace USE'd) and cli_use_consistency for keyspace:
 * how a command that works on one keyspace opens its session. */
int cli_connect_for(const cli_command *c, const char *keyspace, cql_session **out);

#endif
