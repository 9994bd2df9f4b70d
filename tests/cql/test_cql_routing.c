/* unit test: routing as a pure function (src/cql/routing.h) on hand-made
 * rings - the token's owner and ring order, replicas with SimpleStrategy and
 * NetworkTopologyStrategy in one and two data centers (racks spread as
 * Cassandra places them), down nodes left out, the local DC first, remote
 * DCs only when allowed, round-robin without a token - and the replication
 * map of system_schema.keyspaces parsed (src/cql/keyspace.h). No node. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cql/codec.h"
#include "cql/keyspace.h"
#include "cql/routing.h"

/* Three nodes of dc1, two tokens each. Sorted ring:
 *   -100 n0, -50 n1, 0 n2, 50 n0, 100 n1, 150 n2 */
static const cql_ring_entry RING3[] = {{-100, 0}, {-50, 1}, {0, 2}, {50, 0}, {100, 1}, {150, 2}};

static cql_route_host hosts3[3];

static cql_route_query query3(const cql_replication *r) {
    for (int i = 0; i < 3; i++) hosts3[i] = (cql_route_host){"dc1", "rack1", 1};
    return (cql_route_query){.hosts = hosts3, .n_hosts = 3, .ring = RING3, .n_ring = 6, .replication = r,
                             .local_dc = "dc1"};
}

static cql_replication simple(int rf) {
    cql_replication r = {.strategy = CQL_REPL_SIMPLE, .rf = rf};
    return r;
}

/* out[0..n) must equal the -1-terminated list want. */
static void expect(const int *out, int n, const int *want) {
    int k = 0;
    while (want[k] >= 0) k++;
    if (n != k) fail_msg("%d nodes listed, %d expected", n, k);
    for (int i = 0; i < n; i++)
        if (out[i] != want[i]) fail_msg("position %d: node %d, expected %d", i, out[i], want[i]);
}

static void replicas_of(const cql_route_query *q, int64_t token, const int *want) {
    int out[16];
    expect(out, cql_replicas(q, token, out, 16), want);
}

static void plan_of(const cql_route_query *q, const int *want) {
    int out[16];
    expect(out, cql_route(q, out, 16), want);
}

static void owner_is_the_first_token_at_or_after(void **state) {
    (void)state;
    cql_replication r = simple(1);
    cql_route_query q = query3(&r);
    replicas_of(&q, -120, (int[]){0, -1});
    replicas_of(&q, -100, (int[]){0, -1}); /* a node owns (previous, its token] */
    replicas_of(&q, -99, (int[]){1, -1});
    replicas_of(&q, 0, (int[]){2, -1});
    replicas_of(&q, 1, (int[]){0, -1});
    replicas_of(&q, 151, (int[]){0, -1}); /* past the last token: wraps to the first */
    replicas_of(&q, INT64_MAX, (int[]){0, -1});
}

static void simple_strategy_takes_the_next_distinct_nodes(void **state) {
    (void)state;
    cql_replication r = simple(2);
    cql_route_query q = query3(&r);
    replicas_of(&q, 1, (int[]){0, 1, -1});
    replicas_of(&q, 120, (int[]){2, 0, -1});
    r.rf = 3;
    replicas_of(&q, 1, (int[]){0, 1, 2, -1});
    r.rf = 5; /* more than the nodes: every node once */
    replicas_of(&q, -60, (int[]){1, 2, 0, -1});
    /* unknown replication: every node, in ring order */
    q.replication = NULL;
    replicas_of(&q, 60, (int[]){1, 2, 0, -1});
    /* LocalStrategy has no token owners */
    cql_replication local = {.strategy = CQL_REPL_LOCAL};
    q.replication = &local;
    replicas_of(&q, 60, (int[]){-1});
}

static void plan_lists_replicas_then_the_others_round_robin(void **state) {
    (void)state;
    cql_replication r = simple(1);
    cql_route_query q = query3(&r);
    q.has_token = 1;
    q.token = 60; /* owner n1 */
    q.rr = 0;
    plan_of(&q, (int[]){1, 0, 2, -1});
    q.rr = 2;
    plan_of(&q, (int[]){1, 2, 0, -1});
    r.rf = 2;
    q.rr = 1;
    plan_of(&q, (int[]){1, 2, 0, -1});
    /* no token: local nodes round-robin */
    q.has_token = 0;
    q.rr = 0;
    plan_of(&q, (int[]){0, 1, 2, -1});
    q.rr = 4;
    plan_of(&q, (int[]){1, 2, 0, -1});
}

static void down_nodes_are_left_out(void **state) {
    (void)state;
    cql_replication r = simple(2);
    cql_route_query q = query3(&r);
    q.has_token = 1;
    q.token = 60; /* replicas n1, n2 */
    hosts3[1].up = 0;
    plan_of(&q, (int[]){2, 0, -1});
    hosts3[2].up = 0;
    plan_of(&q, (int[]){0, -1});
    hosts3[0].up = 0;
    plan_of(&q, (int[]){-1});
    /* replicas are placed whatever the state: only plans leave nodes out */
    replicas_of(&q, 60, (int[]){1, 2, -1});
}

/* Two DCs of three nodes: n0..n2 in dc1, n3..n5 in dc2, tokens interleaved:
 *   -300 n0, -250 n3, -200 n1, -150 n4, -100 n2, -50 n5,
 *      0 n0,   50 n3,  100 n1,  150 n4,  200 n2,  250 n5 */
static const cql_ring_entry RING6[] = {{-300, 0}, {-250, 3}, {-200, 1}, {-150, 4}, {-100, 2}, {-50, 5},
                                       {0, 0},    {50, 3},   {100, 1},  {150, 4},  {200, 2},  {250, 5}};
static cql_route_host hosts6[6];

static cql_route_query query6(const cql_replication *r, const char *local) {
    for (int i = 0; i < 6; i++) hosts6[i] = (cql_route_host){i < 3 ? "dc1" : "dc2", "rack1", 1};
    return (cql_route_query){.hosts = hosts6, .n_hosts = 6, .ring = RING6, .n_ring = 12, .replication = r,
                             .local_dc = local};
}

static cql_replication nts(const char *dc1, int rf1, const char *dc2, int rf2) {
    cql_replication r = {.strategy = CQL_REPL_NTS, .n_dcs = dc2 ? 2 : 1};
    snprintf(r.dcs[0].name, sizeof r.dcs[0].name, "%s", dc1);
    r.dcs[0].rf = rf1;
    if (dc2) {
        snprintf(r.dcs[1].name, sizeof r.dcs[1].name, "%s", dc2);
        r.dcs[1].rf = rf2;
    }
    return r;
}

static void nts_in_one_dc_is_like_simple(void **state) {
    (void)state;
    cql_replication r = nts("dc1", 2, NULL, 0);
    cql_route_query q = query3(&r);
    replicas_of(&q, 1, (int[]){0, 1, -1});
    replicas_of(&q, 120, (int[]){2, 0, -1});
    /* a DC the keyspace does not replicate to holds no replica */
    r = nts("elsewhere", 3, NULL, 0);
    replicas_of(&q, 1, (int[]){-1});
}

static void nts_in_two_dcs_places_each_dcs_factor(void **state) {
    (void)state;
    cql_replication r = nts("dc1", 2, "dc2", 1);
    cql_route_query q = query6(&r, "dc1");
    /* from token 1 clockwise: n3 (50), n1 (100), n4, n2, n5, n0 */
    replicas_of(&q, 1, (int[]){3, 1, 2, -1});
    r = nts("dc1", 1, "dc2", 3);
    replicas_of(&q, 1, (int[]){3, 1, 4, 5, -1});
}

static void local_dc_first_remote_only_when_allowed(void **state) {
    (void)state;
    cql_replication r = nts("dc1", 2, "dc2", 1);
    cql_route_query q = query6(&r, "dc1");
    q.has_token = 1;
    q.token = 1; /* replicas n3 (dc2), n1, n2 (dc1) */
    plan_of(&q, (int[]){1, 2, 0, -1});
    q.allow_remote_dcs = 1;
    plan_of(&q, (int[]){1, 2, 0, 3, 4, 5, -1});
    q.local_dc = "dc2";
    q.allow_remote_dcs = 0;
    plan_of(&q, (int[]){3, 4, 5, -1});
    /* every local node down: nothing without remote DCs, else the remote replicas first */
    hosts6[3].up = hosts6[4].up = hosts6[5].up = 0;
    plan_of(&q, (int[]){-1});
    q.allow_remote_dcs = 1;
    plan_of(&q, (int[]){1, 2, 0, -1});
    /* no local DC: every node counts as local */
    for (int i = 0; i < 6; i++) hosts6[i].up = 1;
    q.local_dc = NULL;
    q.allow_remote_dcs = 0;
    plan_of(&q, (int[]){3, 1, 2, 0, 4, 5, -1});
    /* a node whose DC is not known yet counts as local */
    q.local_dc = "dc1";
    hosts6[5].dc = "";
    plan_of(&q, (int[]){1, 2, 0, 5, -1});
}

static void nts_spreads_replicas_over_racks(void **state) {
    (void)state;
    /* dc1: n0 and n1 in rack a, n2 in rack b; from token 1: n0, n1, n2 */
    cql_replication r = nts("dc1", 2, NULL, 0);
    cql_route_query q = query3(&r);
    hosts3[0].rack = hosts3[1].rack = "a";
    hosts3[2].rack = "b";
    replicas_of(&q, 1, (int[]){0, 2, -1}); /* n1 waits: rack a already holds n0 */
    r.dcs[0].rf = 3;
    replicas_of(&q, 1, (int[]){0, 2, 1, -1}); /* every rack used: n1's turn */
    /* unknown racks are not spread */
    hosts3[0].rack = hosts3[1].rack = hosts3[2].rack = "";
    r.dcs[0].rf = 2;
    replicas_of(&q, 1, (int[]){0, 1, -1});
}

/* ------------------------------------------------- replication maps */

static cql_buf map_of(const char *const *kv, int n) {
    cql_buf b = {0};
    cql_buf_i32(&b, n);
    for (int i = 0; i < 2 * n; i++) cql_buf_bytes(&b, kv[i], (int32_t)strlen(kv[i]));
    return b;
}

static const cql_type MAP_TEXT = {CQL_TYPE_MAP, CQL_TYPE_VARCHAR, CQL_TYPE_VARCHAR};

static int parse(const char *const *kv, int n, cql_replication *r, cassnn_err *err) {
    cql_buf b = map_of(kv, n);
    int rc = cql_replication_parse((cql_cell){b.data, (int32_t)b.len}, MAP_TEXT, r, err);
    cql_buf_free(&b);
    return rc;
}

static void replication_maps_parse(void **state) {
    (void)state;
    cql_replication r;
    cassnn_err err = {0};
    const char *simple_kv[] = {"class", "org.apache.cassandra.locator.SimpleStrategy", "replication_factor", "3"};
    assert_int_equal(parse(simple_kv, 2, &r, &err), 0);
    assert_int_equal(r.strategy, CQL_REPL_SIMPLE);
    assert_int_equal(r.rf, 3);
    assert_int_equal(r.n_dcs, 0);
    const char *nts_kv[] = {"class", "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1", "3",
                            "dc2", "2/1"};
    assert_int_equal(parse(nts_kv, 3, &r, &err), 0);
    assert_int_equal(r.strategy, CQL_REPL_NTS);
    assert_int_equal(r.n_dcs, 2);
    assert_string_equal(r.dcs[0].name, "dc1");
    assert_int_equal(r.dcs[0].rf, 3);
    assert_string_equal(r.dcs[1].name, "dc2");
    assert_int_equal(r.dcs[1].rf, 2); /* 2 replicas, 1 of them transient: 2 */
    const char *short_kv[] = {"class", "NetworkTopologyStrategy", "datacenter1", "1"};
    assert_int_equal(parse(short_kv, 2, &r, &err), 0);
    assert_int_equal(r.strategy, CQL_REPL_NTS);
    const char *local_kv[] = {"class", "org.apache.cassandra.locator.LocalStrategy"};
    assert_int_equal(parse(local_kv, 1, &r, &err), 0);
    assert_int_equal(r.strategy, CQL_REPL_LOCAL);
    const char *custom_kv[] = {"class", "com.example.MyStrategy", "x", "1"};
    assert_int_equal(parse(custom_kv, 2, &r, &err), 0);
    assert_int_equal(r.strategy, CQL_REPL_UNKNOWN);
    assert_int_equal(r.n_dcs, 0);
    const char *bad_kv[] = {"class", "SimpleStrategy", "replication_factor", "three"};
    assert_int_equal(parse(bad_kv, 2, &r, &err), -1);
    assert_non_null(strstr(err.msg, "'three' is not a number"));
    /* truncated bytes and a wrong type are errors, not reads past the end */
    cql_buf b = map_of(simple_kv, 2);
    assert_int_equal(cql_replication_parse((cql_cell){b.data, (int32_t)b.len - 3}, MAP_TEXT, &r, &err), -1);
    assert_int_equal(cql_replication_parse((cql_cell){b.data, (int32_t)b.len}, (cql_type){CQL_TYPE_BLOB, 0, 0}, &r,
                                           &err), -1);
    cql_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(owner_is_the_first_token_at_or_after),
        cmocka_unit_test(simple_strategy_takes_the_next_distinct_nodes),
        cmocka_unit_test(plan_lists_replicas_then_the_others_round_robin),
        cmocka_unit_test(down_nodes_are_left_out),
        cmocka_unit_test(nts_in_one_dc_is_like_simple),
        cmocka_unit_test(nts_in_two_dcs_places_each_dcs_factor),
        cmocka_unit_test(local_dc_first_remote_only_when_allowed),
        cmocka_unit_test(nts_spreads_replicas_over_racks),
        cmocka_unit_test(replication_maps_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
