/* cql_test_env.h - where the db tests find the node (CASSNN_HOST /
 * CASSNN_PORT, default 127.0.0.1:9042). A db test fails, never skips, when
 * the node is not there. */
#ifndef CASSNN_TESTS_CQL_ENV_H
#define CASSNN_TESTS_CQL_ENV_H

#include <stdlib.h>

#include "cassnn/cql.h"

static inline void cql_test_config(cql_config *cfg) {
    cql_config_init(cfg);
    /* The shared node also serves other people's loads; DDL can take
     * seconds there. Tests that check timeouts set their own. */
    cfg->request_timeout_ms = 60000;
    const char *h = getenv("CASSNN_HOST"), *p = getenv("CASSNN_PORT");
    if (h && *h) cfg->contact_points = h;
    if (p && *p) cfg->port = atoi(p);
}

/* A session on the test node with the test configuration; fails the running
 * cmocka test (include cmocka.h first) when the node does not answer. */
static inline cql_session *cql_test_open(void) {
    cql_config cfg;
    cql_test_config(&cfg);
    cql_session *s;
    cassnn_err err = {0};
    if (cql_session_open(&s, &cfg, &err)) fail_msg("no node at %s:%d: %s", cfg.contact_points, cfg.port, err.msg);
    return s;
}

#endif
