/* unit test: the retry policy as a pure function (src/cql/retry.h) - every
 * decision by error, request kind and idempotence, the retry count, the
 * time budget and the backoff - and a statement's kind from its text. No
 * node. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cql/codec.h"
#include "cql/retry.h"

static const cql_retry_policy POLICY = {.max_retries = 3, .budget_ms = 30000};

static cql_retry_decision decide(int error, int attempt, int idempotent, cql_request_kind kind, int64_t elapsed) {
    cql_retry_attempt a = {error, attempt, idempotent, kind, elapsed};
    return cql_retry_decide(&POLICY, &a);
}

static cql_retry_action action(int error, int idempotent, cql_request_kind kind) {
    return decide(error, 1, idempotent, kind, 0).action;
}

enum { GIVE_UP = CQL_RETRY_GIVE_UP, SAME = CQL_RETRY_SAME_HOST, NEXT = CQL_RETRY_NEXT_HOST };
#define READ CQL_KIND_READ
#define WRITE CQL_KIND_WRITE
#define DDL CQL_KIND_SCHEMA

/* The decision for each (kind, idempotent) pair: read, read idempotent,
 * write, write idempotent, DDL, DDL idempotent. */
static void decisions(int error, const int want[6]) {
    const cql_request_kind kinds[3] = {CQL_KIND_READ, CQL_KIND_WRITE, CQL_KIND_SCHEMA};
    for (int i = 0; i < 6; i++) {
        cql_retry_action got = action(error, i % 2, kinds[i / 2]);
        if ((int)got != want[i])
            fail_msg("error 0x%x, kind %d, idempotent %d: action %d, expected %d", error, i / 2, i % 2, got, want[i]);
    }
}

static void each_error_kind_and_idempotence(void **state) {
    (void)state;
    /* never sent or refused unexecuted: any request, the next node */
    decisions(CQL_ERR_NO_HOST, (int[]){NEXT, NEXT, NEXT, NEXT, NEXT, NEXT});
    decisions(CQL_ERR_IS_BOOTSTRAPPING, (int[]){NEXT, NEXT, NEXT, NEXT, NEXT, NEXT});
    /* the coordinator refused it: not applied, but DDL is never sent twice */
    decisions(CQL_ERR_UNAVAILABLE, (int[]){NEXT, NEXT, NEXT, NEXT, GIVE_UP, GIVE_UP});
    /* it may have been applied: reads, and writes marked idempotent */
    const int maybe_applied[6] = {NEXT, NEXT, GIVE_UP, NEXT, GIVE_UP, GIVE_UP};
    decisions(CQL_ERR_CONNECTION, maybe_applied);
    decisions(CQL_ERR_OVERLOADED, maybe_applied);
    decisions(CQL_ERR_SERVER, maybe_applied);
    decisions(CQL_ERR_TRUNCATE, maybe_applied);
    /* timeouts on the node: the same node again */
    decisions(CQL_ERR_READ_TIMEOUT, (int[]){SAME, SAME, GIVE_UP, SAME, GIVE_UP, GIVE_UP});
    decisions(CQL_ERR_WRITE_TIMEOUT, (int[]){GIVE_UP, SAME, GIVE_UP, SAME, GIVE_UP, GIVE_UP});
    /* the caller's own timeout is its limit; the rest would fail again */
    const int never[6] = {GIVE_UP, GIVE_UP, GIVE_UP, GIVE_UP, GIVE_UP, GIVE_UP};
    const int final_errors[] = {CQL_ERR_CLIENT_TIMEOUT, CQL_ERR_SYNTAX,         CQL_ERR_INVALID,
                                CQL_ERR_UNAUTHORIZED,  CQL_ERR_ALREADY_EXISTS, CQL_ERR_CONFIG,
                                CQL_ERR_READ_FAILURE,  CQL_ERR_WRITE_FAILURE,  CQL_ERR_FUNCTION_FAILURE,
                                CQL_ERR_UNPREPARED,    CQL_ERR_PROTOCOL,       CQL_ERR_BAD_CREDENTIALS};
    for (size_t i = 0; i < sizeof final_errors / sizeof final_errors[0]; i++) decisions(final_errors[i], never);
}

static void counted_retries_stop_after_max(void **state) {
    (void)state;
    assert_int_equal(decide(CQL_ERR_WRITE_TIMEOUT, 3, 1, WRITE, 0).action, SAME);
    assert_int_equal(decide(CQL_ERR_WRITE_TIMEOUT, 4, 1, WRITE, 0).action, GIVE_UP);
    assert_int_equal(decide(CQL_ERR_CONNECTION, 4, 0, READ, 0).action, GIVE_UP);
    assert_int_equal(decide(CQL_ERR_UNAVAILABLE, 4, 0, WRITE, 0).action, GIVE_UP);
    /* waiting for a node is bounded by time only */
    assert_int_equal(decide(CQL_ERR_NO_HOST, 40, 0, WRITE, 20000).action, NEXT);
    assert_int_equal(decide(CQL_ERR_IS_BOOTSTRAPPING, 40, 0, WRITE, 20000).action, NEXT);
}

static void every_retry_starts_within_the_budget(void **state) {
    (void)state;
    /* the wait counts: 29,950 ms + 100 ms is past the budget */
    assert_int_equal(decide(CQL_ERR_NO_HOST, 1, 0, WRITE, 29900).action, NEXT);
    assert_int_equal(decide(CQL_ERR_NO_HOST, 1, 0, WRITE, 29950).action, GIVE_UP);
    assert_int_equal(decide(CQL_ERR_READ_TIMEOUT, 1, 0, READ, 30000).action, GIVE_UP);
    /* a zero budget: no retries at all */
    cql_retry_policy none = {.max_retries = 3, .budget_ms = 0};
    cql_retry_attempt a = {CQL_ERR_NO_HOST, 1, 1, CQL_KIND_READ, 0};
    assert_int_equal(cql_retry_decide(&none, &a).action, GIVE_UP);
}

static void waits_grow_and_are_capped(void **state) {
    (void)state;
    /* waiting for a node: 100 ms, doubling, at most 1 s between looks */
    const int node_waits[] = {100, 200, 400, 800, 1000, 1000};
    for (int i = 0; i < 6; i++) assert_int_equal(decide(CQL_ERR_NO_HOST, i + 1, 0, WRITE, 0).delay_ms, node_waits[i]);
    /* a broken connection: another node at once, nearly */
    assert_int_equal(decide(CQL_ERR_CONNECTION, 1, 1, WRITE, 0).delay_ms, 10);
    assert_int_equal(decide(CQL_ERR_CONNECTION, 2, 1, WRITE, 0).delay_ms, 20);
    /* a node that timed out gets a pause: 100 ms, 200 ms, ... */
    assert_int_equal(decide(CQL_ERR_WRITE_TIMEOUT, 1, 1, WRITE, 0).delay_ms, 100);
    assert_int_equal(decide(CQL_ERR_WRITE_TIMEOUT, 3, 1, WRITE, 0).delay_ms, 400);
    cql_retry_policy many = {.max_retries = 100, .budget_ms = 1000000};
    cql_retry_attempt a = {CQL_ERR_READ_TIMEOUT, 60, 1, CQL_KIND_READ, 0};
    assert_int_equal(cql_retry_decide(&many, &a).delay_ms, 2000);
}

static void statement_kinds(void **state) {
    (void)state;
    assert_int_equal(cql_request_kind_of("SELECT * FROM t"), READ);
    assert_int_equal(cql_request_kind_of("  select id from t"), READ);
    assert_int_equal(cql_request_kind_of("INSERT INTO t (id) VALUES (1)"), WRITE);
    assert_int_equal(cql_request_kind_of("update t SET x = 1 WHERE id = 1"), WRITE);
    assert_int_equal(cql_request_kind_of("DELETE FROM t WHERE id = 1"), WRITE);
    assert_int_equal(cql_request_kind_of("BEGIN BATCH INSERT INTO t (id) VALUES (1); APPLY BATCH"), WRITE);
    assert_int_equal(cql_request_kind_of("CREATE TABLE t (id int PRIMARY KEY)"), DDL);
    assert_int_equal(cql_request_kind_of("TRUNCATE t"), DDL);
    assert_int_equal(cql_request_kind_of("USE ks"), DDL);
    assert_int_equal(cql_request_kind_of(NULL), DDL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_error_kind_and_idempotence),
        cmocka_unit_test(counted_retries_stop_after_max),
        cmocka_unit_test(every_retry_starts_within_the_budget),
        cmocka_unit_test(waits_grow_and_are_capped),
        cmocka_unit_test(statement_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
