/* error.h - how every cassnn module reports failure.
 *
 * A function that can fail returns 0 on success and -1 on failure, and fills
 * the caller's cassnn_err with one human-readable line that says what failed
 * and where (file and line, row id, host, layer...). The caller decides whether
 * to print it, add context, or retry. No module prints errors itself.
 */
#ifndef CASSNN_ERROR_H
#define CASSNN_ERROR_H

#include <stddef.h>

typedef struct cassnn_err {
    int code;          /* module-specific code (e.g. a CQL error code), 0 if none */
    char msg[512];
} cassnn_err;

/* Sets e->msg from a printf format and e->code = 0. Always returns -1, so a
 * failing function can `return cassnn_err_set(err, "...")`. e may be NULL. */
int cassnn_err_set(cassnn_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like cassnn_err_set but also records a code. */
int cassnn_err_code(cassnn_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to the existing message. Returns -1. */
int cassnn_err_wrap(cassnn_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
