/* connect.h - how every subcommand reaches the cluster.
 *
 * One set of connection flags, parsed the same way by every command:
 *   --host H[,H2...]   contact points   (else $CASSNN_HOST, else 127.0.0.1)
 *   --port P           native port      (else $CASSNN_PORT, else 9042)
 *   --credentials F    file with lines "username=..." and "password=..."
 *                      (else $CASSNN_CREDENTIALS; else $CASSNN_USERNAME and
 *                      $CASSNN_PASSWORD). Never a password on the command
 *                      line: argv is visible to every user of the machine.
 *   --tls              TLS; --ca F (CA bundle), --cert F --key F (client
 *                      certificate), --sni NAME, --no-verify (testing only)
 *   --lz4              ask for LZ4 frame compression
 */
#ifndef CASSNN_CLI_CONNECT_H
#define CASSNN_CLI_CONNECT_H

#include "cassnn/cql.h"

typedef struct cli_conn_opts {
    const char *host;
    int port;
    const char *credentials_file;
    int tls, tls_no_verify, lz4;
    const char *ca, *cert, *key, *sni;
} cli_conn_opts;

/* Help text for the flags above (for a command's --help). */
extern const char cli_conn_usage[];

/* If argv[*i] is a connection flag, consumes it (and its value, advancing
 * *i) and returns 1; returns 0 when it is not one; -1 with err set when its
 * value is missing or bad. */
int cli_conn_flag(cli_conn_opts *o, int argc, char **argv, int *i, cassnn_err *err);

/* Opens a session with o's settings (NULL = all defaults), the environment
 * fallbacks above, an optional keyspace and max_inflight (<= 0: default). */
int cli_conn_open(const cli_conn_opts *o, const char *keyspace, int max_inflight, cql_session **out,
                  cassnn_err *err);

/* Shorthand kept for commands that only take --host/--port: host may be NULL
 * and port 0 for "not given on the command line". */
int cli_connect(const char *host, int port, int max_inflight, cql_session **out, cassnn_err *err);

#endif
