/* keyspace.h - what the session knows of each keyspace: its replication,
 * read from system_schema.keyspaces when a statement first names it, read
 * again after this session changed it (cql_execute) or a SCHEMA_CHANGE
 * event said another client did.
 *
 * Entries are never removed before the session closes and a replication is
 * never changed in place: a new one replaces it (atomically) and the old
 * one is kept until close, so routing reads it without a lock. */
#ifndef CASSNN_CQL_KEYSPACE_H
#define CASSNN_CQL_KEYSPACE_H

#include <pthread.h>
#include <stdatomic.h>

#include "cassnn/cql.h"
#include "cql/kept.h"
#include "cql/routing.h"

typedef struct cql_keyspace {
    char name[CQL_NAME_MAX];
    _Atomic(const cql_replication *) replication; /* NULL: not read yet, or no such keyspace */
    atomic_int stale;                             /* changed since it was read */
    struct cql_keyspace *next;
} cql_keyspace;

typedef struct cql_keyspaces {
    pthread_mutex_t lock; /* the list and the replaced replications */
    cql_keyspace *head;
    cql_kept *replaced;
} cql_keyspaces;

/* The replication map of a system_schema.keyspaces row ({'class': ...,
 * 'replication_factor': '3'} or {'class': '...NetworkTopologyStrategy',
 * 'dc1': '3', 'dc2': '2'}); pure. A factor "3/1" (transient replicas)
 * counts its full replicas, 3. */
int cql_replication_parse(cql_cell map, cql_type type, cql_replication *out, cassnn_err *err);

void keyspaces_init(cql_keyspaces *k);
void keyspaces_free(cql_keyspaces *k);

/* The entry for name (case-sensitive, as the node reports it), read from the
 * cluster when new. Blocks: caller threads only. */
cql_keyspace *keyspaces_get(cql_session *s, const char *name, cassnn_err *err);
/* Reads ks's replication again. Blocks. */
int keyspaces_reload(cql_session *s, cql_keyspace *ks, cassnn_err *err);
/* A SCHEMA_CHANGE event for name: read it again at the next look. Any thread. */
void keyspaces_mark_stale(cql_keyspaces *k, const char *name);
/* Reads again every stale keyspace (the session's worker). */
void keyspaces_refresh_stale(cql_session *s);

#endif
