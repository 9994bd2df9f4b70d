/* table_scan.h - token-range scans of a raw table, shared by the load-once
 * feed (feed.c) and the streaming feed (stream.c). Private to src/data.
 *
 * The Murmur3 ring is cut into equal ranges; a range is read with a prepared
 * `SELECT <columns> FROM ks.table WHERE token(id) > ? AND token(id) <= ?`
 * through the session's pager, which requests the next page as soon as one
 * arrives (read-ahead). Each page is a read the session retries by itself
 * (cql.h); a page it gives up on fails the range, with the table and the
 * range in the error.
 */
#ifndef CASSNN_DATA_TABLE_SCAN_H
#define CASSNN_DATA_TABLE_SCAN_H

#include <stdint.h>

#include "cassnn/cql.h"
#include "cassnn/feed.h"

typedef struct table_scan {
    cql_session *session;
    const cql_prepared *select;
    char what[128];           /* "keyspace.table", for errors */
    int blob;                 /* pixels column is a blob (table name ends in _blob) */
    int ranges, threads;
    int32_t page_size;
    data_shape shape;         /* of every image (table_scan_image); set by the caller */
    size_t image_bytes;       /* its pixels */
} table_scan;

/* Called for row `row` of `page`; non-zero stops the scan (not retried). */
typedef int (*table_scan_row_fn)(void *user, const table_scan *t, const cql_result *page,
                                 int32_t row, cassnn_err *err);

/* 1 when table is in the blob layout (its name ends in _blob). */
int table_scan_blob_layout(const char *table);

/* Prepares the range query for columns of keyspace.table, with o's ranges,
 * threads and page size (o may be NULL: the defaults of data_scan_options). */
int table_scan_open(table_scan *t, cql_session *s, const char *keyspace, const char *table,
                    const char *columns, const data_scan_options *o, cassnn_err *err);

/* Reads range `range` (0 <= range < t->ranges), calling fn for every row.
 * The error of a failed read names the range. */
int table_scan_range(const table_scan *t, int range, table_scan_row_fn fn, void *user,
                     cassnn_err *err);

/* Reads every range with t->threads threads; thread i calls fn with
 * users[i] (users has t->threads entries). Stops at the first error. */
int table_scan_all(const table_scan *t, table_scan_row_fn fn, void *const *users, cassnn_err *err);

/* Sets the shape every image of the scan must have. */
void table_scan_set_shape(table_scan *t, data_shape shape);

/* Decodes row `row` of a page of (id, label, pixels) into id, label (-1 when
 * null) and t->image_bytes pixels. Errors name the table and row id, also
 * for a row with another number of pixels than the scan's shape. */
int table_scan_image(const table_scan *t, const cql_result *page, int32_t row, int32_t *id,
                     int16_t *label, uint8_t *pixels, cassnn_err *err);

#endif
