/* retry.c - the retry decision (see retry.h). The rules, by error:
 *
 *   no node up (NO_HOST)          nothing was sent: next plan, any request, until the budget
 *                                 is spent (waits 100 ms, 200 ms, ... 1 s between looks)
 *   IsBootstrapping               the node refused it unexecuted: next node, any request,
 *                                 until the budget is spent
 *   Unavailable                   the coordinator refused it unexecuted: next node, any
 *                                 request except DDL, counted
 *   broken connection,            it may have been applied: next node when idempotent or a
 *   Overloaded, ServerError,      read, counted
 *   TruncateError
 *   ReadTimeout                   same node when idempotent or a read, counted
 *   WriteTimeout                  same node when idempotent (a write may have been applied
 *                                 on some replicas), counted
 *   client timeout                give up: the caller's timeout is its limit for the request
 *   anything else                 give up: the request itself is wrong (syntax, invalid,
 *                                 unauthorized, already exists ...), or a failure that
 *                                 another try would repeat (Read/WriteFailure)
 *
 * "Counted" retries stop after max_retries; every retry must start within
 * the budget. DDL is never sent twice once a node had it. */
#include "cql/retry.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "cql/codec.h"

cql_request_kind cql_request_kind_of(const char *q) {
    if (!q) return CQL_KIND_SCHEMA;
    while (isspace((unsigned char)*q) || *q == '(') q++;
    static const char *const writes[] = {"INSERT", "UPDATE", "DELETE", "BEGIN"}; /* BEGIN BATCH */
    if (!strncasecmp(q, "SELECT", 6)) return CQL_KIND_READ;
    for (int i = 0; i < 4; i++)
        if (!strncasecmp(q, writes[i], strlen(writes[i]))) return CQL_KIND_WRITE;
    return CQL_KIND_SCHEMA;
}

/* base, 2 base, 4 base, ... capped. */
static int backoff(int attempt, int base_ms, int cap_ms) {
    int shift = attempt > 1 ? attempt - 1 : 0;
    int64_t d = (int64_t)base_ms << (shift < 16 ? shift : 16);
    return d > cap_ms ? cap_ms : (int)d;
}

cql_retry_decision cql_retry_decide(const cql_retry_policy *p, const cql_retry_attempt *a) {
    const cql_retry_decision give_up = {CQL_RETRY_GIVE_UP, 0};
    const int safe = a->kind == CQL_KIND_READ || (a->idempotent && a->kind != CQL_KIND_SCHEMA);
    const int counted_ok = a->attempt <= p->max_retries;
    cql_retry_decision d = give_up;
    switch (a->error) {
    case CQL_ERR_NO_HOST:
    case CQL_ERR_IS_BOOTSTRAPPING:
        d = (cql_retry_decision){CQL_RETRY_NEXT_HOST, backoff(a->attempt, 100, 1000)};
        break;
    case CQL_ERR_UNAVAILABLE:
        if (a->kind != CQL_KIND_SCHEMA && counted_ok)
            d = (cql_retry_decision){CQL_RETRY_NEXT_HOST, backoff(a->attempt, 100, 2000)};
        break;
    case CQL_ERR_CONNECTION:
    case CQL_ERR_OVERLOADED:
    case CQL_ERR_SERVER:
    case CQL_ERR_TRUNCATE:
        if (safe && counted_ok) d = (cql_retry_decision){CQL_RETRY_NEXT_HOST, backoff(a->attempt, 10, 2000)};
        break;
    case CQL_ERR_READ_TIMEOUT:
        if (safe && counted_ok) d = (cql_retry_decision){CQL_RETRY_SAME_HOST, backoff(a->attempt, 100, 2000)};
        break;
    case CQL_ERR_WRITE_TIMEOUT:
        if (a->idempotent && a->kind != CQL_KIND_SCHEMA && counted_ok)
            d = (cql_retry_decision){CQL_RETRY_SAME_HOST, backoff(a->attempt, 100, 2000)};
        break;
    default:
        break;
    }
    if (d.action != CQL_RETRY_GIVE_UP && a->elapsed_ms + d.delay_ms > p->budget_ms) return give_up;
    return d;
}
