/* ingest.c - bounded-concurrency upserts of image sets, and read-back checks.
 *
 * Writing: one prepared INSERT per table; each row is submitted
 * asynchronously and completes through a callback on the client's reader
 * thread. A counter of requests in flight, guarded by a mutex and condition
 * variable, keeps at most `concurrency` of them outstanding: enough to keep
 * the node busy, bounded so a large set never queues unbounded memory.
 * Statements are marked idempotent (upserts by id), so the session may send
 * a row again after a timeout or to another replica; it is the only layer
 * that retries (cql.h), and a row it gives up on ends the ingest.
 */
#include "cassnn/ingest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { IMAGE_BYTES = 784, DEFAULT_CONCURRENCY = 128 };

static int is_blob_table(const char *table) {
    size_t n = strlen(table);
    return n > 5 && !strcmp(table + n - 5, "_blob");
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One row's write: which set and row (for the callback and its error). */
typedef struct row_ticket {
    struct write_state *w;
    uint32_t set;
    uint32_t row;
} row_ticket;

typedef struct write_state {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int inflight, limit;   /* requests in flight, and their bound */
    size_t done;           /* rows confirmed, all sets */
    const data_ingest_set *sets;
    const data_ingest_options *o;
    data_ingest_result *result;
    int failed;
    cassnn_err first_error;
} write_state;

/* Completion, on a reader thread. */
static void on_written(void *user, cql_result *result, const cassnn_err *e) {
    row_ticket *t = user;
    write_state *w = t->w;
    if (result) cql_result_free(result);
    pthread_mutex_lock(&w->lock);
    w->inflight--;
    if (!e) {
        w->result->confirmed[t->set]++;
        w->done++;
    } else if (!w->failed) {
        const data_ingest_set *set = &w->sets[t->set];
        w->first_error = *e;
        cassnn_err_wrap(&w->first_error, "%s.%s row id %d (%s)", w->o->keyspace, set->table,
                        set->images->ids[t->row], set->source);
        w->failed = 1;
    }
    pthread_cond_signal(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

static void report_progress(const data_ingest_options *o, write_state *w, size_t total) {
    if (!o->progress) return;
    pthread_mutex_lock(&w->lock);
    size_t done = w->done;
    pthread_mutex_unlock(&w->lock);
    o->progress(o->progress_user, done, total);
}

static int submit_row(cql_session *s, const cql_prepared **inserts, row_ticket *t, cassnn_err *err) {
    const data_ingest_set *set = &t->w->sets[t->set];
    const data_images *im = set->images;
    const uint8_t *pixels = im->pixels + (size_t)t->row * IMAGE_BYTES;
    cql_value values[3] = {
        cql_int(im->ids[t->row]),
        im->labels[t->row] >= 0 ? cql_int(im->labels[t->row]) : cql_unset(),
        is_blob_table(set->table) ? cql_blob(pixels, IMAGE_BYTES)
                                  : cql_list_int_u8(pixels, IMAGE_BYTES),
    };
    cql_statement st = cql_stmt_prepared(inserts[t->set], values, 3);
    st.idempotent = 1;
    if (cql_execute_cb(s, &st, on_written, t, err))
        return cassnn_err_wrap(err, "%s row id %d", set->source, im->ids[t->row]);
    return 0;
}

/* Sends every ticket, keeping at most w->limit in flight, until all are
 * sent or writing must stop. */
static int submit_all(cql_session *s, const cql_prepared **inserts, row_ticket *tickets, size_t total,
                      write_state *w, cassnn_err *err) {
    double last_report = now_seconds();
    for (size_t next = 0; next < total; next++) {
        if (w->o->stop && *w->o->stop) return cassnn_err_set(err, "interrupted");
        pthread_mutex_lock(&w->lock);
        while (!w->failed && w->inflight >= w->limit) pthread_cond_wait(&w->changed, &w->lock);
        int failed = w->failed;
        if (!failed) w->inflight++;
        pthread_mutex_unlock(&w->lock);
        if (failed) return -1;
        if (submit_row(s, inserts, &tickets[next], err)) {
            pthread_mutex_lock(&w->lock);
            w->inflight--;
            pthread_mutex_unlock(&w->lock);
            return -1;
        }
        double now = now_seconds();
        if (now - last_report >= 0.1) {
            last_report = now;
            report_progress(w->o, w, total);
        }
    }
    return 0;
}

int data_ingest_write(cql_session *s, const data_ingest_set *sets, size_t n,
                      const data_ingest_options *o, data_ingest_result *result, cassnn_err *err) {
    memset(result, 0, sizeof *result);
    if (n > DATA_INGEST_MAX_SETS)
        return cassnn_err_set(err, "%zu sets; at most %d per call", n, DATA_INGEST_MAX_SETS);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (data_image_size(sets[i].images) != IMAGE_BYTES)
            return cassnn_err_set(err, "%s: images of %zu bytes; the raw tables hold 28x28",
                                  sets[i].source, data_image_size(sets[i].images));
        total += sets[i].images->count;
    }
    const cql_prepared *inserts[DATA_INGEST_MAX_SETS];
    for (size_t i = 0; i < n; i++) {
        char cql[256];
        snprintf(cql, sizeof cql, "INSERT INTO %s.%s (id, label, pixels) VALUES (?, ?, ?)",
                 o->keyspace, sets[i].table);
        if (cql_prepare(s, cql, &inserts[i], err)) return cassnn_err_wrap(err, "preparing %s", cql);
    }
    row_ticket *tickets = malloc((total ? total : 1) * sizeof *tickets);
    if (!tickets) return cassnn_err_set(err, "out of memory for %zu rows", total);
    write_state w = {.limit = o->concurrency > 0 ? o->concurrency : DEFAULT_CONCURRENCY, .sets = sets,
                     .o = o, .result = result};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.changed, NULL);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < sets[i].images->count; r++)
            tickets[k++] = (row_ticket){&w, (uint32_t)i, (uint32_t)r};
    const uint64_t retries_before = cql_session_retries(s);

    int rc = submit_all(s, inserts, tickets, total, &w, err);

    /* Every submitted request completes (or fails) before we return: the
     * callbacks point at w and the tickets. */
    pthread_mutex_lock(&w.lock);
    while (w.inflight > 0) pthread_cond_wait(&w.changed, &w.lock);
    pthread_mutex_unlock(&w.lock);
    report_progress(o, &w, total);
    result->retried = (size_t)(cql_session_retries(s) - retries_before);
    if (w.failed) {
        if (err) *err = w.first_error;
        rc = cassnn_err_wrap(err, "writing to %s", o->keyspace);
    }
    pthread_cond_destroy(&w.changed);
    pthread_mutex_destroy(&w.lock);
    free(tickets);
    return rc;
}

uint64_t data_ingest_row_hash(int32_t id, int32_t label, const uint8_t *pixels, size_t n) {
    uint64_t h = 1469598103934665603ull;
    uint32_t head[2] = {(uint32_t)id, (uint32_t)label};
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 4; b++) h = (h ^ ((head[k] >> (8 * b)) & 0xff)) * 1099511628211ull;
    for (size_t i = 0; i < n; i++) h = (h ^ pixels[i]) * 1099511628211ull;
    return h;
}

/* Reads ks.table in full: row count and checksum. */
static int table_checksum(cql_session *s, const char *keyspace, const char *table,
                          size_t *rows, uint64_t *sum, cassnn_err *err) {
    char cql[256];
    snprintf(cql, sizeof cql, "SELECT id, label, pixels FROM %s.%s", keyspace, table);
    int blob = is_blob_table(table);
    cql_statement st = cql_stmt(cql, NULL, 0);
    /* Pages of under 1 MB: a list<int> row is ~6.3 KB on the wire, a blob row
     * ~0.8 KB. Large frames cost the node big direct buffers. */
    st.page_size = blob ? 1000 : 150;
    st.timeout_ms = 60000;
    cql_pager *pager;
    if (cql_pager_open(s, &st, &pager, err))
        return cassnn_err_wrap(err, "reading %s.%s", keyspace, table);
    const cql_result *page;
    int more, rc = 0;
    *rows = 0;
    *sum = 0;
    while (rc == 0 && (more = cql_pager_next(pager, &page, err)) == 1) {
        const cql_type id_t = cql_result_column(page, 0)->type,
                       label_t = cql_result_column(page, 1)->type,
                       pixels_t = cql_result_column(page, 2)->type;
        for (int32_t r = 0; rc == 0 && r < cql_result_row_count(page); r++) {
            int32_t id, label = -1;
            uint8_t pixels[IMAGE_BYTES];
            size_t npix = 0;
            cql_cell label_cell = cql_result_cell(page, r, 1);
            cql_cell pixel_cell = cql_result_cell(page, r, 2);
            if (cql_cell_int(cql_result_cell(page, r, 0), id_t, &id, err) ||
                (!cql_cell_is_null(label_cell) && cql_cell_int(label_cell, label_t, &label, err))) {
                rc = -1;
                break;
            }
            if (blob) {
                const uint8_t *p = NULL;
                if (!cql_cell_is_null(pixel_cell) &&
                    cql_cell_blob(pixel_cell, pixels_t, &p, &npix, err)) {
                    rc = cassnn_err_wrap(err, "%s.%s id %d pixels", keyspace, table, id);
                    break;
                }
                if (npix == IMAGE_BYTES) memcpy(pixels, p, npix);
            } else if (!cql_cell_is_null(pixel_cell) &&
                       cql_cell_list_int_u8(pixel_cell, pixels_t, pixels, IMAGE_BYTES, &npix, err)) {
                rc = cassnn_err_wrap(err, "%s.%s id %d pixels", keyspace, table, id);
                break;
            }
            if (npix != IMAGE_BYTES) {
                rc = cassnn_err_set(err, "%s.%s id %d has %zu pixels, expected %d", keyspace, table,
                                    id, npix, IMAGE_BYTES);
                break;
            }
            *sum += data_ingest_row_hash(id, label, pixels, IMAGE_BYTES);
            (*rows)++;
        }
    }
    if (rc == 0 && more < 0) rc = cassnn_err_wrap(err, "reading %s.%s", keyspace, table);
    cql_pager_close(pager);
    return rc;
}

int data_ingest_verify(cql_session *s, const char *keyspace, const data_ingest_set *sets,
                       size_t n, cassnn_err *err) {
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= !strcmp(sets[j].table, sets[i].table);
        if (seen) continue; /* table already checked with all its sets */
        size_t want_rows = 0;
        uint64_t want_sum = 0;
        for (size_t j = i; j < n; j++) {
            if (strcmp(sets[j].table, sets[i].table)) continue;
            const data_images *im = sets[j].images;
            want_rows += im->count;
            for (size_t k = 0; k < im->count; k++)
                want_sum += data_ingest_row_hash(im->ids[k], im->labels[k],
                                                 im->pixels + k * IMAGE_BYTES, IMAGE_BYTES);
        }
        size_t rows;
        uint64_t sum;
        if (table_checksum(s, keyspace, sets[i].table, &rows, &sum, err)) return -1;
        if (rows != want_rows)
            return cassnn_err_set(err, "verify %s.%s: %zu rows expected, %zu found", keyspace,
                                  sets[i].table, want_rows, rows);
        if (sum != want_sum)
            return cassnn_err_set(err, "verify %s.%s: %zu rows but the checksum of labels and "
                                       "pixels differs (expected %016llx, found %016llx)",
                                  keyspace, sets[i].table, rows, (unsigned long long)want_sum,
                                  (unsigned long long)sum);
    }
    return 0;
}
