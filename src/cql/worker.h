/* worker.h - the session's own thread: it sends the retries whose delay is
 * over (reader threads never sleep or send retries themselves), reconnects
 * nodes that are down and connections that died, keeps the events
 * connection open, reads changed keyspaces again and closes replaced
 * connections nobody holds any more. It looks every 200 ms, or at once when
 * woken. */
#ifndef CASSNN_CQL_WORKER_H
#define CASSNN_CQL_WORKER_H

#include <pthread.h>

#include "cassnn/cql.h"

struct request;

typedef struct cql_worker {
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* queue, stop */
    pthread_cond_t wake;
    int stop, look_now;
    struct request *queue; /* retries waiting for their time, soonest first */
} cql_worker;

/* init before anything may schedule or wake; start once the session is
 * open; stop (the queue must be empty: the session drained) before free. */
void worker_init(cql_worker *w);
int worker_start(cql_session *s, cassnn_err *err);
void worker_stop(cql_session *s);
void worker_free(cql_worker *w);
/* Sends rq again after delay_ms (any thread). */
void worker_schedule(cql_session *s, struct request *rq, int delay_ms);
/* Look now (a node came back). */
void worker_wake(cql_session *s);
/* 1 on s's worker thread. */
int worker_is_current(const cql_session *s);

#endif
