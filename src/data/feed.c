/* feed.c - raw tables read from Cassandra into batches (see feed.h). */
#include "cassnn/feed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { IMAGE_SIDE = 28, IMAGE_BYTES = IMAGE_SIDE * IMAGE_SIDE };

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
    size_t count, cap;
    int32_t *ids;
    int16_t *labels;
    uint8_t *pixels;
} row_chunk;

typedef struct scan_job {
    cql_session *session;
    const cql_prepared *select;
    const char *keyspace, *table;
    int blob, ranges;
    int32_t page_size;
    atomic_int next_range;
    atomic_int failed;
    pthread_mutex_t lock; /* guards err */
    cassnn_err err;
} scan_job;

typedef struct scan_worker {
    scan_job *job;
    row_chunk rows;
} scan_worker;

static int chunk_grow(row_chunk *c) {
    if (c->count < c->cap) return 0;
    size_t cap = c->cap ? c->cap * 2 : 4096;
    int32_t *ids = realloc(c->ids, cap * sizeof *ids);
    if (ids) c->ids = ids;
    int16_t *labels = realloc(c->labels, cap * sizeof *labels);
    if (labels) c->labels = labels;
    uint8_t *pixels = realloc(c->pixels, cap * IMAGE_BYTES);
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

/* Range i of n over the Murmur3 ring, as (lo, hi]. The partitioner never
 * hands out INT64_MIN (it maps it to INT64_MAX), so (MIN, MAX] is the whole
 * ring. */
static void token_range(int i, int n, int64_t *lo, int64_t *hi) {
    const uint64_t width = UINT64_MAX / (uint64_t)n;
    *lo = (int64_t)((uint64_t)INT64_MIN + (uint64_t)i * width);
    *hi = i == n - 1 ? INT64_MAX : (int64_t)((uint64_t)INT64_MIN + (uint64_t)(i + 1) * width);
}

/* Decodes one row into the chunk; errors name the row id. */
static int take_row(scan_job *job, const cql_result *page, int32_t r, row_chunk *c,
                    cassnn_err *err) {
    const cql_type id_t = cql_result_column(page, 0)->type,
                   label_t = cql_result_column(page, 1)->type,
                   pixels_t = cql_result_column(page, 2)->type;
    int32_t id, label = -1;
    if (cql_cell_int(cql_result_cell(page, r, 0), id_t, &id, err)) return -1;
    cql_cell label_cell = cql_result_cell(page, r, 1), pixel_cell = cql_result_cell(page, r, 2);
    if (!cql_cell_is_null(label_cell) && cql_cell_int(label_cell, label_t, &label, err))
        return cassnn_err_wrap(err, "%s.%s id %d label", job->keyspace, job->table, id);
    if (label < -1 || label > INT16_MAX)
        return cassnn_err_set(err, "%s.%s id %d: label %d is not a class number", job->keyspace,
                              job->table, id, label);
    if (cql_cell_is_null(pixel_cell))
        return cassnn_err_set(err, "%s.%s id %d: pixels are null", job->keyspace, job->table, id);
    if (chunk_grow(c))
        return cassnn_err_set(err, "%s.%s: out of memory after %zu rows", job->keyspace,
                              job->table, c->count);
    uint8_t *dst = c->pixels + c->count * IMAGE_BYTES;
    size_t n = 0;
    if (job->blob) {
        const uint8_t *p;
        if (cql_cell_blob(pixel_cell, pixels_t, &p, &n, err))
            return cassnn_err_wrap(err, "%s.%s id %d pixels", job->keyspace, job->table, id);
        if (n == IMAGE_BYTES) memcpy(dst, p, n);
    } else if (cql_cell_list_int_u8(pixel_cell, pixels_t, dst, IMAGE_BYTES, &n, err)) {
        return cassnn_err_wrap(err, "%s.%s id %d pixels", job->keyspace, job->table, id);
    }
    if (n != IMAGE_BYTES)
        return cassnn_err_set(err, "%s.%s id %d: %zu pixels, expected %d (28x28)", job->keyspace,
                              job->table, id, n, IMAGE_BYTES);
    c->ids[c->count] = id;
    c->labels[c->count] = (int16_t)label;
    c->count++;
    return 0;
}

/* One range: 0, -1 for bad data (final), -2 when the node failed (worth
 * another try). */
static int scan_range(scan_job *job, int range, row_chunk *c, cassnn_err *err) {
    int64_t lo, hi;
    token_range(range, job->ranges, &lo, &hi);
    cql_value v[2] = {cql_bigint(lo), cql_bigint(hi)};
    cql_statement st = cql_stmt_prepared(job->select, v, 2);
    st.page_size = job->page_size;
    st.idempotent = 1;
    st.timeout_ms = 60000;
    cql_pager *pager;
    if (cql_pager_open(job->session, &st, &pager, err)) return -2;
    const cql_result *page;
    int more, rc = 0;
    while (rc == 0 && (more = cql_pager_next(pager, &page, err)) == 1)
        for (int32_t r = 0; rc == 0 && r < cql_result_row_count(page); r++)
            rc = take_row(job, page, r, c, err);
    if (rc == 0 && more < 0) rc = -2;
    cql_pager_close(pager);
    return rc;
}

static void *scan_thread(void *arg) {
    scan_worker *w = arg;
    scan_job *job = w->job;
    for (;;) {
        if (atomic_load(&job->failed)) break;
        const int range = atomic_fetch_add(&job->next_range, 1);
        if (range >= job->ranges) break;
        cassnn_err err = {0};
        /* A busy node may time out or fail a read: scan the range again from
         * its start (rows are keyed, so nothing is counted twice). */
        const size_t before = w->rows.count;
        int rc = -2;
        for (int attempt = 0; rc == -2 && attempt < 4; attempt++) {
            if (attempt) {
                w->rows.count = before;
                nanosleep(&(struct timespec){attempt, 0}, NULL);
            }
            rc = scan_range(job, range, &w->rows, &err);
        }
        if (rc) {
            pthread_mutex_lock(&job->lock);
            if (!atomic_load(&job->failed)) job->err = err;
            atomic_store(&job->failed, 1);
            pthread_mutex_unlock(&job->lock);
            break;
        }
    }
    return NULL;
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
static int merge_rows(scan_worker *w, int n, data_images *out, const char *what,
                      cassnn_err *err) {
    size_t total = 0;
    for (int t = 0; t < n; t++) total += w[t].rows.count;
    row_ref *refs = malloc((total ? total : 1) * sizeof *refs);
    if (!refs) return cassnn_err_set(err, "%s: out of memory for %zu rows", what, total);
    size_t k = 0;
    for (int t = 0; t < n; t++)
        for (size_t i = 0; i < w[t].rows.count; i++)
            refs[k++] = (row_ref){w[t].rows.ids[i], t, i};
    qsort(refs, total, sizeof *refs, by_id);
    if (data_images_alloc(out, total, 1, IMAGE_SIDE, IMAGE_SIDE, err)) {
        free(refs);
        return cassnn_err_wrap(err, "%s", what);
    }
    for (size_t i = 0; i < total; i++) {
        const row_chunk *c = &w[refs[i].worker].rows;
        out->ids[i] = refs[i].id;
        out->labels[i] = c->labels[refs[i].index];
        memcpy(out->pixels + i * IMAGE_BYTES, c->pixels + refs[i].index * IMAGE_BYTES,
               IMAGE_BYTES);
    }
    free(refs);
    return 0;
}

int data_table_load(cql_session *s, const char *keyspace, const char *table,
                    const data_scan_options *o, data_images *out, cassnn_err *err) {
    memset(out, 0, sizeof *out);
    scan_job job = {.session = s, .keyspace = keyspace, .table = table};
    const size_t len = strlen(table);
    job.blob = len > 5 && !strcmp(table + len - 5, "_blob");
    job.ranges = o && o->ranges > 0 ? o->ranges : 256;
    /* Small pages keep every response frame small (a node short of direct
     * memory stalls on multi-megabyte frames); many ranges keep the threads
     * busy. A list<int> row is ~6 KB on the wire against 784 bytes of blob. */
    job.page_size = o && o->page_size > 0 ? o->page_size : job.blob ? 200 : 40;
    int threads = o && o->threads > 0 ? o->threads : 4;
    if (threads > job.ranges) threads = job.ranges;
    char query[256], what[128];
    snprintf(what, sizeof what, "%s.%s", keyspace, table);
    snprintf(query, sizeof query,
             "SELECT id, label, pixels FROM %s.%s WHERE token(id) > ? AND token(id) <= ?",
             keyspace, table);
    if (cql_prepare(s, query, &job.select, err)) return cassnn_err_wrap(err, "reading %s", what);
    pthread_mutex_init(&job.lock, NULL);
    scan_worker *w = calloc((size_t)threads, sizeof *w);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    int started = 0, rc = -1;
    if (!w || !tids) {
        cassnn_err_set(err, "%s: out of memory", what);
        goto done;
    }
    for (; started < threads; started++) {
        w[started].job = &job;
        if (pthread_create(&tids[started], NULL, scan_thread, &w[started])) {
            atomic_store(&job.failed, 1);
            cassnn_err_set(&job.err, "%s: cannot start scan thread %d", what, started);
            break;
        }
    }
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    if (atomic_load(&job.failed)) {
        *err = job.err;
        cassnn_err_wrap(err, "reading %s", what);
        goto done;
    }
    rc = merge_rows(w, started, out, what, err);
done:
    for (int t = 0; w && t < threads; t++) chunk_free(&w[t].rows);
    free(w);
    free(tids);
    pthread_mutex_destroy(&job.lock);
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
