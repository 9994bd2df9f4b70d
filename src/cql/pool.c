/* pool.c - one node's connections, its up/down state and its counters (see
 * pool.h for who may call what). */
#include "cql/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pool_init(cql_pool *p, int n_conns) {
    memset(p, 0, sizeof *p);
    p->n_conns = n_conns > 0 ? n_conns : 1;
    p->conns = calloc((size_t)p->n_conns, sizeof *p->conns);
    if (!p->conns) return -1;
    pthread_mutex_init(&p->lock, NULL);
    return 0;
}

void pool_destroy(cql_pool *p) {
    if (!p->conns) return;
    for (int i = 0; i < p->n_conns; i++) cql_conn_close(p->conns[i]);
    for (int i = 0; i < p->n_retired; i++) cql_conn_close(p->retired[i]);
    free(p->conns);
    free(p->retired);
    pthread_mutex_destroy(&p->lock);
    p->conns = NULL;
}

static int live(const cql_conn *c) { return c && !cql_conn_is_dead(c); }

cql_conn *pool_acquire(cql_pool *p) {
    cql_conn *best = NULL;
    int best_n = 0;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n_conns && atomic_load(&p->up); i++) {
        cql_conn *c = p->conns[i];
        if (!live(c)) continue;
        int n = cql_conn_inflight(c);
        if (!best || n < best_n) {
            best = c;
            best_n = n;
        }
    }
    if (best) cql_conn_hold(best);
    pthread_mutex_unlock(&p->lock);
    return best;
}

void pool_release(cql_conn *c) {
    if (c) cql_conn_drop(c);
}

int pool_is_up(cql_pool *p) { return atomic_load(&p->up); }

/* Backoff before the next reconnect: 1 s, 2 s, then 4 s. A node that is
 * restarting answers again within seconds; trying to reach a dead one costs
 * only the worker's time. (Caller holds the lock.) */
static void schedule_retry(cql_pool *p) {
    p->fails++;
    p->retry_at_ms = cql_now_ms() + (500LL << (p->fails < 3 ? p->fails : 3));
}

/* Caller holds the lock. */
static void note_down(cql_pool *p, const char *why) {
    snprintf(p->down_reason, sizeof p->down_reason, "%.150s", why);
    schedule_retry(p);
    atomic_store(&p->up, 0);
}

void pool_mark_down(cql_pool *p, const char *why) {
    pthread_mutex_lock(&p->lock);
    if (atomic_load(&p->up)) note_down(p, why);
    pthread_mutex_unlock(&p->lock);
}

void pool_connection_failed(cql_pool *p, const char *why) {
    pthread_mutex_lock(&p->lock);
    int n = 0;
    for (int i = 0; i < p->n_conns; i++) n += live(p->conns[i]);
    if (n == 0 && atomic_load(&p->up)) note_down(p, why);
    pthread_mutex_unlock(&p->lock);
}

void pool_reconnect_soon(cql_pool *p) {
    pthread_mutex_lock(&p->lock);
    p->fails = 0;
    p->retry_at_ms = 0;
    pthread_mutex_unlock(&p->lock);
}

void pool_down_reason(cql_pool *p, char *out, size_t cap) {
    pthread_mutex_lock(&p->lock);
    snprintf(out, cap, "%s", atomic_load(&p->up) ? "" : p->down_reason);
    pthread_mutex_unlock(&p->lock);
}

int pool_wants_fill(cql_pool *p, int64_t now_ms) {
    pthread_mutex_lock(&p->lock);
    int want = now_ms >= p->retry_at_ms;
    if (want && atomic_load(&p->up)) {
        want = 0;
        for (int i = 0; i < p->n_conns; i++) want |= !live(p->conns[i]);
    }
    pthread_mutex_unlock(&p->lock);
    return want;
}

/* Puts c in slot i, keeping the connection it replaces until nobody holds
 * it; 0 when there was no room to keep it (c is then not used). */
static int replace(cql_pool *p, int i, cql_conn *c) {
    cql_conn *old = p->conns[i];
    if (old) {
        cql_conn **r = realloc(p->retired, (size_t)(p->n_retired + 1) * sizeof *r);
        if (!r) return 0;
        p->retired = r;
        p->retired[p->n_retired++] = old;
    }
    p->conns[i] = c;
    return 1;
}

int pool_fill(cql_pool *p, const char *address, int port, const cql_conn_opts *o, cassnn_err *err) {
    cassnn_err last = {0};
    int n_live = 0, failed = 0;
    for (int i = 0; i < p->n_conns && !failed; i++) {
        /* Only this thread writes the slots: reading them needs no lock. */
        if (live(p->conns[i])) {
            n_live++;
            continue;
        }
        cql_conn *c;
        if (cql_conn_open(&c, address, port, o, &last)) {
            failed = 1; /* the next slot would fail the same way: stop here */
            continue;
        }
        pthread_mutex_lock(&p->lock);
        int used = replace(p, i, c);
        pthread_mutex_unlock(&p->lock);
        if (used) n_live++;
        else cql_conn_close(c);
    }
    pthread_mutex_lock(&p->lock);
    if (n_live && !failed) {
        p->fails = 0;
        p->retry_at_ms = 0;
    } else if (n_live) {
        schedule_retry(p); /* up with fewer connections; the missing ones later */
    } else {
        note_down(p, last.msg[0] ? last.msg : "no connection could be opened");
    }
    if (n_live) atomic_store(&p->up, 1);
    pthread_mutex_unlock(&p->lock);
    if (n_live) return 0;
    if (err) *err = last;
    return -1;
}

void pool_reap(cql_pool *p) {
    cql_conn *done[16];
    int n_done = 0;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n_retired;) {
        if (n_done < 16 && cql_conn_holders(p->retired[i]) == 0) {
            done[n_done++] = p->retired[i];
            p->retired[i] = p->retired[--p->n_retired];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < n_done; i++) cql_conn_close(done[i]);
}
