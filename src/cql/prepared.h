/* prepared.h - the session's prepared statements: one per query text,
 * prepared on every node that is up, and prepared again on the node that
 * answers UNPREPARED (it restarted, or evicted it), transparently.
 *
 * A statement's PREPARED result (its id and metadata) can be replaced while
 * requests still use the old one: replaced results are kept until the
 * session closes. */
#ifndef CASSNN_CQL_PREPARED_H
#define CASSNN_CQL_PREPARED_H

#include <pthread.h>
#include <stdatomic.h>

#include "cassnn/cql.h"
#include "cql/codec.h"
#include "cql/kept.h"
#include "cql/keyspace.h"
#include "cql/retry.h"

struct cql_prepared {
    char *query;
    _Atomic(cql_result *) res; /* the current PREPARED result (id, metadata) */
    cql_keyspace *keyspace;   /* of its bound table, for routing; NULL when unknown */
    cql_request_kind kind;
    struct cql_prepared *next;
};

typedef struct cql_prepared_cache {
    pthread_mutex_t lock;     /* the list and the replaced results */
    cql_prepared *head;
    cql_kept *replaced;
} cql_prepared_cache;

void prepared_cache_init(cql_prepared_cache *c);
void prepared_cache_free(cql_prepared_cache *c);

static inline const cql_result *prepared_current(const cql_prepared *p) {
    return atomic_load(&((cql_prepared *)p)->res);
}

struct request;
/* The node answered UNPREPARED for rq (error ce on rq's connection): sends
 * PREPARE on that connection and takes rq over (1), after which rq is sent
 * again or fails by itself; 0 when it does not apply (rq is the caller's). */
int prepared_handle_unprepared(struct request *rq, const cql_error *ce);

#endif
