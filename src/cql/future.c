/* future.c - futures, callbacks and batches: the asynchronous face of the
 * session (cql.h). */
#include "cql/future.h"

#include <pthread.h>
#include <stdlib.h>

#include "cql/session.h"

struct cql_future {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    cql_result *r;
    cassnn_err err;
};

static void future_done(void *user, cql_result *r, const cassnn_err *err) {
    cql_future *f = user;
    pthread_mutex_lock(&f->mu);
    f->r = r;
    if (err) f->err = *err;
    f->done = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void future_free(cql_future *f) {
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

cql_future *future_submit(cql_session *s, request *rq, cassnn_err *err) {
    cql_future *f = calloc(1, sizeof *f);
    if (!f) {
        request_free(rq);
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (session_submit(s, rq, future_done, f, err)) {
        future_free(f);
        return NULL;
    }
    return f;
}

cql_future *cql_execute_async(cql_session *s, const cql_statement *st, cassnn_err *err) {
    request *rq = request_from_statement(s, st, err);
    return rq ? future_submit(s, rq, err) : NULL;
}

int cql_future_wait(cql_future *f, cql_result **out, cassnn_err *err) {
    pthread_mutex_lock(&f->mu);
    while (!f->done) pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    int rc = 0;
    if (!f->r) {
        if (err) *err = f->err;
        rc = -1;
    }
    if (out) *out = f->r;
    else cql_result_free(f->r);
    future_free(f);
    return rc;
}

int cql_execute_cb(cql_session *s, const cql_statement *st, cql_callback cb, void *user, cassnn_err *err) {
    request *rq = request_from_statement(s, st, err);
    return rq ? session_submit(s, rq, cb, user, err) : -1;
}

int cql_batch(cql_session *s, cql_batch_type type, const cql_statement *stmts, size_t n, cassnn_err *err) {
    request *rq = request_batch(s, type, stmts, n, err);
    cql_future *f = rq ? future_submit(s, rq, err) : NULL;
    return f ? cql_future_wait(f, NULL, err) : -1;
}
