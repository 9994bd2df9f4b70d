/* train_registry.h - what `cassnn train --keyspace KS` adds to the training
 * loop of cmd_train.c: data read from the raw tables, a checkpoint row in
 * models_train every log interval and one in models_test after every test
 * (written asynchronously), and --resume from a stored checkpoint. */
#ifndef CASSNN_CLI_TRAIN_REGISTRY_H
#define CASSNN_CLI_TRAIN_REGISTRY_H

#include "cassnn/cql.h"
#include "cassnn/images.h"
#include "cassnn/nn_train.h"
#include "cassnn/registry.h"
#include "cassnn/stream.h"

typedef struct train_registry {
    cql_session *session;
    const char *keyspace, *train_table, *test_table;
    /* Budget of each table's stream; 0 when the table is loaded once. */
    size_t train_stream_budget, test_stream_budget;
    long counted_rows[2];      /* train, test: exact counts made to choose (0: estimated) */
    registry_writer *writer;
    const nn_net *net;
    const nn_optim *opt;
    uint64_t seed;
    int batch_size;
    nn_eval_stats last_test;   /* for the final model written again after a failure */
    int next_epoch;
    int tested;
} train_registry;

/* Connects (host may be NULL and port 0 for the defaults), chooses for
 * each table between load-once and streaming from its estimated size and
 * memory_budget (printing the choice and why), and reads the load-once
 * tables into memory. A streamed table leaves only its image shape and
 * estimated row count in *train / *test: open it with train_registry_stream. */
int train_registry_open(train_registry *r, const char *host, int port, const char *keyspace,
                        const char *train_table, const char *test_table, size_t memory_budget,
                        data_images *train, data_images *test, cassnn_err *err);

/* Opens the stream of the train table (train = 1, shuffled) or of the test
 * table (train = 0, in order) chosen by train_registry_open, printing its
 * shuffle buffer; sets the table's exact row count in images->count. */
int train_registry_stream(train_registry *r, int train, uint64_t seed, float mean, float std,
                          data_images *images, data_stream **out, cassnn_err *err);

/* Loads checkpoint `id`: its net (created here), optimizer and position. */
int train_registry_resume(train_registry *r, const char *id, nn_net *net, nn_optim *opt,
                          registry_train_state *ts, cassnn_err *err);

/* Starts the asynchronous writer for the run's net and optimizer. */
int train_registry_start(train_registry *r, const nn_net *net, const nn_optim *opt,
                         uint64_t seed, int batch_size, cassnn_err *err);

/* A models_train row for the progress point p (called at each log line). */
void train_registry_checkpoint(train_registry *r, const nn_train_progress *p);

/* A models_test row after a test; next_epoch is the epoch training would
 * continue with. */
void train_registry_test(train_registry *r, int next_epoch, const nn_eval_stats *t);

/* Waits for every write; reports failures loudly on stderr and then writes
 * the final model again. 0 when the registry holds the final model. Also
 * closes the session. */
int train_registry_close(train_registry *r);

#endif
