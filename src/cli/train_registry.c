/* train_registry.c - Cassandra as data source and model registry for
 * `cassnn train` (see train_registry.h). */
#include "train_registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cassnn/feed.h"
#include "connect.h"

/* "47.6 MB" */
static const char *human_bytes(size_t n, char *buf, size_t cap) {
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)n;
    int u = 0;
    for (; v >= 1024.0 && u < 4; u++) v /= 1024.0;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

int train_registry_open(train_registry *r, const char *host, int port, const char *keyspace,
                        const char *train_table, const char *test_table, size_t memory_budget,
                        data_images *train, data_images *test, cassnn_err *err) {
    memset(r, 0, sizeof *r);
    r->keyspace = keyspace;
    r->train_table = train_table;
    r->test_table = test_table;
    if (cli_connect(host, port, 0, &r->session, err)) return -1;
    const char *tables[2] = {train_table, test_table};
    long rows[2];
    int exact[2];
    size_t need[2];
    for (int i = 0; i < 2; i++) {
        if (data_table_rows(r->session, keyspace, tables[i], NULL, &rows[i], &exact[i], err))
            return -1;
        need[i] = data_load_once_bytes(rows[i]);
        if (exact[i]) r->counted_rows[i] = rows[i];
    }
    /* Both in memory when they fit; else the (smaller) test table stays in
     * memory if it takes at most a quarter of the budget and the train
     * table streams in the rest; else both stream, the test table (no
     * shuffle buffer) in a quarter. */
    if (need[0] + need[1] > memory_budget) {
        if (need[1] <= memory_budget / 4) {
            r->train_stream_budget = memory_budget - need[1];
        } else {
            r->test_stream_budget = memory_budget / 4;
            r->train_stream_budget = memory_budget - memory_budget / 4;
        }
    }
    const size_t stream_budget[2] = {r->train_stream_budget, r->test_stream_budget};
    data_images *sets[2] = {train, test};
    char a[32], b[32], c[32];
    for (int i = 0; i < 2; i++) {
        printf("%s.%s: %s%ld rows (%s), %s in memory, %s while loading: %s\n", keyspace,
               tables[i], exact[i] ? "" : "~", rows[i],
               exact[i] ? "counted" : "system.size_estimates",
               human_bytes(need[i] / 2, a, sizeof a), human_bytes(need[i], b, sizeof b),
               stream_budget[i] ? "streaming" : "load-once");
        if (!stream_budget[i]) continue;
        /* what a streamed table's images look like; the count is exact once
         * the stream is opened */
        memset(sets[i], 0, sizeof *sets[i]);
        sets[i]->count = (size_t)rows[i];
        sets[i]->channels = 1;
        sets[i]->rows = sets[i]->cols = 28;
    }
    human_bytes(memory_budget, c, sizeof c);
    if (!r->train_stream_budget)
        printf("both tables fit the memory budget %s: loaded once\n", c);
    else if (!r->test_stream_budget)
        printf("both tables exceed the memory budget %s: %s (at most a quarter of it) is loaded "
               "once, %s streams in the rest\n", c, test_table, train_table);
    else
        printf("both tables exceed the memory budget %s, %s more than a quarter of it: both "
               "stream, %s in a quarter\n", c, test_table, test_table);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t loaded = 0;
    for (int i = 0; i < 2; i++) {
        if (stream_budget[i]) continue;
        if (data_table_load(r->session, keyspace, tables[i], NULL, sets[i], err)) return -1;
        if (sets[i]->count == 0)
            return cassnn_err_set(err, "%s.%s has no rows: ingest data first (cassnn ingest)",
                                  keyspace, tables[i]);
        loaded += sets[i]->count;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (loaded)
        printf("read %zu rows into memory in %.2f s (%.0f rows/s)\n", loaded, s,
               s > 0 ? (double)loaded / s : 0.0);
    return 0;
}

int train_registry_stream(train_registry *r, int train, uint64_t seed, float mean, float std,
                          data_images *images, data_stream **out, cassnn_err *err) {
    const char *table = train ? r->train_table : r->test_table;
    data_stream_options o = {.memory_budget = train ? r->train_stream_budget
                                                    : r->test_stream_budget,
                             .shuffle = train, .seed = seed, .mean = mean, .std = std,
                             .rows = r->counted_rows[train ? 0 : 1]};
    if (data_stream_open(out, r->session, r->keyspace, table, &o, err)) return -1;
    images->count = (size_t)data_stream_rows(*out);
    if (images->count == 0)
        return cassnn_err_set(err, "%s.%s has no rows: ingest data first (cassnn ingest)",
                              r->keyspace, table);
    char a[32], c[32];
    if (train)
        printf("%s.%s: streaming %zu rows (counted) through a shuffle buffer of %zu rows; "
               "the stream holds at most %s of its %s budget\n", r->keyspace, table,
               images->count, data_stream_buffer_rows(*out),
               human_bytes(data_stream_memory(*out), a, sizeof a),
               human_bytes(o.memory_budget, c, sizeof c));
    else
        printf("%s.%s: streaming %zu rows (counted) in token order; the stream holds at most %s "
               "of its %s budget\n", r->keyspace, table, images->count,
               human_bytes(data_stream_memory(*out), a, sizeof a),
               human_bytes(o.memory_budget, c, sizeof c));
    return 0;
}

int train_registry_resume(train_registry *r, const char *id, nn_net *net, nn_optim *opt,
                          registry_train_state *ts, cassnn_err *err) {
    uint8_t uuid[16];
    registry_model m;
    if (registry_uuid_parse(id, uuid, err) || registry_get(r->session, r->keyspace, uuid, &m, err))
        return -1;
    int rc = -1, has_run = 0;
    if (!m.network || !m.optimizer) {
        cassnn_err_set(err, "model %s has no %s blob", id, m.network ? "optimizer" : "network");
    } else if (blob_net_decode(m.network, m.network_len, &blob_tutorial_model, net, err) == 0) {
        if (blob_optim_decode(m.optimizer, m.optimizer_len, net, opt, ts, &has_run, err) == 0) {
            if (has_run) rc = 0;
            else cassnn_err_set(err, "the row holds no run position (a tutorial row): resuming "
                                     "it is not supported yet");
            if (rc) nn_optim_free(opt);
        }
        if (rc) nn_net_free(net);
    }
    registry_model_free(&m);
    return rc ? cassnn_err_wrap(err, "resume from %s", id) : 0;
}

int train_registry_start(train_registry *r, const nn_net *net, const nn_optim *opt,
                         uint64_t seed, int batch_size, cassnn_err *err) {
    r->net = net;
    r->opt = opt;
    r->seed = seed;
    r->batch_size = batch_size;
    return registry_writer_open(&r->writer, r->session, r->keyspace, err);
}

/* Builds a row and queues it; a failure here is counted by the writer's
 * report like a failed write (the CLI says so at the end). */
static void submit(train_registry *r, registry_table table, int epoch, long next_batch,
                   const nn_train_progress *p, const nn_eval_stats *t) {
    registry_train_state ts = {epoch, next_batch, r->seed, r->batch_size};
    registry_model m;
    cassnn_err err = {0};
    if (registry_checkpoint(&m, table, r->net, r->opt, &ts, BLOB_SAFETENSORS, &err)) {
        fprintf(stderr, "cassnn train: CHECKPOINT NOT WRITTEN: %s\n", err.msg);
        return;
    }
    if (p) {
        m.epoch = p->epoch;
        snprintf(m.batch_percent, sizeof m.batch_percent, "%.0f%%",
                 100.0 * (double)p->batch_idx / (double)p->batches_per_epoch);
        m.loss = (float)p->loss;
    } else {
        const double n = t->images ? (double)t->images : 1.0;
        m.loss = (float)(t->loss_sum / n);
        m.accuracy = (float)((double)t->correct / n);
    }
    registry_writer_submit(r->writer, &m, &err);
}

void train_registry_checkpoint(train_registry *r, const nn_train_progress *p) {
    /* The run continues with the batch after p, which may open the next epoch. */
    const int last = p->batch_idx + 1 >= p->batches_per_epoch;
    submit(r, REGISTRY_TRAIN, last ? p->epoch + 1 : p->epoch, last ? 0 : p->batch_idx + 1, p,
           NULL);
}

void train_registry_test(train_registry *r, int next_epoch, const nn_eval_stats *t) {
    r->last_test = *t;
    r->next_epoch = next_epoch;
    r->tested = 1;
    submit(r, REGISTRY_TEST, next_epoch, 0, NULL, t);
}

int train_registry_close(train_registry *r) {
    int rc = 0;
    if (r->writer) {
        registry_writer_report rep;
        registry_writer_close(r->writer, &rep);
        r->writer = NULL;
        printf("registry: %ld checkpoints written to %s.models_train/models_test (%ld retried "
               "writes)\n", rep.written, r->keyspace, rep.retried);
        if (rep.failed > 0 || rep.written != rep.submitted) {
            fprintf(stderr,
                    "\ncassnn train: *** %ld OF %ld CHECKPOINT WRITES FAILED *** first error: %s\n",
                    rep.submitted - rep.written, rep.submitted, rep.first_error);
            rc = -1;
            if (r->tested) {
                /* Training is not lost: the final model goes in once more. */
                registry_train_state ts = {r->next_epoch, 0, r->seed, r->batch_size};
                registry_model m;
                cassnn_err err = {0};
                int ok = registry_checkpoint(&m, REGISTRY_TEST, r->net, r->opt, &ts, BLOB_SAFETENSORS, &err) == 0;
                if (ok) {
                    const double n = r->last_test.images ? (double)r->last_test.images : 1.0;
                    m.loss = (float)(r->last_test.loss_sum / n);
                    m.accuracy = (float)((double)r->last_test.correct / n);
                    ok = 0;
                    for (int attempt = 0; attempt < 5 && !ok; attempt++) {
                        ok = registry_insert(r->session, r->keyspace, &m, &err) == 0;
                        if (!ok) nanosleep(&(struct timespec){0, 500000000L}, NULL);
                    }
                    char id[37];
                    registry_uuid_format(m.id, id);
                    if (ok) {
                        fprintf(stderr, "cassnn train: the final model was written again as %s "
                                        "in %s.models_test\n", id, r->keyspace);
                        rc = 0;
                    }
                    registry_model_free(&m);
                }
                if (!ok)
                    fprintf(stderr, "cassnn train: *** THE FINAL MODEL COULD NOT BE WRITTEN: %s\n",
                            err.msg);
            }
        }
    }
    cql_session_close(r->session);
    r->session = NULL;
    return rc;
}
