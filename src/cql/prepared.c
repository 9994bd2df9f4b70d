/* prepared.c - the prepared statement cache and re-preparing (see
 * prepared.h). */
#include "cql/prepared.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/session.h"

void prepared_cache_init(cql_prepared_cache *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

static void result_free(void *r) { cql_result_free(r); }

void prepared_cache_free(cql_prepared_cache *c) {
    for (cql_prepared *p = c->head, *next; p; p = next) {
        next = p->next;
        cql_result_free(atomic_load(&p->res));
        free(p->query);
        free(p);
    }
    cql_kept_free_all(&c->replaced);
    pthread_mutex_destroy(&c->lock);
}

const cql_metadata *cql_prepared_params(const cql_prepared *p) { return &prepared_current(p)->bind; }

static cql_prepared *cache_find(cql_prepared_cache *c, const char *query) {
    cql_prepared *p = c->head;
    while (p && strcmp(p->query, query)) p = p->next;
    return p;
}

/* A PREPARED result out of a response (consumed). */
static int prepared_result(cql_response *resp, cql_result **out, cassnn_err *err) {
    if (resp->h.opcode == CQL_OP_ERROR) return cql_response_error(resp, err);
    if (resp->h.opcode != CQL_OP_RESULT) {
        free(resp->body);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql: PREPARE answered with opcode 0x%02x", resp->h.opcode);
    }
    if (cql_decode_result(resp->body, resp->len, resp->offset, NULL, out, err)) return -1;
    if ((*out)->kind == CQL_RESULT_PREPARED) return 0;
    int kind = (*out)->kind;
    cql_result_free(*out);
    return cassnn_err_set(err, "cql: PREPARE answered with result kind %d", kind);
}

/* The other nodes that are up get the statement too, so that their first
 * EXECUTE does not come back UNPREPARED. A node that fails it prepares it
 * on demand later. */
static void prepare_on_other_nodes(cql_session *s, const cql_buf *frame, int done) {
    for (int i = 0; i < s->topo.n_hosts; i++) {
        if (i == done) continue;
        cql_conn *c = pool_acquire(&s->topo.hosts[i]->pool);
        if (!c) continue;
        cql_buf copy = {0};
        cql_response resp;
        cassnn_err e = {0};
        cql_buf_bytes_raw(&copy, frame->data, frame->len); /* submit may compress in place */
        if (cql_conn_call(c, &copy, s->cfg.request_timeout_ms, &resp, &e) == 0) free(resp.body);
        cql_buf_free(&copy);
        pool_release(c);
    }
}

/* The keyspace of the statement's bound table (for routing); NULL when it
 * binds nothing or the keyspace cannot be read now (then it is routed
 * without replication). */
static cql_keyspace *bound_keyspace(cql_session *s, const cql_result *r) {
    if (r->bind.n_columns <= 0 || !r->bind.columns) return NULL;
    cql_str ks = r->bind.columns[0].keyspace;
    char name[CQL_NAME_MAX];
    if (ks.len == 0 || ks.len >= sizeof name) return NULL;
    memcpy(name, ks.p, ks.len);
    name[ks.len] = '\0';
    cassnn_err e = {0};
    return keyspaces_get(s, name, &e);
}

int cql_prepare(cql_session *s, const char *query, const cql_prepared **out, cassnn_err *err) {
    cql_prepared_cache *c = &s->prepared;
    pthread_mutex_lock(&c->lock);
    cql_prepared *p = cache_find(c, query);
    pthread_mutex_unlock(&c->lock);
    if (p) {
        *out = p;
        return 0;
    }
    cql_buf frame = {0};
    cql_response resp;
    cql_result *r;
    int host;
    cql_encode_prepare(&frame, 0, query);
    if (session_control_call(s, &frame, &resp, &host, err) || prepared_result(&resp, &r, err)) {
        cql_buf_free(&frame);
        return cassnn_err_wrap(err, "preparing \"%.200s\"", query);
    }
    prepare_on_other_nodes(s, &frame, host);
    cql_buf_free(&frame);
    if (!(p = calloc(1, sizeof *p)) || !(p->query = strdup(query))) {
        cql_result_free(r);
        free(p);
        return cassnn_err_set(err, "cql: out of memory");
    }
    atomic_store(&p->res, r);
    p->kind = cql_request_kind_of(query);
    p->keyspace = bound_keyspace(s, r);
    pthread_mutex_lock(&c->lock);
    cql_prepared *q = cache_find(c, query); /* another thread may have prepared it meanwhile: keep one */
    if (!q) {
        p->next = c->head;
        c->head = q = p;
        p = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (p) {
        cql_result_free(r);
        free(p->query);
        free(p);
    }
    *out = q;
    return 0;
}

/* ---------------------------------------------------------- UNPREPARED */

/* The statement of rq (or of its batch) with this id; NULL when none. */
static const cql_prepared *statement_with_id(const request *rq, const uint8_t *id, size_t len) {
    for (int i = -1; i < (int)rq->n_items; i++) {
        const cql_prepared *p = i < 0 ? rq->prep : rq->items[i].prep;
        if (!p) continue;
        const cql_result *r = prepared_current(p);
        if (r->prepared_id_len == len && !memcmp(r->prepared_id, id, len)) return p;
    }
    return NULL;
}

static void on_reprepared(void *user, cql_response *resp, const cassnn_err *err) {
    request *rq = user;
    cql_prepared_cache *c = &rq->s->prepared;
    if (!resp) {
        session_attempt_failed(rq, err);
        return;
    }
    cassnn_err e = {0};
    cql_result *r;
    cql_kept *keep = cql_kept_node();
    if (!keep || prepared_result(resp, &r, &e)) {
        if (!keep) free(resp->body);
        free(keep);
        if (!e.msg[0]) cassnn_err_set(&e, "cql: out of memory");
        cassnn_err_wrap(&e, "re-preparing after UNPREPARED");
        session_complete(rq, NULL, &e);
        return;
    }
    cql_prepared *p = (cql_prepared *)rq->reprep;
    pthread_mutex_lock(&c->lock); /* requests in flight may still read the old one */
    cql_kept_push(&c->replaced, keep, atomic_exchange(&p->res, r), result_free);
    pthread_mutex_unlock(&c->lock);
    rq->prefer_host = rq->host; /* it is prepared there now */
    worker_schedule(rq->s, rq, 0);
}

int prepared_handle_unprepared(request *rq, const cql_error *ce) {
    /* A batch may hold several statements: one re-prepare for each at most. */
    const cql_prepared *p = rq->reprepared <= rq->n_items
                                ? statement_with_id(rq, ce->unprepared_id, ce->unprepared_id_len)
                                : NULL;
    if (!p) return 0;
    rq->reprepared++;
    rq->reprep = p;
    cql_buf frame = {0};
    cassnn_err e = {0};
    cql_encode_prepare(&frame, 0, p->query);
    int rc = cql_conn_submit(rq->conn, &frame, rq->timeout_ms, on_reprepared, rq, &e);
    cql_buf_free(&frame);
    return rc == 0;
}
