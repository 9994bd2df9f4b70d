/* model_files.c - models imported from files and exported to them (see
 * registry.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cassnn/registry.h"

/* Re-encodes a row's blobs in `format`: the network always, the optimizer
 * when asked (*optim_out). */
static int convert_row(const registry_model *m, const blob_model *fallback, blob_format format,
                       int with_optim, uint8_t **net_out, size_t *net_len, uint8_t **optim_out,
                       size_t *optim_len, cassnn_err *err) {
    nn_net net;
    if (blob_net_decode(m->network, m->network_len, fallback, &net, err)) return -1;
    int rc = blob_net_encode(&net, format, net_out, net_len, err);
    if (rc == 0 && with_optim) {
        nn_optim opt;
        blob_run_state run;
        int has_run;
        rc = m->optimizer ? blob_optim_decode(m->optimizer, m->optimizer_len, &net, &opt, &run,
                                              &has_run, err)
                          : cassnn_err_set(err, "the row has no optimizer blob");
        if (rc == 0) {
            rc = blob_optim_encode(&opt, &net, has_run ? &run : NULL, format, optim_out,
                                   optim_len, err);
            nn_optim_free(&opt);
        }
        if (rc) free(*net_out);
    }
    nn_net_free(&net);
    return rc;
}

int registry_import_files(cql_session *s, const char *keyspace, const registry_import_options *o,
                          uint8_t id_out[16], cassnn_err *err) {
    registry_model m = {.table = REGISTRY_TEST, .epoch = -1, .loss = o->loss,
                        .accuracy = o->accuracy};
    registry_model file = {0};
    int rc = blob_file_read(o->network_path, &file.network, &file.network_len, err);
    if (rc == 0 && o->optimizer_path) {
        rc = blob_file_read(o->optimizer_path, &file.optimizer, &file.optimizer_len, err);
        if (rc) cassnn_err_wrap(err, "%s", o->optimizer_path);
    }
    if (rc == 0 && (rc = convert_row(&file, o->model, BLOB_SAFETENSORS, o->optimizer_path != NULL,
                                     &m.network, &m.network_len, &m.optimizer, &m.optimizer_len,
                                     err)))
        cassnn_err_wrap(err, "%s", o->network_path);
    registry_model_free(&file);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    m.upload_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (rc == 0) rc = registry_uuid_v4(m.id, err);
    if (rc == 0) rc = registry_insert(s, keyspace, &m, err);
    if (rc == 0) memcpy(id_out, m.id, 16);
    registry_model_free(&m);
    return rc;
}

int registry_export_files(cql_session *s, const char *keyspace, const uint8_t id[16],
                          const registry_export_options *o, size_t *network_bytes,
                          size_t *optimizer_bytes, cassnn_err *err) {
    registry_model m;
    char text[37];
    registry_uuid_format(id, text);
    *network_bytes = *optimizer_bytes = 0;
    if (registry_get(s, keyspace, id, &m, err)) return -1;
    uint8_t *net = m.network, *optim = m.optimizer;
    size_t net_len = m.network_len, optim_len = m.optimizer_len;
    int rc = m.network ? 0 : cassnn_err_set(err, "model %s has no network blob", text);
    if (rc == 0 && o->optimizer_path && !m.optimizer)
        rc = cassnn_err_set(err, "model %s has no optimizer blob", text);
    if (rc == 0 && o->format)
        rc = convert_row(&m, o->model ? o->model : &blob_tutorial_model, *o->format,
                         o->optimizer_path != NULL, &net, &net_len, &optim, &optim_len, err);
    if (rc == 0 && (rc = blob_file_write(o->network_path, net, net_len, err)) == 0)
        *network_bytes = net_len;
    if (rc == 0 && o->optimizer_path &&
        (rc = blob_file_write(o->optimizer_path, optim, optim_len, err)) == 0)
        *optimizer_bytes = optim_len;
    if (net != m.network) free(net);
    if (optim != m.optimizer) free(optim);
    registry_model_free(&m);
    return rc;
}
