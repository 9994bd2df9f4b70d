/* agreement.c - schema agreement among the nodes that are up (see
 * agreement.h). */
#include "cql/agreement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cql/session.h"

int cql_agreement_reached(const cql_agreement_node *nodes, int n) {
    const cql_agreement_node *first = NULL;
    for (int i = 0; i < n; i++) {
        if (!nodes[i].up) continue;
        if (!nodes[i].answered) return 0;
        if (!first) first = &nodes[i];
        else if (memcmp(first->version, nodes[i].version, 16)) return 0;
    }
    return first != NULL;
}

void cql_agreement_describe(const cql_agreement_node *nodes, int n, char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        cql_buf v = {0};
        if (nodes[i].answered)
            cql_cell_format((cql_cell){nodes[i].version, 16}, (cql_type){CQL_TYPE_UUID, 0, 0}, &v, "");
        int w = snprintf(out + len, cap - len, "%s%s %s%.*s", i ? "; " : "", nodes[i].address,
                         !nodes[i].up ? "down (not asked)" : nodes[i].answered ? "up, schema " : "up, no answer",
                         (int)v.len, v.data ? (const char *)v.data : "");
        cql_buf_free(&v);
        if (w < 0) break;
        len += (size_t)w;
    }
}

enum { WENT_DOWN, NO_ANSWER, ANSWERED };

/* Node h's own schema_version, through its own connection: peers_v2 only
 * shows what gossip has spread so far. -1 on an error answer. */
static int ask_node(cql_session *s, cql_host *h, uint8_t v[16], cassnn_err *err) {
    cql_conn *c = pool_acquire(&h->pool);
    if (!c) return WENT_DOWN;
    cql_result *r;
    cassnn_err e = {0};
    int rc = cql_conn_query(c, "SELECT schema_version FROM system.local WHERE key='local'", NULL, 0,
                            s->cfg.request_timeout_ms, &r, &e);
    pool_release(c);
    if (rc) {
        if (e.code == CQL_ERR_CONNECTION) return WENT_DOWN;
        if (e.code == CQL_ERR_CLIENT_TIMEOUT) return NO_ANSWER;
        *err = e;
        return cassnn_err_wrap(err, "%s", h->address);
    }
    rc = cql_result_row_count(r) == 1 ? cql_get_uuid(r, 0, 0, v, err) : cassnn_err_set(err, "system.local has no row");
    cql_result_free(r);
    return rc ? cassnn_err_wrap(err, "%s", h->address) : ANSWERED;
}

int cql_wait_schema_agreement(cql_session *s, int timeout_ms, cassnn_err *err) {
    if (timeout_ms <= 0) timeout_ms = 10000;
    const int64_t deadline = cql_now_ms() + timeout_ms;
    const int n = s->topo.n_hosts;
    cql_agreement_node *nodes = calloc((size_t)n, sizeof *nodes);
    if (!nodes) return cassnn_err_set(err, "cql: out of memory");
    int rc;
    for (;;) {
        int up = 0;
        rc = 0;
        for (int i = 0; i < n && !rc; i++) {
            cql_host *h = s->topo.hosts[i];
            nodes[i] = (cql_agreement_node){.address = h->address, .up = pool_is_up(&h->pool)};
            if (!nodes[i].up) continue;
            int a = ask_node(s, h, nodes[i].version, err);
            if (a < 0) rc = cassnn_err_wrap(err, "schema agreement");
            nodes[i].up = a != WENT_DOWN;
            nodes[i].answered = a == ANSWERED;
            up += nodes[i].up;
        }
        if (rc || cql_agreement_reached(nodes, n)) break;
        if (!up) {
            rc = cassnn_err_code(err, CQL_ERR_NO_HOST, "cql: schema agreement: no node is up");
            break;
        }
        if (cql_now_ms() >= deadline) {
            char state[400];
            cql_agreement_describe(nodes, n, state, sizeof state);
            rc = cassnn_err_code(err, CQL_ERR_CLIENT_TIMEOUT,
                                 "cql: the nodes that are up still report different schema versions after %d ms: %s",
                                 timeout_ms, state);
            break;
        }
        usleep(200 * 1000);
    }
    free(nodes);
    return rc;
}
