/* worker.c - the session's worker thread (see worker.h). */
#include "cql/worker.h"

#include <time.h>

#include "cql/session.h"

#define LOOK_EVERY_MS 200

static _Thread_local const cql_session *current; /* the session whose worker runs here */

int worker_is_current(const cql_session *s) { return current == s; }

static void timespec_at(int64_t ms, struct timespec *ts) {
    ts->tv_sec = ms / 1000;
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/* Reconnects, the events connection, changed keyspaces, replaced
 * connections: the slow, blocking work nobody else may do. */
static void look_after(cql_session *s) {
    int64_t now = cql_now_ms();
    for (int i = 0; i < s->topo.n_hosts; i++) {
        cql_pool *p = &s->topo.hosts[i]->pool;
        cassnn_err e = {0};
        if (pool_wants_fill(p, now)) session_fill_host(s, i, &e);
        pool_reap(p);
    }
    events_maintain(s);
    keyspaces_refresh_stale(s);
}

static void *worker_main(void *arg) {
    cql_session *s = arg;
    cql_worker *w = &s->worker;
    int64_t next_look = 0;
    current = s;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        int64_t now = cql_now_ms();
        request *due = NULL, **tail = &due;
        while (w->queue && w->queue->due_ms <= now) { /* take every retry whose time came */
            *tail = w->queue;
            w->queue = w->queue->next;
            tail = &(*tail)->next;
        }
        *tail = NULL;
        if (w->look_now) next_look = w->look_now = 0;
        pthread_mutex_unlock(&w->lock);
        while (due) {
            request *rq = due;
            due = due->next;
            rq->next = NULL;
            session_resend(rq);
        }
        if (now >= next_look) {
            look_after(s);
            next_look = cql_now_ms() + LOOK_EVERY_MS;
        }
        pthread_mutex_lock(&w->lock);
        int64_t until = w->queue && w->queue->due_ms < next_look ? w->queue->due_ms : next_look;
        struct timespec ts;
        timespec_at(until, &ts);
        if (!w->stop && until > cql_now_ms()) pthread_cond_timedwait(&w->wake, &w->lock, &ts);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

void worker_init(cql_worker *w) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC); /* cql_now_ms's clock */
    pthread_cond_init(&w->wake, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&w->lock, NULL);
}

int worker_start(cql_session *s, cassnn_err *err) {
    if (pthread_create(&s->worker.thread, NULL, worker_main, s))
        return cassnn_err_set(err, "cql: cannot start the session's worker thread");
    s->worker.started = 1;
    return 0;
}

void worker_stop(cql_session *s) {
    cql_worker *w = &s->worker;
    if (!w->started) return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->started = 0;
}

void worker_free(cql_worker *w) {
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
}

void worker_schedule(cql_session *s, request *rq, int delay_ms) {
    cql_worker *w = &s->worker;
    rq->due_ms = cql_now_ms() + delay_ms;
    pthread_mutex_lock(&w->lock);
    request **at = &w->queue;
    while (*at && (*at)->due_ms <= rq->due_ms) at = &(*at)->next;
    rq->next = *at;
    *at = rq;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void worker_wake(cql_session *s) {
    pthread_mutex_lock(&s->worker.lock);
    s->worker.look_now = 1;
    pthread_cond_signal(&s->worker.wake);
    pthread_mutex_unlock(&s->worker.lock);
}
