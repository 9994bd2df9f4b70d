/* run.h - an ingest run, a training run and a predict run: what `cassnn
 * ingest`, `cassnn train` and `cassnn predict` do between reading their
 * flags and printing, for every front end (the cassnn program, a model
 * server, a program embedding libcassnn).
 *
 * A training run reads its images from the raw tables of a keyspace or from
 * IDX files, builds the net from a description (or restores a checkpoint's
 * net, optimizer and position), trains epoch by epoch and tests before the
 * first epoch and after each. From tables, each table is loaded once or
 * streamed as its size and the memory budget decide (table_plan.h), and the
 * run checkpoints into the registry: a models_train row at every log
 * interval, a models_test row after every test, written asynchronously so
 * training never waits for the node.
 *
 *   run_train *r;
 *   if (run_train_open(&r, session, &opts, &events, &err)) ...
 *   run_train_test(r, &t, &err);
 *   while (run_train_next_epoch(r) <= opts.epochs)
 *       run_train_epoch(r, &e, &err), run_train_test(r, &t, &err);
 *   run_train_close(r, &report);
 *
 * The library never prints: what a front end shows comes through the
 * callbacks of run_events and the structs the calls fill.
 *
 * An ingest run reads and validates image files, then writes them into the
 * raw tables.
 *
 * Reads and writes run at the session's consistency (conn.h's
 * conn_use_consistency decides it from the keyspace's replication); a
 * checkpoint the cluster cannot take goes to the local spool (registry.h),
 * and the report says how many did.
 *
 * Ownership and threads: a run borrows the session (which must outlive it)
 * and every string of its options; run_train_close frees the run,
 * run_ingest_free an ingest's images, run_predictions_free what run_predict
 * filled. One run is driven from one thread, and its callbacks run on that
 * thread. Runs share nothing, but each trains with its own threads
 * (options.threads; nn.h): two runs at once share the cores.
 */
#ifndef CASSNN_RUN_H
#define CASSNN_RUN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cassnn/augment.h"
#include "cassnn/cql.h"
#include "cassnn/images.h"
#include "cassnn/ingest.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_train.h"
#include "cassnn/registry.h"
#include "cassnn/stream.h"
#include "cassnn/table_plan.h"

/* ---- what a run reports while it works ---- */

/* The load-once or streaming choice for a run's tables, before they are
 * read. */
typedef struct run_tables_plan {
    const char *keyspace;
    int n;                      /* 2: train, test (training); 1: the table (predict) */
    const char *tables[2];
    data_table_size sizes[2];
    data_plan plan;
    size_t memory_budget;
} run_tables_plan;

/* A table opened as a stream. */
typedef struct run_stream_info {
    const char *keyspace, *table;
    int shuffled;               /* 1: through a shuffle buffer (train); 0: token order */
    long rows;                  /* exact: counted when the stream opened */
    size_t buffer_rows;         /* shuffle buffer capacity */
    size_t memory, budget;      /* what the stream holds at most, of its budget */
} run_stream_info;

/* Callbacks, each optional (NULL), called on the thread that drives the run. */
typedef struct run_events {
    void *user;
    /* ingest */
    void (*skipped)(void *user, const char *source, const data_load_stats *st); /* bad records
                                                                                 * left out */
    void (*downloading)(void *user, const char *what, const char *path); /* path NULL: that
                                                                          * mirror failed */
    void (*written)(void *user, size_t done, size_t total); /* rows confirmed; at most every
                                                             * 100 ms and at the end */
    /* training and prediction */
    void (*planned)(void *user, const run_tables_plan *p);
    void (*loaded)(void *user, size_t rows, double seconds);  /* load-once tables read */
    void (*streaming)(void *user, const run_stream_info *s);
    void (*progress)(void *user, const nn_train_progress *p); /* every log interval */
    /* a checkpoint row that could not be built (never written; counted in
     * the report's writes as failed) */
    void (*checkpoint_lost)(void *user, const char *error);
    /* checkpoint writes started failing (now: the writer's counts, the
     * error, the rows still queued); told again only after a write went
     * through in between. Rows that fail go to the spool (registry.h). */
    void (*checkpoints_failing)(void *user, const registry_writer_report *now);
} run_events;

/* ---- what every run shares ---- */

/* The input normalisation of a dataset ("mnist" or "fashion"; NULL: fashion
 * when the keyspace's name contains it, else mnist); -1 with err set for an
 * unknown name. Training, prediction and serving use the same constants. */
int run_normalisation(const char *dataset, const char *keyspace, float *mean, float *std,
                      cassnn_err *err);

/* ---- training ---- */

/* A new run's optimizer and learning-rate schedule, in PyTorch's terms. */
typedef struct run_optim_options {
    nn_optim_kind kind;            /* NN_OPTIM_SGD */
    float lr;                      /* 0.01; one-cycle: the peak unless max_lr */
    float momentum, dampening;     /* SGD: 0.5 (the tutorial's), 0 */
    int nesterov;
    float beta1, beta2, eps;       /* Adam, AdamW: 0.9, 0.999, 1e-8 */
    float weight_decay;            /* < 0: PyTorch's default (AdamW 0.01, else 0) */
    nn_lr_schedule_kind schedule;  /* NN_LR_CONSTANT */
    int step_epochs;               /* step: 1 */
    float gamma;                   /* step: 0.1 */
    float min_lr;                  /* cosine: 0 */
    float max_lr;                  /* one-cycle: the peak; 0: lr */
    float pct_start;               /* one-cycle warm-up fraction: 0.3 */
    int cycle_momentum;            /* one-cycle: 1, momentum / beta1 0.95 -> 0.85 -> 0.95 */
} run_optim_options;

typedef struct run_train_options {
    /* data, from tables (a session given to run_train_open) ... */
    const char *keyspace;          /* raw tables here; checkpoints into models_train/test */
    const char *train_table;       /* NULL: raw_train */
    const char *test_table;        /* NULL: raw_test */
    size_t memory_budget;          /* 0: data_default_memory_budget() */
    const char *resume;            /* a checkpoint's id: its net, optimizer, seed, batch
                                    * size and position (optim, seed, batch_size unused);
                                    * a tutorial row, which holds only the net's weights
                                    * and the optimizer's state, is built as model and
                                    * placed by its epoch and batch_percent with
                                    * batch_size and log_interval, and goes on with seed */
    /* ... or from the IDX files of a folder (no session, no checkpoints) */
    const char *idx_dir;           /* train-images-idx3-ubyte[.gz], t10k-..., with labels */
    const char *dataset;           /* normalisation: "mnist" or "fashion"; NULL: fashion
                                    * when the keyspace's name contains it, else mnist */
    /* the model and how it is trained */
    const char *model;             /* description or built-in name; NULL: "tutorial" */
    run_optim_options optim;
    int epochs;                    /* train up to this epoch: 3 */
    int batch_size;                /* 64 */
    int test_batch_size;           /* 1000 */
    int log_interval;              /* batches between progress reports (and checkpoints): 10 */
    int threads;                   /* 0: the online CPUs */
    uint64_t seed;                 /* init, shuffle, dropout and augmentation: 1 */
    blob_format blob_format;       /* of every checkpoint's network and optimizer blobs:
                                    * BLOB_SAFETENSORS; BLOB_PICKLE: what the tutorial's
                                    * pickle.loads + load_state_dict read */
    data_augment augment;          /* of the training batches: none (a resumed run needs
                                    * the original run's again) */
    int initial_test;              /* 1: test the untrained net too, as the tutorial does
                                    * (for the front end's loop; run_train_test does it) */
} run_train_options;

/* The tutorial's recipe (every default above). */
void run_train_defaults(run_train_options *o);

/* Sets what recipe `name` chooses - model, optimizer, schedule, batch size,
 * epochs, augmentation, log interval, initial test - and leaves the rest
 * (data, seed, threads) alone: "tutorial" (run_train_defaults' choices) or
 * "fast" (99% on MNIST in seconds; README "The fast recipe" says why each
 * choice). Errors: an unknown name. */
int run_train_recipe(run_train_options *o, const char *name, cassnn_err *err);

typedef struct run_train run_train;

/* What a run is, once open. Valid until run_train_close. */
typedef struct run_train_info {
    const nn_net *net;
    const nn_optim *optim;
    const nn_lr_schedule *schedule; /* NULL: a constant lr */
    size_t train_images, test_images;
    int threads;
    int batch_size;
    uint64_t seed;
    int first_epoch;                /* 1, or where a resumed run goes on */
} run_train_info;

/* Opens the data (from tables: chooses and reports each table's mode,
 * loads or opens streams), builds or restores the net and optimizer, and
 * starts the checkpoint writer. s: an open session for a keyspace's
 * tables, NULL for IDX files. Errors: bad options, the node's, the data's
 * (an empty table, images of another shape than the model's). */
int run_train_open(run_train **out, cql_session *s, const run_train_options *o,
                   const run_events *events, cassnn_err *err);

const run_train_info *run_train_describe(const run_train *r);

/* The epoch the next run_train_epoch trains (> options.epochs: done). */
int run_train_next_epoch(const run_train *r);

/* Trains that epoch (progress and checkpoints every log interval). */
int run_train_epoch(run_train *r, nn_epoch_stats *stats, cassnn_err *err);

/* Tests the net on the test images; from tables, queues a models_test row. */
int run_train_test(run_train *r, nn_eval_stats *stats, cassnn_err *err);

/* Writes the net as a safetensors file (PyTorch state_dict names). */
int run_train_save(const run_train *r, const char *path, cassnn_err *err);

typedef struct run_train_report {
    int checkpoints;                 /* 1: from tables (the rest is filled) */
    registry_writer_report writes;   /* written, spooled (in writes.spool_dir), failed */
} run_train_report;

/* Waits for every checkpoint write (or spool write) and frees the run
 * (NULL is a no-op). Returns 0 when every checkpoint is in the registry or
 * the spool (or there is no registry), -1 when some are in neither; report
 * (may be NULL) says what happened. */
int run_train_close(run_train *r, run_train_report *report);

/* ---- ingest ---- */

typedef struct run_ingest_options {
    const char *keyspace;          /* NULL: the dataset's (mnist_fashion), else mnist_digits */
    const char *train_csv;         /* labelled Kaggle CSV: first part raw_train, rest raw_test */
    double split;                  /* the first part's fraction, in (0, 1]: 0.8 */
    const char *predict_csv;       /* unlabelled CSV into raw_predict */
    const char *idx_dir;           /* train-* IDX files into raw_train, t10k-* into raw_test */
    const char *dataset;           /* "mnist" or "fashion": the published IDX files (dataset.h),
                                    * downloaded when missing ... */
    const char *mirror;            /* ... from here (NULL: the usual mirrors) */
    const char *png_dir;           /* DIR/<label>/<name>.png ... */
    const char *png_table;         /* ... into this table (created when missing) */
    int blob_layout;               /* 1: the raw_*_blob tables (pixels as one blob) */
    int skip_bad;                  /* 1: leave bad records out (events->skipped) instead of failing */
    int replication;               /* creating the keyspace: replicas, 1 */
    const char *datacenter;        /* NULL: SimpleStrategy, else NetworkTopologyStrategy */
    int concurrency;               /* INSERTs in flight: 128 */
    volatile sig_atomic_t *stop;   /* may be NULL; non-zero: submit no more rows */
} run_ingest_options;

/* Ingest's defaults (every field above). */
void run_ingest_defaults(run_ingest_options *o);

/* One image set bound for one table. */
typedef struct run_ingest_set {
    const char *table;
    char source[1200];             /* where its rows came from */
    data_images images;
    size_t written;                /* rows the node acknowledged */
} run_ingest_set;

/* An ingest in its three steps: read and validate every source (no
 * connection yet: bad input never leaves a half-written table), create or
 * check the schema, write. Rows are upserts by id: a stopped ingest is
 * completed by running it again. */
typedef struct run_ingest {
    run_ingest_options o;          /* keyspace filled in; strings borrowed */
    run_events events;
    size_t n;
    run_ingest_set sets[DATA_INGEST_MAX_SETS];
    size_t total, retried;         /* rows of all sets; writes sent again after a timeout */
    double seconds;                /* writing time */
} run_ingest;

/* Reads every source into ri (ids checked unique per table). */
int run_ingest_load(run_ingest *ri, const run_ingest_options *o, const run_events *events,
                    cassnn_err *err);

/* Creates or checks the keyspace and tables the sets need. */
int run_ingest_schema(run_ingest *ri, cql_session *s, cassnn_err *err);

/* Writes every set (sets[i].written filled also on failure). */
int run_ingest_write(run_ingest *ri, cql_session *s, cassnn_err *err);

/* Reads the tables back and compares row counts and checksums. */
int run_ingest_verify(const run_ingest *ri, cql_session *s, cassnn_err *err);

void run_ingest_free(run_ingest *ri);

/* ---- prediction ---- */

typedef struct run_predict_options {
    const char *keyspace;          /* the registry, and the table's keyspace */
    const char *model;             /* a checkpoint id, "best" or an alias (registry_alias.h);
                                    * NULL: the best by accuracy */
    const blob_model *fallback;    /* the network of a row that names none (the tutorial's
                                    * pickles); NULL: blob_tutorial_model */
    const char *table;             /* NULL: raw_predict ... */
    const char *idx, *labels;      /* ... or an IDX image file (labels: NULL or its file) ... */
    const char *png;               /* ... or DIR/<label>/<name>.png */
    const char *dataset;           /* as run_train_options */
    size_t memory_budget;          /* a table larger than this streams; 0: the default */
    int threads;                   /* 0: the online CPUs */
} run_predict_options;

typedef struct run_predictions {
    uint8_t model[16];
    char model_id[37];
    char source[1100];             /* "keyspace.table", or the file or folder */
    size_t count;
    int32_t *ids;                  /* row id (table) or record index of each image */
    int32_t *labels;               /* its true label; -1 when it has none */
    int32_t *predicted;
    float *probability;            /* of the predicted class */
    int classes;
    long labelled, correct;
    long *confusion;               /* classes x classes, [true label][predicted] */
} run_predictions;

/* Classifies every image of the source with the model, in eval mode. A
 * table is loaded once or streamed in token order as its size and the
 * budget decide (events->planned, events->streaming). */
int run_predict(cql_session *s, const run_predict_options *o, const run_events *events,
                run_predictions *out, cassnn_err *err);

/* Stores (model_id, id, label, probability) in keyspace.predictions. */
int run_predictions_write(cql_session *s, const char *keyspace, const run_predictions *p,
                          cassnn_err *err);

void run_predictions_free(run_predictions *p);

#endif
