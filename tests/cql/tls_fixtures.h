/* tls_fixtures.h - the test certificates and keys in tests/cql/fixtures/tls
 * (a CA, a server, clients; made once with openssl). */
#ifndef CASSNN_TESTS_CQL_TLS_FIXTURES_H
#define CASSNN_TESTS_CQL_TLS_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>

/* Path of a fixture, in one of a few buffers used in turn (so that one
 * config can hold several). */
static inline const char *fx(const char *name) {
    static char ring[8][512];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/tests/cql/fixtures/tls/%s", getenv("CASSNN_SOURCE_DIR"), name);
    return p;
}

#endif
