/* session.c - the public client (cql.h): hosts with connection pools,
 * request routing (token-aware, round-robin), retries, prepared cache with
 * transparent re-prepare, futures/callbacks, backpressure, paging, BATCH
 * and schema agreement. Frames are built by the codec and carried by
 * connection.c; this file only decides what to send where. */
#include "cassnn/cql.h"
#include "cql/connection.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- types */

struct cql_prepared {
    char *query;
    cql_result *res;              /* current PREPARED result: id + metadata */
    struct cql_prepared *next;
};

typedef struct host {
    char addr[64];
    int port;
    cql_conn **conns;
    int n_conns;
    atomic_int up;
    int64_t retry_at_ms;          /* when a down host may be reconnected */
    int fails;
    char down_reason[160];        /* why it was marked down (for errors) */
    pthread_mutex_t lock;         /* conns[] replacement on reconnect */
} host;

typedef struct ring_entry { int64_t token; int host; } ring_entry;

struct cql_session {
    cql_config cfg;
    char *strings[8];             /* owned copies of cfg's strings */
    SSL_CTX *ssl;
    host *hosts;
    int n_hosts;
    ring_entry *ring;
    size_t n_ring;
    atomic_uint rr;

    /* The connection REGISTERed for cluster events (cfg.events), reopened on
     * another live node when it dies; guarded by events_lock. */
    pthread_mutex_t events_lock;
    cql_conn *events_conn;
    _Atomic int64_t events_check_at_ms; /* next look at it: once a second at most,
                                           so requests do not contend for the lock */

    pthread_mutex_t lock;         /* inflight + prepared cache */
    pthread_cond_t cv;
    int inflight;
    cql_prepared *prepared;
    struct retired { cql_result *r; struct retired *next; } *retired; /* replaced PREPARED
                                     results: in-flight requests may still read them */
};

typedef struct batch_item {
    const cql_prepared *prep;
    char *query;
    size_t off, len;              /* its values inside request.values */
    uint16_t n;
} batch_item;

typedef struct request {
    cql_session *s;
    uint8_t opcode;               /* QUERY, EXECUTE or BATCH */
    char *query;
    const cql_prepared *prep;
    const cql_prepared *reprep;   /* the statement being re-prepared */
    cql_buf values;
    uint16_t n_values;
    cql_query_params params;
    uint8_t *paging_state;
    cql_batch_type batch_type;
    batch_item *items;
    uint16_t n_items;
    int timeout_ms, idempotent, attempts, reprepared;
    int has_token;
    int64_t token;
    int host;                     /* where it was last sent */
    int avoid_host;               /* a retry skips the host that just failed */
    cql_conn *conn;
    int holds_permit;
    cql_callback cb;
    void *user;
} request;

static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

/* ------------------------------------------------------- backpressure */

static void permit_acquire(cql_session *s) {
    pthread_mutex_lock(&s->lock);
    while (s->inflight >= s->cfg.max_inflight) pthread_cond_wait(&s->cv, &s->lock);
    s->inflight++;
    pthread_mutex_unlock(&s->lock);
}

static void permit_release(cql_session *s) {
    pthread_mutex_lock(&s->lock);
    s->inflight--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
}

void cql_session_drain(cql_session *s) {
    pthread_mutex_lock(&s->lock);
    while (s->inflight > 0) pthread_cond_wait(&s->cv, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ config */

void cql_config_init(cql_config *c) {
    memset(c, 0, sizeof *c);
    c->contact_points = "127.0.0.1";
    c->port = 9042;
    c->connections_per_host = 2;
    c->max_inflight = 256;
    c->connect_timeout_ms = 5000;
    c->request_timeout_ms = 12000;
    c->consistency = CQL_LOCAL_ONE;
    c->page_size = 5000;
    c->discover_peers = 1;
    c->token_aware = 1;
    c->retries = 2;
    c->events = 1;
}

cql_statement cql_stmt(const char *query, const cql_value *values, size_t n_values) {
    cql_statement st = {.query = query, .values = values, .n_values = n_values, .consistency = CQL_DEFAULT};
    return st;
}

cql_statement cql_stmt_prepared(const cql_prepared *p, const cql_value *values, size_t n_values) {
    cql_statement st = {.prepared = p, .values = values, .n_values = n_values, .consistency = CQL_DEFAULT};
    return st;
}

/* ------------------------------------------------------- hosts, conns */

static cql_conn_opts conn_opts(const cql_session *s) {
    return (cql_conn_opts){
        .connect_timeout_ms = s->cfg.connect_timeout_ms,
        .compression = s->cfg.compression,
        .keyspace = s->cfg.keyspace,
        .username = s->cfg.username,
        .password = s->cfg.password,
        .ssl_ctx = s->ssl,
        .sni = s->cfg.tls_sni,
        .verify_host = s->cfg.tls && !s->cfg.tls_no_verify,
    };
}

static int open_host_conns(cql_session *s, host *h, cassnn_err *err) {
    cql_conn_opts o = conn_opts(s);
    for (int i = 0; i < h->n_conns; i++) {
        if (h->conns[i] && !cql_conn_is_dead(h->conns[i])) continue;
        cql_conn *c;
        if (cql_conn_open(&c, h->addr, h->port, &o, err)) return -1;
        cql_conn *old = h->conns[i];
        h->conns[i] = c;
        /* A dead connection's reader has already failed its requests. */
        cql_conn_close(old);
    }
    return 0;
}

static void host_mark_down(host *h, const char *why) {
    pthread_mutex_lock(&h->lock);
    if (atomic_load(&h->up)) {
        snprintf(h->down_reason, sizeof h->down_reason, "%.150s", why);
        h->fails++;
        int64_t backoff = 500LL << (h->fails < 6 ? h->fails : 6); /* 1 s .. 32 s */
        h->retry_at_ms = cql_now_ms() + backoff;
        atomic_store(&h->up, 0);
    }
    pthread_mutex_unlock(&h->lock);
}

/* Reconnects a down host whose backoff expired (caller threads only: never
 * from a reader thread, where blocking would stall other requests). */
static void host_maybe_revive(cql_session *s, host *h) {
    if (atomic_load(&h->up) || cql_now_ms() < h->retry_at_ms) return;
    if (pthread_mutex_trylock(&h->lock)) return;
    if (!atomic_load(&h->up) && cql_now_ms() >= h->retry_at_ms) {
        cassnn_err e = {0};
        if (open_host_conns(s, h, &e) == 0) {
            h->fails = 0;
            atomic_store(&h->up, 1);
        } else {
            snprintf(h->down_reason, sizeof h->down_reason, "%.150s", e.msg);
            h->fails++;
            h->retry_at_ms = cql_now_ms() + (500LL << (h->fails < 6 ? h->fails : 6));
        }
    }
    pthread_mutex_unlock(&h->lock);
}

/* The live connection of h with the fewest requests in flight. */
static cql_conn *host_conn(host *h) {
    cql_conn *best = NULL;
    int best_n = 0;
    for (int i = 0; i < h->n_conns; i++) {
        cql_conn *c = h->conns[i];
        if (!c || cql_conn_is_dead(c)) continue;
        int n = cql_conn_inflight(c);
        if (!best || n < best_n) {
            best = c;
            best_n = n;
        }
    }
    return best;
}

/* ------------------------------------------------------------ events */

static void str_copy(char *out, size_t cap, cql_str v) {
    snprintf(out, cap, "%.*s", (int)(v.len < cap ? v.len : cap - 1), v.p ? v.p : "");
}

/* A pushed event (reader thread of the events connection): status and
 * topology changes update the node table at once, then the user hears it. */
static void on_cluster_event(void *user, const cql_event *ev) {
    cql_session *s = user;
    char type[32], change[32], addr[64] = "", ks[256] = "", name[256] = "";
    str_copy(type, sizeof type, ev->type);
    int schema = !strcmp(type, "SCHEMA_CHANGE");
    if (schema) {
        str_copy(change, sizeof change, ev->schema.change);
        str_copy(ks, sizeof ks, ev->schema.keyspace);
        str_copy(name, sizeof name, ev->schema.name);
    } else {
        str_copy(change, sizeof change, ev->change);
        if (!inet_ntop(ev->node.addr_len == 16 ? AF_INET6 : AF_INET, ev->node.addr, addr, sizeof addr))
            addr[0] = '\0';
        int gone = !strcmp(change, "DOWN") || !strcmp(change, "REMOVED_NODE");
        int back = !strcmp(change, "UP") || !strcmp(change, "NEW_NODE");
        for (int i = 0; i < s->n_hosts; i++) {
            host *h = &s->hosts[i];
            if (strcmp(h->addr, addr)) continue;
            if (gone) host_mark_down(h, !strcmp(change, "DOWN") ? "the cluster reported it DOWN"
                                                                : "it was removed from the cluster");
            if (back) {
                pthread_mutex_lock(&h->lock);
                h->fails = 0;
                h->retry_at_ms = 0; /* the next request reconnects it */
                pthread_mutex_unlock(&h->lock);
            }
        }
    }
    if (s->cfg.on_event)
        s->cfg.on_event(s->cfg.event_user, &(cql_cluster_event){type, change, addr, ks, name});
}

/* (Re)opens the events connection on the first live host that takes it
 * when it is missing or dead. Caller threads only (it blocks); it looks at
 * most once a second. */
static void events_maybe_reopen(cql_session *s) {
    if (!s->cfg.events || cql_now_ms() < atomic_load(&s->events_check_at_ms)) return;
    if (pthread_mutex_trylock(&s->events_lock)) return;
    if (!s->events_conn || cql_conn_is_dead(s->events_conn)) {
        cql_conn_close(s->events_conn);
        s->events_conn = NULL;
        cql_conn_opts o = conn_opts(s);
        o.on_event = on_cluster_event;
        o.event_user = s;
        for (int i = 0; i < s->n_hosts && !s->events_conn; i++) {
            host *h = &s->hosts[i];
            cassnn_err e = {0};
            if (atomic_load(&h->up) && cql_conn_open(&s->events_conn, h->addr, h->port, &o, &e))
                s->events_conn = NULL;
        }
    }
    atomic_store(&s->events_check_at_ms, cql_now_ms() + 1000);
    pthread_mutex_unlock(&s->events_lock);
}

/* Index of the first ring entry with token >= t (wrapping to 0). */
static size_t ring_position(const cql_session *s, int64_t t) {
    size_t lo = 0, hi = s->n_ring;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->ring[mid].token < t) lo = mid + 1;
        else hi = mid;
    }
    return lo == s->n_ring ? 0 : lo;
}

/* Token-aware order: the owner of t, then each next distinct node clockwise
 * (a node's later tokens add nothing). Returns how many were written. */
static int ring_order(const cql_session *s, int64_t t, int *order, int max) {
    int n = 0;
    for (size_t i = 0, at = ring_position(s, t); i < s->n_ring && n < max; i++) {
        int hi = s->ring[(at + i) % s->n_ring].host, seen = 0;
        for (int j = 0; j < n && !seen; j++) seen = order[j] == hi;
        if (!seen) order[n++] = hi;
    }
    return n;
}

/* Every host once, in the order a request tries them: its token's replicas
 * first when the token is known, then the others from a round-robin start. */
static int host_order(cql_session *s, const request *rq, int *order, int max) {
    int n = rq->has_token && s->n_ring && s->cfg.token_aware ? ring_order(s, rq->token, order, max) : 0;
    unsigned start = atomic_fetch_add(&s->rr, 1);
    for (int i = 0; i < s->n_hosts && n < max; i++) {
        int hi = (int)((start + (unsigned)i) % (unsigned)s->n_hosts), seen = 0;
        for (int j = 0; j < n && !seen; j++) seen = order[j] == hi;
        if (!seen) order[n++] = hi;
    }
    return n;
}

int cql_session_route(cql_session *s, int64_t token, int *hosts, int max) {
    request rq = {.has_token = 1, .token = token};
    return host_order(s, &rq, hosts, max);
}

const char *cql_session_host_name(cql_session *s, int i) {
    return i >= 0 && i < s->n_hosts ? s->hosts[i].addr : NULL;
}

/* ------------------------------------------------------------ requests */

static void request_free(request *rq) {
    if (!rq) return;
    free(rq->query);
    cql_buf_free(&rq->values);
    free(rq->paging_state);
    for (uint16_t i = 0; i < rq->n_items; i++) free(rq->items[i].query);
    free(rq->items);
    free(rq);
}

static const cql_result *prepared_current(cql_session *s, const cql_prepared *p) {
    pthread_mutex_lock(&s->lock);
    const cql_result *r = p->res;
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* Encodes the statement's values into rq->values, checking them against the
 * bind types of a prepared statement. */
static int encode_values(cql_session *s, request *rq, const cql_prepared *p, const cql_value *v, size_t n,
                         cassnn_err *err) {
    if (n > 0xFFFF) return cassnn_err_set(err, "cql: %zu bound values (max 65535)", n);
    if (p) {
        const cql_metadata *bind = &prepared_current(s, p)->bind;
        if ((int32_t)n != bind->n_columns)
            return cassnn_err_set(err, "cql: statement \"%.120s\" takes %d values, %zu given", p->query,
                                  bind->n_columns, n);
        for (size_t i = 0; i < n; i++) {
            char what[160];
            snprintf(what, sizeof what, "value %zu (%.*s)", i, (int)bind->columns[i].name.len,
                     bind->columns[i].name.p);
            if (cql_value_check(&v[i], bind->columns[i].type, what, err)) return -1;
        }
    }
    for (size_t i = 0; i < n; i++) cql_value_encode(&rq->values, &v[i]);
    if (rq->values.oom) return cassnn_err_set(err, "cql: out of memory encoding values");
    return 0;
}

/* Routing key -> token for a prepared statement whose partition key columns
 * are all bound (single key: the value's bytes; composite: each part as
 * [u16 len][bytes][0]). */
static void compute_token(request *rq, const cql_metadata *bind) {
    if (bind->n_pk <= 0 || bind->n_pk > 16) return;
    const uint8_t *part[16];
    int32_t plen[16];
    cql_rd r = {rq->values.data, rq->values.len, 0};
    for (int32_t i = 0; i < bind->n_columns; i++) {
        const uint8_t *p;
        int32_t l;
        if (cql_rd_bytes(&r, &p, &l, NULL)) return;
        for (int32_t k = 0; k < bind->n_pk; k++)
            if (bind->pk_indexes[k] == i) {
                if (l < 0) return; /* null/unset key: no routing */
                part[k] = p;
                plen[k] = l;
            }
    }
    if (bind->n_pk == 1) {
        rq->token = cql_murmur3_token(part[0], (size_t)plen[0]);
    } else {
        cql_buf key = {0};
        for (int32_t k = 0; k < bind->n_pk; k++) {
            cql_buf_short_bytes(&key, part[k], (size_t)plen[k]);
            cql_buf_u8(&key, 0);
        }
        if (key.oom) {
            cql_buf_free(&key);
            return;
        }
        rq->token = cql_murmur3_token(key.data, key.len);
        cql_buf_free(&key);
    }
    rq->has_token = 1;
}

static void set_params(cql_session *s, request *rq, const cql_statement *st) {
    rq->params.consistency = st->consistency == CQL_DEFAULT ? s->cfg.consistency : (cql_consistency)st->consistency;
    rq->params.serial_consistency = st->serial_consistency;
    rq->params.page_size = st->page_size == 0 ? s->cfg.page_size : st->page_size;
    rq->params.timestamp = st->timestamp;
    rq->timeout_ms = st->timeout_ms > 0 ? st->timeout_ms : s->cfg.request_timeout_ms;
    rq->idempotent = st->idempotent;
}

static int set_paging_state(request *rq, const uint8_t *p, size_t n, cassnn_err *err) {
    free(rq->paging_state);
    rq->paging_state = NULL;
    rq->params.paging_state = NULL;
    rq->params.paging_state_len = 0;
    if (!p) return 0;
    rq->paging_state = malloc(n ? n : 1);
    if (!rq->paging_state) return cassnn_err_set(err, "cql: out of memory");
    memcpy(rq->paging_state, p, n);
    rq->params.paging_state = rq->paging_state;
    rq->params.paging_state_len = n;
    return 0;
}

static request *request_from_statement(cql_session *s, const cql_statement *st, cassnn_err *err) {
    request *rq = calloc(1, sizeof *rq);
    if (!rq) {
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    rq->s = s;
    rq->avoid_host = -1;
    set_params(s, rq, st);
    if (st->prepared) {
        rq->opcode = CQL_OP_EXECUTE;
        rq->prep = st->prepared;
    } else if (st->query) {
        rq->opcode = CQL_OP_QUERY;
        rq->query = strdup(st->query);
        if (!rq->query) {
            cassnn_err_set(err, "cql: out of memory");
            goto fail;
        }
    } else {
        cassnn_err_set(err, "cql: statement has neither a query nor a prepared statement");
        goto fail;
    }
    if (encode_values(s, rq, st->prepared, st->values, st->n_values, err) ||
        set_paging_state(rq, st->paging_state, st->paging_state_len, err))
        goto fail;
    rq->n_values = (uint16_t)st->n_values;
    if (rq->prep) compute_token(rq, &prepared_current(s, rq->prep)->bind);
    return rq;
fail:
    request_free(rq);
    return NULL;
}

static void encode_request(cql_session *s, request *rq, cql_buf *frame) {
    if (rq->opcode == CQL_OP_QUERY) {
        cql_encode_query(frame, 0, rq->query, rq->values.data, rq->values.len, rq->n_values, &rq->params);
    } else if (rq->opcode == CQL_OP_EXECUTE) {
        const cql_result *p = prepared_current(s, rq->prep);
        cql_encode_execute(frame, 0, p->prepared_id, p->prepared_id_len, rq->values.data, rq->values.len,
                           rq->n_values, &rq->params);
    } else {
        cql_batch_entry entries[rq->n_items ? rq->n_items : 1];
        for (uint16_t i = 0; i < rq->n_items; i++) {
            batch_item *it = &rq->items[i];
            entries[i] = (cql_batch_entry){.query = it->query, .values = rq->values.data + it->off,
                                           .values_len = it->len, .n_values = it->n};
            if (it->prep) {
                const cql_result *p = prepared_current(s, it->prep);
                entries[i].query = NULL;
                entries[i].id = p->prepared_id;
                entries[i].id_len = p->prepared_id_len;
            }
        }
        cql_encode_batch(frame, 0, rq->batch_type, entries, rq->n_items, &rq->params);
    }
}

static void on_response(void *user, cql_response *resp, const cassnn_err *err);

/* Sends rq to the first usable host in its order. from_reader: called on a
 * reader thread (retry), so no blocking reconnects. */
static int request_send(request *rq, int from_reader, cassnn_err *err) {
    cql_session *s = rq->s;
    cassnn_err last = {0};
    int stack_order[64], *order = stack_order;
    if (s->n_hosts > 64 && !(order = malloc((size_t)s->n_hosts * sizeof *order)))
        return cassnn_err_set(err, "cql: out of memory");
    int n = host_order(s, rq, order, s->n_hosts > 64 ? s->n_hosts : 64);
    if (!from_reader) events_maybe_reopen(s);
    cassnn_err_code(&last, CQL_ERR_NO_HOST, "no node is up (%s down: %s)", s->hosts[order[0]].addr,
                    s->hosts[order[0]].down_reason);
    for (int i = 0; i < n; i++) {
        int hi = order[i];
        host *h = &s->hosts[hi];
        if (hi == rq->avoid_host && s->n_hosts > 1) continue;
        if (!from_reader) host_maybe_revive(s, h);
        if (!atomic_load(&h->up)) continue;
        cql_conn *c = host_conn(h);
        if (!c) {
            host_mark_down(h, "all its connections failed");
            continue;
        }
        cql_buf frame = {0};
        encode_request(s, rq, &frame);
        rq->host = hi;
        rq->conn = c;
        int rc = cql_conn_submit(c, &frame, rq->timeout_ms, on_response, rq, &last);
        cql_buf_free(&frame);
        if (rc == 0) {
            if (order != stack_order) free(order);
            return 0;
        }
        if (last.code == CQL_ERR_CONNECTION && cql_conn_is_dead(c) && !host_conn(h)) host_mark_down(h, last.msg);
    }
    if (order != stack_order) free(order);
    *err = last;
    return cassnn_err_code(err, last.code ? last.code : CQL_ERR_NO_HOST, "cql: cannot send request: %s",
                           last.msg);
}

static void request_complete(request *rq, cql_result *r, const cassnn_err *err) {
    cql_session *s = rq->s;
    int permit = rq->holds_permit;
    cql_callback cb = rq->cb;
    void *user = rq->user;
    request_free(rq);
    cb(user, r, err);
    if (permit) permit_release(s);
}

/* Retry an idempotent request on another node (or the same one when it is
 * the only one) after a short backoff: 10 ms, then 20 ms. This runs on a
 * reader thread; after a connection failure that thread has nothing else to
 * do, and after an overload/timeout answer the pause is welcome
 * backpressure on a node that is struggling. */
static int maybe_retry(request *rq, const cassnn_err *why) {
    if (!rq->idempotent || rq->attempts >= rq->s->cfg.retries) return 0;
    rq->attempts++;
    rq->avoid_host = rq->host;
    usleep((useconds_t)(10000 << (rq->attempts - 1)));
    cassnn_err e = {0};
    if (request_send(rq, 1, &e) == 0) return 1;
    (void)why;
    return 0;
}

static void on_reprepared(void *user, cql_response *resp, const cassnn_err *err);

/* The prepared statement of rq (or of its batch) whose id the node reported
 * as unknown; NULL when none matches. */
static const cql_prepared *unprepared_statement(cql_session *s, const request *rq, const uint8_t *id, size_t len) {
    for (int i = -1; i < (int)rq->n_items; i++) {
        const cql_prepared *p = i < 0 ? rq->prep : rq->items[i].prep;
        if (!p) continue;
        const cql_result *r = prepared_current(s, p);
        if (r->prepared_id_len == len && !memcmp(r->prepared_id, id, len)) return p;
    }
    return NULL;
}

static void on_response(void *user, cql_response *resp, const cassnn_err *err) {
    request *rq = user;
    cql_session *s = rq->s;
    if (!resp) {
        if (err->code == CQL_ERR_CONNECTION) {
            host *h = &s->hosts[rq->host];
            if (!host_conn(h)) host_mark_down(h, err->msg);
            if (maybe_retry(rq, err)) return;
        }
        request_complete(rq, NULL, err);
        return;
    }
    cassnn_err e = {0};
    const uint8_t *body = resp->body + resp->offset;
    size_t len = resp->len - resp->offset;
    if (resp->h.opcode == CQL_OP_RESULT) {
        cql_result *r;
        if (cql_decode_result(resp->body, resp->len, resp->offset, NULL, &r, &e)) {
            request_complete(rq, NULL, &e);
            return;
        }
        request_complete(rq, r, NULL);
        return;
    }
    if (resp->h.opcode != CQL_OP_ERROR) {
        cassnn_err_code(&e, CQL_ERR_CONNECTION, "cql: unexpected opcode 0x%02x in answer", resp->h.opcode);
        free(resp->body);
        request_complete(rq, NULL, &e);
        return;
    }
    cql_error ce;
    if (cql_decode_error(body, len, &ce, &e)) {
        free(resp->body);
        request_complete(rq, NULL, &e);
        return;
    }
    cql_error_to_err(&ce, &e);
    /* The node forgot a statement (restart, cache eviction): prepare it again
     * on the same connection, then resend. A batch may hold several, so up
     * to one re-prepare per statement. (ce points into the body: look the
     * statement up before freeing it.) */
    const cql_prepared *p = ce.code == CQL_ERR_UNPREPARED && rq->reprepared <= rq->n_items
                                ? unprepared_statement(s, rq, ce.unprepared_id, ce.unprepared_id_len)
                                : NULL;
    free(resp->body);
    if (p) {
        rq->reprepared++;
        rq->reprep = p;
        {
            cql_buf frame = {0};
            cql_encode_prepare(&frame, 0, p->query);
            int rc = cql_conn_submit(rq->conn, &frame, rq->timeout_ms, on_reprepared, rq, &e);
            cql_buf_free(&frame);
            if (rc == 0) return;
        }
    }
    /* The node could not do it in time, or cannot now: an idempotent request
     * is safe to send again (to another node when there is one). */
    int transient = ce.code == CQL_ERR_OVERLOADED || ce.code == CQL_ERR_IS_BOOTSTRAPPING ||
                    ce.code == CQL_ERR_WRITE_TIMEOUT || ce.code == CQL_ERR_READ_TIMEOUT ||
                    ce.code == CQL_ERR_UNAVAILABLE;
    if (transient && maybe_retry(rq, &e)) return;
    request_complete(rq, NULL, &e);
}

static void on_reprepared(void *user, cql_response *resp, const cassnn_err *err) {
    request *rq = user;
    cql_session *s = rq->s;
    cassnn_err e = {0};
    if (!resp) {
        request_complete(rq, NULL, err);
        return;
    }
    if (resp->h.opcode != CQL_OP_RESULT) {
        cql_error ce;
        if (!cql_decode_error(resp->body + resp->offset, resp->len - resp->offset, &ce, &e)) cql_error_to_err(&ce, &e);
        free(resp->body);
        cassnn_err_wrap(&e, "re-preparing after UNPREPARED");
        request_complete(rq, NULL, &e);
        return;
    }
    cql_result *r;
    if (cql_decode_result(resp->body, resp->len, resp->offset, NULL, &r, &e)) {
        request_complete(rq, NULL, &e);
        return;
    }
    struct retired *old = malloc(sizeof *old);
    if (r->kind != CQL_RESULT_PREPARED || !old) {
        cassnn_err_set(&e, "cql: re-PREPARE answered with result kind %d", r->kind);
        cql_result_free(r);
        free(old);
        request_complete(rq, NULL, &e);
        return;
    }
    cql_prepared *p = (cql_prepared *)rq->reprep;
    pthread_mutex_lock(&s->lock);
    old->r = p->res;
    old->next = s->retired;
    s->retired = old;
    p->res = r;
    pthread_mutex_unlock(&s->lock);
    if (request_send(rq, 1, &e)) request_complete(rq, NULL, &e);
}

/* ------------------------------------------------------------- futures */

struct cql_future {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    cql_result *r;
    cassnn_err err;
};

static void future_done(void *user, cql_result *r, const cassnn_err *err) {
    cql_future *f = user;
    pthread_mutex_lock(&f->mu);
    f->r = r;
    if (err) f->err = *err;
    f->done = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Submits a built request: takes a backpressure permit first (blocking while
 * max_inflight requests are out). Consumes rq either way. */
static int submit(cql_session *s, request *rq, cql_callback cb, void *user, cassnn_err *err) {
    rq->cb = cb;
    rq->user = user;
    permit_acquire(s);
    rq->holds_permit = 1;
    if (request_send(rq, 0, err)) {
        request_free(rq);
        permit_release(s);
        return -1;
    }
    return 0;
}

int cql_execute_cb(cql_session *s, const cql_statement *st, cql_callback cb, void *user, cassnn_err *err) {
    request *rq = request_from_statement(s, st, err);
    if (!rq) return -1;
    return submit(s, rq, cb, user, err);
}

static cql_future *future_new(cassnn_err *err) {
    cql_future *f = calloc(1, sizeof *f);
    if (!f) {
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    return f;
}

static void future_free(cql_future *f) {
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

static cql_future *submit_future(cql_session *s, request *rq, cassnn_err *err) {
    cql_future *f = future_new(err);
    if (!f) {
        request_free(rq);
        return NULL;
    }
    if (submit(s, rq, future_done, f, err)) {
        future_free(f);
        return NULL;
    }
    return f;
}

cql_future *cql_execute_async(cql_session *s, const cql_statement *st, cassnn_err *err) {
    request *rq = request_from_statement(s, st, err);
    return rq ? submit_future(s, rq, err) : NULL;
}

int cql_future_wait(cql_future *f, cql_result **out, cassnn_err *err) {
    pthread_mutex_lock(&f->mu);
    while (!f->done) pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    int rc = 0;
    if (!f->r) {
        if (err) *err = f->err;
        rc = -1;
    }
    if (out) *out = f->r;
    else cql_result_free(f->r);
    future_free(f);
    return rc;
}

/* ------------------------------------------------------ sync wrappers */

int cql_execute(cql_session *s, const cql_statement *st, cql_result **out, cassnn_err *err) {
    if (out) *out = NULL;
    cql_future *f = cql_execute_async(s, st, err);
    cql_result *r;
    if (!f || cql_future_wait(f, &r, err)) return -1;
    if (r->kind == CQL_RESULT_SCHEMA_CHANGE &&
        cql_wait_schema_agreement(s, st->timeout_ms > 0 ? st->timeout_ms : s->cfg.request_timeout_ms, err)) {
        cql_result_free(r);
        return -1;
    }
    if (out) *out = r;
    else cql_result_free(r);
    return 0;
}

int cql_query(cql_session *s, const char *query, const cql_value *values, size_t n_values, cql_result **out,
              cassnn_err *err) {
    cql_statement st = cql_stmt(query, values, n_values);
    return cql_execute(s, &st, out, err);
}

/* --------------------------------------------------------- control calls */

/* Runs one raw request on some live connection and waits (OPTIONS,
 * PREPARE, system table reads). */
static int control_call(cql_session *s, cql_buf *frame, cql_response *resp, cassnn_err *err) {
    for (int i = 0; i < s->n_hosts; i++) {
        host *h = &s->hosts[(atomic_fetch_add(&s->rr, 1) + (unsigned)i) % (unsigned)s->n_hosts];
        host_maybe_revive(s, h);
        cql_conn *c = atomic_load(&h->up) ? host_conn(h) : NULL;
        if (!c) continue;
        cql_buf copy = {0};
        cql_buf_bytes_raw(&copy, frame->data, frame->len); /* submit may compress in place */
        int rc = cql_conn_call(c, &copy, s->cfg.request_timeout_ms, resp, err);
        cql_buf_free(&copy);
        if (rc == 0 || err->code != CQL_ERR_CONNECTION) return rc;
        if (!host_conn(h)) host_mark_down(h, err->msg);
    }
    return cassnn_err_code(err, CQL_ERR_NO_HOST, "cql: no node is up");
}

/* Turns an ERROR response into err (consuming it). */
static int response_error(cql_response *resp, cassnn_err *err) {
    cql_error ce;
    if (!cql_decode_error(resp->body + resp->offset, resp->len - resp->offset, &ce, err)) cql_error_to_err(&ce, err);
    free(resp->body);
    return -1;
}

int cql_options(cql_session *s, cql_multimap *out, cassnn_err *err) {
    cql_buf frame = {0};
    cql_response resp;
    cql_encode_options(&frame, 0);
    int rc = control_call(s, &frame, &resp, err);
    cql_buf_free(&frame);
    if (rc) return -1;
    if (resp.h.opcode == CQL_OP_ERROR) return response_error(&resp, err);
    if (resp.h.opcode != CQL_OP_SUPPORTED) {
        free(resp.body);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql: OPTIONS answered with opcode 0x%02x", resp.h.opcode);
    }
    rc = cql_decode_supported(resp.body + resp.offset, resp.len - resp.offset, out, err);
    free(resp.body);
    return rc;
}

int cql_prepare(cql_session *s, const char *query, const cql_prepared **out, cassnn_err *err) {
    pthread_mutex_lock(&s->lock);
    for (cql_prepared *p = s->prepared; p; p = p->next)
        if (!strcmp(p->query, query)) {
            pthread_mutex_unlock(&s->lock);
            *out = p;
            return 0;
        }
    pthread_mutex_unlock(&s->lock);

    cql_buf frame = {0};
    cql_response resp;
    cql_encode_prepare(&frame, 0, query);
    int rc = control_call(s, &frame, &resp, err);
    cql_buf_free(&frame);
    if (rc) return cassnn_err_wrap(err, "preparing \"%.200s\"", query);
    if (resp.h.opcode == CQL_OP_ERROR) {
        response_error(&resp, err);
        return cassnn_err_wrap(err, "preparing \"%.200s\"", query);
    }
    cql_result *r;
    if (resp.h.opcode != CQL_OP_RESULT) {
        free(resp.body);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql: PREPARE answered with opcode 0x%02x", resp.h.opcode);
    }
    if (cql_decode_result(resp.body, resp.len, resp.offset, NULL, &r, err)) return -1;
    cql_prepared *p = calloc(1, sizeof *p);
    if (r->kind != CQL_RESULT_PREPARED || !p || !(p->query = strdup(query))) {
        rc = r->kind != CQL_RESULT_PREPARED ? cassnn_err_set(err, "cql: PREPARE answered with result kind %d", r->kind)
                                            : cassnn_err_set(err, "cql: out of memory");
        cql_result_free(r);
        free(p);
        return rc;
    }
    p->res = r;
    pthread_mutex_lock(&s->lock);
    /* Another thread may have prepared the same text meanwhile: keep one. */
    for (cql_prepared *q = s->prepared; q; q = q->next)
        if (!strcmp(q->query, query)) {
            pthread_mutex_unlock(&s->lock);
            cql_result_free(r);
            free(p->query);
            free(p);
            *out = q;
            return 0;
        }
    p->next = s->prepared;
    s->prepared = p;
    pthread_mutex_unlock(&s->lock);
    *out = p;
    return 0;
}

const cql_metadata *cql_prepared_params(const cql_prepared *p) { return &p->res->bind; }

/* ---------------------------------------------------------------- batch */

int cql_batch(cql_session *s, cql_batch_type type, const cql_statement *stmts, size_t n, cassnn_err *err) {
    if (n == 0 || n > 0xFFFF) return cassnn_err_set(err, "cql: a batch needs 1..65535 statements, got %zu", n);
    request *rq = calloc(1, sizeof *rq);
    if (!rq || !(rq->items = calloc(n, sizeof *rq->items))) {
        free(rq);
        return cassnn_err_set(err, "cql: out of memory");
    }
    rq->s = s;
    rq->avoid_host = -1;
    rq->opcode = CQL_OP_BATCH;
    rq->batch_type = type;
    set_params(s, rq, &stmts[0]);
    for (size_t i = 0; i < n; i++) {
        batch_item *it = &rq->items[i];
        rq->n_items++;
        it->prep = stmts[i].prepared;
        if (!it->prep && !(it->query = dupstr(stmts[i].query))) {
            request_free(rq);
            return cassnn_err_set(err, "cql: batch statement %zu has no query", i);
        }
        it->off = rq->values.len;
        if (encode_values(s, rq, it->prep, stmts[i].values, stmts[i].n_values, err)) {
            request_free(rq);
            return cassnn_err_wrap(err, "batch statement %zu", i);
        }
        it->len = rq->values.len - it->off;
        it->n = (uint16_t)stmts[i].n_values;
    }
    cql_future *f = submit_future(s, rq, err);
    return f ? cql_future_wait(f, NULL, err) : -1;
}

/* ---------------------------------------------------------------- paging */

struct cql_pager {
    cql_session *s;
    request *proto;      /* the statement, encoded once; cloned per page */
    cql_future *next;    /* the page in flight */
    cql_result *page;    /* the page handed to the caller */
};

static request *request_clone(const request *p, const uint8_t *state, size_t state_len, cassnn_err *err) {
    request *rq = calloc(1, sizeof *rq);
    if (!rq) {
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    *rq = *p;
    rq->query = NULL;
    rq->values = (cql_buf){0};
    rq->paging_state = NULL;
    rq->items = NULL;
    rq->n_items = 0;
    if ((p->query && !(rq->query = strdup(p->query))) ||
        (cql_buf_bytes_raw(&rq->values, p->values.data, p->values.len), rq->values.oom) ||
        set_paging_state(rq, state, state_len, err)) {
        request_free(rq);
        cassnn_err_set(err, "cql: out of memory");
        return NULL;
    }
    return rq;
}

int cql_pager_open(cql_session *s, const cql_statement *st, cql_pager **out, cassnn_err *err) {
    *out = NULL;
    cql_pager *pg = calloc(1, sizeof *pg);
    if (!pg) return cassnn_err_set(err, "cql: out of memory");
    pg->s = s;
    pg->proto = request_from_statement(s, st, err);
    request *first = pg->proto ? request_clone(pg->proto, st->paging_state, st->paging_state_len, err) : NULL;
    if (!first || !(pg->next = submit_future(s, first, err))) {
        cql_pager_close(pg);
        return -1;
    }
    *out = pg;
    return 0;
}

int cql_pager_next(cql_pager *pg, const cql_result **page, cassnn_err *err) {
    cql_result_free(pg->page);
    pg->page = NULL;
    if (!pg->next) return 0;
    cql_future *f = pg->next;
    pg->next = NULL;
    if (cql_future_wait(f, &pg->page, err)) return -1;
    size_t len;
    const uint8_t *state = cql_result_paging_state(pg->page, &len);
    if (state) { /* ask for the next page now, while the caller works */
        request *rq = request_clone(pg->proto, state, len, err);
        if (!rq || !(pg->next = submit_future(pg->s, rq, err))) return -1;
    }
    *page = pg->page;
    return 1;
}

void cql_pager_close(cql_pager *pg) {
    if (!pg) return;
    if (pg->next) cql_future_wait(pg->next, NULL, NULL);
    cql_result_free(pg->page);
    request_free(pg->proto);
    free(pg);
}

/* ------------------------------------------------- system tables, schema */

/* Runs a simple query on one given connection and waits (schema versions
 * must be read from one node's point of view). */
static int conn_query(cql_conn *c, const char *q, int timeout_ms, cql_result **out, cassnn_err *err) {
    cql_buf frame = {0};
    cql_query_params p = {.consistency = CQL_ONE};
    cql_encode_query(&frame, 0, q, NULL, 0, 0, &p);
    cql_response resp;
    int rc = cql_conn_call(c, &frame, timeout_ms, &resp, err);
    cql_buf_free(&frame);
    if (rc) return -1;
    if (resp.h.opcode == CQL_OP_ERROR) return response_error(&resp, err);
    if (resp.h.opcode != CQL_OP_RESULT) {
        free(resp.body);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql: query answered with opcode 0x%02x", resp.h.opcode);
    }
    if (cql_decode_result(resp.body, resp.len, resp.offset, NULL, out, err)) return -1;
    if ((*out)->kind != CQL_RESULT_ROWS) {
        cql_result_free(*out);
        return cassnn_err_set(err, "cql: \"%s\" returned no rows result", q);
    }
    return 0;
}

/* Collects the distinct schema versions one node knows (its own and its
 * live peers'); agreement = exactly one. */
/* Schema agreement asks every connected node for its own version
 * (system.local through its own connection: peers_v2 only has what gossip
 * has spread so far, which can still show the old version of a node that
 * has not applied a change), and also checks peers_v2 for the nodes the
 * session is not connected to. */
static int local_schema_version(cql_conn *c, int timeout_ms, uint8_t v[16], cassnn_err *err) {
    cql_result *r;
    if (conn_query(c, "SELECT schema_version FROM system.local WHERE key='local'", timeout_ms, &r, err)) return -1;
    int rc = cql_result_row_count(r) == 1 ? cql_get_uuid(r, 0, 0, v, err)
                                          : cassnn_err_set(err, "system.local has no row");
    cql_result_free(r);
    return rc;
}

/* 1 when every peer c's node knows of reports version v (or none yet). */
static int peers_agree(cql_conn *c, int timeout_ms, const uint8_t v[16], cassnn_err *err) {
    cql_result *r;
    if (conn_query(c, "SELECT schema_version FROM system.peers_v2", timeout_ms, &r, err)) return -1;
    int agree = 1;
    for (int32_t row = 0; row < cql_result_row_count(r) && agree; row++) {
        uint8_t pv[16];
        if (cql_cell_is_null(cql_result_cell(r, row, 0))) continue; /* peer not up yet */
        if (cql_get_uuid(r, row, 0, pv, err)) agree = -1;
        else agree = !memcmp(pv, v, 16);
    }
    cql_result_free(r);
    return agree;
}

int cql_wait_schema_agreement(cql_session *s, int timeout_ms, cassnn_err *err) {
    int64_t deadline = cql_now_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
    for (;;) {
        uint8_t first[16], v[16];
        int asked = 0, agree = 1;
        cql_conn *first_conn = NULL;
        for (int i = 0; i < s->n_hosts && agree; i++) {
            cql_conn *c = atomic_load(&s->hosts[i].up) ? host_conn(&s->hosts[i]) : NULL;
            if (!c) continue; /* a down node catches up when it comes back */
            if (local_schema_version(c, s->cfg.request_timeout_ms, asked ? v : first, err)) {
                if (cql_conn_is_dead(c)) continue; /* it went down meanwhile */
                return cassnn_err_wrap(err, "schema agreement: %s", s->hosts[i].addr);
            }
            agree = !asked || !memcmp(first, v, 16);
            if (!asked++) first_conn = c;
        }
        if (!asked) return cassnn_err_code(err, CQL_ERR_NO_HOST, "cql: schema agreement: no node is up");
        if (agree && (agree = peers_agree(first_conn, s->cfg.request_timeout_ms, first, err)) < 0)
            return cassnn_err_wrap(err, "schema agreement");
        if (agree) return 0;
        if (cql_now_ms() >= deadline)
            return cassnn_err_code(err, CQL_ERR_CLIENT_TIMEOUT, "cql: nodes still report different schema "
                                   "versions after %d ms", timeout_ms);
        usleep(200 * 1000);
    }
}

int cql_session_hosts(cql_session *s, int *up) {
    int n = 0;
    for (int i = 0; i < s->n_hosts; i++) n += atomic_load(&s->hosts[i].up) ? 1 : 0;
    if (up) *up = n;
    return s->n_hosts;
}

/* ------------------------------------------------------------ discovery */

static int add_host(cql_session *s, const char *addr, int port, cassnn_err *err) {
    for (int i = 0; i < s->n_hosts; i++)
        if (!strcmp(s->hosts[i].addr, addr) && s->hosts[i].port == port) return i;
    host *hs = realloc(s->hosts, (size_t)(s->n_hosts + 1) * sizeof *hs);
    if (!hs) return cassnn_err_set(err, "cql: out of memory");
    s->hosts = hs;
    host *h = &hs[s->n_hosts];
    memset(h, 0, sizeof *h);
    snprintf(h->addr, sizeof h->addr, "%s", addr);
    h->port = port;
    h->n_conns = s->cfg.connections_per_host;
    h->conns = calloc((size_t)h->n_conns, sizeof *h->conns);
    if (!h->conns) return cassnn_err_set(err, "cql: out of memory");
    pthread_mutex_init(&h->lock, NULL);
    return s->n_hosts++;
}

static int add_tokens(cql_session *s, const cql_result *r, int32_t row, int32_t col, int hi, cassnn_err *err) {
    cql_cell c = cql_result_cell(r, row, col);
    if (cql_cell_is_null(c)) return 0;
    cql_type t = cql_result_column(r, col)->type;
    int32_t n;
    if (cql_cell_list_count(c, t, &n, err)) return -1;
    cql_cell *items = malloc((size_t)(n ? n : 1) * sizeof *items);
    ring_entry *ring = realloc(s->ring, (s->n_ring + (size_t)n) * sizeof *ring + 1);
    if (!items || !ring) {
        free(items);
        return cassnn_err_set(err, "cql: out of memory");
    }
    s->ring = ring;
    if (cql_cell_list_items(c, t, items, n, err)) {
        free(items);
        return -1;
    }
    cql_type elem = {t.elem, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        cql_str tok;
        if (cql_cell_text(items[i], elem, &tok, err)) {
            free(items);
            return -1;
        }
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)(tok.len < 31 ? tok.len : 31), tok.p);
        s->ring[s->n_ring++] = (ring_entry){strtoll(buf, NULL, 10), hi};
    }
    free(items);
    return 0;
}

static int cmp_ring(const void *a, const void *b) {
    int64_t x = ((const ring_entry *)a)->token, y = ((const ring_entry *)b)->token;
    return (x > y) - (x < y);
}

static int inet_text(cql_cell c, char *out, size_t cap) {
    if (c.len == 4) return inet_ntop(AF_INET, c.p, out, (socklen_t)cap) ? 0 : -1;
    if (c.len == 16) return inet_ntop(AF_INET6, c.p, out, (socklen_t)cap) ? 0 : -1;
    return -1;
}

/* Reads the ring from the first connected node: its own tokens
 * (system.local) and every peer's address and tokens (system.peers_v2). */
static int discover(cql_session *s, int first, cassnn_err *err) {
    cql_conn *c = host_conn(&s->hosts[first]);
    cql_result *r;
    if (conn_query(c, "SELECT tokens FROM system.local WHERE key='local'", s->cfg.request_timeout_ms, &r, err))
        return cassnn_err_wrap(err, "reading system.local");
    int rc = cql_result_row_count(r) ? add_tokens(s, r, 0, 0, first, err) : 0;
    cql_result_free(r);
    if (rc) return -1;
    if (conn_query(c, "SELECT native_address, native_port, tokens FROM system.peers_v2", s->cfg.request_timeout_ms, &r, err))
        return cassnn_err_wrap(err, "reading system.peers_v2");
    for (int32_t row = 0; row < cql_result_row_count(r) && !rc; row++) {
        char addr[64];
        int32_t port = s->cfg.port;
        cql_cell pc = cql_result_cell(r, row, 1);
        if (inet_text(cql_result_cell(r, row, 0), addr, sizeof addr)) continue;
        if (!cql_cell_is_null(pc) && cql_get_int(r, row, 1, &port, err)) rc = -1;
        int hi = rc ? -1 : (s->cfg.discover_peers ? add_host(s, addr, port, err) : -1);
        if (hi >= 0) rc = add_tokens(s, r, row, 2, hi, err);
    }
    cql_result_free(r);
    if (rc) return -1;
    qsort(s->ring, s->n_ring, sizeof *s->ring, cmp_ring);
    return 0;
}

/* ------------------------------------------------------------ open/close */

static int tls_setup(cql_session *s, cassnn_err *err) {
    s->ssl = SSL_CTX_new(TLS_client_method());
    if (!s->ssl) return cassnn_err_set(err, "cql tls: cannot create context");
    SSL_CTX_set_min_proto_version(s->ssl, TLS1_2_VERSION);
    const cql_config *c = &s->cfg;
    char msg[256];
    if (c->tls_ca_file ? SSL_CTX_load_verify_locations(s->ssl, c->tls_ca_file, NULL) != 1
                       : SSL_CTX_set_default_verify_paths(s->ssl) != 1) {
        ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
        return cassnn_err_set(err, "cql tls: cannot load CA %s: %s", c->tls_ca_file ? c->tls_ca_file : "(system)", msg);
    }
    SSL_CTX_set_verify(s->ssl, c->tls_no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (c->tls_cert_file || c->tls_key_file) {
        if (!c->tls_cert_file || !c->tls_key_file)
            return cassnn_err_set(err, "cql tls: a client certificate needs both a cert and a key file");
        if (SSL_CTX_use_certificate_chain_file(s->ssl, c->tls_cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(s->ssl, c->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(s->ssl) != 1) {
            ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
            return cassnn_err_set(err, "cql tls: client certificate %s / key %s: %s", c->tls_cert_file,
                                  c->tls_key_file, msg);
        }
    }
    return 0;
}

int cql_session_open(cql_session **out, const cql_config *cfg, cassnn_err *err) {
    *out = NULL;
    cql_session *s = calloc(1, sizeof *s);
    if (!s) return cassnn_err_set(err, "cql: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->events_lock, NULL);
    s->cfg = *cfg;
    const char **fields[] = {&s->cfg.contact_points, &s->cfg.keyspace, &s->cfg.username, &s->cfg.password,
                             &s->cfg.tls_ca_file, &s->cfg.tls_cert_file, &s->cfg.tls_key_file, &s->cfg.tls_sni};
    for (int i = 0; i < 8; i++) *fields[i] = s->strings[i] = dupstr(*fields[i]);
    if (!s->cfg.contact_points) s->cfg.contact_points = "127.0.0.1";
    if (s->cfg.port <= 0) s->cfg.port = 9042;
    if (s->cfg.connections_per_host <= 0) s->cfg.connections_per_host = 1;
    if (s->cfg.max_inflight <= 0) s->cfg.max_inflight = 256;
    if (s->cfg.request_timeout_ms <= 0) s->cfg.request_timeout_ms = 12000;
    if (s->cfg.tls && tls_setup(s, err)) goto fail;

    /* contact points */
    char *list = strdup(s->cfg.contact_points), *save = NULL;
    if (!list) {
        cassnn_err_set(err, "cql: out of memory");
        goto fail;
    }
    for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        if (add_host(s, tok, s->cfg.port, err) < 0) {
            free(list);
            goto fail;
        }
    free(list);
    if (s->n_hosts == 0) {
        cassnn_err_set(err, "cql: no contact point given");
        goto fail;
    }
    int first = -1, n_contacts = s->n_hosts;
    cassnn_err last = {0};
    for (int i = 0; i < n_contacts && first < 0; i++)
        if (open_host_conns(s, &s->hosts[i], &last) == 0) {
            atomic_store(&s->hosts[i].up, 1);
            first = i;
        }
    if (first < 0) {
        *err = last;
        cassnn_err_wrap(err, "cql: cannot connect to any contact point (%s)", s->cfg.contact_points);
        goto fail;
    }
    if (discover(s, first, err)) goto fail;
    for (int i = 0; i < s->n_hosts; i++) {
        host *h = &s->hosts[i];
        if (i == first) continue;
        cassnn_err e = {0};
        if (open_host_conns(s, h, &e) == 0) atomic_store(&h->up, 1);
        else h->retry_at_ms = cql_now_ms() + 1000;
    }
    events_maybe_reopen(s); /* only now: the node table no longer changes */
    *out = s;
    return 0;
fail:
    cql_session_close(s);
    return -1;
}

void cql_session_close(cql_session *s) {
    if (!s) return;
    cql_session_drain(s);
    cql_conn_close(s->events_conn); /* first: its events read the node table */
    for (int i = 0; i < s->n_hosts; i++) {
        for (int j = 0; j < s->hosts[i].n_conns; j++) cql_conn_close(s->hosts[i].conns[j]);
        free(s->hosts[i].conns);
        pthread_mutex_destroy(&s->hosts[i].lock);
    }
    free(s->hosts);
    free(s->ring);
    while (s->prepared) {
        cql_prepared *p = s->prepared;
        s->prepared = p->next;
        cql_result_free(p->res);
        free(p->query);
        free(p);
    }
    while (s->retired) {
        struct retired *r = s->retired;
        s->retired = r->next;
        cql_result_free(r->r);
        free(r);
    }
    if (s->ssl) SSL_CTX_free(s->ssl);
    for (int i = 0; i < 8; i++) free(s->strings[i]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->events_lock);
    free(s);
}
