/* cmd_cluster.c - `cassnn cluster start|stop|status [-n N]`: the local
 * Cassandra node(s), managed by tools/cassandra/cassandra-node. The launcher is
 * a shell script because starting a JVM is process management, not C work;
 * this command only finds it (CASSNN_HOME, else the source tree cassnn was
 * built from) and hands over. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

int cmd_cluster(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: cassnn cluster start|stop|status|fetch [-n NODES]\n"
                "  start   start NODES local nodes (default 1) on 127.0.0.1..127.0.0.N:9042\n"
                "          and wait until each answers CQL\n"
                "  stop    stop every local node cleanly\n"
                "  status  show which local nodes run and answer\n"
                "  fetch   download the Cassandra 5.0 jars with mvn (start does it when needed)\n"
                "Data and logs live under $CASSNN_HOME/var (default: the source tree).\n");
        return argc < 2 ? 2 : 0;
    }
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
    execv(launcher, args);
    fprintf(stderr, "cassnn cluster: cannot run %s: %s (set CASSNN_HOME to the cassnn tree)\n",
            launcher, strerror(errno));
    free(args);
    return 1;
}
