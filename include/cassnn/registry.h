/* registry.h - Cassandra as the model registry: checkpoints in models_train
 * (one per log interval) and models_test (one per test), their blobs, and the
 * queries over them.
 *
 * Blobs go through the one blob entry point (blob.h): a row's network and
 * optimizer blobs are safetensors or PyTorch pickles (the tutorial's own
 * rows), detected per row. The optimizer blob of a checkpoint also holds
 * where the run stood (epoch, the next batch index, seed, batch size): a
 * run resumed from it draws the same shuffles (seed, epoch) and dropout
 * masks (seed, step) as the uninterrupted run, so its loss curve is the
 * same.
 */
#ifndef CASSNN_REGISTRY_H
#define CASSNN_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/blob.h"
#include "cassnn/cql.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_train.h"

/* ---- ids ---- */

/* A random (version 4) UUID from OpenSSL's RAND_bytes. */
int registry_uuid_v4(uint8_t out[16], cassnn_err *err);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lower-case). */
void registry_uuid_format(const uint8_t id[16], char out[37]);
int registry_uuid_parse(const char *text, uint8_t out[16], cassnn_err *err);

/* ---- blobs ---- */

/* Where a training run stood when a checkpoint was taken (blob.h). */
typedef blob_run_state registry_train_state;

/* ---- rows ---- */

typedef enum registry_table { REGISTRY_TRAIN, REGISTRY_TEST } registry_table;

/* models_train / models_test */
const char *registry_table_name(registry_table t);

typedef struct registry_model {
    uint8_t id[16];
    registry_table table;
    int64_t upload_ms;          /* upload_date */
    int epoch;                  /* models_train only; -1 for a test row */
    char batch_percent[16];     /* models_train only, e.g. "12%" */
    float loss;
    float accuracy;             /* models_test only; NAN for a train row */
    size_t network_len, optimizer_len;
    uint8_t *network, *optimizer; /* malloc'ed; NULL when not fetched */
} registry_model;

void registry_model_free(registry_model *m);

/* A new row for table: fresh v4 id, upload time now, the net and optimizer
 * encoded as blobs of the given format. The caller fills
 * epoch/batch_percent/loss/accuracy. */
int registry_checkpoint(registry_model *out, registry_table table, const nn_net *net,
                        const nn_optim *opt, const registry_train_state *ts, blob_format format,
                        cassnn_err *err);

/* Where a models_train row that holds no run position (one the tutorial
 * wrote: its optimizer blob has none, blob_optim_decode's *has_run is 0)
 * stood, from its epoch and batch_percent. The tutorial logs after the
 * step of batch_idx, every log_interval batches, with batch_percent =
 * "%.0f%%" of 100 * batch_idx / batches_per_epoch; the position is the
 * batch after the one logged (the next epoch's first after the last
 * batch). Fails when no logged batch, or more than one, gives that
 * percentage. ts->seed is 0 (the tutorial's shuffle was PyTorch's). */
int registry_row_position(const registry_model *m, long batches_per_epoch, int log_interval,
                          int batch_size, registry_train_state *ts, cassnn_err *err);

/* Inserts one row (into m->table) synchronously. */
int registry_insert(cql_session *s, const char *keyspace, const registry_model *m,
                    cassnn_err *err);

/* The row with this id, with its blobs, from models_test or models_train. */
int registry_get(cql_session *s, const char *keyspace, const uint8_t id[16], registry_model *out,
                 cassnn_err *err);

/* The net in row id's network blob; a blob that names no network holds
 * fallback's (NULL: blob_tutorial_model, as the tutorial's own rows do),
 * every tensor checked against it. row, when not NULL, gets the row's
 * columns without its blobs. Errors name the id. The caller frees net. */
int registry_load_net(cql_session *s, const char *keyspace, const uint8_t id[16],
                      const blob_model *fallback, nn_net *net, registry_model *row,
                      cassnn_err *err);

/* Every row of both tables without blobs (sizes filled), newest first. */
int registry_list(cql_session *s, const char *keyspace, registry_model **out, size_t *n,
                  cassnn_err *err);

typedef enum registry_metric { REGISTRY_BY_ACCURACY, REGISTRY_BY_LOSS } registry_metric;

/* Called with each CQL statement a query runs (for --explain). */
typedef void (*registry_explain_fn)(void *user, const char *cql);

/* The models_test row with the highest accuracy or the lowest loss, without
 * blobs. SAI in Cassandra 5.0 cannot ORDER BY these columns, so it narrows
 * with range predicates on the indexed column: fetch rows beyond the best
 * value seen so far (accuracy > t / loss < t, LIMIT), move t to the best of
 * them, repeat until nothing lies beyond. Fails when the table is empty.
 * registry_model_free *out. */
int registry_best(cql_session *s, const char *keyspace, registry_metric by,
                  registry_explain_fn explain, void *user, registry_model *out, cassnn_err *err);

/* Deletes the row with this id from whichever table holds it; fails when
 * neither does. */
int registry_delete(cql_session *s, const char *keyspace, const uint8_t id[16], cassnn_err *err);

/* ---- a training run's checkpoints ---- */

/* What every checkpoint of one training run shares (borrowed). */
typedef struct registry_run {
    const nn_net *net;
    const nn_optim *opt;
    uint64_t seed;
    int batch_size;
    blob_format format;          /* of the rows' blobs */
} registry_run;

/* Where the run continues after progress point p: the batch after it,
 * which opens the next epoch when p was the epoch's last. */
registry_train_state registry_state_after(const registry_run *r, const nn_train_progress *p);

/* The models_train row of progress point p (epoch, batch_percent, the
 * batch's loss) with the run's net and optimizer as they are now and
 * registry_state_after(p). */
int registry_train_row(registry_model *out, const registry_run *r, const nn_train_progress *p,
                       cassnn_err *err);

/* The models_test row of a test (loss: mean NLL, accuracy) taken before
 * epoch next_epoch, the one a run resumed from it starts with. */
int registry_test_row(registry_model *out, const registry_run *r, int next_epoch,
                      const nn_eval_stats *t, cassnn_err *err);

/* How to resume a row that holds no run position (one the tutorial's code
 * wrote): the net its blob does not name, and what the run that goes on
 * uses - its images per epoch, batch size and log interval (which place
 * the row by its epoch and batch_percent, registry_row_position) and seed. */
typedef struct registry_resume_defaults {
    const blob_model *model;     /* NULL: blob_tutorial_model */
    size_t train_images;
    int batch_size, log_interval;
    uint64_t seed;
} registry_resume_defaults;

/* Checkpoint `id` (text) of keyspace: creates its net and its optimizer and
 * says where its run stood, for a run resumed from it. A row without a run
 * position (the tutorial's own: a models_train row; its models_test rows
 * name no epoch and are refused) is placed with d. The caller frees net
 * and opt. */
int registry_load_checkpoint(cql_session *s, const char *keyspace, const char *id,
                             const registry_resume_defaults *d, nn_net *net, nn_optim *opt,
                             registry_train_state *ts, cassnn_err *err);

/* ---- model files ---- */

typedef struct registry_import_options {
    const char *network_path;    /* a network file: safetensors or a PyTorch pickle */
    const char *optimizer_path;  /* NULL, or an optimizer file for that network */
    float loss, accuracy;        /* NAN when unknown (stored as null) */
    const blob_model *model;     /* the network of a file that names none (a plain PyTorch
                                  * state_dict); NULL: such a file is refused */
} registry_import_options;

/* Decodes the files (every tensor name and shape checked against the
 * model), then stores them re-encoded as safetensors with their
 * description as a new models_test row; its id in id_out. Errors name the
 * file. */
int registry_import_files(cql_session *s, const char *keyspace, const registry_import_options *o,
                          uint8_t id_out[16], cassnn_err *err);

typedef struct registry_export_options {
    const char *network_path;    /* the network blob goes here */
    const char *optimizer_path;  /* NULL, or the optimizer blob goes here */
    const blob_format *format;   /* NULL: the blobs as stored; else converted to *format */
    const blob_model *model;     /* converting a blob that names no network (a tutorial row):
                                  * which one (NULL: blob_tutorial_model) */
} registry_export_options;

/* Writes the blobs of model id to files; *network_bytes and
 * *optimizer_bytes (0 when not written) say how large. */
int registry_export_files(cql_session *s, const char *keyspace, const uint8_t id[16],
                          const registry_export_options *o, size_t *network_bytes,
                          size_t *optimizer_bytes, cassnn_err *err);

/* ---- local spool ---- */

/* A checkpoint the cluster could not take within the session's retry
 * budget is kept on local disk, one fsync'd file per checkpoint named by its
 * uuid (<uuid>.checkpoint), in $CASSNN_SPOOL/KEYSPACE, else
 * $HOME/.cassnn/spool/KEYSPACE. Replaying inserts each one (an upsert by
 * id: the same uuid gives the same row however often it is replayed) and
 * deletes its file once the insert succeeded. */
int registry_spool_dir(const char *keyspace, char *out, size_t cap, cassnn_err *err);
/* Writes m's file (path gets its name). */
int registry_spool_put(const char *keyspace, const registry_model *m, char *path, size_t cap,
                       cassnn_err *err);

typedef struct registry_spool_report {
    char dir[4096];
    long found, written;          /* spooled checkpoints found / now in the registry */
    char first_error[512];
} registry_spool_report;

/* Writes every spooled checkpoint of keyspace to the registry. 0 when the
 * spool is empty now (also when it never existed); -1 when some could not
 * be written (their files stay). */
int registry_spool_replay(cql_session *s, const char *keyspace, registry_spool_report *rep,
                          cassnn_err *err);

/* ---- asynchronous checkpoint writer ---- */

/* Inserts rows on its own thread so that training never waits for the
 * node. The session retries a failed insert (an idempotent upsert) as its
 * policy says, within its time budget (cql.h); a row it gives up on goes
 * to the spool. While writes fail and the session knows no node that is
 * up, queued rows go straight to the spool instead of each waiting out the
 * budget; the first write after a node is up again goes to the cluster. */
typedef struct registry_writer registry_writer;

typedef struct registry_writer_report {
    long submitted, written;
    long spooled;               /* not written, kept in the spool (spool_dir) */
    long failed;                /* neither written nor spooled: lost */
    long queued;                /* waiting to be written (a snapshot) */
    long retried;               /* requests the session sent again while the inserts ran */
    int failing;                /* the last write failed */
    char first_error[512];      /* the first write that failed; "" when none did */
    char last_error[512];       /* the latest one */
    char spool_dir[4096];
} registry_writer_report;

int registry_writer_open(registry_writer **out, cql_session *s, const char *keyspace, cassnn_err *err);
/* Queues m (ownership passes to the writer, also on failure). Never waits
 * for the network. */
int registry_writer_submit(registry_writer *w, registry_model *m, cassnn_err *err);
/* Where the writer stands now (any thread). */
void registry_writer_status(registry_writer *w, registry_writer_report *now);
/* Waits until every queued row is written or spooled, then frees w. */
void registry_writer_close(registry_writer *w, registry_writer_report *report);

/* ---- predictions ---- */

/* Creates keyspace.predictions (model_id uuid, id int, label int,
 * probability float, PRIMARY KEY (model_id, id)) when missing and writes n
 * rows with bounded concurrency. */
int registry_predictions_write(cql_session *s, const char *keyspace, const uint8_t model_id[16],
                               const int32_t *ids, const int32_t *labels, const float *probability,
                               size_t n, cassnn_err *err);

#endif
