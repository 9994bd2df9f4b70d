/* model.c - reference-counted models of the service (see model.h). */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/registry.h"

int serve_model_load(cql_session *s, const char *keyspace, const uint8_t id[16], int max_images,
                     int threads, float mean, float std, serve_model **out, cassnn_err *err) {
    serve_model *m = calloc(1, sizeof *m);
    if (!m) return cassnn_err_set(err, "out of memory for a model");
    registry_model row;
    registry_uuid_format(id, m->id_text);
    if (registry_load_net(s, keyspace, id, NULL, &m->net, &row, err)) { /* the error names the id */
        free(m);
        return -1;
    }
    if (nn_exec_create(&m->exec, &m->net, 0, max_images, threads, 0, err)) {
        cassnn_err_wrap(err, "loading model %s", m->id_text);
        nn_net_free(&m->net);
        free(m);
        return -1;
    }
    m->accuracy = row.accuracy;
    m->loss = row.loss;
    memcpy(m->id, id, 16);
    m->shape = (serve_shape){m->net.in_c, m->net.in_h, m->net.in_w};
    m->image = (size_t)m->net.in_c * (size_t)m->net.in_h * (size_t)m->net.in_w;
    m->max_images = max_images;
    m->mean = mean;
    m->std = std;
    atomic_init(&m->refs, 1);
    *out = m;
    return 0;
}

serve_model *serve_model_ref(serve_model *m) {
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void serve_model_unref(serve_model *m) {
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
    nn_exec_free(m->exec);
    nn_net_free(&m->net);
    free(m);
}
