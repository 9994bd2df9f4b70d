/* cmd_schema.c - `cassnn schema`: create (or check) the keyspace, the
 * tutorial's tables and the SAI indexes. `cassnn ingest` does the same
 * implicitly; this command is for setting up before any data exists. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/schema.h"
#include "commands.h"
#include "connect.h"

int cmd_schema(int argc, char **argv) {
    static const struct option options[] = {
        {"keyspace", required_argument, NULL, 'k'}, {"replication", required_argument, NULL, 'r'},
        {"dc", required_argument, NULL, 'D'},       {"layout", required_argument, NULL, 'l'},
        {"host", required_argument, NULL, 'H'},     {"port", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    registry_schema_options o = {"mnist_digits", 1, NULL, 0};
    const char *host = NULL;
    int port = 0, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'k': o.keyspace = optarg; break;
        case 'r':
            o.replication_factor = (int)strtol(optarg, &end, 10);
            if (*end || o.replication_factor < 1) {
                fprintf(stderr, "cassnn schema: --replication %s: expected N >= 1\n", optarg);
                return 2;
            }
            break;
        case 'D': o.datacenter = optarg; break;
        case 'l':
            if (strcmp(optarg, "tutorial") && strcmp(optarg, "blob")) {
                fprintf(stderr, "cassnn schema: --layout %s: expected tutorial or blob\n", optarg);
                return 2;
            }
            o.blob_layout = !strcmp(optarg, "blob");
            break;
        case 'H': host = optarg; break;
        case 'P': port = atoi(optarg); break;
        case 'h':
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: cassnn schema [--keyspace KS] [--replication N] [--dc NAME]\n"
                    "                     [--layout tutorial|blob] [--host H] [--port P]\n"
                    "Creates keyspace KS (default mnist_digits; SimpleStrategy with N replicas,\n"
                    "or NetworkTopologyStrategy {NAME: N} with --dc), the tables raw_train,\n"
                    "raw_test, raw_predict, models_train, models_test (and raw_*_blob with\n"
                    "--layout blob) and the SAI indexes on models_train(loss), models_test(loss)\n"
                    "and models_test(accuracy). Idempotent; an existing table with other\n"
                    "columns or types is reported, never altered.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cassnn schema: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    cassnn_err err = {0};
    cql_session *s;
    if (cli_connect(host, port, 0, &s, &err)) {
        fprintf(stderr, "cassnn schema: %s\n", err.msg);
        return 1;
    }
    int rc = registry_schema_create(s, &o, &err);
    cql_session_close(s);
    if (rc) {
        fprintf(stderr, "cassnn schema: %s\n", err.msg);
        return 1;
    }
    printf("schema of keyspace %s is in place\n", o.keyspace);
    return 0;
}
