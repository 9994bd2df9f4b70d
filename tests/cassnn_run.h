/* cassnn_run.h - tests that drive the `cassnn` program: run it through the
 * shell with printf-style arguments and collect everything it prints.
 * The program is $CASSNN_BINARY_DIR/cassnn (set by ctest). */
#ifndef CASSNN_TESTS_CASSNN_RUN_H
#define CASSNN_TESTS_CASSNN_RUN_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* What becomes of the program's stderr. */
typedef enum { RUN_STDERR_MERGED, RUN_STDERR_APART, RUN_STDERR_DROPPED } run_stderr;

/* Runs `cassnn ARGS`; returns its exit status (-1 when it did not exit) and
 * its output in *out (malloc'ed, NUL-terminated; the caller frees it). The
 * pipe is drained to the end, so a talkative child never blocks. */
static inline int cassnn_vrun(char **out, run_stderr err, const char *fmt, va_list ap) {
    char args[4096], cmd[4400];
    vsnprintf(args, sizeof args, fmt, ap);
    const char *redirect = err == RUN_STDERR_MERGED ? " 2>&1" : err == RUN_STDERR_DROPPED ? " 2>/dev/null" : "";
    snprintf(cmd, sizeof cmd, "'%s/cassnn' %s%s", getenv("CASSNN_BINARY_DIR"), args, redirect);
    FILE *p = popen(cmd, "r");
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    if (!p || !buf) {
        fprintf(stderr, "cannot run %s\n", cmd);
        abort();
    }
    for (size_t got; (got = fread(buf + len, 1, cap - len - 1, p)) > 0;) {
        len += got;
        if (cap - len < 4096 && !(buf = realloc(buf, cap *= 2))) abort();
    }
    buf[len] = '\0';
    int status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline int cassnn_run(char **out, run_stderr err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int cassnn_run(char **out, run_stderr err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = cassnn_vrun(out, err, fmt, ap);
    va_end(ap);
    return rc;
}

#endif
