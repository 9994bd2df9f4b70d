/* serve_test_env.h - shared helpers of the serve tests: a keyspace with two
 * real models (the tutorial net before and after an epoch on a subset of
 * MNIST), what a model answers for an image computed here, and the small
 * HTTP client (http_client.h). */
#ifndef CASSNN_TESTS_SERVE_ENV_H
#define CASSNN_TESTS_SERVE_ENV_H

#include <math.h>

#include "cassnn/blob.h"
#include "cassnn/feed.h"
#include "cassnn/registry.h"
#include "cassnn/registry_alias.h"
#include "cassnn/serve.h"
#include "registry/registry_test_env.h"
#include "serve/http_client.h"
#include "test_net.h"

/* A model's answer for one image, computed without the server. */
typedef struct expected {
    int label;
    float prob[10];
} expected;

/* The models_test rows of ks, oldest first: [0] before training, [1] after. */
static inline void serve_env_models(cql_session *s, const char *ks, uint8_t ids[2][16]) {
    registry_model *rows;
    size_t n;
    cassnn_err err = {0};
    reg_must(registry_list(s, ks, &rows, &n, &err), &err, "registry_list");
    int k = 0;
    for (size_t i = n; i-- > 0 && k < 2;) /* newest first: walk back */
        if (rows[i].table == REGISTRY_TEST) memcpy(ids[k++], rows[i].id, 16);
    free(rows);
    if (k < 2) fail_msg("%s: expected 2 models_test rows", ks);
}

/* Creates ks with n_train / n_test images of dataset (blob layout) and
 * trains one epoch: models_test gets the untrained net and the trained one.
 * (The report test makes its keyspaces with it too.) */
static inline void serve_env_keyspace(cql_session *s, const char *ks, const char *dataset, size_t n_train,
                               size_t n_test, data_images *test) {
    data_images train;
    reg_ingest(s, ks, dataset, n_train, n_test, 0, 1, &train, test);
    data_images_free(&train);
    char *out;
    const int rc = reg_run(&out, "train --keyspace %s --train-table raw_train_blob --test-table "
                                 "raw_test_blob --epochs 1 --log-interval 5 --threads 2 2>&1", ks);
    if (rc) fail_msg("cassnn train failed (%d):\n%s", rc, out);
    free(out);
}

/* What model id answers for image (784 pixels), from its network blob. */
static inline void serve_env_expect(cql_session *s, const char *ks, const uint8_t id[16],
                             const uint8_t *image, expected *out) {
    registry_model m;
    nn_net net;
    nn_exec *exec;
    cassnn_err err = {0};
    reg_must(registry_get(s, ks, id, &m, &err), &err, "registry_get");
    reg_must(blob_net_decode(m.network, m.network_len, &blob_tutorial_model, &net, &err), &err, "decode");
    reg_must(nn_exec_create(&exec, &net, 0, 1, 1, 0, &err), &err, "exec");
    float x[784], logp[10];
    for (int i = 0; i < 784; i++) x[i] = ((float)image[i] / 255.0f - NN_MNIST_MEAN) / NN_MNIST_STD;
    nn_exec_eval_batch(exec, x, NULL, 1, logp, NULL, NULL);
    out->label = 0;
    for (int c = 0; c < 10; c++) {
        out->prob[c] = expf(logp[c]);
        if (logp[c] > logp[out->label]) out->label = c;
    }
    nn_exec_free(exec);
    nn_net_free(&net);
    registry_model_free(&m);
}

/* {"pixels": [...]} of one image. */
static inline char *serve_env_json(const uint8_t *image) {
    char *s = malloc(784 * 4 + 32);
    size_t k = (size_t)sprintf(s, "{\"pixels\":[");
    for (int i = 0; i < 784; i++) k += (size_t)sprintf(s + k, "%s%d", i ? "," : "", image[i]);
    sprintf(s + k, "]}");
    return s;
}

/* "http://ADDR:PORT/path" of srv on the test subnet. */
static inline void serve_env_url(const serve_server *srv, const char *path, char *out, size_t cap) {
    char host[32];
    snprintf(out, cap, "http://%s:%u%s", test_node_addr(host, 1), serve_port(srv), path);
}

#endif
