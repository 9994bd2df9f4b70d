/* table_plan.c - a raw table's shape and size, and the load-once or
 * streaming choice (see table_plan.h). */
#include "cassnn/table_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_scan.h"

/* The ring is sampled in RING_RANGES equal ranges, at most SAMPLE_RANGES of
 * them, spread over it; below ENOUGH_ROWS rows counted in the sample the
 * table is counted exactly instead. */
enum { RING_RANGES = 256, SAMPLE_RANGES = 16, ENOUGH_ROWS = 1000, COUNT_PAGE_ROWS = 1000 };

size_t data_row_bytes(size_t image_bytes) { return image_bytes + sizeof(int16_t) + sizeof(int32_t); }

/* The id and pixel count of row 0 of (id, pixels). */
static int first_row(const cql_result *r, int blob, int32_t *id, size_t *n, cassnn_err *err) {
    const cql_cell cell = cql_result_cell(r, 0, 1);
    const cql_type type = cql_result_column(r, 1)->type;
    if (cql_get_int(r, 0, 0, id, err)) return -1;
    if (cql_cell_is_null(cell)) return cassnn_err_set(err, "id %d: pixels are null", *id);
    int32_t count;
    const uint8_t *p;
    if (blob ? cql_cell_blob(cell, type, &p, n, err) : cql_cell_list_count(cell, type, &count, err))
        return cassnn_err_wrap(err, "id %d pixels", *id);
    if (!blob) *n = (size_t)count;
    return 0;
}

int data_table_shape(cql_session *s, const char *keyspace, const char *table, data_shape *shape,
                     int *found, cassnn_err *err) {
    char query[160];
    snprintf(query, sizeof query, "SELECT id, pixels FROM %s.%s LIMIT 1", keyspace, table);
    memset(shape, 0, sizeof *shape);
    cql_result *r;
    if (cql_query(s, query, NULL, 0, &r, err))
        return cassnn_err_wrap(err, "reading the first row of %s.%s", keyspace, table);
    const int blob = table_scan_blob_layout(table);
    int32_t id = 0;
    size_t n = 0;
    int rc = 0;
    *found = cql_result_row_count(r) > 0;
    if (*found && (rc = first_row(r, blob, &id, &n, err)) == 0 && data_shape_from_pixels(n, shape))
        rc = cassnn_err_set(err, "id %d: %zu pixels is not the size of an image whose shape "
                                 "cassnn can tell (KxK grayscale or 3xKxK RGB)", id, n);
    cql_result_free(r);
    return rc ? cassnn_err_wrap(err, "%s.%s", keyspace, table) : 0;
}

static int add_count(void *user, const table_scan *t, const cql_result *page, int32_t r,
                     cassnn_err *err) {
    int64_t n;
    if (cql_cell_bigint(cql_result_cell(page, r, 0), cql_result_column(page, 0)->type, &n, err))
        return cassnn_err_wrap(err, "%s: count", t->what);
    *(long *)user += (long)n;
    return 0;
}

int data_table_count(cql_session *s, const char *keyspace, const char *table,
                     const data_scan_options *o, long *rows, cassnn_err *err) {
    table_scan scan;
    /* Fewer, larger ranges than a read: a count answers one row per range.
     * Its page size is the node's internal page while it counts: rows are
     * read there, not sent, so pages larger than a read's are fine. */
    data_scan_options co = o ? *o : (data_scan_options){0};
    if (co.ranges <= 0) co.ranges = 64;
    if (co.page_size <= 0) co.page_size = COUNT_PAGE_ROWS;
    if (table_scan_open(&scan, s, keyspace, table, "count(*)", &co, err)) return -1;
    long *counts = calloc((size_t)scan.threads, sizeof *counts);
    void **users = calloc((size_t)scan.threads, sizeof *users);
    int rc = -1;
    if (!counts || !users) {
        cassnn_err_set(err, "%s: out of memory", scan.what);
    } else {
        for (int t = 0; t < scan.threads; t++) users[t] = &counts[t];
        if ((rc = table_scan_all(&scan, add_count, users, err)) == 0) {
            *rows = 0;
            for (int t = 0; t < scan.threads; t++) *rows += counts[t];
        }
    }
    free(counts);
    free(users);
    return rc;
}

/* Counts rows in sample ranges spread over the ring (bit-reversed order:
 * 0, 1/2, 1/4, 3/4, ... of the ring), stopping once ENOUGH_ROWS are
 * counted. */
static int count_sample(cql_session *s, const char *keyspace, const char *table,
                        data_table_size *out, cassnn_err *err) {
    table_scan scan;
    const data_scan_options o = {.ranges = RING_RANGES, .threads = 1, .page_size = COUNT_PAGE_ROWS};
    if (table_scan_open(&scan, s, keyspace, table, "count(*)", &o, err)) return -1;
    out->sampled_rows = 0;
    out->ring_ranges = RING_RANGES;
    for (out->sample_ranges = 0; out->sample_ranges < SAMPLE_RANGES;) {
        int k = out->sample_ranges, reversed = 0;
        for (int bit = SAMPLE_RANGES / 2; bit; bit >>= 1, k >>= 1) reversed |= (k & 1) ? bit : 0;
        if (table_scan_range(&scan, reversed * (RING_RANGES / SAMPLE_RANGES), add_count,
                             &out->sampled_rows, err))
            return -1;
        out->sample_ranges++;
        if (out->sampled_rows >= ENOUGH_ROWS) break;
    }
    return 0;
}

int data_table_size_of(cql_session *s, const char *keyspace, const char *table,
                       data_table_size *out, cassnn_err *err) {
    memset(out, 0, sizeof *out);
    int found;
    if (data_table_shape(s, keyspace, table, &out->shape, &found, err)) return -1;
    if (!found) return 0;
    if (count_sample(s, keyspace, table, out, err)) return -1;
    if (out->sampled_rows < ENOUGH_ROWS) {
        out->sampled_rows = 0;
        out->sample_ranges = out->ring_ranges = 0;
        return data_table_count(s, keyspace, table, NULL, &out->rows, err);
    }
    out->estimated = 1;
    out->rows = (long)llround((double)out->sampled_rows * out->ring_ranges / out->sample_ranges);
    return 0;
}

const char *data_table_size_text(const data_table_size *t, char *buf, size_t cap) {
    if (t->estimated)
        snprintf(buf, cap, "~%ld rows (estimated: %ld rows counted in %d of %d token ranges)",
                 t->rows, t->sampled_rows, t->sample_ranges, t->ring_ranges);
    else
        snprintf(buf, cap, "%ld rows (counted)", t->rows);
    return buf;
}

size_t data_load_once_bytes(const data_table_size *t) {
    double rows = t->rows > 0 ? (double)t->rows : 0.0;
    if (t->estimated) /* three standard errors of the sample */
        rows += 3.0 * sqrt((double)t->sampled_rows) * t->ring_ranges / t->sample_ranges;
    const size_t image = (size_t)t->shape.channels * (size_t)t->shape.rows * (size_t)t->shape.cols;
    return 2 * (size_t)ceil(rows) * data_row_bytes(image);
}

void data_plan_tables(const data_table_size *sizes, int n, size_t budget, data_plan *out) {
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (int i = 0; i < n && i < 2; i++) total += out->load_bytes[i] = data_load_once_bytes(&sizes[i]);
    if (total <= budget) {
        out->kind = DATA_PLAN_LOAD_ALL;
    } else if (n == 1) {
        out->kind = DATA_PLAN_STREAM_ALL;
        out->stream_budget[0] = budget;
    } else if (out->load_bytes[1] <= budget / 4) {
        /* the (smaller) test table stays in memory, the train table streams in the rest */
        out->kind = DATA_PLAN_STREAM_TRAIN;
        out->stream_budget[0] = budget - out->load_bytes[1];
    } else {
        /* both stream, the test table (no shuffle buffer) in a quarter */
        out->kind = DATA_PLAN_STREAM_ALL;
        out->stream_budget[1] = budget / 4;
        out->stream_budget[0] = budget - budget / 4;
    }
}

size_t data_default_memory_budget(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long kb = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb ? (size_t)(kb * 1024 / 2) : (size_t)1 << 30;
}

int data_parse_size(const char *text, size_t *bytes) {
    char *end;
    const double v = strtod(text, &end);
    double unit = 1;
    if (*end == 'K' || *end == 'k') unit = 1024.0;
    else if (*end == 'M' || *end == 'm') unit = 1024.0 * 1024;
    else if (*end == 'G' || *end == 'g') unit = 1024.0 * 1024 * 1024;
    else if (*end == 'T' || *end == 't') unit = 1024.0 * 1024 * 1024 * 1024;
    if (unit > 1) end++;
    if (end == text || *end || !(v > 0) || v * unit > 1e18) return -1;
    *bytes = (size_t)(v * unit);
    return 0;
}
