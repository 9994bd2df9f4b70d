/* spool.h - the local checkpoint spool, as the commands that open the
 * model registry see it (registry.h has the spool itself). */
#ifndef CASSNN_CLI_SPOOL_H
#define CASSNN_CLI_SPOOL_H

#include "args.h"

/* The exit status of a command that finished but left checkpoints in the
 * spool (the cluster did not take them): `cassnn models sync` writes them. */
#define CLI_EXIT_SPOOLED 3

/* Writes the checkpoints spooled for keyspace to the registry and says so
 * on stderr when there were any; -1 (printed) when some are still there. */
int cli_sync_spool(const cli_command *c, cql_session *s, const char *keyspace);

/* How a command opens the registry of keyspace: cli_connect_for, then the
 * spool replayed (a spool that cannot be written yet is a warning, not a
 * failure: the command goes on). */
int cli_open_registry(const cli_command *c, const char *keyspace, cql_session **out);

#endif
