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

/* Writes one row: to the cluster, unless the last write failed and no node
 * is up; else (or when that fails) to the spool. 0 written, 1 spooled,
 * -1 lost; err says why it is not in the cluster. */
static int write_row(registry_writer *w, int failing, const registry_model *m, char *spooled_at,
                     size_t cap, cassnn_err *err) {
    int up = 0;
    cql_session_hosts(w->session, &up);
    if (!failing || up > 0) {
        if (registry_insert(w->session, w->keyspace, m, err) == 0) return 0;
    } else {
        cassnn_err_set(err, "no node is up");
    }
    char id[37];
    registry_uuid_format(m->id, id);
    cassnn_err_wrap(err, "checkpoint %s", id);
    cassnn_err spool_err = {0};
    if (registry_spool_put(w->keyspace, m, spooled_at, cap, &spool_err) == 0) return 1;
    cassnn_err_wrap(err, "and %s", spool_err.msg);
    return -1;
}

/* Counts one row's outcome (lock held). */
static void count(registry_writer *w, int outcome, const cassnn_err *err) {
    registry_writer_report *r = &w->report;
    r->written += outcome == 0;
    r->spooled += outcome == 1;
    r->failed += outcome < 0;
    r->failing = outcome != 0;
    if (outcome == 0) return;
    snprintf(r->last_error, sizeof r->last_error, "%s", err->msg);
    if (!r->first_error[0]) snprintf(r->first_error, sizeof r->first_error, "%s", err->msg);
}

static void *writer_main(void *arg) {
    registry_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->closing) pthread_cond_wait(&w->wake, &w->lock);
        queued_model *q = w->head;
        if (!q) break; /* closing and drained */
        w->head = q->next;
        if (!w->head) w->tail = NULL;
        w->report.queued--;
        const int failing = w->report.failing;
        pthread_mutex_unlock(&w->lock);

        cassnn_err err = {0};
        char spooled_at[4200];
        const uint64_t retries_before = cql_session_retries(w->session);
        const int outcome = write_row(w, failing, &q->model, spooled_at, sizeof spooled_at, &err);
        const long retried = (long)(cql_session_retries(w->session) - retries_before);
        registry_model_free(&q->model);
        free(q);

        pthread_mutex_lock(&w->lock);
        w->report.retried += retried;
        count(w, outcome, &err);
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
    if (registry_spool_dir(keyspace, w->report.spool_dir, sizeof w->report.spool_dir, err)) {
        free(w);
        return -1;
    }
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
        const cassnn_err oom = {.msg = "out of memory queueing a checkpoint"};
        count(w, -1, &oom);
        pthread_mutex_unlock(&w->lock);
        return cassnn_err_set(err, "checkpoint writer: out of memory");
    }
    q->model = *m;
    q->next = NULL;
    m->network = m->optimizer = NULL;
    pthread_mutex_lock(&w->lock);
    w->report.submitted++;
    w->report.queued++;
    if (w->tail) w->tail->next = q;
    else w->head = q;
    w->tail = q;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void registry_writer_status(registry_writer *w, registry_writer_report *now) {
    pthread_mutex_lock(&w->lock);
    *now = w->report;
    pthread_mutex_unlock(&w->lock);
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
