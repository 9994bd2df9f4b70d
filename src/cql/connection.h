/* connection.h - one CQL connection: a socket (optionally TLS), up to
 * CQL_CONN_STREAMS requests in flight told apart by stream id, and a reader
 * thread that completes them. Private to the cql module; the session
 * (cql.h) is the public face.
 *
 * Lifecycle of a request: cql_conn_submit takes a free stream id, writes the
 * frame and returns; exactly one completion call follows, from the reader
 * thread: the response, a timeout (the per-request deadline passed; the
 * stream stays reserved until the late answer arrives, so ids are never
 * confused), or a connection error (socket closed/failed, malformed frame),
 * after which the connection is dead and every pending request fails.
 */
#ifndef CASSNN_CQL_CONNECTION_H
#define CASSNN_CQL_CONNECTION_H

#include <openssl/ssl.h>

#include "cql/codec.h"

#define CQL_CONN_STREAMS 2048

/* A complete response; the callee owns body (free()). body + offset is the
 * body proper (after tracing id / warnings / custom payload). */
typedef struct cql_response {
    cql_frame_header h;
    uint8_t *body;
    size_t len, offset;
} cql_response;

/* Exactly one of resp and err is non-NULL. */
typedef void (*cql_conn_done)(void *user, cql_response *resp, const cassnn_err *err);

/* Server-pushed events: runs on the reader thread with an event valid only
 * during the call, and must not block. */
typedef void (*cql_conn_event_fn)(void *user, const cql_event *ev);

typedef struct cql_conn_opts {
    int connect_timeout_ms;
    int compression;              /* ask for LZ4 */
    const char *keyspace;         /* USE'd during the handshake; NULL = none */
    const char *username, *password;
    SSL_CTX *ssl_ctx;             /* non-NULL: TLS */
    const char *sni;              /* TLS server name (default: host) */
    int verify_host;              /* check the certificate names verify_name/sni/host */
    const char *verify_name;      /* non-NULL: the name to check instead of the server
                                     name (an SNI proxy: SNI picks the node, the
                                     certificate names the proxy) */
    cql_conn_event_fn on_event;   /* non-NULL: REGISTER for topology, status and
                                     schema events during the handshake */
    void *event_user;
} cql_conn_opts;

typedef struct cql_conn cql_conn;

/* Connects, handshakes (STARTUP, auth, USE keyspace, REGISTER) and starts the
 * reader. */
int cql_conn_open(cql_conn **out, const char *host, int port, const cql_conn_opts *o, cassnn_err *err);

/* Sends one request frame (as encoded: its stream field is overwritten, and
 * it may be compressed in place). 0: the completion will be called exactly
 * once. -1 (err set, no completion): the connection is dead or has no free
 * stream. timeout_ms <= 0: no deadline. */
int cql_conn_submit(cql_conn *c, cql_buf *frame, int timeout_ms, cql_conn_done done, void *user, cassnn_err *err);

/* Sends a frame and waits for its response (helper for handshakes and
 * control queries). */
int cql_conn_call(cql_conn *c, cql_buf *frame, int timeout_ms, cql_response *resp, cassnn_err *err);

/* Holds: a thread that uses a connection it did not open (the pool hands
 * them out) holds it for as long as it uses it; the pool closes a replaced
 * connection only once nobody holds it. Completion callbacks need no hold:
 * a connection outlives its reader thread's callbacks. */
void cql_conn_hold(cql_conn *c);
void cql_conn_drop(cql_conn *c);
int cql_conn_holders(const cql_conn *c);

/* Runs a simple query (consistency ONE) on this connection and waits for
 * its rows: discovery, schema versions and replication must be read from
 * one given node. The result is the caller's (cql_result_free). */
int cql_conn_query(cql_conn *c, const char *query, const cql_value *values, size_t n_values, int timeout_ms,
                   cql_result **out, cassnn_err *err);

/* The frame of such a query (frame->oom when it could not be built). */
void cql_frame_control_query(cql_buf *frame, const char *query, const cql_value *values, size_t n_values);
/* The rows a response to query carries (the response is consumed); -1 for
 * an ERROR, another opcode or a result that is not rows. */
int cql_response_rows(cql_response *resp, const char *query, cql_result **out, cassnn_err *err);
/* Turns an ERROR response into err (consuming its body); returns -1. */
int cql_response_error(cql_response *resp, cassnn_err *err);

int cql_conn_is_dead(const cql_conn *c);
int cql_conn_inflight(const cql_conn *c);
const char *cql_conn_peer(const cql_conn *c); /* "host:port", through a proxy "host:port (SNI name)" */

/* Shuts the socket down, fails pending requests, joins the reader, frees.
 * Never on the connection's own reader thread, never while held. */
void cql_conn_close(cql_conn *c);

/* Milliseconds on the monotonic clock. */
int64_t cql_now_ms(void);

#endif
