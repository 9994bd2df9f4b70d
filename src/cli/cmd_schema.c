/* cmd_schema.c - `cassnn schema`: create (or check) the keyspace, the
 * tutorial's tables and the SAI indexes. `cassnn ingest` does the same
 * implicitly; this command is for setting up before any data exists. */
#include <stdio.h>

#include "args.h"
#include "cassnn/schema.h"
#include "commands.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn schema [--keyspace KS] [--replication N] [--dc NAME]\n"
            "                     [--layout tutorial|blob] [connection flags]\n"
            "Creates keyspace KS (default mnist_digits; SimpleStrategy with N replicas,\n"
            "or NetworkTopologyStrategy {NAME: N} with --dc), the tables raw_train,\n"
            "raw_test, raw_predict, models_train, models_test (and raw_*_blob with\n"
            "--layout blob) and the SAI indexes on models_train(loss), models_test(loss)\n"
            "and models_test(accuracy). Idempotent; an existing table with other\n"
            "columns or types is reported, never altered.\n");
}

int cmd_schema(int argc, char **argv) {
    static const char *const layouts[] = {"tutorial", "blob", NULL};
    registry_schema_options o = {"mnist_digits", 1, NULL, 0};
    conn_options conn;
    conn_options_init(&conn);
    const cli_flag flags[] = {
        CLI_FLAG("keyspace", CLI_TEXT, &o.keyspace),
        CLI_RANGE("replication", CLI_INT, &o.replication_factor, 1, 100),
        CLI_FLAG("dc", CLI_TEXT, &o.datacenter),
        CLI_CHOICES("layout", &o.blob_layout, layouts),
        CLI_END,
    };
    cli_command cmd = {.name = "schema", .usage = usage, .flags = flags, .conn = &conn};
    const int st = cli_parse(&cmd, argc, argv);
    if (st != CLI_GO) return st;
    cql_session *s;
    if (cli_connect(&cmd, NULL, 0, &s)) return 1;
    cassnn_err err = {0};
    const int rc = registry_schema_create(s, &o, &err);
    cql_session_close(s);
    if (rc) {
        fprintf(stderr, "cassnn schema: %s\n", err.msg);
        return 1;
    }
    printf("schema of keyspace %s is in place\n", o.keyspace);
    return 0;
}
