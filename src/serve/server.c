/* server.c - the HTTP side of the prediction service and the registry
 * thread that follows the model's name (see serve.h). */
#include "cassnn/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "batcher.h"
#include "cassnn/registry.h"
#include "cassnn/registry_alias.h"
#include "decode.h"
#include "metrics.h"
#include "model.h"
#include "web_assets.h"

typedef struct request request;

struct serve_server {
    serve_options o;
    char *keyspace, *spec, *token;  /* copies */
    cql_session *session;           /* the registry thread's */
    struct MHD_Daemon *daemon;
    serve_batcher *batcher;
    serve_metrics metrics;
    unsigned port;

    pthread_mutex_t lock;           /* guards what follows */
    pthread_cond_t wake;            /* registry thread: a /models request, or stop */
    pthread_cond_t ready;           /* the first model is in */
    serve_model *current;           /* NULL until the first model is loaded */
    char reason[512];               /* why there is no model yet */
    char last_error[512];           /* the last failed reload ("" if none) */
    request *models_queue;          /* /models requests for the registry thread */
    int stopping;
    pthread_t registry_thread;
    int registry_started;
};

/* One HTTP request, from its headers to its answer. */
struct request {
    serve_server *srv;
    struct MHD_Connection *conn;
    serve_endpoint ep;
    int64_t start_ns;
    uint8_t *body;
    size_t len, cap;
    unsigned error;                 /* a 4xx decided while reading (0: none) */
    char msg[512];
    int suspended;                  /* waiting for the batcher or the registry thread */
    unsigned status;                /* what was answered (0: nothing yet) */
    serve_input in;
    serve_job job;
    float *logp;
    char *reply;                    /* /models: the registry thread's answer */
    size_t reply_len;
    request *next;
};

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- answers ---- */

static enum MHD_Result answer(request *r, unsigned status, void *text, size_t len,
                              const char *type, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                r->ep == EP_PREDICT ? "POST" : "GET, HEAD");
    const enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    return rc;
}

static enum MHD_Result answer_json(request *r, unsigned status, json_t *body) {
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(body);
    if (!text) return MHD_NO;
    return answer(r, status, text, strlen(text), "application/json", MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result answer_error(request *r, unsigned status, const char *msg) {
    return answer_json(r, status, json_pack("{s:s,s:i}", "error", msg, "status", (int)status));
}

/* ---- the model in use ---- */

/* A reference to the current model, or NULL (with the reason in msg). */
static serve_model *current_model(serve_server *srv, char *msg, size_t cap) {
    pthread_mutex_lock(&srv->lock);
    serve_model *m = srv->current ? serve_model_ref(srv->current) : NULL;
    if (!m) snprintf(msg, cap, "no model loaded: %.400s", srv->reason);
    pthread_mutex_unlock(&srv->lock);
    return m;
}

/* ---- POST /predict ---- */

static void prediction_ready(serve_job *job) {
    request *r = (request *)((char *)job - offsetof(request, job));
    MHD_resume_connection(r->conn);
}

static enum MHD_Result start_predict(request *r, const char *content_type) {
    serve_server *srv = r->srv;
    serve_model *m = current_model(srv, r->msg, sizeof r->msg);
    if (!m) return answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, r->msg);
    r->job.model = m; /* released when the request completes */
    const unsigned status = (unsigned)serve_decode(r->body, r->len, content_type, m->shape,
                                                   srv->o.max_request_images, &r->in, r->msg,
                                                   sizeof r->msg);
    if (status) return answer_error(r, status, r->msg);
    r->logp = malloc(sizeof *r->logp * (size_t)r->in.n * (size_t)m->net.classes);
    if (!r->logp) return answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    r->job.n = r->in.n;
    r->job.pixels = r->in.pixels;
    r->job.logp = r->logp;
    r->job.done = prediction_ready;
    pthread_mutex_lock(&srv->lock);
    const int stopping = srv->stopping;
    if (!stopping) {
        /* suspended before it is queued: the batcher may resume it at once */
        r->suspended = 1;
        MHD_suspend_connection(r->conn);
        serve_batcher_submit(srv->batcher, &r->job);
    }
    pthread_mutex_unlock(&srv->lock);
    if (stopping) return answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down");
    return MHD_YES;
}

/* {"label": n, "probabilities": [...], "model": "<uuid>"}, a list of those
 * for a batch. */
static enum MHD_Result finish_predict(request *r) {
    const serve_model *m = r->job.model;
    const int classes = m->net.classes;
    const size_t cap = (size_t)r->in.n * ((size_t)classes * 16 + 96) + 8;
    char *text = malloc(cap);
    if (!text) return answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    size_t n = 0;
    if (r->in.batch) text[n++] = '[';
    for (int i = 0; i < r->in.n; i++) {
        const float *lp = r->logp + (size_t)i * (size_t)classes;
        if (isnan(lp[0])) {
            free(text);
            return answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory in inference");
        }
        int label = 0;
        for (int c = 1; c < classes; c++)
            if (lp[c] > lp[label]) label = c;
        n += (size_t)snprintf(text + n, cap - n, "%s{\"label\":%d,\"probabilities\":[", i ? "," : "",
                              label);
        for (int c = 0; c < classes; c++)
            n += (size_t)snprintf(text + n, cap - n, "%s%.6g", c ? "," : "", (double)expf(lp[c]));
        n += (size_t)snprintf(text + n, cap - n, "],\"model\":\"%s\"}", m->id_text);
    }
    if (r->in.batch) text[n++] = ']';
    return answer(r, MHD_HTTP_OK, text, n, "application/json", MHD_RESPMEM_MUST_FREE);
}

/* ---- GET /models (built on the registry thread) ---- */

static json_t *nullable_real(float v) {
    return isnan(v) ? json_null() : json_real((double)v);
}

static void build_models(serve_server *srv, request *r) {
    cassnn_err err = {0};
    registry_model *rows = NULL;
    registry_alias *aliases = NULL;
    size_t n_rows = 0, n_aliases = 0;
    char id[37], msg[600];
    if (registry_list(srv->session, srv->keyspace, &rows, &n_rows, &err) ||
        registry_alias_list(srv->session, srv->keyspace, &aliases, &n_aliases, &err)) {
        snprintf(msg, sizeof msg, "registry: %s", err.msg);
        json_t *e = json_pack("{s:s,s:i}", "error", msg, "status", 502);
        r->reply = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        r->status = 502;
        free(rows);
        return;
    }
    json_t *list = json_array(), *names = json_array();
    for (size_t i = 0; i < n_rows; i++) {
        const registry_model *m = &rows[i];
        registry_uuid_format(m->id, id);
        json_t *o = json_pack("{s:s,s:s,s:I,s:o,s:o}", "id", id, "table",
                              registry_table_name(m->table), "upload_date_ms",
                              (json_int_t)m->upload_ms, "loss", nullable_real(m->loss),
                              "accuracy", nullable_real(m->accuracy));
        if (m->table == REGISTRY_TRAIN) {
            json_object_set_new(o, "epoch", json_integer(m->epoch));
            json_object_set_new(o, "batch_percent", json_string(m->batch_percent));
        }
        json_array_append_new(list, o);
    }
    for (size_t i = 0; i < n_aliases; i++) {
        registry_uuid_format(aliases[i].model_id, id);
        json_array_append_new(names, json_pack("{s:s,s:s,s:I}", "name", aliases[i].name, "model",
                                               id, "updated_ms",
                                               (json_int_t)aliases[i].updated_ms));
    }
    pthread_mutex_lock(&srv->lock);
    json_t *current = srv->current ? json_string(srv->current->id_text) : json_null();
    pthread_mutex_unlock(&srv->lock);
    json_t *root = json_pack("{s:s,s:s,s:o,s:o,s:o}", "keyspace", srv->keyspace, "follows",
                             srv->spec, "model", current, "aliases", names, "checkpoints", list);
    r->reply = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(7));
    r->status = r->reply ? 200 : 500;
    json_decref(root);
    free(rows);
    free(aliases);
}

/* ---- routing and the request life cycle ---- */

static const web_asset *find_asset(const char *url) {
    if (!strcmp(url, "/")) url = "/index.html";
    for (size_t i = 0; i < web_asset_count; i++)
        if (!strcmp(url, web_assets[i].path)) return &web_assets[i];
    return NULL;
}

static int authorized(const serve_server *srv, struct MHD_Connection *c) {
    if (!srv->token) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    const size_t n = strlen(srv->token);
    return strlen(h) == n && CRYPTO_memcmp(h, srv->token, n) == 0;
}

/* The first call for a request: what it is, and whether it is refused
 * before its body is read. */
static unsigned admit(request *r, const char *url, const char *method) {
    const int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    static const struct { const char *url; serve_endpoint ep; } api[] = {
        {"/predict", EP_PREDICT}, {"/health", EP_HEALTH}, {"/metrics", EP_METRICS},
        {"/models", EP_MODELS}};
    r->ep = EP_OTHER;
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++)
        if (!strcmp(url, api[i].url)) r->ep = api[i].ep;
    if (r->ep == EP_OTHER && find_asset(url)) r->ep = EP_PAGE;
    if (r->ep == EP_OTHER) {
        snprintf(r->msg, sizeof r->msg, "no such endpoint: %s %s (POST /predict, GET /health, "
                                        "/metrics, /models, /)", method, url);
        return MHD_HTTP_NOT_FOUND;
    }
    if ((r->ep == EP_PREDICT) == get) {
        snprintf(r->msg, sizeof r->msg, "%s %s: use %s", method, url,
                 r->ep == EP_PREDICT ? "POST" : "GET");
        return MHD_HTTP_METHOD_NOT_ALLOWED;
    }
    if ((r->ep == EP_PREDICT || r->ep == EP_MODELS || r->ep == EP_METRICS) &&
        !authorized(r->srv, r->conn)) {
        snprintf(r->msg, sizeof r->msg, "%s needs the header Authorization: Bearer <token>", url);
        return MHD_HTTP_UNAUTHORIZED;
    }
    const char *length =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (r->ep == EP_PREDICT && length && strtoull(length, NULL, 10) > r->srv->o.max_body) {
        snprintf(r->msg, sizeof r->msg, "body of %s bytes: at most %zu", length,
                 r->srv->o.max_body);
        return MHD_HTTP_CONTENT_TOO_LARGE;
    }
    return 0;
}

/* A piece of the body: kept while it fits and arrives in time. Returns 0 to
 * close the connection (still sending long after its deadline). */
static int receive(request *r, const char *data, size_t size) {
    const serve_options *o = &r->srv->o;
    const int64_t late = now_ns() - r->start_ns - (int64_t)o->request_timeout_s * 1000000000;
    if (late > 0 && late > (int64_t)o->request_timeout_s * 1000000000) {
        atomic_fetch_add_explicit(&r->srv->metrics.closed_slow, 1, memory_order_relaxed);
        return 0;
    }
    if (late > 0 && !r->error) {
        r->error = MHD_HTTP_REQUEST_TIMEOUT;
        snprintf(r->msg, sizeof r->msg, "body not received within %d s (%zu bytes came)",
                 o->request_timeout_s, r->len);
    }
    if (!r->error && r->len + size > o->max_body) {
        r->error = MHD_HTTP_CONTENT_TOO_LARGE;
        snprintf(r->msg, sizeof r->msg, "body over %zu bytes", o->max_body);
    }
    if (r->error) { /* the rest is read and dropped */
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return 1;
    }
    if (r->len + size > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + size) cap *= 2;
        uint8_t *p = realloc(r->body, cap);
        if (!p) {
            r->error = MHD_HTTP_INTERNAL_SERVER_ERROR;
            snprintf(r->msg, sizeof r->msg, "out of memory for the body");
            return 1;
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, size);
    r->len += size;
    return 1;
}

static enum MHD_Result answer_health(request *r) {
    serve_server *srv = r->srv;
    json_t *o;
    unsigned status;
    pthread_mutex_lock(&srv->lock);
    if (srv->current) {
        const serve_model *m = srv->current;
        status = MHD_HTTP_OK;
        o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:[i,i,i],s:i}", "status", "ready", "model",
                      m->id_text, "follows", srv->spec, "accuracy", nullable_real(m->accuracy),
                      "loss", nullable_real(m->loss), "input", m->shape.c, m->shape.h,
                      m->shape.w, "classes", m->net.classes);
        if (srv->last_error[0])
            json_object_set_new(o, "last_reload_error", json_string(srv->last_error));
    } else {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        o = json_pack("{s:s,s:s,s:s}", "status", "unavailable", "reason", srv->reason, "follows",
                      srv->spec);
    }
    pthread_mutex_unlock(&srv->lock);
    return answer_json(r, status, o);
}

static enum MHD_Result answer_metrics(request *r) {
    serve_server *srv = r->srv;
    char model[37] = "";
    pthread_mutex_lock(&srv->lock);
    if (srv->current) memcpy(model, srv->current->id_text, sizeof model);
    pthread_mutex_unlock(&srv->lock);
    size_t len;
    char *text = metrics_render(&srv->metrics, model, srv->spec, &len);
    if (!text) return answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return answer(r, MHD_HTTP_OK, text, len, "text/plain; version=0.0.4", MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result queue_models(request *r) {
    serve_server *srv = r->srv;
    pthread_mutex_lock(&srv->lock);
    const int stopping = srv->stopping;
    if (!stopping) {
        r->suspended = 1;
        MHD_suspend_connection(r->conn);
        r->next = srv->models_queue;
        srv->models_queue = r;
        pthread_cond_signal(&srv->wake);
    }
    pthread_mutex_unlock(&srv->lock);
    if (stopping) return answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down");
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    serve_server *srv = cls;
    request *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->srv = srv;
        r->conn = conn;
        r->start_ns = now_ns();
        *con_cls = r;
        const unsigned refused = admit(r, url, method);
        return refused ? answer_error(r, refused, r->msg) : MHD_YES;
    }
    if (*upload_size) {
        const int keep = receive(r, upload_data, *upload_size);
        *upload_size = 0;
        return keep ? MHD_YES : MHD_NO;
    }
    if (r->suspended) { /* resumed: the answer is ready */
        r->suspended = 0;
        if (r->ep == EP_PREDICT) return finish_predict(r);
        char *reply = r->reply;
        r->reply = NULL;
        if (!reply) return answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down");
        return answer(r, r->status, reply, strlen(reply), "application/json",
                      MHD_RESPMEM_MUST_FREE);
    }
    if (r->error) return answer_error(r, r->error, r->msg);
    switch (r->ep) {
    case EP_PREDICT:
        return start_predict(r, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                            MHD_HTTP_HEADER_CONTENT_TYPE));
    case EP_HEALTH: return answer_health(r);
    case EP_METRICS: return answer_metrics(r);
    case EP_MODELS: return queue_models(r);
    default: {
        const web_asset *a = find_asset(url);
        return answer(r, MHD_HTTP_OK, (void *)a->data, a->len, a->content_type,
                      MHD_RESPMEM_PERSISTENT);
    }
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why) {
    (void)conn;
    (void)why;
    serve_server *srv = cls;
    request *r = *con_cls;
    if (!r) return;
    if (r->status)
        metrics_request(&srv->metrics, r->ep, r->status, (long)((now_ns() - r->start_ns) / 1000));
    serve_model_unref(r->job.model);
    serve_input_free(&r->in);
    free(r->logp);
    free(r->body);
    free(r->reply);
    free(r);
    *con_cls = NULL;
}

/* ---- the registry thread: follows the model's name, answers /models ---- */

/* Resolves the name; loads and swaps in the model when it names another. */
static void follow(serve_server *srv) {
    cassnn_err err = {0};
    uint8_t id[16];
    pthread_mutex_lock(&srv->lock);
    serve_model *cur = srv->current;
    pthread_mutex_unlock(&srv->lock);
    serve_model *m = NULL;
    if (registry_model_resolve(srv->session, srv->keyspace, srv->spec, id, &err) == 0) {
        if (cur && !memcmp(cur->id, id, 16)) return; /* only this thread swaps: cur is alive */
        const int max_images = srv->o.max_batch > srv->o.max_request_images
                                   ? srv->o.max_batch : srv->o.max_request_images;
        serve_model_load(srv->session, srv->keyspace, id, max_images, srv->o.nn_threads,
                         srv->o.mean, srv->o.std, &m, &err);
    }
    pthread_mutex_lock(&srv->lock);
    serve_model *old = NULL;
    if (m) { /* loaded completely: swap */
        old = srv->current;
        srv->current = m;
        srv->last_error[0] = '\0';
        if (old) atomic_fetch_add_explicit(&srv->metrics.reloads, 1, memory_order_relaxed);
        pthread_cond_broadcast(&srv->ready);
    } else {
        atomic_fetch_add_explicit(&srv->metrics.reload_failures, 1, memory_order_relaxed);
        snprintf(srv->current ? srv->last_error : srv->reason, sizeof srv->reason, "%s", err.msg);
    }
    pthread_mutex_unlock(&srv->lock);
    serve_model_unref(old); /* requests still on it hold their own references */
}

static void *registry_loop(void *arg) {
    serve_server *srv = arg;
    int64_t next_poll = 0;
    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping) {
        const int64_t now = now_ns();
        if (!srv->models_queue && now < next_poll) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            const int64_t ns = until.tv_nsec + (next_poll - now);
            until.tv_sec += (time_t)(ns / 1000000000);
            until.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&srv->wake, &srv->lock, &until);
            continue;
        }
        request *queue = srv->models_queue;
        srv->models_queue = NULL;
        pthread_mutex_unlock(&srv->lock);
        for (request *r = queue, *next; r; r = next) {
            next = r->next;
            build_models(srv, r);
            MHD_resume_connection(r->conn);
        }
        if (now >= next_poll) {
            follow(srv);
            next_poll = now_ns() + (int64_t)srv->o.poll_ms * 1000000;
        }
        pthread_mutex_lock(&srv->lock);
    }
    request *queue = srv->models_queue; /* answered "shutting down" */
    srv->models_queue = NULL;
    pthread_mutex_unlock(&srv->lock);
    for (request *r = queue, *next; r; r = next) {
        next = r->next;
        MHD_resume_connection(r->conn);
    }
    return NULL;
}

/* ---- start and stop ---- */

/* "HOST:PORT" ("[v6]:PORT") into an address. */
static int parse_listen(const char *text, struct sockaddr_storage *addr, cassnn_err *err) {
    char host[256];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host)
        return cassnn_err_set(err, "--listen %s: expected HOST:PORT", text);
    const char *h = text;
    size_t hl = (size_t)(colon - text);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    const long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return cassnn_err_set(err, "--listen %s: '%s' is not a port", text, colon + 1);
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
    } else {
        return cassnn_err_set(err, "--listen %s: '%s' is not an IPv4 or IPv6 address", text,
                              host);
    }
    return 0;
}

static void free_server(serve_server *srv) {
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->wake);
    pthread_cond_destroy(&srv->ready);
    serve_model_unref(srv->current);
    free(srv->keyspace);
    free(srv->spec);
    free(srv->token);
    free(srv);
}

int serve_start(serve_server **out, cql_session *s, const serve_options *o, cassnn_err *err) {
    serve_server *srv = calloc(1, sizeof *srv);
    if (!srv) return cassnn_err_set(err, "out of memory");
    srv->o = *o;
    serve_options *d = &srv->o;
    if (!d->model) d->model = REGISTRY_ALIAS_BEST;
    if (!d->listen) d->listen = "127.0.0.1:8080";
    if (d->max_batch <= 0) d->max_batch = 64;
    if (d->max_wait_us < 0) d->max_wait_us = 200;
    if (d->max_request_images <= 0) d->max_request_images = 256;
    if (d->poll_ms <= 0) d->poll_ms = 2000;
    if (!d->max_body) d->max_body = 1 << 20;
    if (d->request_timeout_s <= 0) d->request_timeout_s = 10;
    if (d->http_threads <= 0) d->http_threads = 2;
    if (d->nn_threads <= 0) d->nn_threads = 1;
    srv->session = s;
    srv->keyspace = strdup(o->keyspace);
    srv->spec = strdup(d->model);
    srv->token = o->token ? strdup(o->token) : NULL;
    snprintf(srv->reason, sizeof srv->reason, "loading %s", d->model);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->wake, NULL);
    pthread_cond_init(&srv->ready, NULL);
    struct sockaddr_storage addr;
    if (!srv->keyspace || !srv->spec || (o->token && !srv->token)) {
        cassnn_err_set(err, "out of memory");
        goto fail;
    }
    if (parse_listen(d->listen, &addr, err) ||
        serve_batcher_create(&srv->batcher, d->max_batch, d->max_wait_us, &srv->metrics, err))
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_TURBO;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)d->http_threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)d->request_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!srv->daemon) {
        cassnn_err_set(err, "cannot listen on %s: %s", d->listen,
                       errno ? strerror(errno) : "libmicrohttpd refused to start");
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    if (pthread_create(&srv->registry_thread, NULL, registry_loop, srv)) {
        cassnn_err_set(err, "cannot start the registry thread");
        goto fail;
    }
    srv->registry_started = 1;
    *out = srv;
    return 0;
fail:
    if (srv->daemon) MHD_stop_daemon(srv->daemon);
    serve_batcher_stop(srv->batcher);
    free_server(srv);
    return -1;
}

unsigned serve_port(const serve_server *srv) { return srv->port; }

int serve_wait_ready(serve_server *srv, int timeout_ms, cassnn_err *err) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&srv->lock);
    while (!srv->current && pthread_cond_timedwait(&srv->ready, &srv->lock, &until) == 0) {
    }
    const int rc = srv->current ? 0 : cassnn_err_set(err, "no model loaded: %s", srv->reason);
    pthread_mutex_unlock(&srv->lock);
    return rc;
}

void serve_stop(serve_server *srv) {
    if (!srv) return;
    pthread_mutex_lock(&srv->lock);
    srv->stopping = 1; /* requests from now on get 503 */
    pthread_cond_signal(&srv->wake);
    pthread_mutex_unlock(&srv->lock);
    if (srv->registry_started) pthread_join(srv->registry_thread, NULL);
    serve_batcher_stop(srv->batcher); /* answers what is queued */
    MHD_stop_daemon(srv->daemon);
    free_server(srv);
}
