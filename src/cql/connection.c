/* connection.c - one CQL connection: socket/TLS I/O, handshake, stream ids
 * and the reader thread. See connection.h for the request lifecycle. */
#include "cql/connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

/* How often the reader checks deadlines when the socket is quiet. */
#define SWEEP_MS 20

enum slot_state { SLOT_FREE = 0, SLOT_BUSY, SLOT_ABANDONED };

typedef struct slot {
    int state;
    int64_t deadline_ms; /* 0 = none */
    cql_conn_done done;
    void *user;
} slot;

struct cql_conn {
    int fd;
    SSL *ssl;
    pthread_mutex_t io_lock; /* TLS only: SSL objects are not thread-safe */
    int compress;
    char peer[300];

    pthread_mutex_t write_lock;
    pthread_mutex_t lock;      /* slots, free ids, dead */
    slot slots[CQL_CONN_STREAMS];
    int16_t free_ids[CQL_CONN_STREAMS];
    int n_free;
    atomic_int inflight;
    atomic_int holders;        /* see cql_conn_hold */
    atomic_int dead;
    cassnn_err dead_err;

    pthread_t reader;
    int reader_started;
    cql_conn_event_fn on_event; /* set before the reader starts */
    void *event_user;

    /* reader-side buffers */
    cql_buf rbuf;              /* bytes received, not yet parsed */
    size_t rpos;
    cql_buf zbuf;              /* decompression scratch */
};

int64_t cql_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *cql_conn_peer(const cql_conn *c) { return c->peer; }
int cql_conn_is_dead(const cql_conn *c) { return atomic_load(&((cql_conn *)c)->dead); }
int cql_conn_inflight(const cql_conn *c) { return atomic_load(&((cql_conn *)c)->inflight); }
void cql_conn_hold(cql_conn *c) { atomic_fetch_add(&c->holders, 1); }
void cql_conn_drop(cql_conn *c) { atomic_fetch_sub(&c->holders, 1); }
int cql_conn_holders(const cql_conn *c) { return atomic_load(&((cql_conn *)c)->holders); }

/* ------------------------------------------------------------ raw I/O */

/* Why a TLS call failed: OpenSSL's queued reason, else what the socket said
 * (saved_errno). A node that refuses the client's certificate, or wants one
 * and got none, ends a TLS 1.3 session right after the handshake, which the
 * client first sees as an alert or a failed write while the CQL handshake
 * runs (or as the end of the stream, when it closed without an alert): say
 * which of the two it likely was. */
static int ended_by_peer(unsigned long e) {
    if (!e) return 1;
    const int reason = ERR_GET_REASON(e);
    return ERR_GET_LIB(e) == ERR_LIB_SSL &&
           (reason >= SSL_AD_REASON_OFFSET /* an alert */ || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING);
}

static void ssl_error_text(const cql_conn *c, int saved_errno, char *buf, size_t cap) {
    unsigned long e = ERR_get_error();
    const int refused_early = c->ssl && !c->reader_started && ended_by_peer(e);
    const char *hint = !refused_early                ? ""
                       : !SSL_get_certificate(c->ssl) ? " (no client certificate was sent: does the node require one? "
                                                        "--cert/--key)"
                                                      : " (the node refused the session: does it trust this client "
                                                        "certificate?)";
    char why[256];
    if (e) ERR_error_string_n(e, why, sizeof why);
    else snprintf(why, sizeof why, "%s", saved_errno ? strerror(saved_errno) : "the node ended the TLS session");
    snprintf(buf, cap, "%.200s%s", why, hint);
}

/* Waits until fd is readable/writable or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline_ms) {
    for (;;) {
        int timeout = -1;
        if (deadline_ms) {
            int64_t left = deadline_ms - cql_now_ms();
            if (left <= 0) return 0;
            timeout = (int)left;
        }
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno == EINTR) continue;
        return n;
    }
}

/* OpenSSL writes with write(2) (in SSL_write, but also in SSL_read and
 * SSL_connect: alerts, close_notify), which raises SIGPIPE when the node
 * has gone. A library must neither die of that nor change the process's
 * signal handling, so every TLS call runs with SIGPIPE blocked in the
 * calling thread, and a SIGPIPE it raised is consumed before unblocking. */
typedef struct sigpipe_guard { sigset_t old; int was_pending; } sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

static void sigpipe_unblock(sigpipe_guard *g) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Writes all of p (non-blocking socket): a peer that stops reading for 10 s
 * makes the write fail rather than hang forever. */
static int write_all(cql_conn *c, const uint8_t *p, size_t n, cassnn_err *err) {
    while (n) {
        ssize_t w;
        if (c->ssl) {
            sigpipe_guard g;
            pthread_mutex_lock(&c->io_lock);
            sigpipe_block(&g);
            errno = 0;
            int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            int e = r > 0 ? 0 : SSL_get_error(c->ssl, r), saved_errno = errno;
            sigpipe_unblock(&g);
            pthread_mutex_unlock(&c->io_lock);
            if (r <= 0) {
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    wait_fd(c->fd, POLLOUT | POLLIN, cql_now_ms() + 100);
                    continue;
                }
                char msg[300];
                ssl_error_text(c, saved_errno, msg, sizeof msg);
                return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: TLS write failed: %s", c->peer, msg);
            }
            w = r;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if (wait_fd(c->fd, POLLOUT, cql_now_ms() + 10000) <= 0)
                        return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: write stalled for 10 s", c->peer);
                    continue;
                }
                return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: write failed: %s", c->peer, strerror(errno));
            }
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads what is available (at least 1 byte) into rbuf. 0 = got data,
 * 1 = nothing yet (non-blocking), -1 = closed or failed. */
static int read_some(cql_conn *c, cassnn_err *err) {
    if (c->rpos > 0 && c->rpos == c->rbuf.len) c->rpos = c->rbuf.len = 0;
    if (c->rpos > (1u << 20)) { /* compact occasionally */
        memmove(c->rbuf.data, c->rbuf.data + c->rpos, c->rbuf.len - c->rpos);
        c->rbuf.len -= c->rpos;
        c->rpos = 0;
    }
    if (cql_buf_reserve(&c->rbuf, 64 * 1024)) return cassnn_err_set(err, "%s: out of memory", c->peer);
    size_t room = c->rbuf.cap - c->rbuf.len;
    ssize_t n;
    if (c->ssl) {
        sigpipe_guard g;
        pthread_mutex_lock(&c->io_lock);
        sigpipe_block(&g);
        errno = 0;
        int r = SSL_read(c->ssl, c->rbuf.data + c->rbuf.len, room > INT32_MAX ? INT32_MAX : (int)room);
        int e = r > 0 ? 0 : SSL_get_error(c->ssl, r), saved_errno = errno;
        sigpipe_unblock(&g);
        pthread_mutex_unlock(&c->io_lock);
        if (r <= 0) {
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 1;
            if (e == SSL_ERROR_ZERO_RETURN) return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: connection closed by the node", c->peer);
            char msg[300];
            ssl_error_text(c, saved_errno, msg, sizeof msg);
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: TLS read failed: %s", c->peer, msg);
        }
        n = r;
    } else {
        n = recv(c->fd, c->rbuf.data + c->rbuf.len, room, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return 1;
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: read failed: %s", c->peer, strerror(errno));
        }
        if (n == 0) return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: connection closed by the node", c->peer);
    }
    c->rbuf.len += (size_t)n;
    return 0;
}

/* Takes one complete frame out of rbuf if there is one: 1 = got it, 0 =
 * need more bytes, -1 = malformed. */
static int take_frame(cql_conn *c, cql_response *out, cassnn_err *err) {
    size_t avail = c->rbuf.len - c->rpos;
    if (avail < CQL_HEADER_SIZE) return 0;
    cql_frame_header h;
    if (cql_header_decode(c->rbuf.data + c->rpos, &h, err)) return cassnn_err_wrap(err, "%s", c->peer);
    if (avail < CQL_HEADER_SIZE + (size_t)h.length) return 0;
    const uint8_t *body = c->rbuf.data + c->rpos + CQL_HEADER_SIZE;
    memset(out, 0, sizeof *out);
    out->h = h;
    if (h.flags & CQL_FLAG_COMPRESSION) {
        if (cql_body_decompress_lz4(body, h.length, &c->zbuf, err)) return cassnn_err_wrap(err, "%s", c->peer);
        body = c->zbuf.data;
        out->len = c->zbuf.len;
    } else {
        out->len = h.length;
    }
    out->body = malloc(out->len ? out->len : 1);
    if (!out->body) return cassnn_err_set(err, "%s: out of memory", c->peer);
    if (out->len) memcpy(out->body, body, out->len);
    c->rpos += CQL_HEADER_SIZE + h.length;
    size_t warnings;
    if (cql_skip_response_prefix(h.flags, out->body, out->len, &out->offset, &warnings, err)) {
        free(out->body);
        out->body = NULL;
        return cassnn_err_wrap(err, "%s", c->peer);
    }
    return 1;
}

/* Blocking read of one frame (handshake, before the reader thread runs). */
static int read_frame_blocking(cql_conn *c, cql_response *out, int64_t deadline_ms, cassnn_err *err) {
    for (;;) {
        int r = take_frame(c, out, err);
        if (r) return r < 0 ? -1 : 0;
        if (!(c->ssl && SSL_pending(c->ssl)) && wait_fd(c->fd, POLLIN, deadline_ms) == 0)
            return cassnn_err_code(err, CQL_ERR_CLIENT_TIMEOUT, "%s: no answer within the connect timeout", c->peer);
        if (read_some(c, err) < 0) return -1;
    }
}

/* ------------------------------------------------------- stream slots */

static void fail_all(cql_conn *c, const cassnn_err *why) {
    for (;;) {
        cql_conn_done done = NULL;
        void *user = NULL;
        pthread_mutex_lock(&c->lock);
        for (int i = 0; i < CQL_CONN_STREAMS; i++) {
            slot *s = &c->slots[i];
            if (s->state == SLOT_BUSY) {
                done = s->done;
                user = s->user;
            }
            if (s->state != SLOT_FREE) {
                s->state = SLOT_FREE;
                c->free_ids[c->n_free++] = (int16_t)i;
                atomic_fetch_sub(&c->inflight, 1);
            }
            if (done) break;
        }
        pthread_mutex_unlock(&c->lock);
        if (!done) return;
        done(user, NULL, why);
    }
}

static void mark_dead(cql_conn *c, const cassnn_err *why) {
    pthread_mutex_lock(&c->lock);
    if (!atomic_load(&c->dead)) {
        c->dead_err = *why;
        atomic_store(&c->dead, 1);
    }
    pthread_mutex_unlock(&c->lock);
    shutdown(c->fd, SHUT_RDWR); /* wakes the reader, which fails everyone */
}

/* A server-pushed EVENT (after REGISTER). One that does not decode is
 * dropped: events are hints, and the requests on this connection are fine. */
static void deliver_event(cql_conn *c, cql_response *resp) {
    cql_event ev;
    cassnn_err e = {0};
    if (c->on_event &&
        cql_decode_event(resp->body + resp->offset, resp->len - resp->offset, &ev, &e) == 0)
        c->on_event(c->event_user, &ev);
    free(resp->body);
}

static void dispatch(cql_conn *c, cql_response *resp) {
    int16_t id = resp->h.stream;
    if (id == -1 && resp->h.opcode == CQL_OP_EVENT) {
        deliver_event(c, resp);
        return;
    }
    if (id < 0 || id >= CQL_CONN_STREAMS) { /* a stray id: not ours */
        free(resp->body);
        return;
    }
    cql_conn_done done = NULL;
    void *user = NULL;
    pthread_mutex_lock(&c->lock);
    slot *s = &c->slots[id];
    if (s->state == SLOT_BUSY) {
        done = s->done;
        user = s->user;
    }
    if (s->state != SLOT_FREE) {
        s->state = SLOT_FREE;
        c->free_ids[c->n_free++] = id;
        atomic_fetch_sub(&c->inflight, 1);
    }
    pthread_mutex_unlock(&c->lock);
    if (done) done(user, resp, NULL);
    else free(resp->body); /* late answer to a timed-out request */
}

/* Times out requests whose deadline passed. Their streams stay reserved
 * (ABANDONED) until the node answers, so a late answer is never taken for
 * a newer request's. */
static void sweep_deadlines(cql_conn *c) {
    int64_t now = cql_now_ms();
    for (;;) {
        cql_conn_done done = NULL;
        void *user = NULL;
        int id = -1;
        pthread_mutex_lock(&c->lock);
        for (int i = 0; i < CQL_CONN_STREAMS && !done; i++) {
            slot *s = &c->slots[i];
            if (s->state == SLOT_BUSY && s->deadline_ms && s->deadline_ms <= now) {
                s->state = SLOT_ABANDONED;
                done = s->done;
                user = s->user;
                id = i;
            }
        }
        pthread_mutex_unlock(&c->lock);
        if (!done) return;
        cassnn_err e = {0};
        cassnn_err_code(&e, CQL_ERR_CLIENT_TIMEOUT, "%s: request timed out (stream %d)", c->peer, id);
        done(user, NULL, &e);
    }
}

static void *reader_main(void *arg) {
    cql_conn *c = arg;
    cassnn_err err = {0};
    int64_t next_sweep = cql_now_ms() + SWEEP_MS;
    for (;;) {
        cql_response resp;
        int r;
        while ((r = take_frame(c, &resp, &err)) == 1) dispatch(c, &resp);
        if (r < 0) break;
        int64_t now = cql_now_ms();
        if (now >= next_sweep) {
            sweep_deadlines(c);
            next_sweep = now + SWEEP_MS;
        }
        if (!(c->ssl && SSL_pending(c->ssl))) {
            struct pollfd p = {c->fd, POLLIN, 0};
            int n = poll(&p, 1, SWEEP_MS);
            if (n < 0 && errno != EINTR) {
                cassnn_err_code(&err, CQL_ERR_CONNECTION, "%s: poll failed: %s", c->peer, strerror(errno));
                break;
            }
            if (n <= 0) continue;
        }
        if (read_some(c, &err) < 0) break;
    }
    pthread_mutex_lock(&c->lock);
    if (!atomic_load(&c->dead)) {
        c->dead_err = err;
        atomic_store(&c->dead, 1);
    } else {
        err = c->dead_err;
    }
    pthread_mutex_unlock(&c->lock);
    fail_all(c, &err);
    return NULL;
}

int cql_conn_submit(cql_conn *c, cql_buf *frame, int timeout_ms, cql_conn_done done, void *user, cassnn_err *err) {
    if (frame->oom || frame->len < CQL_HEADER_SIZE) return cassnn_err_set(err, "%s: request could not be encoded (out of memory or too large)", c->peer);
    pthread_mutex_lock(&c->lock);
    if (atomic_load(&c->dead)) {
        cassnn_err why = c->dead_err;
        pthread_mutex_unlock(&c->lock);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: connection is down (%s)", c->peer, why.msg);
    }
    if (c->n_free == 0) {
        pthread_mutex_unlock(&c->lock);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: all %d streams in use", c->peer, CQL_CONN_STREAMS);
    }
    int16_t id = c->free_ids[--c->n_free];
    slot *s = &c->slots[id];
    s->state = SLOT_BUSY;
    s->deadline_ms = timeout_ms > 0 ? cql_now_ms() + timeout_ms : 0;
    s->done = done;
    s->user = user;
    atomic_fetch_add(&c->inflight, 1);
    pthread_mutex_unlock(&c->lock);

    frame->data[2] = (uint8_t)((uint16_t)id >> 8);
    frame->data[3] = (uint8_t)id;
    cassnn_err werr = {0};
    if (c->compress && cql_frame_compress_lz4(frame, 0, &werr)) {
        mark_dead(c, &werr);
        return 0; /* the reader fails this request with the others */
    }
    pthread_mutex_lock(&c->write_lock);
    int rc = write_all(c, frame->data, frame->len, &werr);
    pthread_mutex_unlock(&c->write_lock);
    if (rc) mark_dead(c, &werr);
    return 0;
}

/* ------------------------------------------------------ sync call */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    cql_response resp;
    int failed;
    cassnn_err err;
} waiter;

static void waiter_done(void *user, cql_response *resp, const cassnn_err *err) {
    waiter *w = user;
    pthread_mutex_lock(&w->mu);
    if (resp) w->resp = *resp;
    else {
        w->failed = 1;
        w->err = *err;
    }
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int cql_conn_call(cql_conn *c, cql_buf *frame, int timeout_ms, cql_response *resp, cassnn_err *err) {
    waiter w = {.done = 0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = cql_conn_submit(c, frame, timeout_ms, waiter_done, &w, err);
    if (!rc) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        if (w.failed) {
            *err = w.err;
            rc = -1;
        } else {
            *resp = w.resp;
        }
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

int cql_response_error(cql_response *resp, cassnn_err *err) {
    cql_error ce;
    if (!cql_decode_error(resp->body + resp->offset, resp->len - resp->offset, &ce, err)) cql_error_to_err(&ce, err);
    free(resp->body);
    resp->body = NULL;
    return -1;
}

void cql_frame_control_query(cql_buf *frame, const char *q, const cql_value *values, size_t n_values) {
    cql_buf vals = {0};
    for (size_t i = 0; i < n_values; i++) cql_value_encode(&vals, &values[i]);
    cql_query_params p = {.consistency = CQL_ONE};
    cql_encode_query(frame, 0, q, vals.data, vals.len, (uint16_t)n_values, &p);
    if (vals.oom) frame->oom = 1;
    cql_buf_free(&vals);
}

int cql_response_rows(cql_response *resp, const char *q, cql_result **out, cassnn_err *err) {
    if (resp->h.opcode == CQL_OP_ERROR) return cql_response_error(resp, err);
    if (resp->h.opcode != CQL_OP_RESULT) {
        free(resp->body);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql: \"%.120s\" answered with opcode 0x%02x", q,
                               resp->h.opcode);
    }
    if (cql_decode_result(resp->body, resp->len, resp->offset, NULL, out, err)) return -1;
    if ((*out)->kind == CQL_RESULT_ROWS) return 0;
    cql_result_free(*out);
    *out = NULL;
    return cassnn_err_set(err, "cql: \"%.120s\" returned no rows", q);
}

int cql_conn_query(cql_conn *c, const char *q, const cql_value *values, size_t n_values, int timeout_ms,
                   cql_result **out, cassnn_err *err) {
    cql_buf frame = {0};
    cql_response resp;
    cql_frame_control_query(&frame, q, values, n_values);
    int rc = cql_conn_call(c, &frame, timeout_ms, &resp, err);
    cql_buf_free(&frame);
    return rc ? -1 : cql_response_rows(&resp, q, out, err);
}

/* ------------------------------------------------------- handshake */

static int tcp_connect(cql_conn *c, const char *host, int port, int timeout_ms, cassnn_err *err) {
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    int g = getaddrinfo(host, ports, &hints, &res);
    if (g) return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: cannot resolve: %s", c->peer, gai_strerror(g));
    int64_t deadline = cql_now_ms() + timeout_ms;
    cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: no address", c->peer);
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            if (wait_fd(fd, POLLOUT, deadline) <= 0) {
                cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: connect timed out after %d ms", c->peer, timeout_ms);
                close(fd);
                continue;
            }
            int so = 0;
            socklen_t sl = sizeof so;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl);
            r = so ? -1 : 0;
            errno = so;
        }
        if (r < 0) {
            cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: connect failed: %s", c->peer, strerror(errno));
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        break;
    }
    freeaddrinfo(res);
    return c->fd >= 0 ? 0 : -1;
}

static int tls_handshake(cql_conn *c, const char *host, const cql_conn_opts *o, int64_t deadline, cassnn_err *err) {
    c->ssl = SSL_new(o->ssl_ctx);
    if (!c->ssl) return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: SSL_new failed", c->peer);
    SSL_set_fd(c->ssl, c->fd);
    const char *name = o->sni ? o->sni : host;
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) != 1 && inet_pton(AF_INET6, name, ip) != 1)
        SSL_set_tlsext_host_name(c->ssl, name); /* SNI carries names only (RFC 6066) */
    if (o->verify_host) {
        /* the certificate must name the node (or the proxy): an IP SAN for
         * an address, a DNS name otherwise */
        const char *v = o->verify_name ? o->verify_name : name;
        int is_ip = inet_pton(AF_INET, v, ip) == 1 || inet_pton(AF_INET6, v, ip) == 1;
        X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!(is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, v) : X509_VERIFY_PARAM_set1_host(param, v, 0)))
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: bad TLS host name %s", c->peer, v);
    }
    for (;;) {
        sigpipe_guard g;
        sigpipe_block(&g);
        errno = 0;
        int r = SSL_connect(c->ssl);
        int e = r == 1 ? 0 : SSL_get_error(c->ssl, r), saved_errno = errno;
        sigpipe_unblock(&g);
        if (r == 1) return 0;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) <= 0)
                return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: TLS handshake timed out", c->peer);
            continue;
        }
        char msg[300];
        ssl_error_text(c, saved_errno, msg, sizeof msg);
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK)
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: TLS certificate rejected: %s", c->peer,
                                   X509_verify_cert_error_string(v));
        if (o->verify_name && o->sni) /* an SNI proxy forwards by the name, or ends the session */
            return cassnn_err_code(err, CQL_ERR_CONNECTION,
                                   "%s: TLS handshake failed: %s (the SNI proxy ended it: is %s a host id of this "
                                   "database?)", c->peer, msg, o->sni);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: TLS handshake failed: %s", c->peer, msg);
    }
}

/* Sends one frame and reads the answer, before the reader thread exists. */
static int handshake_call(cql_conn *c, cql_buf *frame, int64_t deadline, cql_response *resp, cassnn_err *err) {
    if (frame->oom) return cassnn_err_set(err, "%s: out of memory", c->peer);
    if (c->compress && cql_frame_compress_lz4(frame, 0, err)) return -1;
    if (write_all(c, frame->data, frame->len, err)) return -1;
    return read_frame_blocking(c, resp, deadline, err);
}

static int expect_error_free(cql_conn *c, cql_response *resp, const char *step, cassnn_err *err) {
    if (resp->h.opcode != CQL_OP_ERROR) return 0;
    cql_response_error(resp, err);
    return cassnn_err_wrap(err, "%s: %s", c->peer, step);
}

static int authenticate(cql_conn *c, cql_response *resp, const cql_conn_opts *o, int64_t deadline, cassnn_err *err) {
    cql_str who = {"?", 1};
    cql_decode_authenticate(resp->body + resp->offset, resp->len - resp->offset, &who, NULL);
    if (!o->username || !o->password) {
        int rc = cassnn_err_code(err, CQL_ERR_BAD_CREDENTIALS,
                                 "%s: the node requires authentication (%.*s); give a username and password",
                                 c->peer, (int)who.len, who.p);
        free(resp->body);
        return rc;
    }
    free(resp->body);
    /* SASL PLAIN: authzid NUL authcid NUL password */
    size_t ul = strlen(o->username), pl = strlen(o->password);
    cql_buf tok = {0}, frame = {0};
    cql_buf_u8(&tok, 0);
    cql_buf_bytes_raw(&tok, o->username, ul);
    cql_buf_u8(&tok, 0);
    cql_buf_bytes_raw(&tok, o->password, pl);
    cql_encode_auth_response(&frame, 0, tok.data, tok.len);
    if (tok.data) memset(tok.data, 0, tok.len); /* do not leave the password in freed memory */
    cql_buf_free(&tok);
    int rc = handshake_call(c, &frame, deadline, resp, err);
    if (frame.data) memset(frame.data, 0, frame.len);
    cql_buf_free(&frame);
    if (rc) return -1;
    if (expect_error_free(c, resp, "authentication", err)) return -1;
    int op = resp->h.opcode;
    free(resp->body);
    if (op != CQL_OP_AUTH_SUCCESS)
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: unexpected opcode 0x%02x after AUTH_RESPONSE", c->peer, op);
    return 0;
}

static int handshake(cql_conn *c, const cql_conn_opts *o, cassnn_err *err) {
    int64_t deadline = cql_now_ms() + o->connect_timeout_ms;
    cql_buf frame = {0};
    cql_response resp;
    cql_encode_startup(&frame, 0, o->compression ? "lz4" : NULL);
    int rc = handshake_call(c, &frame, deadline, &resp, err);
    cql_buf_free(&frame);
    if (rc || expect_error_free(c, &resp, "STARTUP", err)) return -1;
    c->compress = o->compression; /* every frame after STARTUP is compressed */
    if (resp.h.opcode == CQL_OP_AUTHENTICATE) {
        if (authenticate(c, &resp, o, deadline, err)) return -1;
    } else {
        int op = resp.h.opcode;
        free(resp.body);
        if (op != CQL_OP_READY)
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: unexpected opcode 0x%02x after STARTUP", c->peer, op);
    }
    if (o->keyspace && *o->keyspace) {
        char q[300];
        snprintf(q, sizeof q, "USE \"%s\"", o->keyspace);
        cql_query_params p = {.consistency = CQL_ONE};
        cql_encode_query(&frame, 0, q, NULL, 0, 0, &p);
        rc = handshake_call(c, &frame, deadline, &resp, err);
        cql_buf_free(&frame);
        if (rc || expect_error_free(c, &resp, "USE keyspace", err)) return -1;
        free(resp.body);
    }
    if (o->on_event) {
        static const char *const events[] = {"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"};
        cql_encode_register(&frame, 0, events, sizeof events / sizeof events[0]);
        rc = handshake_call(c, &frame, deadline, &resp, err);
        cql_buf_free(&frame);
        if (rc || expect_error_free(c, &resp, "REGISTER", err)) return -1;
        int op = resp.h.opcode;
        free(resp.body);
        if (op != CQL_OP_READY)
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "%s: unexpected opcode 0x%02x after REGISTER", c->peer, op);
        c->on_event = o->on_event;
        c->event_user = o->event_user;
    }
    return 0;
}

int cql_conn_open(cql_conn **out, const char *host, int port, const cql_conn_opts *o, cassnn_err *err) {
    *out = NULL;
    cql_conn *c = calloc(1, sizeof *c);
    if (!c) return cassnn_err_set(err, "cql: out of memory");
    c->fd = -1;
    if (o->verify_name && o->sni) snprintf(c->peer, sizeof c->peer, "%s:%d (SNI %s)", host, port, o->sni);
    else snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->write_lock, NULL);
    pthread_mutex_init(&c->io_lock, NULL);
    for (int i = 0; i < CQL_CONN_STREAMS; i++) c->free_ids[i] = (int16_t)(CQL_CONN_STREAMS - 1 - i);
    c->n_free = CQL_CONN_STREAMS;
    int timeout = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    cql_conn_opts opts = *o;
    opts.connect_timeout_ms = timeout;
    if (tcp_connect(c, host, port, timeout, err) ||
        (o->ssl_ctx && tls_handshake(c, host, &opts, cql_now_ms() + timeout, err)) ||
        handshake(c, &opts, err)) {
        cql_conn_close(c);
        return -1;
    }
    /* set before the thread starts, which reads it (ssl_error_text) */
    c->reader_started = 1;
    if (pthread_create(&c->reader, NULL, reader_main, c)) {
        c->reader_started = 0;
        cql_conn_close(c);
        return cassnn_err_set(err, "%s: cannot start reader thread", host);
    }
    *out = c;
    return 0;
}

void cql_conn_close(cql_conn *c) {
    if (!c) return;
    if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
    if (c->reader_started) pthread_join(c->reader, NULL);
    if (c->ssl) SSL_free(c->ssl);
    if (c->fd >= 0) close(c->fd);
    cql_buf_free(&c->rbuf);
    cql_buf_free(&c->zbuf);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->write_lock);
    pthread_mutex_destroy(&c->io_lock);
    free(c);
}
