/* train.c - a training run (see run.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/augment.h"
#include "cassnn/blob.h"
#include "cassnn/idx.h"
#include "cassnn/schema.h"
#include "optim.h"
#include "source.h"

struct run_train {
    run_train_options o;            /* strings borrowed */
    run_events events;
    cql_session *session;           /* borrowed; NULL for files */
    float mean, std;
    run_source train, test;
    data_augment_source augmented;  /* around train's batches when o.augment is active */
    nn_net net;
    nn_optim opt;
    nn_exec *exec;
    nn_lr_schedule schedule;
    nn_train_config cfg;
    int next_epoch;
    /* checkpoints (tables only) */
    registry_writer *writer;
    registry_run rows;
    long lost;                      /* rows that could not be built */
    char first_lost[512];
    int warned;                     /* checkpoints_failing told, not yet recovered */
    run_train_info info;
};

void run_train_defaults(run_train_options *o) {
    memset(o, 0, sizeof *o);
    run_optim_defaults(&o->optim);
    o->epochs = 3;
    o->batch_size = 64;
    o->test_batch_size = 1000;
    o->log_interval = 10;
    o->seed = 1;
    o->initial_test = 1;
}

static int check_options(const run_train_options *o, cql_session *s, cassnn_err *err) {
    if (!o->idx_dir == !o->keyspace)
        return cassnn_err_set(err, "a training run reads a keyspace's tables or IDX files: "
                                   "give one of them");
    if (o->keyspace && !s) return cassnn_err_set(err, "reading tables needs a session");
    if (o->resume && !o->keyspace)
        return cassnn_err_set(err, "resuming needs the keyspace holding the checkpoint");
    const char *names[3] = {o->keyspace, o->train_table, o->test_table};
    for (int i = 0; i < 3; i++)
        if (names[i] && !registry_valid_name(names[i]))
            return cassnn_err_set(err, "'%s': keyspace and table names are letters, digits and _ "
                                       "(at most 48)", names[i]);
    if (o->epochs < 0 || o->batch_size < 1 || o->test_batch_size < 1 || o->log_interval < 0 ||
        o->threads < 0)
        return cassnn_err_set(err, "epochs, batch sizes, log interval and threads must be "
                                   "positive (epochs and log interval may be 0)");
    return 0;
}

/* DIR/name, or DIR/name.gz when only that exists. */
static void idx_path(char *out, size_t cap, const char *dir, const char *name) {
    struct stat st;
    snprintf(out, cap, "%s/%s", dir, name);
    if (stat(out, &st) == 0) return;
    snprintf(out, cap, "%s/%s.gz", dir, name);
}

static int load_idx(const char *dir, const char *prefix, data_images *out, cassnn_err *err) {
    char images[4096], labels[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    idx_path(images, sizeof images, dir, name);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    idx_path(labels, sizeof labels, dir, name);
    return data_idx_load(images, labels, out, err);
}

/* The images, from tables or files; both sets of one shape. */
static int open_data(run_train *r, cassnn_err *err) {
    const run_train_options *o = &r->o;
    if (o->keyspace) {
        run_source both[2];
        const char *tables[2] = {o->train_table ? o->train_table : "raw_train",
                                 o->test_table ? o->test_table : "raw_test"};
        const int rc = run_sources_open_tables(both, 2, r->session, o->keyspace, tables,
                                               o->memory_budget ? o->memory_budget
                                                                : data_default_memory_budget(),
                                               &r->events, err);
        r->train = both[0];
        r->test = both[1];
        if (rc) return -1;
    } else if (load_idx(o->idx_dir, "train", &r->train.images, err) ||
               load_idx(o->idx_dir, "t10k", &r->test.images, err)) {
        return -1;
    }
    const data_images *a = &r->train.images, *b = &r->test.images;
    if (a->channels != b->channels || a->rows != b->rows || a->cols != b->cols)
        return cassnn_err_set(err, "%s: train images are %dx%dx%d but test images %dx%dx%d",
                              o->keyspace ? o->keyspace : o->idx_dir, a->channels, a->rows,
                              a->cols, b->channels, b->rows, b->cols);
    return 0;
}

/* The description: a built-in name or text. */
static int create_net(run_train *r, cassnn_err *err) {
    const run_train_options *o = &r->o;
    const data_images *d = &r->train.images;
    if (nn_net_create(&r->net, o->model ? o->model : "tutorial", d->channels, d->rows, d->cols,
                      err))
        return -1;
    nn_net_init(&r->net, r->rows.seed);
    return run_optim_create(&o->optim, &r->opt, r->net.n_params, err);
}

/* A checkpoint row goes to the writer; one that cannot be built is
 * reported and counted as a failed write. */
static void submit(run_train *r, int built, registry_model *m, cassnn_err *err) {
    if (built == 0) {
        registry_writer_submit(r->writer, m, err);
        return;
    }
    if (!r->lost++) snprintf(r->first_lost, sizeof r->first_lost, "%s", err->msg);
    if (r->events.checkpoint_lost) r->events.checkpoint_lost(r->events.user, err->msg);
}

/* "no node is up (a, b)": why writes fail before the writer has given up
 * on one (that takes the session's retry budget). */
static void no_node_up(cql_session *s, char *out, size_t cap) {
    const int n = cql_session_hosts(s, NULL);
    int used = snprintf(out, cap, "no node is up (");
    for (int i = 0; i < n && used > 0 && (size_t)used < cap; i++) {
        cql_host_stats st;
        if (cql_session_host_stats(s, i, &st) == 0)
            used += snprintf(out + used, cap - (size_t)used, "%s%s:%d down", i ? ", " : "",
                             st.address, st.port);
    }
    if (used > 0 && (size_t)used < cap) snprintf(out + used, cap - (size_t)used, ")");
}

/* Tells the front end once when checkpoint writes start failing - a write
 * failed, or no node is up so the next ones will - and again after they
 * recovered and fail anew: the writer runs on its own thread, the events
 * on the run's. */
static void watch_writer(run_train *r) {
    registry_writer_report now;
    registry_writer_status(r->writer, &now);
    int up = 0;
    cql_session_hosts(r->session, &up);
    const int failing = now.failing || up == 0;
    if (failing && !r->warned && r->events.checkpoints_failing) {
        if (!now.failing) no_node_up(r->session, now.last_error, sizeof now.last_error);
        r->events.checkpoints_failing(r->events.user, &now);
    }
    r->warned = failing;
}

static void on_progress(void *user, const nn_train_progress *p) {
    run_train *r = user;
    if (r->writer) {
        watch_writer(r);
        registry_model m;
        cassnn_err err = {0};
        submit(r, registry_train_row(&m, &r->rows, p, &err), &m, &err);
    }
    if (r->events.progress) r->events.progress(r->events.user, p);
}

/* The augmentation around the train batches (when o.augment does
 * anything), drawn from the run's seed; resumed at image `resume_at`. */
static int start_augment(run_train *r, long resume_at, cassnn_err *err) {
    if (!data_augment_active(&r->o.augment)) return 0;
    const data_images *d = &r->train.images;
    const data_augment_frame f = {d->channels, d->rows, d->cols, -r->mean / r->std,
                                  r->rows.seed};
    if (data_augment_source_init(&r->augmented, run_source_batches(&r->train), &r->o.augment,
                                 &f, err))
        return -1;
    data_augment_source_resume_at(&r->augmented, resume_at);
    return 0;
}

/* Everything after the data and the net: threads, batches, schedule, the
 * checkpoint writer, the resumed position. */
static int start(run_train *r, const registry_train_state *at, cassnn_err *err) {
    const run_train_options *o = &r->o;
    const data_images *d = &r->train.images;
    if (d->channels != r->net.in_c || d->rows != r->net.in_h || d->cols != r->net.in_w)
        return cassnn_err_set(err, "the images are %dx%dx%d but the model takes %dx%dx%d",
                              d->channels, d->rows, d->cols, r->net.in_c, r->net.in_h,
                              r->net.in_w);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const int threads = o->threads > 0 ? o->threads : cpus > 0 ? (int)cpus : 1;
    const uint64_t seed = r->rows.seed;
    if (nn_exec_create(&r->exec, &r->net, r->rows.batch_size, o->test_batch_size, threads, seed,
                       err) ||
        run_source_start(&r->train, r->session, 1, seed, r->mean, r->std, &r->events, err) ||
        run_source_start(&r->test, r->session, 0, seed, r->mean, r->std, &r->events, err))
        return -1;
    r->rows.net = &r->net;
    r->rows.opt = &r->opt;
    if (o->keyspace && registry_writer_open(&r->writer, r->session, o->keyspace, err))
        return -1;
    /* Dropout masks are keyed by the step count: a resumed run continues it. */
    nn_exec_set_step(r->exec, (uint64_t)r->opt.step);
    run_source_resume_at(&r->train, at->next_batch * r->rows.batch_size);
    if (start_augment(r, at->next_batch * r->rows.batch_size, err)) return -1;
    const long per_epoch = ((long)r->train.images.count + r->rows.batch_size - 1) /
                           r->rows.batch_size;
    r->cfg = (nn_train_config){
        .batch_size = r->rows.batch_size, .log_interval = o->log_interval,
        .lr = run_optim_schedule(&o->optim, &r->schedule, o->epochs, per_epoch),
        .first_batch = at->next_batch};
    r->next_epoch = at->epoch;
    r->info = (run_train_info){&r->net, &r->opt, r->cfg.lr, r->train.images.count,
                               r->test.images.count, nn_exec_threads(r->exec),
                               r->rows.batch_size, seed, at->epoch};
    return 0;
}

int run_train_open(run_train **out, cql_session *s, const run_train_options *o,
                   const run_events *events, cassnn_err *err) {
    *out = NULL;
    if (check_options(o, s, err)) return -1;
    run_train *r = calloc(1, sizeof *r);
    if (!r) return cassnn_err_set(err, "out of memory");
    r->o = *o;
    if (events) r->events = *events;
    r->session = s;
    r->rows.seed = o->seed;
    r->rows.batch_size = o->batch_size;
    r->rows.format = o->blob_format;
    registry_train_state at = {.epoch = 1};
    int rc = run_normalisation(o->dataset, o->keyspace, &r->mean, &r->std, err) ||
             open_data(r, err);
    if (rc == 0 && o->resume) {
        /* The checkpoint decides the net, optimizer, seed and batch size;
         * for a tutorial row (which names none of them) the options do. */
        const blob_model given = {o->model ? o->model : "tutorial", r->train.images.channels,
                                  r->train.images.rows, r->train.images.cols};
        const registry_resume_defaults d = {&given, r->train.images.count, o->batch_size,
                                            o->log_interval, o->seed};
        rc = registry_load_checkpoint(s, o->keyspace, o->resume, &d, &r->net, &r->opt, &at, err);
        r->rows.seed = at.seed;
        r->rows.batch_size = at.batch_size;
    } else if (rc == 0) {
        rc = create_net(r, err);
    }
    if (rc == 0) rc = start(r, &at, err);
    if (rc) {
        run_train_close(r, NULL);
        return -1;
    }
    *out = r;
    return 0;
}

const run_train_info *run_train_describe(const run_train *r) { return &r->info; }

int run_train_next_epoch(const run_train *r) { return r->next_epoch; }

int run_train_epoch(run_train *r, nn_epoch_stats *stats, cassnn_err *err) {
    nn_batch_source batches = r->augmented.scratch ? data_augment_source_batches(&r->augmented)
                                                   : run_source_batches(&r->train);
    if (nn_train_epoch(r->exec, &r->net, &r->opt, &batches, r->next_epoch, &r->cfg, on_progress,
                       r, stats, err))
        return -1;
    r->cfg.first_batch = 0;
    r->next_epoch++;
    return 0;
}

int run_train_test(run_train *r, nn_eval_stats *stats, cassnn_err *err) {
    nn_batch_source batches = run_source_batches(&r->test);
    if (nn_evaluate(r->exec, &r->net, &batches, r->o.test_batch_size, stats, err)) return -1;
    if (r->writer) {
        watch_writer(r);
        registry_model m;
        cassnn_err e = {0};
        submit(r, registry_test_row(&m, &r->rows, r->next_epoch, stats, &e), &m, &e);
    }
    return 0;
}

int run_train_save(const run_train *r, const char *path, cassnn_err *err) {
    return blob_net_save_file(&r->net, BLOB_SAFETENSORS, path, err);
}

int run_train_close(run_train *r, run_train_report *report) {
    run_train_report rep = {0};
    if (report) *report = rep;
    if (!r) return 0;
    if (r->writer) {
        rep.checkpoints = 1;
        registry_writer_close(r->writer, &rep.writes);
        rep.writes.submitted += r->lost;
        rep.writes.failed += r->lost;
        if (r->lost && !rep.writes.first_error[0])
            snprintf(rep.writes.first_error, sizeof rep.writes.first_error, "%s", r->first_lost);
    }
    const int rc = rep.writes.failed ? -1 : 0;
    if (report) *report = rep;
    data_augment_source_free(&r->augmented);
    run_source_free(&r->train);
    run_source_free(&r->test);
    nn_optim_free(&r->opt);
    nn_exec_free(r->exec);
    nn_net_free(&r->net);
    free(r);
    return rc;
}
