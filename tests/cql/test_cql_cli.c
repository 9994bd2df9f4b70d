/* db test: `cassnn cql` end to end - RFC 4180 CSV (quotes, commas,
 * newlines, nulls), cqlsh notation, every page printed, exit codes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn_run.h"
#include "cql/cql_test_env.h"

/* Runs `cassnn cql ARGS` and captures stdout; returns the exit status. */
static int run_cql(const char *args, char *out, size_t cap) {
    char *got;
    int rc = cassnn_run(&got, RUN_STDERR_DROPPED, "cql %s", args);
    snprintf(out, cap, "%s", got);
    free(got);
    return rc;
}

static void setup_table(void) {
    cql_session *s = cql_test_open();
    cassnn_err err = {0};
    const char *ddl[] = {
        "CREATE KEYSPACE IF NOT EXISTS cassnn_cqltest WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "DROP TABLE IF EXISTS cassnn_cqltest.cli",
        "CREATE TABLE cassnn_cqltest.cli (id int PRIMARY KEY, t text, u uuid, ts timestamp, px list<int>, b blob)",
        "INSERT INTO cassnn_cqltest.cli (id, t, u, ts, px, b) VALUES (1, 'a,b \"c\"\nd', "
        "123e4567-e89b-42d3-a456-426614174000, '2026-11-23 20:30:00+0000', [1, 2], 0xcafe)",
        "INSERT INTO cassnn_cqltest.cli (id, t) VALUES (2, 'plain')",
    };
    for (size_t i = 0; i < sizeof ddl / sizeof ddl[0]; i++)
        if (cql_query(s, ddl[i], NULL, 0, NULL, &err)) fail_msg("%s: %s", ddl[i], err.msg);
    for (int i = 10; i < 30; i++) {
        cql_value v[2] = {cql_int(i), cql_text("x")};
        if (cql_query(s, "INSERT INTO cassnn_cqltest.cli (id, t) VALUES (?, ?)", v, 2, NULL, &err)) fail_msg("%s", err.msg);
    }
    cql_session_close(s);
}

static void csv_quoting_and_cqlsh_notation(void **state) {
    (void)state;
    setup_table();
    static char out[1 << 16];
    assert_int_equal(run_cql("--format csv \"SELECT id, t, u, ts, px, b FROM cassnn_cqltest.cli WHERE id IN (1, 2)\"",
                             out, sizeof out), 0);
    assert_string_equal(out, "id,t,u,ts,px,b\r\n"
                             "1,\"a,b \"\"c\"\"\nd\",123e4567-e89b-42d3-a456-426614174000,"
                             "2026-11-23 20:30:00.000000+0000,\"[1, 2]\",0xcafe\r\n"
                             "2,plain,,,,\r\n");
}

static void every_page_is_printed(void **state) {
    (void)state;
    static char out[1 << 16];
    assert_int_equal(run_cql("--keyspace cassnn_cqltest --page-size 7 --format csv \"SELECT id FROM cli\"", out, sizeof out), 0);
    int lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 1 + 22);
    assert_int_equal(run_cql("--page-size 7 \"SELECT id, t FROM cassnn_cqltest.cli\"", out, sizeof out), 0);
    assert_non_null(strstr(out, "(22 rows)"));
    assert_non_null(strstr(out, " id | "));
}

static void errors_and_usage(void **state) {
    (void)state;
    static char out[4096];
    assert_int_equal(run_cql("\"SELEC nonsense\"", out, sizeof out), 1);
    assert_int_equal(run_cql("--format xml \"SELECT 1\"", out, sizeof out), 2);
    assert_int_equal(run_cql("", out, sizeof out), 2);
    assert_int_equal(run_cql("--port 1 \"SELECT id FROM cassnn_cqltest.cli\"", out, sizeof out), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_quoting_and_cqlsh_notation),
        cmocka_unit_test(every_page_is_printed),
        cmocka_unit_test(errors_and_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
