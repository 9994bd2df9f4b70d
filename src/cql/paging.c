/* paging.c - cql_pager (cql.h): every page of a statement's result, the
 * next one asked for as soon as the current one arrives, so that the
 * caller's work on a page overlaps the node's on the next. Each page is a
 * request of its own, retried by the session like any other. */
#include <stdlib.h>

#include "cql/future.h"
#include "cql/session.h"

struct cql_pager {
    cql_session *s;
    request *proto;   /* the statement, encoded once; cloned per page */
    cql_future *next; /* the page in flight */
    cql_result *page; /* the page handed to the caller */
};

int cql_pager_open(cql_session *s, const cql_statement *st, cql_pager **out, cassnn_err *err) {
    *out = NULL;
    cql_pager *pg = calloc(1, sizeof *pg);
    if (!pg) return cassnn_err_set(err, "cql: out of memory");
    pg->s = s;
    pg->proto = request_from_statement(s, st, err);
    request *first = pg->proto ? request_clone(pg->proto, st->paging_state, st->paging_state_len, err) : NULL;
    if (!first || !(pg->next = future_submit(s, first, err))) {
        cql_pager_close(pg);
        return -1;
    }
    *out = pg;
    return 0;
}

int cql_pager_next(cql_pager *pg, const cql_result **page, cassnn_err *err) {
    cql_result_free(pg->page);
    pg->page = NULL;
    if (!pg->next) return 0;
    cql_future *f = pg->next;
    pg->next = NULL;
    if (cql_future_wait(f, &pg->page, err)) return -1;
    size_t len;
    const uint8_t *state = cql_result_paging_state(pg->page, &len);
    if (state) {
        request *rq = request_clone(pg->proto, state, len, err);
        if (!rq || !(pg->next = future_submit(pg->s, rq, err))) return -1;
    }
    *page = pg->page;
    return 1;
}

void cql_pager_close(cql_pager *pg) {
    if (!pg) return;
    if (pg->next) cql_future_wait(pg->next, NULL, NULL);
    cql_result_free(pg->page);
    request_free(pg->proto);
    free(pg);
}
