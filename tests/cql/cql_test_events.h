/* cql_test_events.h - a log of the cluster events a session's on_event hears,
 * for a test thread to wait on:
 *   event_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
 *   cfg.on_event = event_log_add; cfg.event_user = &log;
 *   event_log_wait(&log, "STATUS_CHANGE DOWN 127.0.0.2 ", 60)
 * Each event is one line "TYPE CHANGE address keyspace name". */
#ifndef CASSNN_TESTS_CQL_EVENTS_H
#define CASSNN_TESTS_CQL_EVENTS_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cassnn/cql.h"

typedef struct event_log {
    pthread_mutex_t lock;
    char seen[256][160];
    int n;
} event_log;

static inline void event_log_add(void *user, const cql_cluster_event *ev) {
    event_log *l = user;
    pthread_mutex_lock(&l->lock);
    if (l->n < 256)
        snprintf(l->seen[l->n++], sizeof l->seen[0], "%s %s %s %s %s", ev->type, ev->change, ev->address,
                 ev->keyspace, ev->name);
    pthread_mutex_unlock(&l->lock);
}

/* Waits up to seconds for an event line starting with prefix: 1 if seen. */
static inline int event_log_wait(event_log *l, const char *prefix, int seconds) {
    for (int tries = 0; tries < seconds * 10; tries++) {
        pthread_mutex_lock(&l->lock);
        int found = 0;
        for (int i = 0; i < l->n && !found; i++) found = !strncmp(l->seen[i], prefix, strlen(prefix));
        pthread_mutex_unlock(&l->lock);
        if (found) return 1;
        usleep(100 * 1000);
    }
    return 0;
}

#endif
