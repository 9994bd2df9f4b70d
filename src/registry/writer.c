/* writer.c - checkpoint rows written on a thread of their own, so that a slow
 * or failing node never holds up a training step (see registry.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/registry.h"

typedef struct queued_model {
    registry_model model;
    struct queued_model *next;
} queued_model;

struct registry_writer {
    cql_session *session;
    char keyspace[64];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    queued_model *head, *tail;
    int closing;
    registry_writer_report report; /* guarded by lock */
};

static void *writer_main(void *arg) {
    registry_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->closing) pthread_cond_wait(&w->wake, &w->lock);
        queued_model *q = w->head;
        if (!q) break; /* closing and drained */
        w->head = q->next;
        if (!w->head) w->tail = NULL;
        pthread_mutex_unlock(&w->lock);

        cassnn_err err = {0};
        const uint64_t retries_before = cql_session_retries(w->session);
        const int rc = registry_insert(w->session, w->keyspace, &q->model, &err);
        const long retried = (long)(cql_session_retries(w->session) - retries_before);
        if (rc) {
            char id[37];
            registry_uuid_format(q->model.id, id);
            cassnn_err_wrap(&err, "checkpoint %s", id);
        }
        registry_model_free(&q->model);
        free(q);

        pthread_mutex_lock(&w->lock);
        w->report.retried += retried;
        if (rc == 0) {
            w->report.written++;
        } else {
            if (w->report.failed++ == 0)
                memcpy(w->report.first_error, err.msg, sizeof w->report.first_error);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int registry_writer_open(registry_writer **out, cql_session *s, const char *keyspace, cassnn_err *err) {
    registry_writer *w = calloc(1, sizeof *w);
    if (!w) return cassnn_err_set(err, "checkpoint writer: out of memory");
    if (strlen(keyspace) >= sizeof w->keyspace) {
        free(w);
        return cassnn_err_set(err, "checkpoint writer: keyspace name too long");
    }
    w->session = s;
    strcpy(w->keyspace, keyspace);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w)) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        free(w);
        return cassnn_err_set(err, "checkpoint writer: cannot start its thread");
    }
    *out = w;
    return 0;
}

int registry_writer_submit(registry_writer *w, registry_model *m, cassnn_err *err) {
    queued_model *q = malloc(sizeof *q);
    if (!q) {
        registry_model_free(m);
        pthread_mutex_lock(&w->lock);
        w->report.submitted++;
        if (w->report.failed++ == 0)
            snprintf(w->report.first_error, sizeof w->report.first_error,
                     "out of memory queueing a checkpoint");
        pthread_mutex_unlock(&w->lock);
        return cassnn_err_set(err, "checkpoint writer: out of memory");
    }
    q->model = *m;
    q->next = NULL;
    m->network = m->optimizer = NULL;
    pthread_mutex_lock(&w->lock);
    w->report.submitted++;
    if (w->tail) w->tail->next = q;
    else w->head = q;
    w->tail = q;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void registry_writer_close(registry_writer *w, registry_writer_report *report) {
    if (!w) {
        if (report) memset(report, 0, sizeof *report);
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->closing = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    if (report) *report = w->report;
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}
