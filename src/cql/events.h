/* events.h - the connection REGISTERed for the cluster's status, topology
 * and schema events (cql_config.events). A node reported DOWN or removed is
 * marked down at once, one reported UP is reconnected at the worker's next
 * look, a keyspace changed by another client has its replication read
 * again; then the user's on_event hears the event.
 *
 * Threads: the worker opens and replaces the connection, session close
 * closes it after the worker stopped; events run on its reader thread. */
#ifndef CASSNN_CQL_EVENTS_H
#define CASSNN_CQL_EVENTS_H

#include "cassnn/cql.h"
#include "cql/connection.h"

typedef struct cql_events {
    cql_conn *conn;
    int64_t check_at_ms; /* the worker's next look at it */
} cql_events;

/* (Re)opens the connection on the first node that is up and takes it, when
 * it is missing or dead (at most once a second). */
void events_maintain(cql_session *s);
void events_close(cql_session *s);

#endif
