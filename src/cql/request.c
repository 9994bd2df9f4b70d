/* request.c - requests from statements: bound values checked and encoded
 * once, the partition token worked out, frames encoded per attempt. */
#include "cql/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/session.h"

void request_free(request *rq) {
    if (!rq) return;
    free(rq->query);
    cql_buf_free(&rq->values);
    free(rq->paging_state);
    for (uint16_t i = 0; i < rq->n_items; i++) free(rq->items[i].query);
    free(rq->items);
    free(rq);
}

static request *request_new(cql_session *s, const cql_statement *st, cassnn_err *err) {
    request *rq = calloc(1, sizeof *rq);
    if (!rq) {
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    rq->s = s;
    rq->host = rq->avoid_host = rq->prefer_host = -1;
    rq->params.consistency = st->consistency == CQL_DEFAULT ? cql_session_consistency(s) : (cql_consistency)st->consistency;
    rq->params.serial_consistency = st->serial_consistency;
    rq->params.page_size = st->page_size == 0 ? s->cfg.page_size : st->page_size;
    rq->params.timestamp = st->timestamp;
    rq->timeout_ms = st->timeout_ms > 0 ? st->timeout_ms : s->cfg.request_timeout_ms;
    rq->idempotent = st->idempotent;
    return rq;
}

/* Encodes a statement's values into rq->values, checking them against the
 * bind types of a prepared statement. */
static int encode_values(request *rq, const cql_prepared *p, const cql_value *v, size_t n, cassnn_err *err) {
    if (n > 0xFFFF) return cassnn_err_set(err, "cql: %zu bound values (max 65535)", n);
    if (p) {
        const cql_metadata *bind = &prepared_current(p)->bind;
        if ((int32_t)n != bind->n_columns)
            return cassnn_err_set(err, "cql: statement \"%.120s\" takes %d values, %zu given", p->query,
                                  bind->n_columns, n);
        for (size_t i = 0; i < n; i++) {
            char what[160];
            snprintf(what, sizeof what, "value %zu (%.*s)", i, (int)bind->columns[i].name.len,
                     bind->columns[i].name.p);
            if (cql_value_check(&v[i], bind->columns[i].type, what, err)) return -1;
        }
    }
    for (size_t i = 0; i < n; i++) cql_value_encode(&rq->values, &v[i]);
    if (rq->values.oom) return cassnn_err_set(err, "cql: out of memory encoding values");
    return 0;
}

/* Routing key -> token for a prepared statement whose partition key columns
 * are all bound (single key: the value's bytes; composite: each part as
 * [u16 len][bytes][0]). */
static void compute_token(request *rq, const cql_metadata *bind) {
    if (bind->n_pk <= 0 || bind->n_pk > 16) return;
    const uint8_t *part[16];
    int32_t plen[16];
    cql_rd r = {rq->values.data, rq->values.len, 0};
    for (int32_t i = 0; i < bind->n_columns; i++) {
        const uint8_t *p;
        int32_t l;
        if (cql_rd_bytes(&r, &p, &l, NULL)) return;
        for (int32_t k = 0; k < bind->n_pk; k++)
            if (bind->pk_indexes[k] == i) {
                if (l < 0) return; /* null/unset key: no routing */
                part[k] = p;
                plen[k] = l;
            }
    }
    if (bind->n_pk == 1) {
        rq->token = cql_murmur3_token(part[0], (size_t)plen[0]);
    } else {
        cql_buf key = {0};
        for (int32_t k = 0; k < bind->n_pk; k++) {
            cql_buf_short_bytes(&key, part[k], (size_t)plen[k]);
            cql_buf_u8(&key, 0);
        }
        if (key.oom) {
            cql_buf_free(&key);
            return;
        }
        rq->token = cql_murmur3_token(key.data, key.len);
        cql_buf_free(&key);
    }
    rq->has_token = 1;
}

static int set_paging_state(request *rq, const uint8_t *p, size_t n, cassnn_err *err) {
    free(rq->paging_state);
    rq->paging_state = NULL;
    rq->params.paging_state = NULL;
    rq->params.paging_state_len = 0;
    if (!p) return 0;
    rq->paging_state = malloc(n ? n : 1);
    if (!rq->paging_state) return cassnn_err_set(err, "cql: out of memory");
    memcpy(rq->paging_state, p, n);
    rq->params.paging_state = rq->paging_state;
    rq->params.paging_state_len = n;
    return 0;
}

request *request_from_statement(cql_session *s, const cql_statement *st, cassnn_err *err) {
    request *rq = request_new(s, st, err);
    if (!rq) return NULL;
    if (st->prepared) {
        rq->opcode = CQL_OP_EXECUTE;
        rq->prep = st->prepared;
        rq->kind = st->prepared->kind;
        rq->keyspace = st->prepared->keyspace;
    } else if (st->query) {
        rq->opcode = CQL_OP_QUERY;
        rq->kind = cql_request_kind_of(st->query);
        if (!(rq->query = strdup(st->query))) {
            cassnn_err_set(err, "cql: out of memory");
            goto fail;
        }
    } else {
        cassnn_err_set(err, "cql: statement has neither a query nor a prepared statement");
        goto fail;
    }
    if (encode_values(rq, st->prepared, st->values, st->n_values, err) ||
        set_paging_state(rq, st->paging_state, st->paging_state_len, err))
        goto fail;
    rq->n_values = (uint16_t)st->n_values;
    if (rq->prep) compute_token(rq, &prepared_current(rq->prep)->bind);
    return rq;
fail:
    request_free(rq);
    return NULL;
}

request *request_batch(cql_session *s, cql_batch_type type, const cql_statement *stmts, size_t n, cassnn_err *err) {
    if (n == 0 || n > 0xFFFF) {
        cassnn_err_set(err, "cql: a batch needs 1..65535 statements, got %zu", n);
        return NULL;
    }
    request *rq = request_new(s, &stmts[0], err);
    if (!rq) return NULL;
    if (!(rq->items = calloc(n, sizeof *rq->items))) {
        request_free(rq);
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    rq->opcode = CQL_OP_BATCH;
    rq->batch_type = type;
    rq->kind = CQL_KIND_WRITE;
    for (size_t i = 0; i < n; i++) {
        batch_item *it = &rq->items[i];
        rq->n_items++;
        it->prep = stmts[i].prepared;
        if (!it->prep && !(it->query = stmts[i].query ? strdup(stmts[i].query) : NULL)) {
            request_free(rq);
            cassnn_err_set(err, "cql: batch statement %zu has no query", i);
            return NULL;
        }
        it->off = rq->values.len;
        if (encode_values(rq, it->prep, stmts[i].values, stmts[i].n_values, err)) {
            request_free(rq);
            cassnn_err_wrap(err, "batch statement %zu", i);
            return NULL;
        }
        it->len = rq->values.len - it->off;
        it->n = (uint16_t)stmts[i].n_values;
    }
    return rq;
}

request *request_clone(const request *p, const uint8_t *state, size_t state_len, cassnn_err *err) {
    request *rq = calloc(1, sizeof *rq);
    if (!rq) {
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    *rq = *p;
    rq->query = NULL;
    rq->values = (cql_buf){0};
    rq->paging_state = NULL;
    rq->items = NULL;
    rq->n_items = 0;
    if ((p->query && !(rq->query = strdup(p->query))) ||
        (cql_buf_bytes_raw(&rq->values, p->values.data, p->values.len), rq->values.oom) ||
        set_paging_state(rq, state, state_len, err)) {
        request_free(rq);
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    return rq;
}

void request_encode(const request *rq, cql_buf *frame) {
    if (rq->opcode == CQL_OP_QUERY) {
        cql_encode_query(frame, 0, rq->query, rq->values.data, rq->values.len, rq->n_values, &rq->params);
    } else if (rq->opcode == CQL_OP_EXECUTE) {
        const cql_result *p = prepared_current(rq->prep);
        cql_encode_execute(frame, 0, p->prepared_id, p->prepared_id_len, rq->values.data, rq->values.len,
                           rq->n_values, &rq->params);
    } else {
        cql_batch_entry entries[rq->n_items ? rq->n_items : 1];
        for (uint16_t i = 0; i < rq->n_items; i++) {
            const batch_item *it = &rq->items[i];
            entries[i] = (cql_batch_entry){.query = it->query, .values = rq->values.data + it->off,
                                           .values_len = it->len, .n_values = it->n};
            if (it->prep) {
                const cql_result *p = prepared_current(it->prep);
                entries[i].query = NULL;
                entries[i].id = p->prepared_id;
                entries[i].id_len = p->prepared_id_len;
            }
        }
        cql_encode_batch(frame, 0, rq->batch_type, entries, rq->n_items, &rq->params);
    }
}
