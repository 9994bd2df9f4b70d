/* test_faults.h - what the fault tests share: the `cassnn` program run in the
 * background (its output in a file) while the test kills nodes through
 * `cassnn cluster kill N`, waits bounded in time for text in that file and
 * for its exit, and counts rows with a session of its own. Every wait has
 * a deadline; a program that overruns it is killed and the test fails. */
#ifndef CASSNN_TESTS_CLUSTER_TEST_FAULTS_H
#define CASSNN_TESTS_CLUSTER_TEST_FAULTS_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cassnn/cql.h"
#include "cluster/test_cluster.h"

static inline double faults_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* `cassnn cluster ACTION` on this test's cluster (the command the README
 * shows users); its exit status. Its nodes sync their commit log before
 * they acknowledge a write (CASSNN_COMMITLOG_SYNC=batch): the tests count
 * every acknowledged row after a SIGKILL, which Cassandra's default periodic
 * sync does not promise on a node's last seconds. */
static inline int faults_cluster(int ip_base, const char *action) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "CASSNN_VAR='%s' CASSNN_SUBNET=%s CASSNN_IP_BASE=%d CASSNN_HEAP=1G CASSNN_COMMITLOG_SYNC=batch "
             "CASSNN_HOME='%s' '%s/cassnn' cluster %s > /dev/null",
             dir, test_subnet(), ip_base, getenv("CASSNN_SOURCE_DIR"),
             getenv("CASSNN_BINARY_DIR"), action);
    return system(cmd);
}

/* The program running in the background, 0 when none: a test that fails
 * while it runs leaves it to faults_stop (teardown). */
static pid_t faults_bg;

/* Starts `cassnn ARGS` in the background, stdout and stderr into log. */
static inline pid_t faults_spawn(const char *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline pid_t faults_spawn(const char *log, const char *fmt, ...) {
    char args[2048], cmd[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "exec '%s/cassnn' %s > '%s' 2>&1", getenv("CASSNN_BINARY_DIR"), args, log);
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    faults_bg = pid;
    return pid;
}

/* The whole file (malloc'ed; "" when it cannot be read). */
static inline char *faults_read(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1);
    if (!f) return buf;
    size_t len = 0;
    char chunk[65536];
    for (size_t got; (got = fread(chunk, 1, sizeof chunk, f)) > 0; len += got) {
        buf = realloc(buf, len + got + 1);
        memcpy(buf + len, chunk, got);
        buf[len + got] = '\0';
    }
    fclose(f);
    return buf;
}

/* 1 while pid has not exited (its status is left for faults_finish). */
static inline int faults_running(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

/* Waits until log holds text: 1, or 0 when pid exited first or timeout_s
 * passed. */
static inline int faults_wait_text(const char *log, const char *text, pid_t pid, double timeout_s) {
    for (const double end = faults_now() + timeout_s; faults_now() < end; usleep(50 * 1000)) {
        char *all = faults_read(log);
        const int found = strstr(all, text) != NULL;
        free(all);
        if (found) return 1;
        if (!faults_running(pid)) return 0;
    }
    return 0;
}


/* Waits for pid's exit status; after timeout_s kills it and returns -1. */
static inline int faults_finish(pid_t pid, double timeout_s) {
    int status;
    faults_bg = 0;
    for (const double end = faults_now() + timeout_s; faults_now() < end; usleep(100 * 1000))
        if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* Kills the background program a failed test left behind. */
static inline void faults_stop(void) {
    if (faults_bg > 0) faults_finish(faults_bg, 0);
}

/* The first bigint or int of a one-row result (count(*)), at consistency. */
static inline int64_t faults_count(cql_session *s, const char *query, int consistency) {
    cql_statement st = cql_stmt(query, NULL, 0);
    st.consistency = consistency;
    st.timeout_ms = 60000;
    cql_result *r = NULL;
    cassnn_err err = {0};
    int64_t n = -1;
    if (cql_execute(s, &st, &r, &err) || cql_get_bigint(r, 0, 0, &n, &err))
        fail_msg("%s: %s", query, err.msg);
    cql_result_free(r);
    return n;
}

/* A session on contact (every node discovered). */
static inline cql_session *faults_session(const char *contact) {
    cql_config cfg;
    cql_config_init(&cfg);
    cfg.contact_points = contact;
    cfg.request_timeout_ms = 60000;
    cql_session *s = NULL;
    cassnn_err err = {0};
    if (cql_session_open(&s, &cfg, &err)) fail_msg("session on %s: %s", contact, err.msg);
    return s;
}

/* Waits (up to timeout_s) until s counts `up` nodes up: 1 when it does. */
static inline int faults_wait_up(cql_session *s, int up, double timeout_s) {
    for (const double end = faults_now() + timeout_s; faults_now() < end; usleep(100 * 1000)) {
        int n = 0;
        cql_session_hosts(s, &n);
        if (n == up) return 1;
    }
    return 0;
}

/* "registry: W of T checkpoints written": 1 with both set. */
static inline int faults_registry_line(const char *log_text, long *written, long *total) {
    const char *p = strstr(log_text, "registry: ");
    return p && sscanf(p, "registry: %ld of %ld checkpoints", written, total) == 2;
}

#endif
