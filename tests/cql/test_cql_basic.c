/* db test: the early public API - open a session, OPTIONS, a simple query,
 * a server error with its message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cql/cql_test_env.h"

static void options_lists_cql_version_and_lz4(void **state) {
    (void)state;
    cql_session *s = cql_test_open();
    cassnn_err err = {0};
    cql_multimap m;
    if (cql_options(s, &m, &err)) fail_msg("options: %s", err.msg);
    size_t n;
    char *const *v = cql_multimap_get(&m, "CQL_VERSION", &n);
    assert_non_null(v);
    assert_true(n >= 1);
    assert_int_equal(v[0][0], '3');
    v = cql_multimap_get(&m, "COMPRESSION", &n);
    int has_lz4 = 0;
    for (size_t i = 0; v && i < n; i++) has_lz4 |= !strcmp(v[i], "lz4");
    assert_true(has_lz4);
    cql_multimap_free(&m);
    cql_session_close(s);
}

static void simple_query_with_and_without_lz4(void **state) {
    (void)state;
    for (int lz4 = 0; lz4 <= 1; lz4++) {
        cql_config cfg;
        cql_test_config(&cfg);
        cfg.compression = lz4;
        cql_session *s;
        cassnn_err err = {0};
        if (cql_session_open(&s, &cfg, &err)) fail_msg("open: %s", err.msg);
        cql_result *r;
        cql_value key = cql_text("local");
        if (cql_query(s, "SELECT key, cluster_name, release_version FROM system.local WHERE key = ?", &key, 1, &r, &err))
            fail_msg("query: %s", err.msg);
        assert_int_equal(cql_result_row_count(r), 1);
        assert_int_equal(cql_result_column_count(r), 3);
        assert_int_equal(cql_result_column_index(r, "release_version"), 2);
        cql_str rel;
        assert_int_equal(cql_get_text(r, 0, 2, &rel, &err), 0);
        assert_true(rel.len >= 3 && rel.p[0] == '5');
        int32_t bad;
        assert_int_equal(cql_get_int(r, 0, 2, &bad, &err), -1); /* text read as int */
        cql_result_free(r);
        cql_session_close(s);
    }
}

static void syntax_error_has_code_and_server_text(void **state) {
    (void)state;
    cql_session *s = cql_test_open();
    cassnn_err err = {0};
    assert_int_equal(cql_query(s, "SELEC * FROM system.local", NULL, 0, NULL, &err), -1);
    assert_int_equal(err.code, CQL_ERR_SYNTAX);
    assert_non_null(strstr(err.msg, "SyntaxError (0x2000)"));
    assert_non_null(strstr(err.msg, "SELEC"));
    assert_int_equal(cql_query(s, "SELECT * FROM no_such_ks.t", NULL, 0, NULL, &err), -1);
    assert_int_equal(err.code, CQL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "no_such_ks"));
    cql_session_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_lists_cql_version_and_lz4),
        cmocka_unit_test(simple_query_with_and_without_lz4),
        cmocka_unit_test(syntax_error_has_code_and_server_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
