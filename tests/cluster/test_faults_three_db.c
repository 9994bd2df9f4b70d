/* test_faults_three_db.c - the `cassnn` program on a real three-node cluster
 * of its own ($CASSNN_SUBNET.71-73, 1 GiB heaps), nodes killed with SIGKILL
 * (`cassnn cluster kill N`) while it works (issue 10, faults a, b, c, f):
 *   (a) a node killed during an ingest at replication 3: the ingest
 *       completes and its --verify (at the default LOCAL_QUORUM) finds every
 *       row, checksums included, with the node still down;
 *   (b) a keyspace created while a node is down;
 *   (c) a node killed during training: training completes, every
 *       checkpoint is in the registry, `models best` names a model as good
 *       as the final one, which is there;
 *   (f) the restarted node is used again by a session that saw it die.
 * One cluster start for all of them: the tests run in order and each
 * leaves the cluster as the next expects it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/cql.h"
#include "cassnn_run.h"
#include "cluster/test_faults.h"
#include "test_idx.h"

#define BASE 71
#define TRAIN_ROWS 6000
#define TEST_ROWS 1000
static char NODE1[32], NODE3[32], idx_dir[128], log_path[160];

static int setup(void **state) {
    test_node_addr(NODE1, BASE);
    test_node_addr(NODE3, BASE + 2);
    if (test_dir_make(state)) return -1;
    snprintf(idx_dir, sizeof idx_dir, "%s/idx", dir);
    snprintf(log_path, sizeof log_path, "%s/cassnn.log", dir);
    char spool[128];
    snprintf(spool, sizeof spool, "%s/spool", dir);
    setenv("CASSNN_SPOOL", spool, 1);
    if (mkdir(idx_dir, 0700) || test_idx_write(idx_dir, "train", TRAIN_ROWS, 28, 1) ||
        test_idx_write(idx_dir, "t10k", TEST_ROWS, 28, 2))
        return -1;
    if (faults_cluster(BASE, "start -n 3") == 0 && test_cluster_wait_listed(NODE1, 3)) return 0;
    fprintf(stderr, "the three nodes did not form a cluster within 120 s\n");
    faults_cluster(BASE, "stop");
    return -1;
}

static int teardown(void **state) {
    faults_stop();
    faults_cluster(BASE, "stop");
    return test_dir_remove(state);
}

/* (a) */
static void a_node_killed_during_ingest_loses_no_row(void **state) {
    (void)state;
    const double t0 = faults_now();
    pid_t pid = faults_spawn(log_path, "ingest --idx '%s' --keyspace faults --replication 3 --verify "
                                       "--stats --host %s", idx_dir, NODE1);
    /* the writes start right after the level is printed */
    if (!faults_wait_text(log_path, "cassnn ingest: consistency LOCAL_QUORUM (keyspace faults keeps 3",
                          pid, 240))
        fail_msg("the ingest did not start writing at LOCAL_QUORUM:\n%s", faults_read(log_path));
    assert_int_equal(faults_cluster(BASE, "kill 2"), 0);
    if (!faults_running(pid)) fail_msg("the ingest ended before node 2 was killed: give it more rows");
    const int rc = faults_finish(pid, 600);
    char *out = faults_read(log_path);
    print_message("(a) ingest with node 2 killed: rc %d in %.0f s\n", rc, faults_now() - t0);
    if (rc != 0) fail_msg("ingest failed:\n%s", out);
    char expect[64];
    snprintf(expect, sizeof expect, "ingested %d rows", TRAIN_ROWS + TEST_ROWS);
    assert_non_null(strstr(out, expect));
    assert_non_null(strstr(out, "verify: every table's row count and checksum of labels and pixels match"));
    free(out);
    /* counted again by a session of the test's own, node 2 still down */
    cql_session *s = faults_session(NODE1);
    assert_int_equal(faults_count(s, "SELECT count(*) FROM faults.raw_train", CQL_QUORUM), TRAIN_ROWS);
    assert_int_equal(faults_count(s, "SELECT count(*) FROM faults.raw_test", CQL_QUORUM), TEST_ROWS);
    cql_session_close(s);
}

/* (b), node 2 still down; then node 2 comes back. */
static void a_keyspace_is_created_while_a_node_is_down(void **state) {
    (void)state;
    char *out;
    const double t0 = faults_now();
    const int rc = cassnn_run(&out, RUN_STDERR_MERGED, "schema --keyspace faults_b --replication 3 --host %s",
                              NODE1);
    print_message("(b) schema with node 2 down: rc %d in %.1f s\n", rc, faults_now() - t0);
    if (rc != 0) fail_msg("schema with a node down failed:\n%s", out);
    free(out);
    cql_session *s = faults_session(NODE1);
    assert_int_equal(faults_count(s, "SELECT count(*) FROM faults_b.models_test", CQL_QUORUM), 0);
    cql_session_close(s);
    assert_int_equal(faults_cluster(BASE, "start-node 2"), 0);
    assert_true(test_cluster_wait_listed(NODE1, 3));
}

/* The accuracy of models_test row id (text). */
static float accuracy_of(cql_session *s, const char *id) {
    char q[160];
    snprintf(q, sizeof q, "SELECT accuracy FROM faults.models_test WHERE id = %s", id);
    cql_result *r = NULL;
    cassnn_err err = {0};
    float acc = NAN;
    if (cql_query(s, q, NULL, 0, &r, &err) || cql_get_float(r, 0, 0, &acc, &err)) fail_msg("%s: %s", q, err.msg);
    cql_result_free(r);
    return acc;
}

/* The models_test row written last: its accuracy; the best accuracy too. */
static float newest_accuracy(cql_session *s, float *best) {
    cql_result *r = NULL;
    cassnn_err err = {0};
    if (cql_query(s, "SELECT upload_date, accuracy FROM faults.models_test", NULL, 0, &r, &err))
        fail_msg("models_test: %s", err.msg);
    int64_t newest = INT64_MIN;
    float acc = NAN;
    *best = -1;
    for (int32_t i = 0; i < cql_result_row_count(r); i++) {
        int64_t at;
        float a;
        if (cql_get_timestamp(r, i, 0, &at, &err) || cql_get_float(r, i, 1, &a, &err)) fail_msg("%s", err.msg);
        if (at >= newest) newest = at, acc = a;
        if (a > *best) *best = a;
    }
    cql_result_free(r);
    return acc;
}

/* Routes 300 writes at replication 1 and returns how many went to node3. */
static uint64_t writes_to(cql_session *s, const char *node) {
    cassnn_err err = {0};
    const cql_prepared *ins;
    if (cql_prepare(s, "INSERT INTO faults_rf1.t (id, v) VALUES (?, ?)", &ins, &err)) fail_msg("%s", err.msg);
    int k = 0;
    while (k < 3 && strcmp(cql_session_host_name(s, k), node)) k++;
    assert_true(k < 3);
    cql_host_stats before, after;
    cql_session_host_stats(s, k, &before);
    for (int32_t id = 0; id < 300; id++) {
        cql_value v[2] = {cql_int(id), cql_int(id)};
        cql_statement st = cql_stmt_prepared(ins, v, 2);
        if (cql_execute(s, &st, NULL, &err)) fail_msg("insert %d: %s", id, err.msg);
    }
    cql_session_host_stats(s, k, &after);
    return after.requests - before.requests;
}

/* (c) and (f) */
static void a_node_killed_during_training_loses_no_checkpoint(void **state) {
    (void)state;
    cql_session *s = faults_session(NODE1); /* (f): this session sees node 3 die and return */
    cassnn_err err = {0};
    if (cql_query(s, "CREATE KEYSPACE faults_rf1 WITH replication = {'class': 'SimpleStrategy', "
                     "'replication_factor': 1}", NULL, 0, NULL, &err) ||
        cql_query(s, "CREATE TABLE faults_rf1.t (id int PRIMARY KEY, v int)", NULL, 0, NULL, &err))
        fail_msg("%s", err.msg);
    const double t0 = faults_now();
    pid_t pid = faults_spawn(log_path, "train --keyspace faults --epochs 12 --lr 0.05 --log-interval 16 --stats --host %s",
                             NODE1);
    if (!faults_wait_text(log_path, "Train Epoch: 3", pid, 300))
        fail_msg("training did not reach epoch 3:\n%s", faults_read(log_path));
    assert_int_equal(faults_cluster(BASE, "kill 3"), 0);
    if (!faults_running(pid)) fail_msg("training ended before node 3 was killed: give it more epochs");
    const int rc = faults_finish(pid, 600);
    char *out = faults_read(log_path);
    print_message("(c) training with node 3 killed: rc %d in %.0f s\n", rc, faults_now() - t0);
    if (rc != 0) fail_msg("training failed:\n%s", out);
    assert_non_null(strstr(out, "cassnn train: consistency LOCAL_QUORUM"));
    long written, total;
    assert_true(faults_registry_line(out, &written, &total));
    assert_int_equal(written, total);
    assert_true(total > 12);
    long correct, images;
    const char *done = strstr(out, "final accuracy ");
    assert_non_null(done);
    assert_int_equal(sscanf(done, "final accuracy %ld/%ld", &correct, &images), 2);
    free(out);
    assert_int_equal(faults_count(s, "SELECT count(*) FROM faults.models_train", CQL_QUORUM) +
                         faults_count(s, "SELECT count(*) FROM faults.models_test", CQL_QUORUM),
                     total);
    float best;
    const float final = newest_accuracy(s, &best);
    assert_float_equal(final, (float)correct / (float)images, 1e-6);
    char *id;
    assert_int_equal(cassnn_run(&id, RUN_STDERR_DROPPED, "models best --keyspace faults --host %s", NODE1), 0);
    id[strcspn(id, "\n")] = '\0';
    assert_float_equal(accuracy_of(s, id), best, 1e-6);
    print_message("(c) %ld checkpoints; final accuracy %.4f, best %.4f (models best: %s)\n", total,
                  (double)final, (double)best, id);
    assert_float_equal(best, final, 1e-6); /* the final model is (one of) the best */
    free(id);

    /* (f) */
    assert_true(faults_wait_up(s, 2, 60));
    assert_int_equal(faults_cluster(BASE, "start-node 3"), 0);
    if (!faults_wait_up(s, 3, 120)) fail_msg("the session did not see node 3 up again within 120 s");
    const uint64_t sent = writes_to(s, NODE3);
    print_message("(f) node 3 restarted: %llu of 300 writes at RF 1 sent to it\n", (unsigned long long)sent);
    assert_true(sent > 0);
    assert_int_equal(faults_count(s, "SELECT count(*) FROM faults_rf1.t", CQL_ONE), 300);
    cql_session_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_node_killed_during_ingest_loses_no_row),
        cmocka_unit_test(a_keyspace_is_created_while_a_node_is_down),
        cmocka_unit_test(a_node_killed_during_training_loses_no_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
