/* spool.c - replaying the checkpoint spool from the commands (spool.h). */
#include "spool.h"

#include <stdio.h>

#include "cassnn/registry.h"

int cli_sync_spool(const cli_command *c, cql_session *s, const char *keyspace) {
    registry_spool_report rep;
    cassnn_err err = {0};
    const int rc = registry_spool_replay(s, keyspace, &rep, &err);
    if (rep.written)
        fprintf(stderr, "cassnn %s: wrote %ld spooled checkpoint%s from %s to %s\n", c->name,
                rep.written, rep.written == 1 ? "" : "s", rep.dir, keyspace);
    if (rc) fprintf(stderr, "cassnn %s: %s\n", c->name, err.msg);
    return rc;
}

int cli_open_registry(const cli_command *c, const char *keyspace, cql_session **out) {
    if (cli_connect_for(c, keyspace, out)) return -1;
    cli_sync_spool(c, *out, keyspace);
    return 0;
}
