/* registry_test_env.h - shared helpers of the registry db tests: a session
 * on the test node, a keyspace of real MNIST rows (a subset, or all of it),
 * and running the cassnn program. */
#ifndef CASSNN_TESTS_REGISTRY_ENV_H
#define CASSNN_TESTS_REGISTRY_ENV_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/dataset.h"
#include "cassnn/idx.h"
#include "cassnn/schema.h"
#include "cassnn_run.h"
#include "cql/cql_test_env.h"

static inline void reg_must(int rc, const cassnn_err *err, const char *what) {
    if (rc) fail_msg("%s: %s", what, err->msg);
}

static inline cql_session *reg_connect(void) {
    cql_config cfg;
    cql_test_config(&cfg);
    cql_session *s;
    cassnn_err err = {0};
    reg_must(cql_session_open(&s, &cfg, &err), &err, "connect to the test node");
    return s;
}

/* The first n images of src as a new set (ids 0..n-1). */
static inline void reg_head(const data_images *src, size_t n, data_images *out) {
    cassnn_err err = {0};
    if (n > src->count) n = src->count;
    reg_must(data_images_alloc(out, n, src->channels, src->rows, src->cols, &err), &err, "alloc");
    memcpy(out->pixels, src->pixels, n * data_image_size(src));
    memcpy(out->labels, src->labels, n * sizeof *out->labels);
}

static inline void write_be32(FILE *f, uint32_t v) {
    const uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* Writes set as DIR/<prefix>-images-idx3-ubyte and -labels-idx1-ubyte. */
static inline void reg_write_idx(const char *dir, const char *prefix, const data_images *set) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    write_be32(f, 2051);
    write_be32(f, (uint32_t)set->count);
    write_be32(f, 28);
    write_be32(f, 28);
    fwrite(set->pixels, 1, set->count * data_image_size(set), f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    if (!(f = fopen(path, "wb"))) fail_msg("cannot write %s", path);
    write_be32(f, 2049);
    write_be32(f, (uint32_t)set->count);
    for (size_t i = 0; i < set->count; i++) fputc(set->labels[i], f);
    fclose(f);
}

static inline int reg_run(char **out, const char *fmt, ...);

/* The first n_train / n_test images (0 = all) of a dataset's files. */
static inline void reg_load_head(const char *dataset, size_t n_train, size_t n_test,
                                 data_images *train, data_images *test) {
    cassnn_err err = {0};
    data_dataset_paths p;
    reg_must(data_dataset_locate(data_dataset_named(dataset), NULL, &p, &err), &err,
             "dataset files ($CASSNN_DATA)");
    data_images all_train, all_test;
    reg_must(data_idx_load(p.path[DATA_TRAIN_IMAGES], p.path[DATA_TRAIN_LABELS], &all_train, &err),
             &err, "train idx");
    reg_must(data_idx_load(p.path[DATA_TEST_IMAGES], p.path[DATA_TEST_LABELS], &all_test, &err),
             &err, "test idx");
    reg_head(&all_train, n_train ? n_train : all_train.count, train);
    reg_head(&all_test, n_test ? n_test : all_test.count, test);
    data_images_free(&all_train);
    data_images_free(&all_test);
}

/* Creates ks and writes the first n_train / n_test images of the dataset
 * (0 = all) through `cassnn ingest` into raw_train/raw_test (tutorial) and/or
 * raw_*_blob (blob). Returns the sets written (caller frees), or frees them
 * when train and test are NULL. */
static inline void reg_ingest(cql_session *s, const char *ks, const char *dataset,
                              size_t n_train, size_t n_test, int tutorial, int blob,
                              data_images *train, data_images *test) {
    data_images own[2];
    const int keep = train != NULL;
    if (!keep) train = &own[0], test = &own[1];
    cassnn_err err = {0};
    char drop[128];
    snprintf(drop, sizeof drop, "DROP KEYSPACE IF EXISTS %s", ks);
    reg_must(cql_query(s, drop, NULL, 0, NULL, &err), &err, drop);
    reg_load_head(dataset, n_train, n_test, train, test);
    char dir[512], *out;
    snprintf(dir, sizeof dir, "%s/%s_idx", getenv("CASSNN_BINARY_DIR"), ks);
    char mk[600];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", dir);
    if (system(mk)) fail_msg("%s failed", mk);
    reg_write_idx(dir, "train", train);
    reg_write_idx(dir, "t10k", test);
    for (int layout = 0; layout < 2; layout++) {
        if (!(layout ? blob : tutorial)) continue;
        int rc = reg_run(&out, "ingest --keyspace %s --idx '%s' --layout %s 2>&1", ks, dir,
                         layout ? "blob" : "tutorial");
        if (rc) fail_msg("cassnn ingest failed:\n%s", out);
        free(out);
    }
    if (!keep) {
        data_images_free(train);
        data_images_free(test);
    }
}

static inline void reg_drop(cql_session *s, const char *ks) {
    cassnn_err err = {0};
    char drop[128];
    snprintf(drop, sizeof drop, "DROP KEYSPACE IF EXISTS %s", ks);
    reg_must(cql_query(s, drop, NULL, 0, NULL, &err), &err, drop);
}

/* Runs `cassnn ARGS` (stderr kept apart); returns its exit status and its
 * stdout in *out (malloc'ed). */
static inline int reg_run(char **out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = cassnn_vrun(out, RUN_STDERR_APART, fmt, ap);
    va_end(ap);
    return rc;
}

/* Runs tests/reference/tutorial_registry.py ARGS --keyspace ks (the
 * tutorial's own training loop and registry code) with Debian's python on
 * the test node; returns its stdout (malloc'ed), failing the test when it
 * fails. */
static inline char *reg_tutorial(const char *ks, const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/reference/tutorial_registry.py' %s "
             "--keyspace %s --host %s --port %s", getenv("CASSNN_SOURCE_DIR"), args, ks,
             getenv("CASSNN_HOST") ? getenv("CASSNN_HOST") : "127.0.0.1",
             getenv("CASSNN_PORT") ? getenv("CASSNN_PORT") : "9042");
    FILE *p = popen(cmd, "r");
    size_t len = 0, cap = 1 << 16;
    char *out = malloc(cap);
    if (!p || !out) fail_msg("%s: cannot start", cmd);
    for (size_t got; (got = fread(out + len, 1, cap - len - 1, p)) > 0;) len += got;
    out[len] = '\0';
    if (pclose(p)) fail_msg("%s failed:\n%s", cmd, out);
    return out;
}

/* accuracy: C/N in a predict output, as a fraction. */
static inline double reg_predict_accuracy(const char *out) {
    const char *p = strstr(out, "accuracy: ");
    long c, n;
    if (!p || sscanf(p, "accuracy: %ld/%ld", &c, &n) != 2 || n == 0)
        fail_msg("no accuracy line in:\n%s", out);
    return (double)c / (double)n;
}

#endif
