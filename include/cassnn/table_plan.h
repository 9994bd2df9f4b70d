/* table_plan.h - how large a raw table is, what its images look like, and
 * whether it is loaded into memory once or streamed (stream.h).
 *
 * A raw table stores pixels without a shape, so the shape comes from the
 * data: the first row's pixel count (data_shape_from_pixels). Every row read
 * later must have as many pixels; one that has not is an error naming the
 * table and row id.
 *
 * Row counts shown to a user say whether they are exact or estimated
 * (data_table_size_text). The node's own estimate (system.size_estimates)
 * is not used: it covers only data flushed to SSTables, so a table just
 * written reads as a fraction of its size (7,937 for 60,000 MNIST rows in
 * one run) and rows overwritten before compaction count twice. Instead a
 * table is measured by counting its rows (count(*)) in a sample of token
 * ranges spread over the ring: Murmur3 places keys uniformly, so k rows
 * counted in a fraction f of the ring estimate k/f rows with a relative
 * standard error of about 1/sqrt(k) (3% for 1,000 rows counted), at a
 * fraction of an exact count's cost (MNIST's 60,000 list<int> rows on a
 * busy node: 3.2 s against 97 s). A small table, where the sample holds
 * too few rows to say much, is counted exactly; so is every streamed table
 * (its epoch size must be exact).
 */
#ifndef CASSNN_TABLE_PLAN_H
#define CASSNN_TABLE_PLAN_H

#include <stddef.h>

#include "cassnn/cql.h"
#include "cassnn/feed.h"
#include "cassnn/images.h"

/* Bytes one image row takes in memory: its pixels, label and id. */
size_t data_row_bytes(size_t image_bytes);

/* The shape of keyspace.table's images, from its first row. *found = 0
 * (shape zeroed) when the table is empty. Errors: the node's, or a first
 * row whose pixel count is no image shape (naming the row id). */
int data_table_shape(cql_session *s, const char *keyspace, const char *table, data_shape *shape,
                     int *found, cassnn_err *err);

/* Exact row count: count(*) per token range, ranges in parallel. */
int data_table_count(cql_session *s, const char *keyspace, const char *table,
                     const data_scan_options *o, long *rows, cassnn_err *err);

typedef struct data_table_size {
    long rows;              /* counted, or estimated from the sample */
    int estimated;          /* 1: rows is an estimate */
    long sampled_rows;      /* estimates: rows counted in the sample ... */
    int sample_ranges;      /* ... of this many token ranges ... */
    int ring_ranges;        /* ... of the ring cut into this many */
    data_shape shape;       /* of the first row; zero for an empty table */
} data_table_size;

/* Shape and row count of keyspace.table (see above). */
int data_table_size_of(cql_session *s, const char *keyspace, const char *table,
                       data_table_size *out, cassnn_err *err);

/* "60000 rows (counted)" or "~61850 rows (estimated: 1208 rows counted in
 * 5 of 256 token ranges)"; returns buf. */
const char *data_table_size_text(const data_table_size *t, char *buf, size_t cap);

/* Peak memory of data_table_load for a table of this size: the rows as read
 * plus the sorted copy. For an estimate it takes the rows the estimate
 * could be short of (three standard errors), so that a table that would not
 * fit is not loaded. */
size_t data_load_once_bytes(const data_table_size *t);

/* Which tables are loaded once and which streamed, within a memory budget. */
typedef enum data_plan_kind {
    DATA_PLAN_LOAD_ALL,     /* every table fits: each loaded once */
    DATA_PLAN_STREAM_TRAIN, /* train + test do not fit; test fits a quarter of the budget and is
                             * loaded, train streams in the rest */
    DATA_PLAN_STREAM_ALL,   /* every table streams (train + test: test in a quarter) */
} data_plan_kind;

typedef struct data_plan {
    data_plan_kind kind;
    size_t load_bytes[2];   /* data_load_once_bytes of each table */
    size_t stream_budget[2];/* bytes for a streamed table's stream; 0: loaded once */
} data_plan;

/* Plans n tables (1: one table; 2: train then test) within budget bytes.
 * Pure: no I/O. */
void data_plan_tables(const data_table_size *sizes, int n, size_t budget, data_plan *out);

/* Half of MemAvailable (/proc/meminfo); 1 GiB when it cannot be read. */
size_t data_default_memory_budget(void);

/* "123", "64K", "64M", "2G" (powers of 1024) -> bytes; -1 when not a size. */
int data_parse_size(const char *text, size_t *bytes);

#endif
