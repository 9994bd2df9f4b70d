/* train_registry.c - Cassandra as data source and model registry for
 * `cassnn train` (see train_registry.h). */
#include "train_registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cassnn/feed.h"
#include "connect.h"

int train_registry_open(train_registry *r, const char *host, int port, const char *keyspace,
                        const char *train_table, const char *test_table, data_images *train,
                        data_images *test, cassnn_err *err) {
    memset(r, 0, sizeof *r);
    r->keyspace = keyspace;
    if (cli_connect(host, port, 0, &r->session, err)) return -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (data_table_load(r->session, keyspace, train_table, NULL, train, err) ||
        data_table_load(r->session, keyspace, test_table, NULL, test, err))
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("read %zu rows from %s.%s and %zu from %s.%s in %.2f s (%.0f rows/s)\n", train->count,
           keyspace, train_table, test->count, keyspace, test_table, s,
           s > 0 ? (double)(train->count + test->count) / s : 0.0);
    if (train->count == 0 || test->count == 0)
        return cassnn_err_set(err, "%s.%s has no rows: ingest data first (cassnn ingest)", keyspace,
                              train->count == 0 ? train_table : test_table);
    return 0;
}

int train_registry_resume(train_registry *r, const char *id, nn_net *net, nn_optim *opt,
                          registry_train_state *ts, cassnn_err *err) {
    uint8_t uuid[16];
    registry_model m;
    if (registry_uuid_parse(id, uuid, err) || registry_get(r->session, r->keyspace, uuid, &m, err))
        return -1;
    int rc = -1;
    if (!m.network || !m.optimizer) {
        cassnn_err_set(err, "model %s has no %s blob", id, m.network ? "optimizer" : "network");
    } else if (registry_net_decode(m.network, m.network_len, net, err) == 0) {
        if (registry_optim_decode(m.optimizer, m.optimizer_len, net, opt, ts, err) == 0) rc = 0;
        else nn_net_free(net);
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
    return registry_writer_open(&r->writer, r->session, r->keyspace, 3, err);
}

/* Builds a row and queues it; a failure here is counted by the writer's
 * report like a failed write (the CLI says so at the end). */
static void submit(train_registry *r, registry_table table, int epoch, long next_batch,
                   const nn_train_progress *p, const nn_eval_stats *t) {
    registry_train_state ts = {epoch, next_batch, r->seed, r->batch_size};
    registry_model m;
    cassnn_err err = {0};
    if (registry_checkpoint(&m, table, r->net, r->opt, &ts, &err)) {
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
                int ok = registry_checkpoint(&m, REGISTRY_TEST, r->net, r->opt, &ts, &err) == 0;
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
