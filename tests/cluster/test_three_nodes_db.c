/* test_three_nodes_db.c - the client on a real three-node cluster of its own
 * ($CASSNN_SUBNET.61-63, default 127.0.0.61-63, 1 GiB heaps, started and
 * stopped by the test):
 *   - token-aware routing: at RF 1, every prepared write is sent to the one
 *     node that owns its partition. The owners come from the nodes' own
 *     tokens, read here from system.local and system.peers_v2 and computed
 *     without the client's routing code; the writes each node received
 *     come from the session's per-node counters.
 *   - schema agreement among the nodes that are up: with one node killed, a
 *     keyspace can still be created, and used at QUORUM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cassnn/cql.h"
#include "cluster/test_cluster.h"

#define BASE 61
#define ROWS 300
static char NODE1[32];

static int setup(void **state) {
    test_node_addr(NODE1, BASE);
    if (test_dir_make(state)) return -1;
    if (test_cluster_run(BASE, "start -n 3") == 0 && test_cluster_wait_listed(NODE1, 3)) return 0;
    fprintf(stderr, "the three nodes did not form a cluster within 120 s\n");
    test_cluster_run(BASE, "stop");
    return -1;
}

static int teardown(void **state) {
    test_cluster_run(BASE, "stop");
    return test_dir_remove(state);
}

static void must(int rc, const cassnn_err *err, const char *what) {
    if (rc) fail_msg("%s: %s", what, err->msg);
}

static cql_session *open_on(const char *contact, int discover) {
    cql_config cfg;
    cql_config_init(&cfg);
    cfg.contact_points = contact;
    cfg.discover_peers = discover;
    cfg.request_timeout_ms = 60000;
    cql_session *s;
    cassnn_err err = {0};
    must(cql_session_open(&s, &cfg, &err), &err, "open");
    return s;
}

static cql_host_stats stats_of(cql_session *s, int i) {
    cql_host_stats st;
    if (cql_session_host_stats(s, i, &st)) fail_msg("no node %d", i);
    return st;
}

/* CREATE KEYSPACE name at rf replicas in the DC every node reports. */
static void create_keyspace(cql_session *s, const char *name, int rf) {
    char ddl[256];
    snprintf(ddl, sizeof ddl, "CREATE KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', '%s': %d}",
             name, stats_of(s, 0).dc, rf);
    cassnn_err err = {0};
    must(cql_query(s, ddl, NULL, 0, NULL, &err), &err, ddl);
    int local_rf = 0;
    must(cql_keyspace_local_rf(s, name, &local_rf, &err), &err, "local rf");
    assert_int_equal(local_rf, rf);
}

/* ---------------------------------------------- the ring, independently */

typedef struct token_owner {
    int64_t token;
    char address[64];
} token_owner;

static token_owner ring[3 * 256];
static int n_ring;

static void add_tokens(const cql_result *r, int32_t row, int32_t col, const char *address) {
    cassnn_err err = {0};
    cql_cell items[256];
    int32_t n;
    cql_type t = cql_result_column(r, col)->type;
    must(cql_cell_list_count(cql_result_cell(r, row, col), t, &n, &err), &err, "tokens");
    assert_true(n > 0 && n <= 256);
    must(cql_cell_list_items(cql_result_cell(r, row, col), t, items, n, &err), &err, "tokens");
    for (int32_t i = 0; i < n; i++) {
        cql_str tok;
        must(cql_cell_text(items[i], (cql_type){t.elem, 0, 0}, &tok, &err), &err, "token");
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)tok.len, tok.p);
        ring[n_ring].token = strtoll(buf, NULL, 10);
        snprintf(ring[n_ring].address, sizeof ring[0].address, "%s", address);
        n_ring++;
    }
}

/* Node 1's tokens (system.local) and its peers' (system.peers_v2), through
 * a session that knows node 1 only. */
static void read_ring(void) {
    cql_session *s = open_on(NODE1, 0);
    cassnn_err err = {0};
    cql_result *r;
    n_ring = 0;
    must(cql_query(s, "SELECT tokens FROM system.local", NULL, 0, &r, &err), &err, "system.local");
    add_tokens(r, 0, 0, NODE1);
    cql_result_free(r);
    must(cql_query(s, "SELECT peer, tokens FROM system.peers_v2", NULL, 0, &r, &err), &err, "peers");
    assert_int_equal(cql_result_row_count(r), 2);
    for (int32_t row = 0; row < 2; row++) {
        cql_cell a = cql_result_cell(r, row, 0);
        assert_int_equal(a.len, 4);
        char addr[64];
        snprintf(addr, sizeof addr, "%d.%d.%d.%d", a.p[0], a.p[1], a.p[2], a.p[3]);
        add_tokens(r, row, 1, addr);
    }
    cql_result_free(r);
    cql_session_close(s);
}

/* The node owning token t: the one with the smallest token >= t, else the
 * smallest token of all (the ring wraps). */
static const char *owner_of(int64_t t) {
    const token_owner *best = NULL, *first = NULL;
    for (int i = 0; i < n_ring; i++) {
        if (!first || ring[i].token < first->token) first = &ring[i];
        if (ring[i].token >= t && (!best || ring[i].token < best->token)) best = &ring[i];
    }
    return (best ? best : first)->address;
}

/* --------------------------------------------------------------- tests */

static void prepared_writes_go_to_their_partitions_replica(void **state) {
    (void)state;
    read_ring();
    cql_session *s = open_on(NODE1, 1);
    int up;
    assert_int_equal(cql_session_hosts(s, &up), 3);
    assert_int_equal(up, 3);
    create_keyspace(s, "rf1", 1);
    cassnn_err err = {0};
    must(cql_query(s, "CREATE TABLE rf1.t (id int PRIMARY KEY, v int)", NULL, 0, NULL, &err), &err, "create");
    const cql_prepared *ins;
    must(cql_prepare(s, "INSERT INTO rf1.t (id, v) VALUES (?, ?)", &ins, &err), &err, "prepare");

    cql_host_stats st;
    uint64_t before[3];
    int expected[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) before[i] = stats_of(s, i).requests;
    for (int32_t id = 0; id < ROWS; id++) {
        uint8_t key[4] = {(uint8_t)((uint32_t)id >> 24), (uint8_t)((uint32_t)id >> 16), (uint8_t)((uint32_t)id >> 8),
                          (uint8_t)id};
        const char *owner = owner_of(cql_murmur3_token(key, 4));
        int k = 0;
        while (k < 3 && strcmp(cql_session_host_name(s, k), owner)) k++;
        if (k == 3) fail_msg("the owner %s of id %d is not one of the session's nodes", owner, id);
        expected[k]++;
        cql_value v[2] = {cql_int(id), cql_int(id * 7)};
        cql_statement w = cql_stmt_prepared(ins, v, 2);
        must(cql_execute(s, &w, NULL, &err), &err, "insert");
    }
    for (int i = 0; i < 3; i++) {
        st = stats_of(s, i);
        print_message("%s (%s, %s): %llu writes, %d owned\n", st.address, st.dc, st.up ? "up" : "down",
                      (unsigned long long)(st.requests - before[i]), expected[i]);
        assert_true(expected[i] > 0); /* the ring spreads 300 keys over every node */
        assert_int_equal(st.requests - before[i], (uint64_t)expected[i]);
        assert_int_equal(st.errors, 0);
        assert_int_equal(st.retries, 0);
        assert_true(st.has_host_id);
    }
    cql_result *r;
    must(cql_query(s, "SELECT count(*) FROM rf1.t", NULL, 0, &r, &err), &err, "count");
    int64_t n;
    must(cql_get_bigint(r, 0, 0, &n, &err), &err, "count");
    assert_int_equal(n, ROWS);
    cql_result_free(r);
    cql_session_close(s);
}

static void a_keyspace_is_created_with_a_node_down(void **state) {
    (void)state;
    cql_session *s = open_on(NODE1, 1);
    assert_int_equal(test_cluster_kill(3), 0);
    /* its connections break at once; the session marks it down when it
     * finds none left (within a second or two) */
    int up = 3;
    for (int i = 0; i < 300 && up != 2; i++) {
        usleep(100 * 1000);
        cql_session_hosts(s, &up);
    }
    assert_int_equal(up, 2);
    create_keyspace(s, "rf3", 3); /* schema agreement among the two nodes that are up */
    cassnn_err err = {0};
    must(cql_query(s, "CREATE TABLE rf3.t (id int PRIMARY KEY, v int)", NULL, 0, NULL, &err), &err, "create table");
    /* QUORUM of 3 with 2 up: the keyspace is usable */
    cql_value v[2] = {cql_int(1), cql_int(2)};
    cql_statement w = cql_stmt("INSERT INTO rf3.t (id, v) VALUES (?, ?)", v, 2);
    w.consistency = CQL_QUORUM;
    must(cql_execute(s, &w, NULL, &err), &err, "insert at QUORUM");
    cql_session_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prepared_writes_go_to_their_partitions_replica),
        cmocka_unit_test(a_keyspace_is_created_with_a_node_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
