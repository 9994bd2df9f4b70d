/* request.h - one request of the session from the statement(s) a caller
 * gave until its callback: what to send (encoded values, the prepared
 * statement or query, batch items, paging state), where it may go (token,
 * keyspace) and how it has fared (attempts, hosts). Built and encoded here;
 * sent, retried and completed by session.c. */
#ifndef CASSNN_CQL_REQUEST_H
#define CASSNN_CQL_REQUEST_H

#include "cassnn/cql.h"
#include "cql/connection.h"
#include "cql/keyspace.h"
#include "cql/retry.h"

typedef struct batch_item {
    const cql_prepared *prep;
    char *query;
    size_t off, len; /* its values inside request.values */
    uint16_t n;
} batch_item;

typedef struct request {
    cql_session *s;
    uint8_t opcode;               /* QUERY, EXECUTE or BATCH */
    char *query;
    const cql_prepared *prep;
    const cql_prepared *reprep;   /* the statement being prepared again */
    cql_buf values;
    uint16_t n_values;
    cql_query_params params;
    uint8_t *paging_state;
    cql_batch_type batch_type;
    batch_item *items;
    uint16_t n_items;
    int timeout_ms, idempotent;
    cql_request_kind kind;
    cql_keyspace *keyspace;       /* whose replication routes it; NULL: unknown */
    int has_token;
    int64_t token;

    /* the session's bookkeeping */
    int64_t started_ms;           /* first submission */
    int attempts;                 /* failed attempts so far */
    int reprepared;
    int host;                     /* where it was last sent (-1: nowhere yet) */
    int avoid_host, prefer_host;  /* the retry's wish for its next plan (-1: none) */
    cql_conn *conn;               /* the connection it was last sent on */
    int holds_permit;
    cql_callback cb;
    void *user;
    int64_t due_ms;               /* waiting in the worker's queue until then */
    struct request *next;
} request;

request *request_from_statement(cql_session *s, const cql_statement *st, cassnn_err *err);
/* One BATCH of n statements (consistency, timeout and idempotence from stmts[0]). */
request *request_batch(cql_session *s, cql_batch_type type, const cql_statement *stmts, size_t n, cassnn_err *err);
/* A copy of a QUERY/EXECUTE request asking for the page after `state` (NULL: the first). */
request *request_clone(const request *p, const uint8_t *state, size_t state_len, cassnn_err *err);
/* The frame to send, with the statements' current prepared ids. */
void request_encode(const request *rq, cql_buf *frame);
void request_free(request *rq);

#endif
