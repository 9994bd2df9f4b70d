/* retry.h - the retry policy: ONE pure decision, from what went wrong with
 * an attempt, how many attempts failed, how long the request has been going
 * on, whether it is idempotent and what kind of request it is, to "send it
 * again to the same node", "send it to the next node" or "give up" (and how
 * long to wait first). Like the DataStax drivers' RetryPolicy; the session
 * is the only layer that retries (see cql.h).
 *
 * Two limits: `max_retries` bounds the retries after a node ANSWERED that
 * it could not do it (timeouts, overload, unavailable, server error) or a
 * connection broke with the request on it; `budget_ms` bounds the time of
 * all retries, so that a request that found no node up (a restart) waits
 * for one that long, whatever the count. */
#ifndef CASSNN_CQL_RETRY_H
#define CASSNN_CQL_RETRY_H

#include <stdint.h>

typedef enum cql_request_kind {
    CQL_KIND_READ,   /* SELECT: no side effect, always safe to send again */
    CQL_KIND_WRITE,  /* INSERT/UPDATE/DELETE, batches: again only when idempotent */
    CQL_KIND_SCHEMA, /* DDL and anything else: never sent twice to a node */
} cql_request_kind;

/* The kind of a CQL statement, from its first keyword. */
cql_request_kind cql_request_kind_of(const char *query);

typedef enum cql_retry_action {
    CQL_RETRY_GIVE_UP = 0,
    CQL_RETRY_SAME_HOST,
    CQL_RETRY_NEXT_HOST, /* a new query plan without the node that just failed */
} cql_retry_action;

typedef struct cql_retry_policy {
    int max_retries; /* retries after an answer or a broken connection */
    int budget_ms;   /* every retry starts within this time of the first attempt */
} cql_retry_policy;

typedef struct cql_retry_attempt {
    int error;             /* CQL_ERR_*: the server's code or a client condition */
    int attempt;           /* failed attempts so far, this one included (1 = first) */
    int idempotent;        /* the caller says it may be applied twice */
    cql_request_kind kind;
    int64_t elapsed_ms;    /* since the first attempt was submitted */
} cql_retry_attempt;

typedef struct cql_retry_decision {
    cql_retry_action action;
    int delay_ms; /* wait this long before sending again */
} cql_retry_decision;

cql_retry_decision cql_retry_decide(const cql_retry_policy *p, const cql_retry_attempt *a);

#endif
