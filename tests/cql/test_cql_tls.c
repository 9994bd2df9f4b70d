/* TLS and SASL PLAIN without reconfiguring the shared node: a small CQL
 * server in this test (real TLS over a real socket, OpenSSL on both sides)
 * speaks just enough of the protocol for a session to open: STARTUP,
 * AUTHENTICATE/AUTH_RESPONSE, OPTIONS and the two discovery queries. The
 * client side is the real cql_session_open. Certificates: fixtures/tls. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cql/codec.h" /* a node written with the codec: frames, buffers */
#include "cassnn/cql.h"
#include "tls_fixtures.h"

typedef struct server {
    int listen_fd, port;
    SSL_CTX *ctx;
    int require_auth;
    int no_peers_v2;        /* answer like a node older than 4.0: system.peers only */
    atomic_int old_peers_read;
    atomic_int stop;
    char sni[128];          /* server name the last client sent */
    atomic_int auth_ok;     /* a client presented the right credentials */
    atomic_int served;      /* connections that completed a TLS handshake */
    pthread_t thread;
} server;

static int read_full(SSL *ssl, uint8_t *p, size_t n) {
    while (n) {
        int r = SSL_read(ssl, p, (int)n);
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void send_frame(SSL *ssl, int16_t stream, uint8_t op, const cql_buf *body) {
    cql_frame_header h = {CQL_VERSION_RESPONSE, 0, stream, op, (uint32_t)body->len};
    uint8_t raw[9];
    cql_header_encode(&h, raw);
    SSL_write(ssl, raw, 9);
    if (body->len) SSL_write(ssl, body->data, (int)body->len);
}

/* Rows metadata with a global table spec. */
static void rows_header(cql_buf *b, int32_t n_cols) {
    cql_buf_i32(b, CQL_RESULT_ROWS);
    cql_buf_i32(b, 1);
    cql_buf_i32(b, n_cols);
    cql_buf_string(b, "system");
    cql_buf_string(b, "t");
}

/* system.peers of a node older than 4.0: one peer, 127.0.0.2, that has no
 * server (it will be down). */
static void old_peers(cql_buf *b) {
    static const uint8_t addr[4] = {127, 0, 0, 2}, id[16] = {0xaa, 0xbb, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 2};
    rows_header(b, 3);
    cql_buf_string(b, "native_address");
    cql_buf_u16(b, CQL_TYPE_INET);
    cql_buf_string(b, "host_id");
    cql_buf_u16(b, CQL_TYPE_UUID);
    cql_buf_string(b, "data_center");
    cql_buf_u16(b, CQL_TYPE_VARCHAR);
    cql_buf_i32(b, 1);
    cql_buf_bytes(b, addr, 4);
    cql_buf_bytes(b, id, 16);
    cql_buf_bytes(b, "dc-old", 6);
}

static void answer_query(server *sv, SSL *ssl, int16_t stream, const char *q) {
    cql_buf b = {0};
    if (sv->no_peers_v2 && strstr(q, "system.peers_v2")) {
        cql_buf_i32(&b, CQL_ERR_INVALID);
        cql_buf_string(&b, "unconfigured table peers_v2");
        send_frame(ssl, stream, CQL_OP_ERROR, &b);
        cql_buf_free(&b);
        return;
    }
    if (sv->no_peers_v2 && strstr(q, "FROM system.peers")) {
        atomic_fetch_add(&sv->old_peers_read, 1);
        old_peers(&b);
    } else if (strstr(q, "system.local")) { /* tokens set<text>: one row {'0'} */
        rows_header(&b, 1);
        cql_buf_string(&b, "tokens");
        cql_buf_u16(&b, CQL_TYPE_SET);
        cql_buf_u16(&b, CQL_TYPE_VARCHAR);
        cql_buf_i32(&b, 1);
        cql_buf_i32(&b, 4 + 4 + 1);
        cql_buf_i32(&b, 1);
        cql_buf_bytes(&b, "0", 1);
    } else if (strstr(q, "system.peers_v2")) { /* no peers */
        rows_header(&b, 3);
        cql_buf_string(&b, "native_address");
        cql_buf_u16(&b, CQL_TYPE_INET);
        cql_buf_string(&b, "native_port");
        cql_buf_u16(&b, CQL_TYPE_INT);
        cql_buf_string(&b, "tokens");
        cql_buf_u16(&b, CQL_TYPE_SET);
        cql_buf_u16(&b, CQL_TYPE_VARCHAR);
        cql_buf_i32(&b, 0);
    } else {
        cql_buf_i32(&b, CQL_RESULT_VOID);
    }
    send_frame(ssl, stream, CQL_OP_RESULT, &b);
    cql_buf_free(&b);
}

static void serve_connection(server *sv, SSL *ssl) {
    for (;;) {
        uint8_t hdr[9];
        if (read_full(ssl, hdr, 9)) return;
        uint32_t len = ((uint32_t)hdr[5] << 24) | ((uint32_t)hdr[6] << 16) | ((uint32_t)hdr[7] << 8) | hdr[8];
        int16_t stream = (int16_t)((hdr[2] << 8) | hdr[3]);
        uint8_t *body = malloc(len + 1);
        if (!body || read_full(ssl, body, len)) {
            free(body);
            return;
        }
        body[len] = 0;
        cql_buf b = {0};
        switch (hdr[4]) {
        case CQL_OP_STARTUP:
            if (sv->require_auth) {
                cql_buf_string(&b, "org.apache.cassandra.auth.PasswordAuthenticator");
                send_frame(ssl, stream, CQL_OP_AUTHENTICATE, &b);
            } else {
                send_frame(ssl, stream, CQL_OP_READY, &b);
            }
            break;
        case CQL_OP_AUTH_RESPONSE: {
            static const char want[] = "\0cassnn\0s3cret";
            if (len == 4 + sizeof want - 1 && !memcmp(body + 4, want, sizeof want - 1)) {
                atomic_store(&sv->auth_ok, 1);
                cql_buf_i32(&b, -1);
                send_frame(ssl, stream, CQL_OP_AUTH_SUCCESS, &b);
            } else {
                cql_buf_i32(&b, CQL_ERR_BAD_CREDENTIALS);
                cql_buf_string(&b, "Provided username and/or password are incorrect");
                send_frame(ssl, stream, CQL_OP_ERROR, &b);
            }
            break;
        }
        case CQL_OP_OPTIONS:
            cql_buf_u16(&b, 1);
            cql_buf_string(&b, "CQL_VERSION");
            cql_buf_u16(&b, 1);
            cql_buf_string(&b, "3.4.7");
            send_frame(ssl, stream, CQL_OP_SUPPORTED, &b);
            break;
        case CQL_OP_QUERY:
            answer_query(sv, ssl, stream, (const char *)body + 4);
            break;
        default:
            cql_buf_i32(&b, CQL_ERR_PROTOCOL);
            cql_buf_string(&b, "test server: unsupported opcode");
            send_frame(ssl, stream, CQL_OP_ERROR, &b);
        }
        cql_buf_free(&b);
        free(body);
    }
}

static void *server_main(void *arg) {
    server *sv = arg;
    /* the test server writes to clients that may have gone: a SIGPIPE stays
     * pending on this thread instead of killing the test (the client side
     * must protect itself, and this test checks it does) */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    while (!atomic_load(&sv->stop)) {
        struct pollfd p = {sv->listen_fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        int fd = accept(sv->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        SSL *ssl = SSL_new(sv->ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
            snprintf(sv->sni, sizeof sv->sni, "%s", name ? name : "");
            atomic_fetch_add(&sv->served, 1);
            serve_connection(sv, ssl);
        }
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
    }
    return NULL;
}

static void server_start(server *sv, int require_client_cert, int require_auth) {
    memset(sv, 0, sizeof *sv);
    sv->require_auth = require_auth;
    sv->ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate_chain_file(sv->ctx, fx("server.pem")), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(sv->ctx, fx("server.key"), SSL_FILETYPE_PEM), 1);
    if (require_client_cert) {
        assert_int_equal(SSL_CTX_load_verify_locations(sv->ctx, fx("ca.pem"), NULL), 1);
        SSL_CTX_set_verify(sv->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    sv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(sv->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(sv->listen_fd, 8), 0);
    socklen_t l = sizeof a;
    getsockname(sv->listen_fd, (struct sockaddr *)&a, &l);
    sv->port = ntohs(a.sin_port);
    pthread_create(&sv->thread, NULL, server_main, sv);
}

static void server_stop(server *sv) {
    atomic_store(&sv->stop, 1);
    pthread_join(sv->thread, NULL);
    close(sv->listen_fd);
    SSL_CTX_free(sv->ctx);
}

static void tls_config(cql_config *cfg, const server *sv) {
    cql_config_init(cfg);
    cfg->contact_points = "127.0.0.1";
    cfg->port = sv->port;
    cfg->connections_per_host = 1;
    cfg->events = 0; /* the test server serves one connection at a time */
    cfg->connect_timeout_ms = 3000;
    cfg->tls = 1;
    cfg->tls_sni = "cassnn.test";
    cfg->tls_ca_file = fx("ca.pem");
}

static int open_with(const cql_config *cfg, cassnn_err *err) {
    cql_session *s;
    if (cql_session_open(&s, cfg, err)) return -1;
    cql_multimap m;
    int rc = cql_options(s, &m, err);
    if (!rc) {
        size_t n;
        char *const *v = cql_multimap_get(&m, "CQL_VERSION", &n);
        rc = v && n == 1 && !strcmp(v[0], "3.4.7") ? 0 : cassnn_err_set(err, "bad SUPPORTED");
        cql_multimap_free(&m);
    }
    cql_session_close(s);
    return rc;
}

static void verified_tls_with_sni(void **state) {
    (void)state;
    server sv;
    server_start(&sv, 0, 0);
    cql_config cfg;
    tls_config(&cfg, &sv);
    cassnn_err err = {0};
    if (open_with(&cfg, &err)) fail_msg("%s", err.msg);
    assert_string_equal(sv.sni, "cassnn.test");
    server_stop(&sv);
}

static void untrusted_ca_is_rejected(void **state) {
    (void)state;
    server sv;
    server_start(&sv, 0, 0);
    cql_config cfg;
    tls_config(&cfg, &sv);
    cfg.tls_ca_file = fx("other-ca.pem");
    cassnn_err err = {0};
    assert_int_equal(open_with(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "certificate"));
    assert_int_equal(atomic_load(&sv.served), 0);
    server_stop(&sv);
}

static void wrong_server_name_is_rejected(void **state) {
    (void)state;
    server sv;
    server_start(&sv, 0, 0);
    cql_config cfg;
    tls_config(&cfg, &sv);
    cfg.tls_sni = "not-cassnn.test";
    cassnn_err err = {0};
    assert_int_equal(open_with(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "certificate"));
    /* the IP SAN matches when no name is given: the host is then checked */
    cfg.tls_sni = NULL;
    if (open_with(&cfg, &err)) fail_msg("by IP: %s", err.msg);
    server_stop(&sv);
}

static void client_certificate(void **state) {
    (void)state;
    server sv;
    server_start(&sv, 1, 0);
    cql_config cfg;
    tls_config(&cfg, &sv);
    cassnn_err err = {0};
    assert_int_equal(open_with(&cfg, &err), -1); /* the server demands a certificate */
    tls_config(&cfg, &sv);
    cfg.tls_cert_file = fx("client.pem");
    cfg.tls_key_file = NULL;
    assert_int_equal(open_with(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "needs both"));
    tls_config(&cfg, &sv);
    cfg.tls_cert_file = fx("client.pem");
    cfg.tls_key_file = fx("client.key");
    if (open_with(&cfg, &err)) fail_msg("with client cert: %s", err.msg);
    server_stop(&sv);
}

static void sasl_plain_password_authenticator(void **state) {
    (void)state;
    server sv;
    server_start(&sv, 0, 1);
    cql_config cfg;
    tls_config(&cfg, &sv);
    cassnn_err err = {0};
    assert_int_equal(open_with(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "requires authentication"));
    assert_non_null(strstr(err.msg, "PasswordAuthenticator"));
    cfg.username = "cassnn";
    cfg.password = "wrong";
    assert_int_equal(open_with(&cfg, &err), -1);
    assert_int_equal(err.code, CQL_ERR_BAD_CREDENTIALS);
    assert_non_null(strstr(err.msg, "incorrect"));
    assert_int_equal(atomic_load(&sv.auth_ok), 0);
    cfg.password = "s3cret";
    if (open_with(&cfg, &err)) fail_msg("%s", err.msg);
    assert_int_equal(atomic_load(&sv.auth_ok), 1);
    server_stop(&sv);
}

/* A node without system.peers_v2 (before Cassandra 4.0, DSE): its peers
 * come from system.peers, as the drivers read them. */
static void peers_of_an_older_node(void **state) {
    (void)state;
    server sv;
    server_start(&sv, 0, 0);
    sv.no_peers_v2 = 1;
    cql_config cfg;
    tls_config(&cfg, &sv);
    cql_session *s;
    cassnn_err err = {0};
    if (cql_session_open(&s, &cfg, &err)) fail_msg("%s", err.msg);
    assert_int_equal(atomic_load(&sv.old_peers_read), 1);
    int up = 0;
    assert_int_equal(cql_session_hosts(s, &up), 2);
    assert_int_equal(up, 1); /* 127.0.0.2 has no server */
    cql_host_stats st;
    assert_int_equal(cql_session_host_stats(s, 1, &st), 0);
    assert_string_equal(st.address, "127.0.0.2");
    assert_string_equal(st.dc, "dc-old");
    assert_int_equal(st.host_id[0], 0xaa);
    cql_session_close(s);
    server_stop(&sv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verified_tls_with_sni),
        cmocka_unit_test(untrusted_ca_is_rejected),
        cmocka_unit_test(wrong_server_name_is_rejected),
        cmocka_unit_test(client_certificate),
        cmocka_unit_test(peers_of_an_older_node),
        cmocka_unit_test(sasl_plain_password_authenticator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
