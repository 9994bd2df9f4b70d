/* cmd_cluster.c - `cassnn cluster start|stop|status|fetch [-n N]`, `cassnn
 * cluster kill|start-node N`: the local
 * Cassandra node(s), managed by tools/cassandra/cassandra-node. The launcher is
 * a shell script because starting a JVM is process management, not C work;
 * this command finds it (CASSNN_HOME, else the source tree cassnn was built
 * from), runs it, and after start/status asks the node itself, over the CQL
 * protocol, what it supports (OPTIONS -> SUPPORTED). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cassnn/conn.h"
#include "commands.h"

static int run_launcher(int argc, char **argv) {
    const char *home = getenv("CASSNN_HOME");
    if (!home || !*home) home = CASSNN_SOURCE_DIR;
    char launcher[PATH_MAX];
    snprintf(launcher, sizeof launcher, "%s/tools/cassandra/cassandra-node", home);

    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) {
        fprintf(stderr, "cassnn cluster: out of memory\n");
        return 1;
    }
    args[0] = launcher;
    for (int i = 1; i < argc; i++) args[i] = argv[i];
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv(launcher, args);
        fprintf(stderr, "cassnn cluster: cannot run %s: %s (set CASSNN_HOME to the cassnn tree)\n",
                launcher, strerror(errno));
        _exit(127);
    }
    free(args);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        fprintf(stderr, "cassnn cluster: cannot run %s: %s\n", launcher, strerror(errno));
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* Prints the SUPPORTED answer of the local cluster's node 1, e.g.
 *   127.0.0.1:9042 SUPPORTED CQL_VERSION=[3.4.7] PROTOCOL_VERSIONS=[3/v3, 4/v4, 5/v5] ...
 * Node 1's address comes from the launcher's own variables (CASSNN_SUBNET,
 * CASSNN_IP_BASE), not CASSNN_HOST/CASSNN_PORT: the node asked is the one
 * just started, also when those name another cluster. */
static int print_supported(void) {
    cql_session *s = NULL;
    cassnn_err err = {0};
    cql_multimap m = {0};
    conn_options o;
    conn_options_init(&o);
    const char *subnet = getenv("CASSNN_SUBNET"), *ip_base = getenv("CASSNN_IP_BASE");
    char node1[64];
    snprintf(node1, sizeof node1, "%s.%s", subnet && *subnet ? subnet : "127.0.0",
             ip_base && *ip_base ? ip_base : "1");
    int failed = conn_options_from_env(&o, &err); /* the login, when the nodes ask for one */
    o.hosts[0] = '\0';
    o.port = 0;
    if (failed || conn_add_hosts(&o, node1, &err) || conn_open(&o, NULL, 0, &s, &err) ||
        cql_options(s, &m, &err)) {
        fprintf(stderr, "cassnn cluster: the node does not answer CQL: %s\n", err.msg);
        cql_session_close(s);
        return 1;
    }
    printf("%s:%d answered OPTIONS with SUPPORTED:", o.hosts[0] ? o.hosts : "127.0.0.1",
           o.port ? o.port : 9042);
    for (size_t i = 0; i < m.n; i++) {
        printf(" %s=[", m.entries[i].key);
        for (size_t j = 0; j < m.entries[i].n_values; j++)
            printf("%s%s", j ? ", " : "", m.entries[i].values[j]);
        printf("]");
    }
    printf("\n");
    cql_multimap_free(&m);
    cql_session_close(s);
    return 0;
}

int cmd_cluster(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: cassnn cluster start|stop|status|fetch [-n NODES] | kill|start-node N\n"
                "  start   start NODES local nodes (default 1) on 127.0.0.1..127.0.0.N:9042,\n"
                "          wait until each answers CQL, then show what the node supports\n"
                "  stop    stop every local node cleanly\n"
                "  kill N  kill node N the hard way (SIGKILL, as in a crash)\n"
                "  start-node N  start node N alone (after kill or stop)\n"
                "  status  show which local nodes run and what the node answers\n"
                "  fetch   download the Cassandra 5.0 jars with mvn (start does it when needed)\n"
                "Data and logs live under $CASSNN_HOME/var (default: the source tree).\n");
        return argc < 2 ? 2 : 0;
    }
    int rc = run_launcher(argc, argv);
    if (rc == 0 && (!strcmp(argv[1], "start") || !strcmp(argv[1], "status")))
        rc = print_supported();
    return rc;
}
