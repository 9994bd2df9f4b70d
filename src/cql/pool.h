/* pool.h - one node's connections and its up/down state.
 *
 * Connection lifetime: the pool owns its connections. A thread that sends
 * on one takes it with pool_acquire (which holds it, see cql_conn_hold) and
 * gives it back with pool_release. A dead connection is replaced under the
 * pool's lock; the old one is closed (pool_reap) only once nobody holds it,
 * so no thread ever uses a connection another thread is closing.
 *
 * Threads: pool_fill blocks (it connects) and is run by one thread at a
 * time: the session opening, then only its worker. Everything else may be
 * called from any thread, reader threads included. */
#ifndef CASSNN_CQL_POOL_H
#define CASSNN_CQL_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cql/connection.h"

typedef struct cql_pool {
    pthread_mutex_t lock;          /* guards the fields up to down_reason */
    cql_conn **conns;
    int n_conns;
    cql_conn **retired;            /* replaced, closed once nobody holds them */
    int n_retired;
    int fails;                     /* failed reconnects in a row */
    int64_t retry_at_ms;           /* when a down node may be reconnected */
    char down_reason[160];
    atomic_int up;
    /* what the node was sent (cql_session_host_stats) */
    atomic_ullong requests, errors, retries;
} cql_pool;

int pool_init(cql_pool *p, int n_conns);
/* Closes every connection; nobody may hold one any more. */
void pool_destroy(cql_pool *p);

/* The live connection with the fewest requests in flight, held; NULL when
 * the node is down or has none. */
cql_conn *pool_acquire(cql_pool *p);
void pool_release(cql_conn *c);

int pool_is_up(cql_pool *p);
/* The node is down (an event said so, or its connections failed): no
 * request goes to it until pool_fill brings it back. */
void pool_mark_down(cql_pool *p, const char *why);
/* A request's connection broke: the node is down when no live connection is
 * left. */
void pool_connection_failed(cql_pool *p, const char *why);
/* An UP event: reconnect at the next look instead of after the backoff. */
void pool_reconnect_soon(cql_pool *p);
/* Why the node is down ("" when up). */
void pool_down_reason(cql_pool *p, char *out, size_t cap);

/* 1 when pool_fill has work: a down node whose backoff passed, or an up
 * node with a dead connection. */
int pool_wants_fill(cql_pool *p, int64_t now_ms);
/* Opens a connection in every empty or dead slot (blocking) and marks the
 * node up; 0 when at least one connection is live afterwards. When none is,
 * the node is down and the next try waits a growing backoff (1 s .. 4 s). */
int pool_fill(cql_pool *p, const char *address, int port, const cql_conn_opts *o, cassnn_err *err);
/* Closes the replaced connections that nobody holds (not on a reader thread). */
void pool_reap(cql_pool *p);

#endif
