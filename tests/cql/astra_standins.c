/* astra_standins.c - test-only stand-ins for Astra's metadata service and
 * SNI proxy, and a bundle writer (see astra_standins.h). */
#include "astra_standins.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zip.h>

/* ------------------------------------------------------------- bundles */

int astra_write_bundle(const char *path, const char *config_json, const char *ca, const char *cert, const char *key) {
    int code = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (!z) {
        fprintf(stderr, "astra_write_bundle %s: zip_open failed (%d)\n", path, code);
        return -1;
    }
    const char *names[] = {"ca.crt", "cert", "key"}, *files[] = {ca, cert, key};
    zip_source_t *src = config_json ? zip_source_buffer(z, config_json, strlen(config_json), 0) : NULL;
    int rc = src && zip_file_add(z, "config.json", src, ZIP_FL_OVERWRITE) < 0 ? -1 : 0;
    for (int i = 0; i < 3 && !rc; i++) {
        if (!files[i]) continue;
        src = zip_source_file(z, files[i], 0, -1);
        if (!src || zip_file_add(z, names[i], src, ZIP_FL_OVERWRITE) < 0) rc = -1;
    }
    if (rc) {
        fprintf(stderr, "astra_write_bundle %s: %s\n", path, zip_strerror(z));
        zip_discard(z);
        return -1;
    }
    if (zip_close(z)) {
        fprintf(stderr, "astra_write_bundle %s: %s\n", path, zip_strerror(z));
        zip_discard(z);
        return -1;
    }
    return 0;
}

void astra_metadata_json(char *out, size_t cap, const char *proxy_ip, int proxy_port, const char *local_dc,
                         const char *const *host_ids, int n_ids) {
    size_t k = (size_t)snprintf(out, cap,
                                "{\"version\":1,\"region\":\"test\",\"contact_info\":{\"type\":\"sni_proxy\","
                                "\"local_dc\":\"%s\",\"sni_proxy_address\":\"%s:%d\",\"contact_points\":[",
                                local_dc, proxy_ip, proxy_port);
    for (int i = 0; i < n_ids && k < cap; i++) k += (size_t)snprintf(out + k, cap - k, "%s\"%s\"", i ? "," : "", host_ids[i]);
    if (k < cap) snprintf(out + k, cap - k, "]}}");
}

/* -------------------------------------------------------------- sockets */

/* A listening TCP socket on ip, port chosen by the kernel; -1 on failure. */
static int listen_on(const char *ip, int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof a;
    if (fd < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        listen(fd, 64) || getsockname(fd, (struct sockaddr *)&a, &len)) {
        perror("astra stand-in: listen");
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* accept() that gives up after timeout_ms (-1: nothing came). */
static int accept_within(int listen_fd, int timeout_ms) {
    struct pollfd p = {listen_fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return -1;
    return accept(listen_fd, NULL, NULL);
}

static void set_timeouts(int fd, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* The stand-ins write to clients that may have gone: SIGPIPE stays pending
 * on their threads instead of ending the test. */
static void block_sigpipe(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ----------------------------------------------------- metadata service */

struct astra_metadata_service {
    int listen_fd, port;
    SSL_CTX *ctx;
    pthread_t thread;
    atomic_int stop, requests, refused;
    pthread_mutex_t lock; /* guards status and body */
    int status;
    char body[8192];
};

static const char *reason_phrase(int status) {
    return status == 200 ? "OK" : status == 404 ? "Not Found" : status < 500 ? "Bad Request" : "Internal Server Error";
}

/* One request: read its head, answer as configured (or stay silent until
 * the client gives up, at most 10 s). */
static void serve_metadata(astra_metadata_service *m, SSL *ssl, int fd) {
    char req[4096];
    size_t len = 0;
    while (len + 1 < sizeof req) {
        int r = SSL_read(ssl, req + len, (int)(sizeof req - 1 - len));
        if (r <= 0) return;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    atomic_fetch_add(&m->requests, 1); /* before answering: the client may be done as soon as it reads */
    pthread_mutex_lock(&m->lock);
    int status = m->status;
    char body[sizeof m->body];
    snprintf(body, sizeof body, "%s", m->body);
    pthread_mutex_unlock(&m->lock);
    if (status == 0) { /* hang: wait for the client to close */
        struct pollfd p = {fd, POLLIN, 0};
        for (int i = 0; i < 100 && !atomic_load(&m->stop); i++)
            if (poll(&p, 1, 100) > 0) break;
        return;
    }
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, reason_phrase(status), strlen(body));
    SSL_write(ssl, head, n);
    SSL_write(ssl, body, (int)strlen(body));
    SSL_shutdown(ssl);
}

static void *metadata_main(void *arg) {
    astra_metadata_service *m = arg;
    block_sigpipe();
    while (!atomic_load(&m->stop)) {
        int fd = accept_within(m->listen_fd, 50);
        if (fd < 0) continue;
        set_timeouts(fd, 5000);
        SSL *ssl = SSL_new(m->ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) serve_metadata(m, ssl, fd);
        else atomic_fetch_add(&m->refused, 1);
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
    }
    return NULL;
}

astra_metadata_service *astra_metadata_start(const char *ip, const char *cert, const char *key, const char *trust) {
    astra_metadata_service *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->status = 200;
    snprintf(m->body, sizeof m->body, "{}");
    m->ctx = SSL_CTX_new(TLS_server_method());
    if (!m->ctx || SSL_CTX_use_certificate_chain_file(m->ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(m->ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(m->ctx, trust, NULL) != 1) {
        fprintf(stderr, "metadata stand-in: cannot load %s / %s / %s\n", cert, key, trust);
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(m->ctx);
        free(m);
        return NULL;
    }
    SSL_CTX_set_verify(m->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if ((m->listen_fd = listen_on(ip, &m->port)) < 0 || pthread_create(&m->thread, NULL, metadata_main, m)) {
        if (m->listen_fd >= 0) close(m->listen_fd);
        SSL_CTX_free(m->ctx);
        free(m);
        return NULL;
    }
    return m;
}

int astra_metadata_port(const astra_metadata_service *m) { return m->port; }

void astra_metadata_answer(astra_metadata_service *m, int status, const char *body) {
    pthread_mutex_lock(&m->lock);
    m->status = status;
    snprintf(m->body, sizeof m->body, "%s", body);
    pthread_mutex_unlock(&m->lock);
}

int astra_metadata_requests(astra_metadata_service *m) { return atomic_load(&m->requests); }
int astra_metadata_refused(astra_metadata_service *m) { return atomic_load(&m->refused); }

void astra_metadata_stop(astra_metadata_service *m) {
    if (!m) return;
    atomic_store(&m->stop, 1);
    pthread_join(m->thread, NULL);
    close(m->listen_fd);
    SSL_CTX_free(m->ctx);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ------------------------------------------------------------ SNI relay */

#define RELAY_ROUTES 8

typedef struct relay_route {
    char host_id[64];
    char ip[64];
    int port;
    atomic_int forwarded;
} relay_route;

struct sni_relay {
    int listen_fd, port;
    pthread_t thread;
    atomic_int stop, active, refused;
    pthread_mutex_t lock; /* guards routes and last_refused */
    relay_route routes[RELAY_ROUTES];
    int n_routes;
    char last_refused[128];
};

/* The server name in a TLS ClientHello (the body of its handshake record):
 * 0 with the name in out ("" when it sends none), -1 when it is not a
 * ClientHello this relay can read. */
static int client_hello_sni(const uint8_t *p, size_t n, char *out, size_t cap) {
    out[0] = '\0';
    if (n < 4 || p[0] != 1) return -1; /* handshake type client_hello */
    size_t end = 4 + ((size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
    if (end > n) return -1; /* split over several records: OpenSSL's never is */
    size_t k = 4 + 2 + 32;  /* version, random */
    if (k + 1 > end) return -1;
    k += 1 + p[k]; /* session id */
    if (k + 2 > end) return -1;
    k += 2 + ((size_t)p[k] << 8 | p[k + 1]); /* cipher suites */
    if (k + 1 > end) return -1;
    k += 1 + p[k]; /* compression methods */
    if (k + 2 > end) return 0; /* no extensions */
    size_t ext_end = k + 2 + ((size_t)p[k] << 8 | p[k + 1]);
    if (ext_end > end) return -1;
    for (k += 2; k + 4 <= ext_end;) {
        unsigned type = (unsigned)p[k] << 8 | p[k + 1];
        size_t len = (size_t)p[k + 2] << 8 | p[k + 3];
        k += 4;
        if (k + len > ext_end) return -1;
        if (type == 0) { /* server_name: list length, then (type 0 = host_name, length, name) */
            if (len < 5 || p[k + 2] != 0) return -1;
            size_t name_len = (size_t)p[k + 3] << 8 | p[k + 4];
            if (5 + name_len > len || name_len >= cap) return -1;
            memcpy(out, p + k + 5, name_len);
            out[name_len] = '\0';
            return 0;
        }
        k += len;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_exact(int fd, uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int connect_to(const char *ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Both directions until either side closes or the relay stops. */
static void pump(sni_relay *r, int a, int b) {
    uint8_t buf[16384];
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (!atomic_load(&r->stop)) {
        int n = poll(p, 2, 200);
        if (n < 0) return;
        for (int i = 0; i < 2 && n > 0; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t got = recv(p[i].fd, buf, sizeof buf, 0);
            if (got <= 0 || write_all(p[1 - i].fd, buf, (size_t)got)) return;
        }
    }
}

typedef struct relay_conn {
    sni_relay *relay;
    int fd;
} relay_conn;

static void refuse(sni_relay *r, const char *sni, const char *why) {
    pthread_mutex_lock(&r->lock);
    snprintf(r->last_refused, sizeof r->last_refused, "%s", sni);
    pthread_mutex_unlock(&r->lock);
    atomic_fetch_add(&r->refused, 1);
    fprintf(stderr, "SNI RELAY (test stand-in for Astra's proxy): REFUSED a stream: %s '%s'\n", why, sni);
}

static void *relay_conn_main(void *arg) {
    relay_conn *c = arg;
    sni_relay *r = c->relay;
    block_sigpipe();
    set_timeouts(c->fd, 5000);
    uint8_t rec[5 + 16384 + 2048];
    char sni[128] = "";
    size_t len = 0;
    if (read_exact(c->fd, rec, 5) == 0 && rec[0] == 22) { /* a handshake record */
        len = (size_t)rec[3] << 8 | rec[4];
        if (len > sizeof rec - 5 || read_exact(c->fd, rec + 5, len)) len = 0;
    }
    if (!len || client_hello_sni(rec + 5, len, sni, sizeof sni)) {
        refuse(r, "", "not a TLS ClientHello it can read:");
    } else {
        char ip[64] = "";
        int port = 0;
        relay_route *route = NULL;
        pthread_mutex_lock(&r->lock);
        for (int i = 0; i < r->n_routes; i++)
            if (!strcmp(r->routes[i].host_id, sni)) route = &r->routes[i];
        if (route) {
            snprintf(ip, sizeof ip, "%s", route->ip);
            port = route->port;
        }
        pthread_mutex_unlock(&r->lock);
        int node = route ? connect_to(ip, port) : -1;
        if (!route) refuse(r, sni, "the SNI names no host id of the cluster:");
        else if (node < 0) refuse(r, sni, "cannot reach the node for");
        else {
            atomic_fetch_add(&route->forwarded, 1);
            struct timeval none = {0, 0}; /* the stream may idle: no timeouts from here on */
            setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
            if (write_all(node, rec, 5 + len) == 0) pump(r, c->fd, node);
            close(node);
        }
    }
    close(c->fd);
    free(c);
    atomic_fetch_sub(&r->active, 1);
    return NULL;
}

static void *relay_main(void *arg) {
    sni_relay *r = arg;
    while (!atomic_load(&r->stop)) {
        int fd = accept_within(r->listen_fd, 50);
        if (fd < 0) continue;
        relay_conn *c = malloc(sizeof *c);
        pthread_t t;
        atomic_fetch_add(&r->active, 1);
        if (c) *c = (relay_conn){r, fd};
        if (!c || pthread_create(&t, NULL, relay_conn_main, c)) {
            close(fd);
            free(c);
            atomic_fetch_sub(&r->active, 1);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

sni_relay *sni_relay_start(const char *ip) {
    sni_relay *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->lock, NULL);
    if ((r->listen_fd = listen_on(ip, &r->port)) < 0 || pthread_create(&r->thread, NULL, relay_main, r)) {
        if (r->listen_fd >= 0) close(r->listen_fd);
        free(r);
        return NULL;
    }
    return r;
}

int sni_relay_port(const sni_relay *r) { return r->port; }

void sni_relay_route(sni_relay *r, const char *host_id, const char *ip, int port) {
    pthread_mutex_lock(&r->lock);
    if (r->n_routes < RELAY_ROUTES) {
        relay_route *t = &r->routes[r->n_routes++];
        snprintf(t->host_id, sizeof t->host_id, "%s", host_id);
        snprintf(t->ip, sizeof t->ip, "%s", ip);
        t->port = port;
    }
    pthread_mutex_unlock(&r->lock);
}

int sni_relay_forwarded(sni_relay *r, const char *host_id) {
    int n = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->n_routes; i++)
        if (!strcmp(r->routes[i].host_id, host_id)) n = atomic_load(&r->routes[i].forwarded);
    pthread_mutex_unlock(&r->lock);
    return n;
}

int sni_relay_refused(sni_relay *r, char *last, size_t cap) {
    pthread_mutex_lock(&r->lock);
    if (last) snprintf(last, cap, "%s", r->last_refused);
    pthread_mutex_unlock(&r->lock);
    return atomic_load(&r->refused);
}

void sni_relay_stop(sni_relay *r) {
    if (!r) return;
    atomic_store(&r->stop, 1);
    pthread_join(r->thread, NULL);
    close(r->listen_fd);
    /* the streams' threads see the flag within a poll (200 ms) or a read
     * timeout (5 s, a client that never sent its ClientHello) */
    for (int i = 0; i < 60 && atomic_load(&r->active) > 0; i++) usleep(100 * 1000);
    if (atomic_load(&r->active) > 0) fprintf(stderr, "sni relay: %d streams still open at stop\n", atomic_load(&r->active));
    else {
        pthread_mutex_destroy(&r->lock);
        free(r);
    }
}
