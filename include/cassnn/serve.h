/* serve.h - the HTTP prediction service for a model in the registry
 * (`cassnn serve`), on libmicrohttpd.
 *
 * Endpoints:
 *   POST /predict  JSON {"pixels": [C*H*W values 0..255]} -> {"label", "probabilities",
 *                  "model"}; {"batch": [[...], ...]} -> a list of those; or a PNG body
 *                  of any size, turned into a 28x28 digit the MNIST way (digit.h)
 *   GET  /health   200 once a model is loaded, 503 with the reason before
 *   GET  /metrics  Prometheus text: requests by endpoint and status, latency and
 *                  batch-size histograms, the model in use, reloads
 *   GET  /models   the registry's checkpoints and aliases as JSON
 *   GET  /         the drawing page (web/, built into the binary)
 * Every error is a JSON {"error": "..."} with a 4xx/5xx status; the service
 * goes on serving.
 *
 * Model: o->model is a uuid, an alias or "best". A registry thread resolves
 * it every poll_ms; when it names another id, that model is loaded
 * completely and then swapped in under a lock. Every request holds a
 * reference to the model it started with (for its whole life, through the
 * batcher), so a swap never fails a request and the old model is freed when
 * its last request is answered.
 *
 * Batching: requests are queued to one inference thread, which runs up to
 * max_batch images in one forward pass and waits at most max_wait_us after
 * the oldest queued request for more to arrive (Triton's dynamic batcher).
 * HTTP threads never wait for it: a queued connection is suspended and
 * resumed when its answer is ready.
 *
 * Limits: a body over max_body bytes gets 413 (at once when Content-Length
 * says so); a body not received within request_timeout_s of its headers gets
 * 408 (the rest of it is read and dropped; a connection still sending after
 * twice the timeout is closed), and a connection idle for request_timeout_s
 * is closed.
 */
#ifndef CASSNN_SERVE_H
#define CASSNN_SERVE_H

#include <stddef.h>

#include "cassnn/cql.h"

typedef struct serve_options {
    const char *keyspace;
    const char *model;          /* uuid, alias or "best" (NULL: "best") */
    const char *listen;         /* "HOST:PORT" (NULL: "127.0.0.1:8080"; port 0: any free one) */
    const char *token;          /* bearer token for /predict, /models, /metrics (NULL: none) */
    float mean, std;            /* input normalisation of the model's training data */
    int max_batch;              /* images per forward pass (<= 0: 64) */
    int max_wait_us;            /* (< 0: 200) */
    int max_request_images;     /* images in one {"batch": ...} (<= 0: 256) */
    int poll_ms;                /* how often the model name is resolved again (<= 0: 2000) */
    size_t max_body;            /* bytes (0: 1 MiB) */
    int request_timeout_s;      /* (<= 0: 10) */
    int http_threads;           /* (<= 0: 2) */
    int nn_threads;             /* threads of one forward pass (<= 0: 1) */
} serve_options;

typedef struct serve_server serve_server;

/* Binds the address and starts serving (the first model loads in the
 * background: /health says 503 until it is in). s is borrowed: it must
 * outlive the server and is used by the registry thread only. */
int serve_start(serve_server **out, cql_session *s, const serve_options *o, cassnn_err *err);

/* The port bound (useful with port 0). */
unsigned serve_port(const serve_server *srv);

/* Waits up to timeout_ms for the first model; 0 when one is loaded, else -1
 * with the reason it is not. */
int serve_wait_ready(serve_server *srv, int timeout_ms, cassnn_err *err);

/* Answers what is queued, stops the threads and frees everything. */
void serve_stop(serve_server *srv);

#endif
