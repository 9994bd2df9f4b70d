/* ingest.c - an ingest run: image files read, validated, then written
 * into the raw tables (see run.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cassnn/csv.h"
#include "cassnn/dataset.h"
#include "cassnn/idx.h"
#include "cassnn/png_dir.h"
#include "cassnn/run.h"
#include "cassnn/schema.h"

enum { TRAIN = 0, TEST = 1, PREDICT = 2 };

void run_ingest_defaults(run_ingest_options *o) {
    memset(o, 0, sizeof *o);
    o->split = 0.8;
    o->replication = 1;
    o->concurrency = 128;
}

static const char *raw_table(const run_ingest *ri, int which) {
    return (ri->o.blob_layout ? registry_raw_blob_tables : registry_raw_tables)[which];
}

/* The next set, bound for table, from source. */
static run_ingest_set *add_set(run_ingest *ri, const char *table, const char *source) {
    run_ingest_set *set = &ri->sets[ri->n++];
    set->table = table;
    snprintf(set->source, sizeof set->source, "%s", source);
    return set;
}

static void tell_skipped(const run_ingest *ri, const char *source, const data_load_stats *st) {
    if (st->skipped && ri->events.skipped) ri->events.skipped(ri->events.user, source, st);
}

/* Finds DIR/<prefix>-<kind>-idx?-ubyte[.gz]; 0 when absent. */
static int find_idx_file(const char *dir, const char *prefix, const char *kind, char *out,
                         size_t size) {
    const char *suffixes[2] = {".gz", ""};
    for (int i = 0; i < 2; i++) {
        snprintf(out, size, "%s/%s-%s-idx%d-ubyte%s", dir, prefix, kind,
                 !strcmp(kind, "images") ? 3 : 1, suffixes[i]);
        if (access(out, R_OK) == 0) return 1;
    }
    return 0;
}

static int load_idx_pair(run_ingest *ri, const char *images, const char *labels, int which,
                         cassnn_err *err) {
    return data_idx_load(images, labels, &add_set(ri, raw_table(ri, which), images)->images, err);
}

static int load_train_csv(run_ingest *ri, cassnn_err *err) {
    const run_ingest_options *o = &ri->o;
    data_images all;
    data_load_stats st;
    char source[1200];
    if (data_csv_load(o->train_csv, 1, o->skip_bad, &all, &st, err)) return -1;
    tell_skipped(ri, o->train_csv, &st);
    snprintf(source, sizeof source, "%s (first %.0f%%)", o->train_csv, o->split * 100);
    run_ingest_set *first = add_set(ri, raw_table(ri, TRAIN), source);
    snprintf(source, sizeof source, "%s (last %.0f%%)", o->train_csv, (1 - o->split) * 100);
    run_ingest_set *rest = add_set(ri, raw_table(ri, TEST), source);
    const int rc = data_images_split(&all, o->split, &first->images, &rest->images, err);
    data_images_free(&all);
    if (rc == 0 && rest->images.count == 0) ri->n--; /* split 1: no test part */
    return rc;
}

static int load_idx_dir(run_ingest *ri, cassnn_err *err) {
    const char *dir = ri->o.idx_dir, *prefixes[2] = {"train", "t10k"};
    char images[1100], labels[1100];
    int found = 0;
    for (int k = 0; k < 2; k++) {
        const int have_images = find_idx_file(dir, prefixes[k], "images", images, sizeof images);
        const int have_labels = find_idx_file(dir, prefixes[k], "labels", labels, sizeof labels);
        if (have_images != have_labels)
            return cassnn_err_set(err, "%s: %s without its %s file", dir,
                                  have_images ? images : labels, have_images ? "labels" : "images");
        if (have_images) {
            found = 1;
            if (load_idx_pair(ri, images, labels, k ? TEST : TRAIN, err)) return -1;
        }
    }
    if (!found)
        return cassnn_err_set(err, "%s: no IDX files (expected train-images-idx3-ubyte[.gz] "
                                   "and/or t10k-images-idx3-ubyte[.gz] with their labels)", dir);
    return 0;
}

static void tell_download(void *user, const char *text, const char *path) {
    const run_ingest *ri = user;
    if (ri->events.downloading) ri->events.downloading(ri->events.user, text, path);
}

static int load_dataset(run_ingest *ri, cassnn_err *err) {
    data_dataset_paths p;
    if (data_dataset_fetch(data_dataset_named(ri->o.dataset), NULL, ri->o.mirror, tell_download,
                           ri, &p, err))
        return -1;
    return load_idx_pair(ri, p.path[DATA_TRAIN_IMAGES], p.path[DATA_TRAIN_LABELS], TRAIN, err) ||
                   load_idx_pair(ri, p.path[DATA_TEST_IMAGES], p.path[DATA_TEST_LABELS], TEST, err)
               ? -1 : 0;
}

/* Every source, in a fixed order; nothing is written yet. */
static int load_sources(run_ingest *ri, cassnn_err *err) {
    const run_ingest_options *o = &ri->o;
    data_load_stats st;
    if (o->train_csv && load_train_csv(ri, err)) return -1;
    if (o->predict_csv) {
        run_ingest_set *set = add_set(ri, raw_table(ri, PREDICT), o->predict_csv);
        if (data_csv_load(o->predict_csv, 0, o->skip_bad, &set->images, &st, err)) return -1;
        tell_skipped(ri, o->predict_csv, &st);
    }
    if (o->idx_dir && load_idx_dir(ri, err)) return -1;
    if (o->dataset && load_dataset(ri, err)) return -1;
    if (o->png_dir) {
        run_ingest_set *set = add_set(ri, o->png_table, o->png_dir);
        if (data_png_dir_load(o->png_dir, o->skip_bad, &set->images, &st, err)) return -1;
        tell_skipped(ri, o->png_dir, &st);
    }
    for (size_t i = 0; i < ri->n; i++)
        if (ri->sets[i].images.rows != 28 || ri->sets[i].images.cols != 28)
            return cassnn_err_set(err, "%s: images are %dx%d; the raw tables hold 28x28",
                                  ri->sets[i].source, ri->sets[i].images.rows,
                                  ri->sets[i].images.cols);
    return 0;
}

/* Rows of two sources bound for one table must not share ids. */
static int check_ids(const run_ingest *ri, cassnn_err *err) {
    for (size_t i = 0; i < ri->n; i++) {
        const data_images *group[DATA_INGEST_MAX_SETS];
        const char *names[DATA_INGEST_MAX_SETS];
        size_t k = 0;
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= !strcmp(ri->sets[j].table, ri->sets[i].table);
        if (seen) continue;
        for (size_t j = i; j < ri->n; j++)
            if (!strcmp(ri->sets[j].table, ri->sets[i].table)) {
                group[k] = &ri->sets[j].images;
                names[k++] = ri->sets[j].source;
            }
        if (data_images_check_unique_ids(group, names, k, err))
            return cassnn_err_wrap(err, "table %s", ri->sets[i].table);
    }
    return 0;
}

int run_ingest_load(run_ingest *ri, const run_ingest_options *o, const run_events *events,
                    cassnn_err *err) {
    memset(ri, 0, sizeof *ri);
    ri->o = *o;
    if (events) ri->events = *events;
    const int sources = !!o->train_csv + !!o->predict_csv + !!o->idx_dir + !!o->dataset +
                        !!o->png_dir;
    const data_dataset *ds = o->dataset ? data_dataset_named(o->dataset) : NULL;
    if (!ri->o.keyspace) ri->o.keyspace = ds ? ds->keyspace : "mnist_digits";
    if (sources == 0) return cassnn_err_set(err, "nothing to ingest");
    if (o->dataset && !ds) return cassnn_err_set(err, "dataset %s: expected mnist or fashion", o->dataset);
    if (!o->png_dir != !o->png_table) return cassnn_err_set(err, "a PNG folder and its table go together");
    if (!(o->split > 0.0 && o->split <= 1.0)) return cassnn_err_set(err, "split %g: expected (0, 1]", o->split);
    if (!registry_valid_name(ri->o.keyspace) || (o->png_table && !registry_valid_name(o->png_table)))
        return cassnn_err_set(err, "keyspace and table names are letters, digits and _ (at most 48)");
    if (load_sources(ri, err) || check_ids(ri, err)) return -1;
    for (size_t i = 0; i < ri->n; i++) ri->total += ri->sets[i].images.count;
    return 0;
}

int run_ingest_schema(run_ingest *ri, cql_session *s, cassnn_err *err) {
    const run_ingest_options *o = &ri->o;
    const registry_schema_options so = {o->keyspace, o->replication, o->datacenter, o->blob_layout};
    if (registry_schema_create(s, &so, err)) return -1;
    if (o->png_table && registry_schema_ensure_raw_table(s, o->keyspace, o->png_table, err))
        return -1;
    return 0;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The sets as data_ingest takes them. */
static size_t ingest_jobs(const run_ingest *ri, data_ingest_set *jobs) {
    for (size_t i = 0; i < ri->n; i++)
        jobs[i] = (data_ingest_set){ri->sets[i].table, ri->sets[i].source, &ri->sets[i].images};
    return ri->n;
}

int run_ingest_write(run_ingest *ri, cql_session *s, cassnn_err *err) {
    data_ingest_set jobs[DATA_INGEST_MAX_SETS];
    data_ingest_result result = {0};
    const data_ingest_options o = {ri->o.keyspace, ri->o.concurrency, ri->events.written,
                                   ri->events.user, ri->o.stop};
    const double start = now_seconds();
    const int rc = data_ingest_write(s, jobs, ingest_jobs(ri, jobs), &o, &result, err);
    ri->seconds = now_seconds() - start;
    ri->retried = result.retried;
    for (size_t i = 0; i < ri->n; i++) ri->sets[i].written = result.confirmed[i];
    return rc;
}

int run_ingest_verify(const run_ingest *ri, cql_session *s, cassnn_err *err) {
    data_ingest_set jobs[DATA_INGEST_MAX_SETS];
    return data_ingest_verify(s, ri->o.keyspace, jobs, ingest_jobs(ri, jobs), err);
}

void run_ingest_free(run_ingest *ri) {
    for (size_t i = 0; i < DATA_INGEST_MAX_SETS; i++) data_images_free(&ri->sets[i].images);
    ri->n = 0;
}
