/* test_cluster.h - a throwaway cluster of N nodes for one test program, on
 * $CASSNN_SUBNET.<base>..<base+N-1> (test_net.h) with 1 GiB heaps, its data
 * in the test's folder (test_dir.h), run by tools/cassandra/cassandra-node
 * beside the shared test node:
 *   test_cluster_run(41, "start -n 2"), test_cluster_wait_listed(addr, 2),
 *   test_cluster_kill(2), test_cluster_run(41, "stop")
 * (cmocka's headers come first: test_session_open_fails fails a test.) */
#ifndef CASSNN_TESTS_CLUSTER_TEST_CLUSTER_H
#define CASSNN_TESTS_CLUSTER_TEST_CLUSTER_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cassnn/cql.h"
#include "data/test_dir.h"
#include "test_net.h"

/* Runs the node script on this test's cluster with extra environment
 * settings (e.g. "CASSNN_AUTH=password ..."); returns its exit status. */
static inline int test_cluster_run_with(int ip_base, const char *env, const char *action) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "CASSNN_VAR='%s' CASSNN_SUBNET=%s CASSNN_IP_BASE=%d CASSNN_HEAP=1G %s "
             "'%s/tools/cassandra/cassandra-node' %s",
             dir, test_subnet(), ip_base, env, getenv("CASSNN_SOURCE_DIR"), action);
    return system(cmd);
}

static inline int test_cluster_run(int ip_base, const char *action) { return test_cluster_run_with(ip_base, "", action); }

/* A node that requires TLS (keystore node.p12 and truststore trust.p12 in
 * this test's folder, password pw) and a login (auth: CASSNN_AUTH, e.g.
 * "password" or "roles"): runs the node script's action on it. */
static inline int test_secured_node_run(int ip_base, const char *auth, const char *pw, const char *action) {
    char env[1024];
    snprintf(env, sizeof env,
             "CASSNN_AUTH=%s CASSNN_TLS_KEYSTORE='%s/node.p12' CASSNN_TLS_TRUSTSTORE='%s/trust.p12' "
             "CASSNN_TLS_PASSWORD=%s", auth, dir, dir, pw);
    return test_cluster_run_with(ip_base, env, action);
}

/* Makes this test's folder and, in it, what make_certificates makes with
 * test_sh; then starts the secured node (test_secured_node_run). 0, or -1
 * with the reason on stderr. */
static inline int test_secured_node_start(void **state, int (*make_certificates)(void), int ip_base,
                                          const char *auth, const char *pw) {
    if (test_dir_make(state)) return -1;
    if (make_certificates()) {
        fprintf(stderr, "cannot make the test certificates: see %s/certs.log\n", dir);
        return -1;
    }
    if (test_secured_node_run(ip_base, auth, pw, "start")) {
        test_secured_node_run(ip_base, auth, pw, "stop");
        return -1;
    }
    return 0;
}

/* Runs script (sh) in this test's folder, its output appended to certs.log. */
static inline int test_sh(const char *script) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && { %s; } >>certs.log 2>&1", dir, script);
    return system(cmd);
}

/* A node answering CQL does not mean the first one lists it yet (gossip
 * settles a moment later): waits (up to 120 s) until a session opened on
 * `contact` discovers n nodes, all up. 1 when it does. */
static inline int test_cluster_wait_listed(const char *contact, int n) {
    cql_config cfg;
    cql_config_init(&cfg);
    cfg.contact_points = contact;
    for (int i = 0; i < 120; i++) {
        cql_session *s;
        cassnn_err err = {0};
        int up = 0, known = cql_session_open(&s, &cfg, &err) == 0 ? cql_session_hosts(s, &up) : 0;
        cql_session_close(s);
        if (known == n && up == n) return 1;
        sleep(1);
    }
    return 0;
}

/* Opening a session with cfg must fail with an error that contains want
 * (or, when not NULL, or_want); prints the error. */
static inline void test_session_open_fails(const cql_config *cfg, const char *want, const char *or_want) {
    cql_session *s;
    cassnn_err err = {0};
    if (cql_session_open(&s, cfg, &err) == 0) {
        cql_session_close(s);
        fail_msg("opened, expected an error with '%s'", want);
    }
    if (!strstr(err.msg, want) && !(or_want && strstr(err.msg, or_want)))
        fail_msg("error lacks '%s': %s", want, err.msg);
    printf("refused as expected: %s\n", err.msg);
}

/* Kills node i (1-based) the hard way (SIGKILL): 0 when it was signalled. */
static inline int test_cluster_kill(int i) {
    char pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/node%d/pid", dir, i);
    FILE *f = fopen(pidfile, "r");
    int pid = 0;
    if (!f) return -1;
    int ok = fscanf(f, "%d", &pid) == 1;
    fclose(f);
    return ok && pid > 0 ? kill(pid, SIGKILL) : -1;
}

#endif
