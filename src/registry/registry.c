/* registry.c - model rows in models_train / models_test and the queries over
 * them (see registry.h). */
#include "cassnn/registry.h"

#include <float.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- ids ---- */

int registry_uuid_v4(uint8_t out[16], cassnn_err *err) {
    if (RAND_bytes(out, 16) != 1) return cassnn_err_set(err, "uuid: RAND_bytes failed");
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40); /* version 4 */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return 0;
}

void registry_uuid_format(const uint8_t id[16], char out[37]) { cql_uuid_format(id, out); }

int registry_uuid_parse(const char *text, uint8_t out[16], cassnn_err *err) {
    if (cql_uuid_parse(text, out) == 0) return 0;
    return cassnn_err_set(err, "'%s' is not a model id (expected a uuid like "
                               "123e4567-e89b-42d3-a456-426614174000)", text);
}

/* ---- rows ---- */

const char *registry_table_name(registry_table t) {
    return t == REGISTRY_TRAIN ? "models_train" : "models_test";
}

void registry_model_free(registry_model *m) {
    free(m->network);
    free(m->optimizer);
    m->network = m->optimizer = NULL;
}

int registry_checkpoint(registry_model *out, registry_table table, const nn_net *net,
                        const nn_optim *opt, const registry_train_state *ts, blob_format format,
                        cassnn_err *err) {
    memset(out, 0, sizeof *out);
    out->table = table;
    out->epoch = -1;
    out->accuracy = NAN;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    out->upload_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (registry_uuid_v4(out->id, err) ||
        blob_net_encode(net, format, &out->network, &out->network_len, err) ||
        blob_optim_encode(opt, net, ts, format, &out->optimizer, &out->optimizer_len, err)) {
        registry_model_free(out);
        return cassnn_err_wrap(err, "checkpoint");
    }
    return 0;
}

int registry_row_position(const registry_model *m, long batches_per_epoch, int log_interval,
                          int batch_size, registry_train_state *ts, cassnn_err *err) {
    if (m->table != REGISTRY_TRAIN || m->epoch < 1)
        return cassnn_err_set(err, "only a models_train row (with an epoch) says where it stood");
    if (batches_per_epoch < 1 || log_interval < 1)
        return cassnn_err_set(err, "row position: bad batches per epoch or log interval");
    long found = -1;
    for (long k = 0; k < batches_per_epoch; k += log_interval) {
        char percent[16];
        snprintf(percent, sizeof percent, "%.0f%%", 100.0 * (double)k / (double)batches_per_epoch);
        if (strcmp(percent, m->batch_percent)) continue;
        if (found >= 0)
            return cassnn_err_set(err, "batch_percent %s fits batches %ld and %ld of %ld: the "
                                       "row's position is ambiguous", m->batch_percent, found, k,
                                  batches_per_epoch);
        found = k;
    }
    if (found < 0)
        return cassnn_err_set(err, "batch_percent '%s' is no logged batch of %ld batches every %d",
                              m->batch_percent, batches_per_epoch, log_interval);
    const int last = found + 1 == batches_per_epoch;
    *ts = (registry_train_state){m->epoch + last, last ? 0 : found + 1, 0, batch_size};
    return 0;
}

int registry_insert(cql_session *s, const char *keyspace, const registry_model *m,
                    cassnn_err *err) {
    char query[256];
    const cql_prepared *ins;
    cql_value v[7];
    size_t n = 0;
    v[n++] = cql_uuid(m->id);
    v[n++] = cql_blob(m->network, m->network_len);
    v[n++] = cql_blob(m->optimizer, m->optimizer_len);
    v[n++] = cql_timestamp(m->upload_ms);
    if (m->table == REGISTRY_TRAIN) {
        snprintf(query, sizeof query,
                 "INSERT INTO %s.models_train (id, network, optimizer, upload_date, epoch, "
                 "batch_percent, loss) VALUES (?, ?, ?, ?, ?, ?, ?)", keyspace);
        v[n++] = cql_int(m->epoch);
        v[n++] = cql_text(m->batch_percent);
        v[n++] = isnan(m->loss) ? cql_null() : cql_float(m->loss);
    } else {
        snprintf(query, sizeof query,
                 "INSERT INTO %s.models_test (id, network, optimizer, upload_date, loss, "
                 "accuracy) VALUES (?, ?, ?, ?, ?, ?)", keyspace);
        /* unknown values are null, never NaN: NaN would sort above every
         * number in an SAI range and win "best" */
        v[n++] = isnan(m->loss) ? cql_null() : cql_float(m->loss);
        v[n++] = isnan(m->accuracy) ? cql_null() : cql_float(m->accuracy);
    }
    if (cql_prepare(s, query, &ins, err)) return cassnn_err_wrap(err, "%s.%s", keyspace,
                                                                 registry_table_name(m->table));
    cql_statement st = cql_stmt_prepared(ins, v, n);
    st.idempotent = 1; /* an insert of the same id is an upsert */
    if (cql_execute(s, &st, NULL, err))
        return cassnn_err_wrap(err, "insert into %s.%s", keyspace, registry_table_name(m->table));
    return 0;
}

/* Copies the named column of row r into m (columns that are absent from
 * the result are left as they are). */
static int read_row(const cql_result *r, int32_t row, registry_table table, registry_model *m,
                    cassnn_err *err) {
    memset(m, 0, sizeof *m);
    m->table = table;
    m->epoch = -1;
    m->loss = m->accuracy = NAN;
    int32_t c;
    if ((c = cql_result_column_index(r, "id")) < 0 || cql_get_uuid(r, row, c, m->id, err))
        return c < 0 ? cassnn_err_set(err, "result without id") : -1;
    char id[37];
    registry_uuid_format(m->id, id);
    cql_cell cell;
#define NULLABLE(name) ((c = cql_result_column_index(r, name)) >= 0 && \
                        !cql_cell_is_null(cell = cql_result_cell(r, row, c)))
    if (NULLABLE("upload_date") && cql_get_timestamp(r, row, c, &m->upload_ms, err)) goto bad;
    if (NULLABLE("epoch")) {
        int32_t e;
        if (cql_get_int(r, row, c, &e, err)) goto bad;
        m->epoch = e;
    }
    if (NULLABLE("batch_percent")) {
        cql_str t;
        if (cql_get_text(r, row, c, &t, err)) goto bad;
        snprintf(m->batch_percent, sizeof m->batch_percent, "%.*s", (int)t.len, t.p);
    }
    if (NULLABLE("loss") && cql_get_float(r, row, c, &m->loss, err)) goto bad;
    if (NULLABLE("accuracy") && cql_get_float(r, row, c, &m->accuracy, err)) goto bad;
    const char *blobs[2] = {"network", "optimizer"};
    for (int b = 0; b < 2; b++) {
        if (!NULLABLE(blobs[b])) continue;
        const uint8_t *p;
        size_t len;
        if (cql_get_blob(r, row, c, &p, &len, err)) goto bad;
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy) {
            registry_model_free(m);
            return cassnn_err_set(err, "model %s: out of memory for its %s blob", id, blobs[b]);
        }
        memcpy(copy, p, len);
        *(b ? &m->optimizer : &m->network) = copy;
        *(b ? &m->optimizer_len : &m->network_len) = len;
    }
#undef NULLABLE
    return 0;
bad:
    registry_model_free(m);
    return cassnn_err_wrap(err, "%s row %s", registry_table_name(table), id);
}

/* [table][with blobs]. Cassandra 5.0 has no octet_length(), so a listing
 * that wants blob sizes reads the blobs and keeps only their lengths. */
static const char *const select_columns[2][2] = {
    {"id, upload_date, epoch, batch_percent, loss",
     "id, upload_date, epoch, batch_percent, loss, network, optimizer"},
    {"id, upload_date, loss, accuracy", "id, upload_date, loss, accuracy, network, optimizer"},
};

int registry_get(cql_session *s, const char *keyspace, const uint8_t id[16], registry_model *out,
                 cassnn_err *err) {
    const registry_table order[2] = {REGISTRY_TEST, REGISTRY_TRAIN};
    for (int i = 0; i < 2; i++) {
        char query[320];
        snprintf(query, sizeof query, "SELECT %s FROM %s.%s WHERE id = ?",
                 select_columns[order[i]][1], keyspace, registry_table_name(order[i]));
        cql_value v = cql_uuid(id);
        cql_result *r;
        if (cql_query(s, query, &v, 1, &r, err)) return cassnn_err_wrap(err, "%s", query);
        int rc = cql_result_row_count(r) > 0 ? read_row(r, 0, order[i], out, err) : 1;
        cql_result_free(r);
        if (rc <= 0) return rc;
    }
    char text[37];
    registry_uuid_format(id, text);
    return cassnn_err_set(err, "no model %s in %s.models_test or %s.models_train", text, keyspace,
                          keyspace);
}

int registry_load_net(cql_session *s, const char *keyspace, const uint8_t id[16],
                      const blob_model *fallback, nn_net *net, registry_model *row,
                      cassnn_err *err) {
    registry_model m;
    char text[37];
    registry_uuid_format(id, text);
    if (registry_get(s, keyspace, id, &m, err)) return -1;
    if (!fallback) fallback = &blob_tutorial_model;
    const int rc = m.network ? blob_net_decode(m.network, m.network_len, fallback, net, err)
                             : cassnn_err_set(err, "has no network blob");
    registry_model_free(&m);
    if (row) *row = m;
    return rc ? cassnn_err_wrap(err, "model %s", text) : 0;
}

typedef struct model_list {
    registry_model *items;
    size_t n, cap;
} model_list;

static int list_push(model_list *l, const registry_model *m, cassnn_err *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        registry_model *p = realloc(l->items, cap * sizeof *p);
        if (!p) return cassnn_err_set(err, "out of memory listing models");
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = *m;
    return 0;
}

static int newest_first(const void *a, const void *b) {
    const int64_t x = ((const registry_model *)a)->upload_ms,
                  y = ((const registry_model *)b)->upload_ms;
    return (x < y) - (x > y);
}

int registry_list(cql_session *s, const char *keyspace, registry_model **out, size_t *n,
                  cassnn_err *err) {
    model_list l = {0};
    for (int t = 0; t < 2; t++) {
        char query[320];
        snprintf(query, sizeof query, "SELECT %s FROM %s.%s", select_columns[t][1], keyspace,
                 registry_table_name((registry_table)t));
        cql_statement st = cql_stmt(query, NULL, 0);
        st.page_size = 1; /* ~180 KB of blobs per row: keep frames small */
        st.timeout_ms = 60000;
        cql_pager *pg;
        if (cql_pager_open(s, &st, &pg, err)) goto fail;
        const cql_result *page;
        int more, rc = 0;
        while (rc == 0 && (more = cql_pager_next(pg, &page, err)) == 1)
            for (int32_t r = 0; rc == 0 && r < cql_result_row_count(page); r++) {
                registry_model m;
                rc = read_row(page, r, (registry_table)t, &m, err);
                registry_model_free(&m); /* the lengths stay */
                if (rc == 0) rc = list_push(&l, &m, err);
            }
        cql_pager_close(pg);
        if (rc || more < 0) goto fail;
    }
    qsort(l.items, l.n, sizeof *l.items, newest_first);
    *out = l.items;
    *n = l.n;
    return 0;
fail:
    free(l.items);
    return cassnn_err_wrap(err, "listing models in %s", keyspace);
}

/* Is value a better than b for metric by? */
static int better(registry_metric by, float a, float b) {
    return by == REGISTRY_BY_ACCURACY ? a > b : a < b;
}

int registry_best(cql_session *s, const char *keyspace, registry_metric by,
                  registry_explain_fn explain, void *user, registry_model *out, cassnn_err *err) {
    const char *column = by == REGISTRY_BY_ACCURACY ? "accuracy" : "loss";
    const char *op = by == REGISTRY_BY_ACCURACY ? ">" : "<";
    /* Start beyond the worst representable value; every finite one passes. */
    float bound = by == REGISTRY_BY_ACCURACY ? -FLT_MAX : FLT_MAX;
    int found = 0;
    registry_model best = {0};
    for (;;) {
        char query[400];
        snprintf(query, sizeof query, "SELECT %s FROM %s.models_test WHERE %s %s %.9g LIMIT 100",
                 select_columns[REGISTRY_TEST][0], keyspace, column, op, (double)bound);
        if (explain) explain(user, query);
        cql_result *r;
        if (cql_query(s, query, NULL, 0, &r, err)) return cassnn_err_wrap(err, "%s", query);
        const int32_t rows = cql_result_row_count(r);
        for (int32_t i = 0; i < rows; i++) {
            registry_model m;
            if (read_row(r, i, REGISTRY_TEST, &m, err)) {
                cql_result_free(r);
                return -1;
            }
            const float v = by == REGISTRY_BY_ACCURACY ? m.accuracy : m.loss;
            if (!found || better(by, v, by == REGISTRY_BY_ACCURACY ? best.accuracy : best.loss)) {
                best = m;
                found = 1;
            }
        }
        cql_result_free(r);
        if (rows == 0) break;
        /* Everything better than the best seen lies beyond it. */
        bound = by == REGISTRY_BY_ACCURACY ? best.accuracy : best.loss;
    }
    if (!found) return cassnn_err_set(err, "%s.models_test holds no model with a %s", keyspace,
                                      column);
    *out = best;
    return 0;
}

int registry_delete(cql_session *s, const char *keyspace, const uint8_t id[16], cassnn_err *err) {
    char text[37];
    registry_uuid_format(id, text);
    for (int t = 0; t < 2; t++) {
        char query[200];
        const char *table = registry_table_name((registry_table)t);
        snprintf(query, sizeof query, "SELECT id FROM %s.%s WHERE id = ?", keyspace, table);
        cql_value v = cql_uuid(id);
        cql_result *r;
        if (cql_query(s, query, &v, 1, &r, err)) return cassnn_err_wrap(err, "%s", query);
        const int32_t rows = cql_result_row_count(r);
        cql_result_free(r);
        if (rows == 0) continue;
        snprintf(query, sizeof query, "DELETE FROM %s.%s WHERE id = ?", keyspace, table);
        if (cql_query(s, query, &v, 1, NULL, err))
            return cassnn_err_wrap(err, "deleting model %s", text);
        return 0;
    }
    return cassnn_err_set(err, "no model %s in %s.models_test or %s.models_train", text, keyspace,
                          keyspace);
}

/* ---- predictions ---- */

int registry_predictions_write(cql_session *s, const char *keyspace, const uint8_t model_id[16],
                               const int32_t *ids, const int32_t *labels, const float *probability,
                               size_t n, cassnn_err *err) {
    enum { WINDOW = 256 };
    char query[300];
    snprintf(query, sizeof query,
             "CREATE TABLE IF NOT EXISTS %s.predictions (model_id uuid, id int, label int, "
             "probability float, PRIMARY KEY (model_id, id))", keyspace);
    if (cql_query(s, query, NULL, 0, NULL, err)) return cassnn_err_wrap(err, "%s", query);
    snprintf(query, sizeof query,
             "INSERT INTO %s.predictions (model_id, id, label, probability) VALUES (?, ?, ?, ?)",
             keyspace);
    const cql_prepared *ins;
    if (cql_prepare(s, query, &ins, err)) return cassnn_err_wrap(err, "%s", query);
    cql_future *window[WINDOW];
    size_t head = 0, inflight = 0;
    int rc = 0;
    size_t i = 0;
    while ((rc == 0 && i < n) || inflight > 0) {
        /* Collect the oldest write when the window is full, after a failure
         * and at the end; otherwise submit the next row. */
        if (inflight == WINDOW || rc || i >= n) {
            cassnn_err e;
            if (cql_future_wait(window[head], NULL, &e) && rc == 0) {
                *err = e;
                rc = -1;
            }
            head = (head + 1) % WINDOW;
            inflight--;
            continue;
        }
        cql_value v[4] = {cql_uuid(model_id), cql_int(ids[i]), cql_int(labels[i]),
                          cql_float(probability[i])};
        cql_statement st = cql_stmt_prepared(ins, v, 4);
        st.idempotent = 1;
        cql_future *f = cql_execute_async(s, &st, err);
        if (!f) {
            rc = -1;
            continue;
        }
        window[(head + inflight) % WINDOW] = f;
        inflight++;
        i++;
    }
    return rc ? cassnn_err_wrap(err, "writing %s.predictions", keyspace) : 0;
}
