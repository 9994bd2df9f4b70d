/* model_files.c - models imported from files and exported to them (see
 * registry.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cassnn/nn_safetensors.h"
#include "cassnn/registry.h"

/* A network file must decode into a net, and an optimizer file into an
 * optimizer for that net, before either is stored. */
static int check_blobs(const registry_model *m, const registry_import_options *o,
                       cassnn_err *err) {
    nn_net net;
    if (registry_net_decode(m->network, m->network_len, &net, err))
        return cassnn_err_wrap(err, "%s", o->network_path);
    int rc = 0;
    if (m->optimizer) {
        nn_optim opt;
        rc = registry_optim_decode(m->optimizer, m->optimizer_len, &net, &opt, NULL, err);
        if (rc == 0) nn_optim_free(&opt);
        else cassnn_err_wrap(err, "%s", o->optimizer_path);
    }
    nn_net_free(&net);
    return rc;
}

int registry_import_files(cql_session *s, const char *keyspace, const registry_import_options *o,
                          uint8_t id_out[16], cassnn_err *err) {
    registry_model m = {.table = REGISTRY_TEST, .epoch = -1, .loss = o->loss,
                        .accuracy = o->accuracy};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    m.upload_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int rc = nn_file_read(o->network_path, &m.network, &m.network_len, err);
    if (rc == 0 && o->optimizer_path)
        rc = nn_file_read(o->optimizer_path, &m.optimizer, &m.optimizer_len, err);
    if (rc == 0) rc = check_blobs(&m, o, err);
    if (rc == 0) rc = registry_uuid_v4(m.id, err);
    if (rc == 0) rc = registry_insert(s, keyspace, &m, err);
    if (rc == 0) memcpy(id_out, m.id, 16);
    registry_model_free(&m);
    return rc;
}

int registry_export_network(cql_session *s, const char *keyspace, const uint8_t id[16],
                            const char *path, size_t *bytes, cassnn_err *err) {
    registry_model m;
    if (registry_get(s, keyspace, id, &m, err)) return -1;
    char text[37];
    registry_uuid_format(id, text);
    const int rc = m.network ? nn_file_write(path, m.network, m.network_len, err)
                             : cassnn_err_set(err, "model %s has no network blob", text);
    *bytes = m.network_len;
    registry_model_free(&m);
    return rc;
}
