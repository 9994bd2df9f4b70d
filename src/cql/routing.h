/* routing.h - which nodes a request is tried on, in order: a pure function
 * of the ring, the nodes' data centers, racks and up/down state, the
 * keyspace's replication and the request's token. No I/O, no locks: the
 * session passes a snapshot, the unit tests pass hand-made rings.
 *
 * Like the DataStax drivers' token-aware policy wrapped around a DC-aware
 * one: the token's replicas in the local data center first (ring order),
 * then the other local nodes (round-robin), then, only when allowed, the
 * remote data centers' nodes (their replicas first). Down nodes are never
 * listed: the pool brings them back, and a request with nowhere to go waits
 * under the retry policy (retry.h). */
#ifndef CASSNN_CQL_ROUTING_H
#define CASSNN_CQL_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#define CQL_REPL_MAX_DCS 16
#define CQL_NAME_MAX 64 /* data center, rack and keyspace names */

/* A keyspace's replication, from system_schema.keyspaces. */
typedef enum cql_repl_strategy {
    CQL_REPL_UNKNOWN = 0, /* not known (yet), or a custom class: every node is a replica */
    CQL_REPL_SIMPLE,      /* SimpleStrategy: rf nodes clockwise from the token */
    CQL_REPL_NTS,         /* NetworkTopologyStrategy: dcs[i].rf nodes in each DC, racks spread */
    CQL_REPL_LOCAL,       /* LocalStrategy (system keyspaces): every node has its own: no token routing */
    CQL_REPL_EVERYWHERE,  /* EverywhereStrategy: every node */
} cql_repl_strategy;

typedef struct cql_replication {
    cql_repl_strategy strategy;
    int rf; /* SimpleStrategy */
    int n_dcs;
    struct { char name[CQL_NAME_MAX]; int rf; } dcs[CQL_REPL_MAX_DCS]; /* NTS */
} cql_replication;

/* One token of the ring and the index of the node that owns it. The ring is
 * sorted by token; a node owns the range (previous token, its token]. */
typedef struct cql_ring_entry {
    int64_t token;
    int host;
} cql_ring_entry;

/* What routing knows of node i: its data center and rack ("" = unknown: a
 * node of unknown DC counts as local) and whether it is up. */
typedef struct cql_route_host {
    const char *dc, *rack;
    int up;
} cql_route_host;

typedef struct cql_route_query {
    const cql_route_host *hosts;
    int n_hosts;
    const cql_ring_entry *ring;
    size_t n_ring;
    const cql_replication *replication; /* NULL: unknown (as CQL_REPL_UNKNOWN) */
    const char *local_dc;               /* NULL or "": every node is local */
    int allow_remote_dcs;               /* 0: never list a node of another DC */
    int has_token;                      /* 0: no token (round-robin over local nodes) */
    int64_t token;
    unsigned rr;                        /* round-robin start (the session counts up) */
} cql_route_query;

/* The query plan: indexes of the nodes to try, each at most once, written to
 * out (at most max); returns how many. */
int cql_route(const cql_route_query *q, int *out, int max);

/* Every replica of token (any state, any DC) in ring order: for each data
 * center the first nodes clockwise from the token, spread over racks as
 * Cassandra places them. Returns how many (at most max). */
int cql_replicas(const cql_route_query *q, int64_t token, int *out, int max);

#endif
