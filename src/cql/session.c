/* session.c - the request lifecycle (see session.h): a request is routed
 * (routing.h), sent on a pooled connection (pool.h), answered on a reader
 * thread, and then completed, re-prepared (prepared.h) or retried as the
 * retry policy (retry.h) decides, through the worker (worker.h). Also the
 * session's opening and closing, its configuration and its counters. */
#include "cql/session.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cql/cloud.h"
#include "cql/future.h"

/* ------------------------------------------------------- configuration */

void cql_config_init(cql_config *c) {
    memset(c, 0, sizeof *c);
    c->contact_points = "127.0.0.1";
    c->port = 9042;
    c->connections_per_host = 2;
    c->max_inflight = 256;
    c->connect_timeout_ms = 5000;
    c->request_timeout_ms = 12000;
    c->consistency = CQL_DEFAULT;
    c->page_size = 5000;
    c->discover_peers = 1;
    c->token_aware = 1;
    c->retries = 5;
    c->retry_budget_ms = 30000;
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

/* ----------------------------------------------------- nodes, routing */

cql_conn_opts session_conn_opts(const cql_session *s, const cql_host *h, cql_dial *dial) {
    topology_dial(&s->topo, &s->cfg, h, dial);
    return (cql_conn_opts){
        .connect_timeout_ms = s->cfg.connect_timeout_ms,
        .compression = s->cfg.compression,
        .keyspace = s->cfg.keyspace,
        .username = s->cfg.username,
        .password = s->cfg.password,
        .ssl_ctx = s->ssl,
        .sni = dial->sni,
        .verify_name = dial->verify_name,
        .verify_host = s->ssl && !s->cfg.tls_no_verify,
    };
}

int session_fill_host(cql_session *s, int i, cassnn_err *err) {
    cql_host *h = s->topo.hosts[i];
    cql_dial d;
    cql_conn_opts o = session_conn_opts(s, h, &d);
    return pool_fill(&h->pool, d.address, d.port, &o, err);
}

/* The plan for a token (or none) of a keyspace (or none), as routing.h
 * computes it from the nodes' current state. */
static int route(cql_session *s, const cql_keyspace *ks, int has_token, int64_t token, int allow_remote, int *out,
                 int max) {
    const cql_topology *t = &s->topo;
    cql_route_host stack[64], *hosts = t->n_hosts <= 64 ? stack : malloc((size_t)t->n_hosts * sizeof *hosts);
    if (!hosts) return 0;
    for (int i = 0; i < t->n_hosts; i++) {
        hosts[i] = t->route[i];
        hosts[i].up = pool_is_up(&t->hosts[i]->pool);
    }
    cql_route_query q = {
        .hosts = hosts,
        .n_hosts = t->n_hosts,
        .ring = t->ring,
        .n_ring = t->n_ring,
        .replication = ks ? atomic_load(&((cql_keyspace *)ks)->replication) : NULL,
        .local_dc = t->local_dc,
        .allow_remote_dcs = allow_remote,
        .has_token = has_token && s->cfg.token_aware,
        .token = token,
        .rr = atomic_fetch_add(&s->rr, 1),
    };
    int n = cql_route(&q, out, max);
    if (hosts != stack) free(hosts);
    return n;
}

int cql_session_route(cql_session *s, const char *keyspace, int64_t token, int *hosts, int max) {
    cassnn_err e = {0};
    const cql_keyspace *ks = keyspace ? keyspaces_get(s, keyspace, &e) : NULL;
    return route(s, ks, 1, token, s->cfg.allow_remote_dcs, hosts, max);
}

const char *cql_session_host_name(cql_session *s, int i) {
    return i >= 0 && i < s->topo.n_hosts ? s->topo.hosts[i]->address : NULL;
}

int cql_session_hosts(cql_session *s, int *up) {
    int n = 0;
    for (int i = 0; i < s->topo.n_hosts; i++) n += pool_is_up(&s->topo.hosts[i]->pool);
    if (up) *up = n;
    return s->topo.n_hosts;
}

int cql_session_host_stats(cql_session *s, int i, cql_host_stats *out) {
    if (i < 0 || i >= s->topo.n_hosts) return -1;
    cql_host *h = s->topo.hosts[i];
    *out = (cql_host_stats){
        .address = h->address,
        .port = h->port,
        .dc = h->dc,
        .rack = h->rack,
        .has_host_id = h->has_host_id,
        .up = pool_is_up(&h->pool),
        .requests = atomic_load(&h->pool.requests),
        .retries = atomic_load(&h->pool.retries),
        .errors = atomic_load(&h->pool.errors),
    };
    memcpy(out->host_id, h->host_id, 16);
    return 0;
}

void cql_session_set_consistency(cql_session *s, cql_consistency level) {
    __atomic_store_n(&s->cfg.consistency, level, __ATOMIC_RELAXED);
}

cql_consistency cql_session_consistency(cql_session *s) {
    return __atomic_load_n(&s->cfg.consistency, __ATOMIC_RELAXED);
}

uint64_t cql_session_retries(cql_session *s) {
    uint64_t n = 0;
    for (int i = 0; i < s->topo.n_hosts; i++) n += atomic_load(&s->topo.hosts[i]->pool.retries);
    return n;
}

/* "no node is up (a: why; b: why)" into err. */
static int no_node_error(cql_session *s, cassnn_err *err) {
    char why[400] = "";
    size_t len = 0;
    for (int i = 0; i < s->topo.n_hosts && len < sizeof why; i++) {
        char r[160];
        pool_down_reason(&s->topo.hosts[i]->pool, r, sizeof r);
        if (*r) len += (size_t)snprintf(why + len, sizeof why - len, "%s%s: %s", len ? "; " : "", s->topo.hosts[i]->address, r);
    }
    if (len) return cassnn_err_code(err, CQL_ERR_NO_HOST, "cql: no node to send to (%s)", why);
    return cassnn_err_code(err, CQL_ERR_NO_HOST, "cql: no node of data center %s is up", s->topo.local_dc);
}

/* ------------------------------------------------------------ sending */

static void on_response(void *user, cql_response *resp, const cassnn_err *err);

/* The plan of rq: its route, the node a retry wants first moved to the
 * front, the node it wants to avoid left out (unless it is the only one). */
static int request_plan(cql_session *s, const request *rq, int *out, int max) {
    int n = route(s, rq->keyspace, rq->has_token, rq->token, s->cfg.allow_remote_dcs, out, max);
    for (int i = 0; i < n; i++) {
        if (out[i] == rq->prefer_host) {
            memmove(out + 1, out, (size_t)i * sizeof *out);
            out[0] = rq->prefer_host;
        } else if (out[i] == rq->avoid_host && n > 1) {
            memmove(out + i, out + i + 1, (size_t)(n - i - 1) * sizeof *out);
            n--;
            i--;
        }
    }
    return n;
}

/* Sends rq on the first node of its plan that takes it. On success rq
 * belongs to the connection (its answer comes through on_response). */
static int request_send(request *rq, cassnn_err *err) {
    cql_session *s = rq->s;
    int stack[64], max = s->topo.n_hosts, *order = max <= 64 ? stack : malloc((size_t)max * sizeof *order);
    if (!order) return cassnn_err_set(err, "cql: out of memory");
    int n = request_plan(s, rq, order, max);
    const int retry = rq->attempts > 0;
    cassnn_err last = {0};
    for (int i = 0; i < n; i++) {
        cql_pool *p = &s->topo.hosts[order[i]]->pool;
        cql_conn *c = pool_acquire(p);
        if (!c) {
            pool_connection_failed(p, "all its connections failed");
            continue;
        }
        cql_buf frame = {0};
        request_encode(rq, &frame);
        rq->host = order[i];
        rq->conn = c;
        int rc = cql_conn_submit(c, &frame, rq->timeout_ms, on_response, rq, &last);
        cql_buf_free(&frame);
        pool_release(c);
        if (rc == 0) { /* rq may be complete already: only the pool is ours */
            atomic_fetch_add(&p->requests, 1);
            if (retry) atomic_fetch_add(&p->retries, 1);
            if (order != stack) free(order);
            return 0;
        }
        if (last.code == CQL_ERR_CONNECTION) pool_connection_failed(p, last.msg);
    }
    if (order != stack) free(order);
    return no_node_error(s, err);
}

void session_complete(request *rq, cql_result *r, const cassnn_err *err) {
    cql_session *s = rq->s;
    int permit = rq->holds_permit;
    cql_callback cb = rq->cb;
    void *user = rq->user;
    request_free(rq);
    cb(user, r, err);
    if (permit) permit_release(s);
}

/* Asks the policy; on a retry, rq goes to the worker's queue (1). */
static int schedule_retry(request *rq, const cassnn_err *why) {
    cql_session *s = rq->s;
    const cql_retry_attempt a = {
        .error = why->code,
        .attempt = rq->attempts + 1,
        .idempotent = rq->idempotent,
        .kind = rq->kind,
        .elapsed_ms = cql_now_ms() - rq->started_ms,
    };
    const cql_retry_decision d = cql_retry_decide(&s->retry, &a);
    if (d.action == CQL_RETRY_GIVE_UP) return 0;
    rq->attempts++;
    rq->prefer_host = d.action == CQL_RETRY_SAME_HOST ? rq->host : -1;
    rq->avoid_host = d.action == CQL_RETRY_NEXT_HOST ? rq->host : -1;
    worker_schedule(s, rq, d.delay_ms);
    return 1;
}

/* The final error says how long the session tried. */
static void final_error(const request *rq, const cassnn_err *why, cassnn_err *out) {
    *out = *why;
    if (rq->attempts > 0)
        cassnn_err_wrap(out, "cql: gave up after %d attempts in %lld ms", rq->attempts + 1,
                        (long long)(cql_now_ms() - rq->started_ms));
}

void session_attempt_failed(request *rq, const cassnn_err *why) {
    if (schedule_retry(rq, why)) return;
    cassnn_err e;
    final_error(rq, why, &e);
    session_complete(rq, NULL, &e);
}

int session_submit(cql_session *s, request *rq, cql_callback cb, void *user, cassnn_err *err) {
    rq->cb = cb;
    rq->user = user;
    permit_acquire(s);
    rq->holds_permit = 1;
    rq->started_ms = cql_now_ms();
    cassnn_err e = {0};
    if (request_send(rq, &e) == 0 || schedule_retry(rq, &e)) return 0; /* a node came, or it waits for one */
    *err = e;
    request_free(rq);
    permit_release(s);
    return -1;
}

void session_resend(request *rq) {
    cassnn_err e = {0};
    if (request_send(rq, &e)) session_attempt_failed(rq, &e);
}

/* An answer, a timeout or a broken connection for rq (reader thread). */
static void on_response(void *user, cql_response *resp, const cassnn_err *err) {
    request *rq = user;
    cql_pool *p = &rq->s->topo.hosts[rq->host]->pool;
    if (!resp) {
        atomic_fetch_add(&p->errors, 1);
        if (err->code == CQL_ERR_CONNECTION) pool_connection_failed(p, err->msg);
        session_attempt_failed(rq, err);
        return;
    }
    cassnn_err e = {0};
    if (resp->h.opcode == CQL_OP_RESULT) {
        cql_result *r;
        if (cql_decode_result(resp->body, resp->len, resp->offset, NULL, &r, &e)) session_complete(rq, NULL, &e);
        else session_complete(rq, r, NULL);
        return;
    }
    cql_error ce;
    if (resp->h.opcode != CQL_OP_ERROR) {
        cassnn_err_code(&e, CQL_ERR_CONNECTION, "cql: unexpected opcode 0x%02x in answer", resp->h.opcode);
    } else if (cql_decode_error(resp->body + resp->offset, resp->len - resp->offset, &ce, &e) == 0) {
        cql_error_to_err(&ce, &e);
        /* ce points into the body: the statement is looked up before it goes */
        if (ce.code == CQL_ERR_UNPREPARED && prepared_handle_unprepared(rq, &ce)) {
            free(resp->body);
            return;
        }
    }
    free(resp->body);
    atomic_fetch_add(&p->errors, 1);
    session_attempt_failed(rq, &e);
}

/* -------------------------------------------------------- control calls */

int session_control_call(cql_session *s, const cql_buf *frame, cql_response *resp, int *host, cassnn_err *err) {
    /* The worker never waits for a node: it is the one that brings them back. */
    const int may_wait = !worker_is_current(s);
    const int64_t started = cql_now_ms();
    if (frame->oom) return cassnn_err_set(err, "cql: out of memory");
    int order[256];
    for (int attempt = 1;; attempt++) {
        cassnn_err last = {0};
        int n = route(s, NULL, 0, 0, 1, order, 256);
        for (int i = 0; i < n; i++) {
            cql_pool *p = &s->topo.hosts[order[i]]->pool;
            cql_conn *c = pool_acquire(p);
            if (!c) continue;
            cql_buf copy = {0};
            cql_buf_bytes_raw(&copy, frame->data, frame->len); /* submit may compress in place */
            int rc = cql_conn_call(c, &copy, s->cfg.request_timeout_ms, resp, &last);
            cql_buf_free(&copy);
            pool_release(c);
            if (rc == 0 && host) *host = order[i];
            if (rc == 0 || last.code != CQL_ERR_CONNECTION) {
                if (rc) *err = last;
                return rc;
            }
            pool_connection_failed(p, last.msg);
        }
        no_node_error(s, err);
        const cql_retry_attempt a = {err->code, attempt, 0, CQL_KIND_READ, cql_now_ms() - started};
        const cql_retry_decision d = cql_retry_decide(&s->retry, &a);
        if (!may_wait || d.action == CQL_RETRY_GIVE_UP) return -1;
        usleep((useconds_t)d.delay_ms * 1000);
    }
}

int session_control_query(cql_session *s, const char *q, const cql_value *values, size_t n_values,
                          cql_result **out, cassnn_err *err) {
    cql_buf frame = {0};
    cql_response resp;
    cql_frame_control_query(&frame, q, values, n_values);
    int rc = session_control_call(s, &frame, &resp, NULL, err);
    cql_buf_free(&frame);
    return rc ? -1 : cql_response_rows(&resp, q, out, err);
}

int cql_options(cql_session *s, cql_multimap *out, cassnn_err *err) {
    cql_buf frame = {0};
    cql_response resp;
    cql_encode_options(&frame, 0);
    int rc = session_control_call(s, &frame, &resp, NULL, err);
    cql_buf_free(&frame);
    if (rc) return -1;
    if (resp.h.opcode == CQL_OP_ERROR) return cql_response_error(&resp, err);
    if (resp.h.opcode != CQL_OP_SUPPORTED) {
        free(resp.body);
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql: OPTIONS answered with opcode 0x%02x", resp.h.opcode);
    }
    rc = cql_decode_supported(resp.body + resp.offset, resp.len - resp.offset, out, err);
    free(resp.body);
    return rc;
}

/* ------------------------------------------------------ sync execution */

int cql_execute(cql_session *s, const cql_statement *st, cql_result **out, cassnn_err *err) {
    if (out) *out = NULL;
    cql_future *f = cql_execute_async(s, st, err);
    cql_result *r;
    if (!f || cql_future_wait(f, &r, err)) return -1;
    if (r->kind == CQL_RESULT_SCHEMA_CHANGE) {
        if (cql_wait_schema_agreement(s, st->timeout_ms > 0 ? st->timeout_ms : s->cfg.request_timeout_ms, err)) {
            cql_result_free(r);
            return -1;
        }
        if (r->schema.target.len == 8 && !memcmp(r->schema.target.p, "KEYSPACE", 8)) {
            /* its replication may have changed: read it before the next request */
            char ks[CQL_NAME_MAX];
            snprintf(ks, sizeof ks, "%.*s", (int)r->schema.keyspace.len, r->schema.keyspace.p);
            keyspaces_mark_stale(&s->keyspaces, ks);
            keyspaces_refresh_stale(s);
        }
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

/* ----------------------------------------------------------- open/close */

/* The session's TLS context: from the bundle's PEMs when one is given,
 * else from the tls_* files. */
static int tls_setup(cql_session *s, const cql_cloud_bundle *bundle, cassnn_err *err) {
    s->ssl = SSL_CTX_new(TLS_client_method());
    if (!s->ssl) return cassnn_err_set(err, "cql tls: cannot create context");
    SSL_CTX_set_min_proto_version(s->ssl, TLS1_2_VERSION);
    const cql_config *c = &s->cfg;
    if (bundle) return cloud_bundle_load_tls(bundle, s->ssl, c->cloud_bundle, err);
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

/* *field becomes a copy of v owned by the session (NULL stays NULL). */
static void keep_string(cql_session *s, const char **field, const char *v) {
    *field = NULL;
    if (v && s->n_strings < (int)(sizeof s->strings / sizeof s->strings[0]))
        *field = s->strings[s->n_strings++] = strdup(v);
}

/* The session's own copy of the configuration, defaults filled in. */
static void take_config(cql_session *s, const cql_config *cfg) {
    s->cfg = *cfg;
    const char **fields[] = {&s->cfg.contact_points, &s->cfg.keyspace,     &s->cfg.username,
                             &s->cfg.password,       &s->cfg.tls_ca_file,  &s->cfg.tls_cert_file,
                             &s->cfg.tls_key_file,   &s->cfg.tls_sni,      &s->cfg.local_dc,
                             &s->cfg.cloud_bundle};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) keep_string(s, fields[i], *fields[i]);
    if (!s->cfg.contact_points) s->cfg.contact_points = "127.0.0.1";
    if (s->cfg.port <= 0) s->cfg.port = 9042;
    if (s->cfg.connections_per_host <= 0) s->cfg.connections_per_host = 1;
    if (s->cfg.max_inflight <= 0) s->cfg.max_inflight = 256;
    if (s->cfg.request_timeout_ms <= 0) s->cfg.request_timeout_ms = 12000;
    if (s->cfg.consistency == CQL_DEFAULT) s->cfg.consistency = s->cfg.cloud_bundle ? CQL_LOCAL_QUORUM : CQL_LOCAL_ONE;
    s->retry = (cql_retry_policy){s->cfg.retries > 0 ? s->cfg.retries : 0,
                                  s->cfg.retry_budget_ms > 0 ? s->cfg.retry_budget_ms : 0};
}

/* Astra: the bundle gives the TLS context and the metadata service's
 * address; the metadata service gives the SNI proxy, the local DC (unless
 * the caller chose one) and the contact points as host ids. Credentials the
 * caller did not give come from the bundle's config.json, when it has them. */
static int cloud_setup(cql_session *s, cassnn_err *err) {
    cql_cloud_bundle b;
    cql_cloud_metadata m = {0};
    int rc = cloud_bundle_read(s->cfg.cloud_bundle, &b, err) || tls_setup(s, &b, err) ||
             cloud_metadata_fetch(&b, s->cfg.connect_timeout_ms, &m, err);
    if (!rc) {
        cql_topology *t = &s->topo;
        snprintf(t->proxy_host, sizeof t->proxy_host, "%s", m.proxy_host);
        t->proxy_port = m.proxy_port;
        s->cfg.tls = 1;
        s->cfg.tls_no_verify = 0;
        if (!s->cfg.local_dc) keep_string(s, &s->cfg.local_dc, m.local_dc);
        if (!s->cfg.username && b.username) {
            keep_string(s, &s->cfg.username, b.username);
            keep_string(s, &s->cfg.password, b.password);
        }
        rc = topology_add_host_ids(t, (const uint8_t(*)[16])m.host_ids, m.n_host_ids, s->cfg.connections_per_host, err);
    }
    cloud_bundle_free(&b);
    cloud_metadata_free(&m);
    return rc ? -1 : 0;
}

/* Connects to the first contact point that answers and learns the cluster
 * from it; then connects to every other node (one that fails is down, and
 * the worker tries it again). */
static int connect_cluster(cql_session *s, cassnn_err *err) {
    const int conns = s->cfg.connections_per_host;
    if (s->cfg.cloud_bundle ? cloud_setup(s, err)
                            : (s->cfg.tls && tls_setup(s, NULL, err)) ||
                                  topology_add_contacts(&s->topo, s->cfg.contact_points, s->cfg.port, conns, err))
        return -1;
    int first = -1;
    cassnn_err last = {0};
    for (int i = 0; i < s->topo.n_hosts && first < 0; i++)
        if (session_fill_host(s, i, &last) == 0) first = i;
    if (first < 0) {
        *err = last;
        if (s->topo.proxy_host[0])
            return cassnn_err_wrap(err, "cql: cannot connect through the SNI proxy %s:%d to any of the %d nodes the "
                                        "metadata service named", s->topo.proxy_host, s->topo.proxy_port, s->topo.n_hosts);
        return cassnn_err_wrap(err, "cql: cannot connect to any contact point (%s)", s->cfg.contact_points);
    }
    cql_conn *c = pool_acquire(&s->topo.hosts[first]->pool);
    int rc = c ? topology_discover(&s->topo, c, &first, &s->cfg, conns, err)
               : cassnn_err_code(err, CQL_ERR_CONNECTION, "cql: %s closed at once", s->topo.hosts[first]->address);
    pool_release(c);
    if (rc) return -1;
    for (int i = 0; i < s->topo.n_hosts; i++) {
        cassnn_err e = {0};
        if (i != first) session_fill_host(s, i, &e);
    }
    return 0;
}

int cql_session_open(cql_session **out, const cql_config *cfg, cassnn_err *err) {
    *out = NULL;
    cql_session *s = calloc(1, sizeof *s);
    if (!s) return cassnn_err_set(err, "cql: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cv, NULL);
    keyspaces_init(&s->keyspaces);
    prepared_cache_init(&s->prepared);
    worker_init(&s->worker);
    take_config(s, cfg);
    if (connect_cluster(s, err)) {
        cql_session_close(s);
        return -1;
    }
    events_maintain(s); /* before returning: the caller may rely on hearing what happens next */
    if (worker_start(s, err)) {
        cql_session_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void cql_session_close(cql_session *s) {
    if (!s) return;
    cql_session_drain(s); /* retries waiting in the worker's queue hold permits too */
    worker_stop(s);
    events_close(s); /* before the nodes: its events read the node table */
    topology_free(&s->topo);
    prepared_cache_free(&s->prepared);
    keyspaces_free(&s->keyspaces);
    worker_free(&s->worker);
    if (s->ssl) SSL_CTX_free(s->ssl);
    for (int i = 0; i < s->n_strings; i++) {
        if (s->strings[i] && s->strings[i] == s->cfg.password) OPENSSL_cleanse(s->strings[i], strlen(s->strings[i]));
        free(s->strings[i]);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cv);
    free(s);
}
