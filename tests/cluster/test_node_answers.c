/* test_node_answers.c - the local node is there and speaks CQL v4: an OPTIONS
 * request gets a SUPPORTED answer naming protocol v4 and a CQL version.
 * Fails (never skips) when no node answers at $CASSNN_HOST. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cql/cql_test_env.h"

static void node_answers_options_with_v4(void **state) {
    (void)state;
    cql_config cfg;
    cql_test_config(&cfg);
    cfg.discover_peers = 0;
    cql_session *s = NULL;
    cassnn_err err = {0};
    if (cql_session_open(&s, &cfg, &err)) fail_msg("no Cassandra node at %s:%d: %s", cfg.contact_points, cfg.port, err.msg);

    cql_multimap m = {0};
    if (cql_options(s, &m, &err)) fail_msg("OPTIONS failed: %s", err.msg);
    size_t n = 0;
    char *const *versions = cql_multimap_get(&m, "PROTOCOL_VERSIONS", &n);
    assert_non_null(versions);
    int has_v4 = 0;
    for (size_t i = 0; i < n; i++) has_v4 |= !strcmp(versions[i], "4/v4");
    assert_true(has_v4);
    char *const *cql_version = cql_multimap_get(&m, "CQL_VERSION", &n);
    assert_non_null(cql_version);
    assert_true(n >= 1 && cql_version[0][0] == '3');
    cql_multimap_free(&m);

    /* And it is the 5.0 server the project installs. */
    cql_result *r = NULL;
    if (cql_query(s, "SELECT release_version FROM system.local", NULL, 0, &r, &err)) fail_msg("%s", err.msg);
    cql_str v;
    assert_int_equal(cql_get_text(r, 0, 0, &v, &err), 0);
    assert_true(v.len >= 4 && !strncmp(v.p, "5.0.", 4));
    cql_result_free(r);
    cql_session_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(node_answers_options_with_v4)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
