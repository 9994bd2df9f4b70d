/* session.h - the session's state and the request lifecycle the other cql
 * files share (private to src/cql). Who owns what:
 *
 *   topology.h   the nodes (each with its pool.h) and the ring: fixed once open
 *   keyspace.h   keyspaces' replication          prepared.h  prepared statements
 *   events.h     the events connection           worker.h    retries that wait, reconnects
 *   request.h    one request                     routing.h / retry.h  pure decisions
 *
 * A request's life: session_submit (caller thread) routes and sends it; its
 * answer arrives on a connection's reader thread (on_response in session.c),
 * which completes it or asks the retry policy, and a retry goes through the
 * worker's queue (worker.h), which sends it again after its delay. */
#ifndef CASSNN_CQL_SESSION_H
#define CASSNN_CQL_SESSION_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cassnn/cql.h"
#include "cql/events.h"
#include "cql/keyspace.h"
#include "cql/prepared.h"
#include "cql/request.h"
#include "cql/topology.h"
#include "cql/worker.h"

struct cql_session {
    cql_config cfg;
    char *strings[12];            /* owned copies of cfg's strings */
    int n_strings;
    SSL_CTX *ssl;
    cql_topology topo;
    cql_keyspaces keyspaces;
    cql_prepared_cache prepared;
    cql_events events;
    cql_worker worker;
    cql_retry_policy retry;
    atomic_uint rr;               /* round-robin start of the next plan */

    pthread_mutex_t lock;         /* requests in flight (backpressure) */
    pthread_cond_t cv;
    int inflight;
};

/* Opens node i's missing connections (pool_fill, dialled by topology_dial). */
int session_fill_host(cql_session *s, int i, cassnn_err *err);
/* The options for a connection to node h (dial: where, from topology_dial). */
cql_conn_opts session_conn_opts(const cql_session *s, const cql_host *h, cql_dial *dial);

/* A simple query on some node that is up, waited for (system tables). */
int session_control_query(cql_session *s, const char *query, const cql_value *values, size_t n_values,
                          cql_result **out, cassnn_err *err);
/* One raw frame on some node that is up, waited for (OPTIONS, PREPARE);
 * *host (may be NULL) receives the node's index. */
int session_control_call(cql_session *s, const cql_buf *frame, cql_response *resp, int *host, cassnn_err *err);

/* Takes a backpressure permit (blocking while max_inflight are out) and
 * sends rq; cb hears how it ends. Consumes rq; -1 (cb not called) when it
 * could not be sent and the policy says not to wait. */
int session_submit(cql_session *s, request *rq, cql_callback cb, void *user, cassnn_err *err);
/* The worker: rq's wait is over, send it again. */
void session_resend(request *rq);
/* Ends rq: its callback, then its permit back. */
void session_complete(request *rq, cql_result *r, const cassnn_err *err);
/* rq's attempt failed with err: retry it as the policy says, or complete it
 * with the error. */
void session_attempt_failed(request *rq, const cassnn_err *err);

#endif
