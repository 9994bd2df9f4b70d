#include "cassnn/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_msg(cassnn_err *e, const char *fmt, va_list ap) {
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

int cassnn_err_set(cassnn_err *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    set_msg(e, fmt, ap);
    va_end(ap);
    e->code = 0;
    return -1;
}

int cassnn_err_code(cassnn_err *e, int code, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    set_msg(e, fmt, ap);
    va_end(ap);
    e->code = code;
    return -1;
}

int cassnn_err_wrap(cassnn_err *e, const char *fmt, ...) {
    if (!e) return -1;
    char prefix[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* Both parts fit in msg or are cut at its end: a long message loses its
     * tail, never its start. */
    size_t n = strnlen(prefix, sizeof e->msg - 1);
    memcpy(e->msg, prefix, n);
    size_t room = sizeof e->msg - 1 - n;
    if (room >= 2) {
        memcpy(e->msg + n, ": ", 2);
        n += 2;
        room -= 2;
        size_t m = strnlen(old, room);
        memcpy(e->msg + n, old, m);
        n += m;
    }
    e->msg[n] = '\0';
    return -1;
}
