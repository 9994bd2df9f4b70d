/* table_scan.c - token-range scans of a raw table (see table_scan.h). */
#include "table_scan.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int table_scan_blob_layout(const char *table) {
    const size_t len = strlen(table);
    return len > 5 && !strcmp(table + len - 5, "_blob");
}

int table_scan_open(table_scan *t, cql_session *s, const char *keyspace, const char *table,
                    const char *columns, const data_scan_options *o, cassnn_err *err) {
    memset(t, 0, sizeof *t);
    t->session = s;
    snprintf(t->what, sizeof t->what, "%s.%s", keyspace, table);
    t->blob = table_scan_blob_layout(table);
    t->ranges = o && o->ranges > 0 ? o->ranges : 256;
    /* Small pages keep every response frame small (a node short of direct
     * memory stalls on multi-megabyte frames); many ranges keep the threads
     * busy. A list<int> row is ~6 KB on the wire against 784 bytes of blob. */
    t->page_size = o && o->page_size > 0 ? o->page_size : t->blob ? 200 : 40;
    t->threads = o && o->threads > 0 ? o->threads : 4;
    if (t->threads > t->ranges) t->threads = t->ranges;
    char query[300];
    snprintf(query, sizeof query,
             "SELECT %s FROM %s.%s WHERE token(id) > ? AND token(id) <= ?", columns, keyspace,
             table);
    if (cql_prepare(s, query, &t->select, err)) return cassnn_err_wrap(err, "reading %s", t->what);
    return 0;
}

/* Range i of n over the Murmur3 ring, as (lo, hi]. The partitioner never
 * hands out INT64_MIN (it maps it to INT64_MAX), so (MIN, MAX] is the whole
 * ring. */
static void token_range(int i, int n, int64_t *lo, int64_t *hi) {
    const uint64_t width = UINT64_MAX / (uint64_t)n;
    *lo = (int64_t)((uint64_t)INT64_MIN + (uint64_t)i * width);
    *hi = i == n - 1 ? INT64_MAX : (int64_t)((uint64_t)INT64_MIN + (uint64_t)(i + 1) * width);
}

void table_scan_set_shape(table_scan *t, data_shape shape) {
    t->shape = shape;
    t->image_bytes = (size_t)shape.channels * (size_t)shape.rows * (size_t)shape.cols;
}

/* The pixel count of a pixels cell (blob bytes or list elements). */
static int pixel_count(const table_scan *t, cql_cell cell, cql_type type, size_t *n,
                       cassnn_err *err) {
    if (t->blob) {
        const uint8_t *p;
        return cql_cell_blob(cell, type, &p, n, err);
    }
    int32_t count;
    if (cql_cell_list_count(cell, type, &count, err)) return -1;
    *n = (size_t)count;
    return 0;
}

int table_scan_image(const table_scan *t, const cql_result *page, int32_t r, int32_t *id_out,
                     int16_t *label_out, uint8_t *pixels, cassnn_err *err) {
    const cql_type id_t = cql_result_column(page, 0)->type,
                   label_t = cql_result_column(page, 1)->type,
                   pixels_t = cql_result_column(page, 2)->type;
    int32_t id, label = -1;
    if (cql_cell_int(cql_result_cell(page, r, 0), id_t, &id, err)) return -1;
    cql_cell label_cell = cql_result_cell(page, r, 1), pixel_cell = cql_result_cell(page, r, 2);
    if (!cql_cell_is_null(label_cell) && cql_cell_int(label_cell, label_t, &label, err))
        return cassnn_err_wrap(err, "%s id %d label", t->what, id);
    if (label < -1 || label > INT16_MAX)
        return cassnn_err_set(err, "%s id %d: label %d is not a class number", t->what, id, label);
    if (cql_cell_is_null(pixel_cell))
        return cassnn_err_set(err, "%s id %d: pixels are null", t->what, id);
    size_t n = 0;
    if (pixel_count(t, pixel_cell, pixels_t, &n, err))
        return cassnn_err_wrap(err, "%s id %d pixels", t->what, id);
    if (n != t->image_bytes)
        return cassnn_err_set(err, "%s id %d: %zu pixels, expected %zu (%dx%dx%d, the shape of "
                                   "the table's first row)", t->what, id, n, t->image_bytes,
                              t->shape.channels, t->shape.rows, t->shape.cols);
    if (t->blob) memcpy(pixels, pixel_cell.p, n);
    else if (cql_cell_list_int_u8(pixel_cell, pixels_t, pixels, n, &n, err))
        return cassnn_err_wrap(err, "%s id %d pixels", t->what, id);
    *id_out = id;
    *label_out = (int16_t)label;
    return 0;
}

static int range_error(const table_scan *t, int range, int64_t lo, int64_t hi, cassnn_err *err) {
    return cassnn_err_wrap(err, "token range %d of %d (%lld, %lld]", range, t->ranges, (long long)lo,
                           (long long)hi);
}

int table_scan_range(const table_scan *t, int range, table_scan_row_fn fn, void *user,
                     cassnn_err *err) {
    int64_t lo, hi;
    token_range(range, t->ranges, &lo, &hi);
    cql_value v[2] = {cql_bigint(lo), cql_bigint(hi)};
    cql_statement st = cql_stmt_prepared(t->select, v, 2);
    st.page_size = t->page_size;
    st.idempotent = 1;
    st.timeout_ms = 60000;
    cql_pager *pager;
    if (cql_pager_open(t->session, &st, &pager, err)) return range_error(t, range, lo, hi, err);
    const cql_result *page;
    int more, rc = 0;
    while (rc == 0 && (more = cql_pager_next(pager, &page, err)) == 1)
        for (int32_t r = 0; rc == 0 && r < cql_result_row_count(page); r++) rc = fn(user, t, page, r, err) ? -1 : 0;
    if (rc == 0 && more < 0) rc = range_error(t, range, lo, hi, err);
    cql_pager_close(pager);
    return rc;
}

typedef struct scan_all {
    const table_scan *scan;
    table_scan_row_fn fn;
    atomic_int next_range;
    atomic_int failed;
    pthread_mutex_t lock; /* guards err */
    cassnn_err err;
} scan_all;

typedef struct scan_worker {
    scan_all *job;
    void *user;
} scan_worker;

static void *scan_thread(void *arg) {
    scan_worker *w = arg;
    scan_all *job = w->job;
    while (!atomic_load(&job->failed)) {
        const int range = atomic_fetch_add(&job->next_range, 1);
        if (range >= job->scan->ranges) break;
        cassnn_err err = {0};
        if (table_scan_range(job->scan, range, job->fn, w->user, &err)) {
            pthread_mutex_lock(&job->lock);
            if (!atomic_load(&job->failed)) job->err = err;
            atomic_store(&job->failed, 1);
            pthread_mutex_unlock(&job->lock);
        }
    }
    return NULL;
}

int table_scan_all(const table_scan *t, table_scan_row_fn fn, void *const *users,
                   cassnn_err *err) {
    scan_all job = {.scan = t, .fn = fn};
    pthread_mutex_init(&job.lock, NULL);
    scan_worker *w = calloc((size_t)t->threads, sizeof *w);
    pthread_t *tids = calloc((size_t)t->threads, sizeof *tids);
    int started = 0, rc = -1;
    if (!w || !tids) {
        cassnn_err_set(err, "%s: out of memory", t->what);
        goto done;
    }
    for (; started < t->threads; started++) {
        w[started] = (scan_worker){&job, users[started]};
        if (pthread_create(&tids[started], NULL, scan_thread, &w[started])) {
            atomic_store(&job.failed, 1);
            cassnn_err_set(&job.err, "%s: cannot start scan thread %d", t->what, started);
            break;
        }
    }
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    if (atomic_load(&job.failed)) {
        *err = job.err;
        cassnn_err_wrap(err, "reading %s", t->what);
        goto done;
    }
    rc = 0;
done:
    free(w);
    free(tids);
    pthread_mutex_destroy(&job.lock);
    return rc;
}
