/* feed.c - raw tables read from Cassandra into batches (see feed.h). */
#include "cassnn/feed.h"

#include <stdlib.h>
#include <string.h>

#include "table_scan.h"

#include "cassnn/table_plan.h"

int data_feed_normalisation(const char *dataset, float *mean, float *std) {
    if (!strcmp(dataset, "mnist")) {
        *mean = NN_MNIST_MEAN;
        *std = NN_MNIST_STD;
    } else if (!strcmp(dataset, "fashion")) {
        *mean = DATA_FASHION_MEAN;
        *std = DATA_FASHION_STD;
    } else {
        return -1;
    }
    return 0;
}

/* Rows one scanning thread collected, in arrival order. */
typedef struct row_chunk {
    size_t count, cap, image_bytes;
    int32_t *ids;
    int16_t *labels;
    uint8_t *pixels;
} row_chunk;

static int chunk_grow(row_chunk *c) {
    if (c->count < c->cap) return 0;
    const size_t cap = c->cap ? c->cap * 2 : 4096;
    int32_t *ids = realloc(c->ids, cap * sizeof *ids);
    if (ids) c->ids = ids;
    int16_t *labels = realloc(c->labels, cap * sizeof *labels);
    if (labels) c->labels = labels;
    uint8_t *pixels = realloc(c->pixels, cap * c->image_bytes);
    if (pixels) c->pixels = pixels;
    if (!ids || !labels || !pixels) return -1;
    c->cap = cap;
    return 0;
}

static void chunk_free(row_chunk *c) {
    free(c->ids);
    free(c->labels);
    free(c->pixels);
}

/* table_scan_row_fn: appends the row to the thread's chunk. */
static int take_row(void *user, const table_scan *t, const cql_result *page, int32_t r,
                    cassnn_err *err) {
    row_chunk *c = user;
    if (chunk_grow(c))
        return cassnn_err_set(err, "%s: out of memory after %zu rows", t->what, c->count);
    if (table_scan_image(t, page, r, &c->ids[c->count], &c->labels[c->count],
                         c->pixels + c->count * c->image_bytes, err))
        return -1;
    c->count++;
    return 0;
}

typedef struct row_ref {
    int32_t id;
    int worker;
    size_t index;
} row_ref;

static int by_id(const void *a, const void *b) {
    const int32_t x = ((const row_ref *)a)->id, y = ((const row_ref *)b)->id;
    return (x > y) - (x < y);
}

/* Concatenates the workers' rows into out, sorted by id. */
static int merge_rows(const row_chunk *w, int n, data_shape shape, data_images *out,
                      const char *what, cassnn_err *err) {
    size_t total = 0;
    for (int t = 0; t < n; t++) total += w[t].count;
    row_ref *refs = malloc((total ? total : 1) * sizeof *refs);
    if (!refs) return cassnn_err_set(err, "%s: out of memory for %zu rows", what, total);
    size_t k = 0;
    for (int t = 0; t < n; t++)
        for (size_t i = 0; i < w[t].count; i++)
            refs[k++] = (row_ref){w[t].ids[i], t, i};
    qsort(refs, total, sizeof *refs, by_id);
    if (data_images_alloc(out, total, shape.channels, shape.rows, shape.cols, err)) {
        free(refs);
        return cassnn_err_wrap(err, "%s", what);
    }
    const size_t image = data_image_size(out);
    for (size_t i = 0; i < total; i++) {
        const row_chunk *c = &w[refs[i].worker];
        out->ids[i] = refs[i].id;
        out->labels[i] = c->labels[refs[i].index];
        memcpy(out->pixels + i * image, c->pixels + refs[i].index * image, image);
    }
    free(refs);
    return 0;
}

int data_table_load(cql_session *s, const char *keyspace, const char *table,
                    const data_scan_options *o, data_images *out, cassnn_err *err) {
    memset(out, 0, sizeof *out);
    data_shape shape;
    int found;
    if (data_table_shape(s, keyspace, table, &shape, &found, err)) return -1;
    if (!found) return 0; /* no rows, no shape */
    table_scan scan;
    if (table_scan_open(&scan, s, keyspace, table, "id, label, pixels", o, err)) return -1;
    table_scan_set_shape(&scan, shape);
    row_chunk *chunks = calloc((size_t)scan.threads, sizeof *chunks);
    void **users = calloc((size_t)scan.threads, sizeof *users);
    int rc = -1;
    if (!chunks || !users) {
        cassnn_err_set(err, "%s: out of memory", scan.what);
        goto done;
    }
    for (int t = 0; t < scan.threads; t++) {
        chunks[t].image_bytes = scan.image_bytes;
        users[t] = &chunks[t];
    }
    if (table_scan_all(&scan, take_row, users, err) == 0)
        rc = merge_rows(chunks, scan.threads, shape, out, scan.what, err);
done:
    for (int t = 0; chunks && t < scan.threads; t++) chunk_free(&chunks[t]);
    free(chunks);
    free(users);
    return rc;
}

/* ---- load-once batch source ---------------------------------------------------- */

int data_feed_init(data_feed *f, const data_images *images, float mean, float std, int shuffle,
                   uint64_t seed, cassnn_err *err) {
    memset(f, 0, sizeof *f);
    return nn_memory_source_init(&f->memory, images->pixels, images->labels, (long)images->count,
                                 (long)data_image_size(images), mean, std, shuffle, seed, err);
}

void data_feed_resume_at(data_feed *f, long images) { f->resume_at = images; }

static long feed_size(void *ctx) {
    data_feed *f = ctx;
    nn_batch_source m = nn_memory_source_batches(&f->memory);
    return m.size(m.ctx);
}

static int feed_begin(void *ctx, int epoch, cassnn_err *err) {
    data_feed *f = ctx;
    nn_batch_source m = nn_memory_source_batches(&f->memory);
    if (m.begin_epoch(m.ctx, epoch, err)) return -1;
    if (f->resume_at > 0) {
        f->memory.pos = f->resume_at < f->memory.count ? f->resume_at : f->memory.count;
        f->resume_at = 0;
    }
    return 0;
}

static int feed_next(void *ctx, float *x, int32_t *labels, int max, cassnn_err *err) {
    data_feed *f = ctx;
    nn_batch_source m = nn_memory_source_batches(&f->memory);
    return m.next(m.ctx, x, labels, max, err);
}

nn_batch_source data_feed_batches(data_feed *f) {
    nn_batch_source s = {f, feed_size, feed_begin, feed_next};
    return s;
}

void data_feed_free(data_feed *f) { nn_memory_source_free(&f->memory); }
