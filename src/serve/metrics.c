/* metrics.c - counters of the service in Prometheus' text format
 * (see metrics.h). */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const double latency_le[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0};
static const int batch_le[METRICS_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const char *const endpoint_name[EP_COUNT] = {"predict", "health", "metrics",
                                                    "models",  "page",   "other"};

#define ADD(counter, v) atomic_fetch_add_explicit(&(counter), (v), memory_order_relaxed)
#define GET(counter) atomic_load_explicit(&(counter), memory_order_relaxed)

void metrics_request(serve_metrics *m, serve_endpoint ep, unsigned status, long latency_us) {
    ADD(m->requests[ep][status < 600 ? status : 599], 1);
    if (ep != EP_PREDICT) return;
    int b = 0;
    while (b < METRICS_LATENCY_BUCKETS && (double)latency_us > latency_le[b] * 1e6) b++;
    ADD(m->latency[b], 1);
    ADD(m->latency_sum_us, latency_us);
    ADD(m->latency_count, 1);
}

void metrics_batch(serve_metrics *m, int images) {
    int b = 0;
    while (b < METRICS_BATCH_BUCKETS && images > batch_le[b]) b++;
    ADD(m->batch[b], 1);
    ADD(m->batch_images, images);
    ADD(m->batches, 1);
}

typedef struct text {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *p = realloc(t->p, cap);
        if (!p) t->failed = 1;
        else {
            t->p = p;
            t->cap = cap;
        }
    }
}

char *metrics_render(serve_metrics *m, const char *model, const char *spec, size_t *len) {
    text t = {malloc(8192), 0, 8192, 0};
    if (!t.p) return NULL;
    put(&t, "# HELP cassnn_requests_total HTTP requests answered, by endpoint and status.\n"
            "# TYPE cassnn_requests_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        for (int s = 100; s < 600; s++) {
            const long n = GET(m->requests[e][s]);
            if (n) put(&t, "cassnn_requests_total{endpoint=\"%s\",status=\"%d\"} %ld\n",
                       endpoint_name[e], s, n);
        }
    put(&t, "# HELP cassnn_predict_latency_seconds Time from a /predict request's headers to "
            "its answer.\n# TYPE cassnn_predict_latency_seconds histogram\n");
    long cum = 0;
    for (int b = 0; b <= METRICS_LATENCY_BUCKETS; b++) {
        cum += GET(m->latency[b]);
        if (b < METRICS_LATENCY_BUCKETS)
            put(&t, "cassnn_predict_latency_seconds_bucket{le=\"%g\"} %ld\n", latency_le[b], cum);
        else put(&t, "cassnn_predict_latency_seconds_bucket{le=\"+Inf\"} %ld\n", cum);
    }
    put(&t, "cassnn_predict_latency_seconds_sum %.6f\ncassnn_predict_latency_seconds_count %ld\n",
        (double)GET(m->latency_sum_us) / 1e6, GET(m->latency_count));
    put(&t, "# HELP cassnn_batch_size Images per forward pass of the dynamic batcher.\n"
            "# TYPE cassnn_batch_size histogram\n");
    cum = 0;
    for (int b = 0; b <= METRICS_BATCH_BUCKETS; b++) {
        cum += GET(m->batch[b]);
        if (b < METRICS_BATCH_BUCKETS)
            put(&t, "cassnn_batch_size_bucket{le=\"%d\"} %ld\n", batch_le[b], cum);
        else put(&t, "cassnn_batch_size_bucket{le=\"+Inf\"} %ld\n", cum);
    }
    put(&t, "cassnn_batch_size_sum %ld\ncassnn_batch_size_count %ld\n", GET(m->batch_images),
        GET(m->batches));
    put(&t, "# HELP cassnn_model_info The model in use (value 1) and the name the server "
            "follows.\n# TYPE cassnn_model_info gauge\n"
            "cassnn_model_info{model=\"%s\",follows=\"%s\"} %d\n", model, spec, model[0] != 0);
    put(&t, "# HELP cassnn_model_reloads_total Models swapped in after the followed name moved.\n"
            "# TYPE cassnn_model_reloads_total counter\ncassnn_model_reloads_total %ld\n"
            "# HELP cassnn_model_reload_failures_total Failed attempts to resolve or load the "
            "followed model.\n# TYPE cassnn_model_reload_failures_total counter\n"
            "cassnn_model_reload_failures_total %ld\n"
            "# HELP cassnn_connections_closed_slow_total Connections closed while still sending "
            "a body past twice the request timeout.\n"
            "# TYPE cassnn_connections_closed_slow_total counter\n"
            "cassnn_connections_closed_slow_total %ld\n",
        GET(m->reloads), GET(m->reload_failures), GET(m->closed_slow));
    if (t.failed) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}
