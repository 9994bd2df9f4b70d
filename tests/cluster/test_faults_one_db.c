/* test_faults_one_db.c - the `cassnn` program when its only node dies
 * ($CASSNN_SUBNET.75, a one-node cluster of its own; issue 10, faults d, e):
 *   (d) the only node killed during training: training goes on, warns,
 *       spools every checkpoint it cannot write (one file per uuid) and
 *       exits 3; after a restart `cassnn models sync` writes them all, and
 *       a replay of the same file again gives the same row;
 *   (e) every node down: each command fails within its request timeout
 *       with a clear error; after the restart a re-run completes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/cql.h"
#include "cassnn_run.h"
#include "cluster/test_faults.h"
#include "test_idx.h"

#define BASE 75
static char NODE[32], idx_dir[128], spool[160], log_path[160];

static int setup(void **state) {
    test_node_addr(NODE, BASE);
    if (test_dir_make(state)) return -1;
    snprintf(idx_dir, sizeof idx_dir, "%s/idx", dir);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    snprintf(log_path, sizeof log_path, "%s/cassnn.log", dir);
    setenv("CASSNN_SPOOL", spool, 1);
    if (mkdir(idx_dir, 0700) || test_idx_write(idx_dir, "train", 2000, 28, 1) ||
        test_idx_write(idx_dir, "t10k", 500, 28, 2))
        return -1;
    return faults_cluster(BASE, "start -n 1") == 0 ? 0 : -1;
}

static int teardown(void **state) {
    faults_stop();
    faults_cluster(BASE, "stop");
    return test_dir_remove(state);
}

/* Spooled checkpoints of keyspace solo; the name of one in *one. */
static long spooled(char *one, size_t cap) {
    char path[256];
    snprintf(path, sizeof path, "%s/solo", spool);
    DIR *d = opendir(path);
    long n = 0;
    if (!d) return 0;
    for (const struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".checkpoint")) {
            if (one) snprintf(one, cap, "%s/%s", path, e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

static int64_t registry_rows(void) {
    cql_session *s = faults_session(NODE);
    const int64_t n = faults_count(s, "SELECT count(*) FROM solo.models_train", CQL_ONE) +
                      faults_count(s, "SELECT count(*) FROM solo.models_test", CQL_ONE);
    cql_session_close(s);
    return n;
}

/* (e): every command fails fast and says why. */
static void every_command_fails_within_its_timeout(void) {
    static const char *const commands[] = {
        "models list --keyspace solo", "models best --keyspace solo", "models sync --keyspace solo",
        "train --keyspace solo --epochs 1", "predict --keyspace solo", "schema --keyspace solo",
        "ingest --idx '%s' --keyspace solo", "cql \"SELECT count(*) FROM solo.raw_train\""};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char args[512], *out;
        snprintf(args, sizeof args, commands[i], idx_dir);
        const double t0 = faults_now();
        const int rc = cassnn_run(&out, RUN_STDERR_MERGED, "%s --request-timeout 5 --host %s", args, NODE);
        const double took = faults_now() - t0;
        print_message("(e) %s with every node down: rc %d in %.1f s: %s", args, rc, took, out);
        assert_int_equal(rc, 1);
        assert_true(took < 5 + 5);
        if (!strstr(out, "connecting to") || !strstr(out, "cannot connect to any contact point"))
            fail_msg("unclear error from %s: %s", args, out);
        free(out);
    }
}

static void the_only_node_killed_during_training_spools_every_checkpoint(void **state) {
    (void)state;
    char *out;
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "ingest --idx '%s' --keyspace solo --host %s",
                                idx_dir, NODE), 0);
    assert_non_null(strstr(out, "consistency LOCAL_ONE (keyspace solo keeps 1 replica"));
    free(out);
    const double t0 = faults_now();
    pid_t pid = faults_spawn(log_path, "train --keyspace solo --epochs 30 --log-interval 16 --host %s", NODE);
    if (!faults_wait_text(log_path, "Train Epoch: 3", pid, 300))
        fail_msg("training did not reach epoch 3:\n%s", faults_read(log_path));
    assert_int_equal(faults_cluster(BASE, "kill 1"), 0);
    if (!faults_running(pid)) fail_msg("training ended before the node was killed: give it more epochs");
    every_command_fails_within_its_timeout();
    const int rc = faults_finish(pid, 300);
    out = faults_read(log_path);
    print_message("(d) training with its only node killed: rc %d in %.0f s\n", rc, faults_now() - t0);
    if (rc != 3) fail_msg("expected exit 3 (checkpoints spooled):\n%s", out);
    assert_non_null(strstr(out, "WARNING: checkpoint writes are failing"));
    assert_non_null(strstr(out, "models sync --keyspace solo"));
    long written, total;
    assert_true(faults_registry_line(out, &written, &total));
    free(out);
    char one[512], copy[600];
    const long in_spool = spooled(one, sizeof one);
    print_message("(d) %ld checkpoints: %ld written, %ld spooled\n", total, written, in_spool);
    assert_true(in_spool > 0);
    assert_int_equal(written + in_spool, total);
    snprintf(copy, sizeof copy, "%s/kept", dir);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", one, copy);
    assert_int_equal(system(cmd), 0);

    /* (d) restart, sync; (e) the re-run completes */
    assert_int_equal(faults_cluster(BASE, "start-node 1"), 0);
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "models sync --keyspace solo --host %s", NODE), 0);
    char expect[96];
    snprintf(expect, sizeof expect, "wrote %ld spooled checkpoint", in_spool);
    if (!strstr(out, expect)) fail_msg("expected '%s':\n%s", expect, out);
    free(out);
    assert_int_equal(spooled(NULL, 0), 0);
    assert_int_equal(registry_rows(), total);
    /* the same file replayed again (by any command that opens the registry)
     * is the same row */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", copy, one);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "models list --keyspace solo --host %s", NODE), 0);
    assert_non_null(strstr(out, "wrote 1 spooled checkpoint"));
    free(out);
    assert_int_equal(spooled(NULL, 0), 0);
    assert_int_equal(registry_rows(), total);
    /* the shared connection flags reach the session: a level given wins,
     * a data center that does not exist is refused */
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "models list --keyspace solo --consistency ALL "
                                "--host %s", NODE), 0);
    assert_non_null(strstr(out, "cassnn models: consistency ALL (--consistency)"));
    free(out);
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "models list --keyspace solo --local-dc nowhere "
                                "--host %s", NODE), 1);
    assert_non_null(strstr(out, "local data center 'nowhere' has no node"));
    free(out);
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "train --keyspace solo --epochs 1 --host %s", NODE), 0);
    assert_true(faults_registry_line(out, &written, &total));
    assert_int_equal(written, total);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_only_node_killed_during_training_spools_every_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
