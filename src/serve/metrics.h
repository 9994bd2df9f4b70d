/* metrics.h - the service's counters, kept with relaxed atomics (any
 * thread may count) and written out in Prometheus' text format. */
#ifndef CASSNN_SERVE_METRICS_H
#define CASSNN_SERVE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

typedef enum serve_endpoint {
    EP_PREDICT, EP_HEALTH, EP_METRICS, EP_MODELS, EP_PAGE, EP_OTHER, EP_COUNT
} serve_endpoint;

#define METRICS_LATENCY_BUCKETS 12
#define METRICS_BATCH_BUCKETS 10

typedef struct serve_metrics {
    atomic_long requests[EP_COUNT][600];    /* by endpoint and status code */
    atomic_long latency[METRICS_LATENCY_BUCKETS + 1]; /* POST /predict, seconds; last: +Inf */
    atomic_long latency_sum_us, latency_count;
    atomic_long batch[METRICS_BATCH_BUCKETS + 1];     /* images per forward pass */
    atomic_long batch_images, batches;
    atomic_long reloads, reload_failures;
    atomic_long closed_slow;                /* connections closed still sending */
} serve_metrics;

/* Counts one answered request. */
void metrics_request(serve_metrics *m, serve_endpoint ep, unsigned status, long latency_us);
void metrics_batch(serve_metrics *m, int images);

/* The text for GET /metrics (malloc'ed; NULL when out of memory). model:
 * the id in use ("" for none); spec: what the server follows (a uuid, an
 * alias or "best"). */
char *metrics_render(serve_metrics *m, const char *model, const char *spec, size_t *len);

#endif
