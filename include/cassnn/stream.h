/* stream.h - batches streamed from a raw table too large to load into
 * memory, through a bounded shuffle buffer (like tf.data's shuffle buffer).
 *
 * Reader threads scan the table's token ranges ahead of the consumer (the
 * node works while the net trains). The order of the ranges is a seeded
 * shuffle per epoch; readers fill per-range slots in parallel, but rows
 * enter the shuffle buffer range by range in that order, and every image
 * handed out is a seeded draw from the buffer. So the same seed gives the
 * same batches whatever the timing of the readers, and a resumed run (skip
 * N images of an epoch) sees exactly the batches the interrupted one had
 * not seen. Without shuffle the rows come in token order.
 *
 * Memory: the buffer, the slots and the readers' pages are allocated once
 * from the budget (data_stream_memory), never more.
 *
 * Choosing a mode (data_table_rows, data_load_once_bytes): the row count
 * comes from the node's system.size_estimates (cheap, but only covers data
 * flushed to SSTables and is refreshed every few minutes), or from an exact
 * count (count(*) per token range, in parallel) when the node has no
 * estimate for the table yet.
 */
#ifndef CASSNN_STREAM_H
#define CASSNN_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/cql.h"
#include "cassnn/feed.h"
#include "cassnn/nn_train.h"

/* Bytes one image row takes in memory (pixels, label, id). */
#define DATA_ROW_BYTES (28 * 28 + 2 + 4)

/* Rows of keyspace.table: the node's estimate (*exact = 0) or, when it has
 * none, a count (*exact = 1). */
int data_table_rows(cql_session *s, const char *keyspace, const char *table,
                    const data_scan_options *o, long *rows, int *exact, cassnn_err *err);

/* Exact row count: count(*) per token range, ranges in parallel. */
int data_table_count(cql_session *s, const char *keyspace, const char *table,
                     const data_scan_options *o, long *rows, cassnn_err *err);

/* Peak memory of data_table_load for rows rows: the rows as read plus the
 * sorted copy. */
size_t data_load_once_bytes(long rows);

/* Half of MemAvailable (/proc/meminfo); 1 GiB when it cannot be read. */
size_t data_default_memory_budget(void);

/* "123", "64K", "64M", "2G" (powers of 1024) -> bytes; -1 when not a size. */
int data_parse_size(const char *text, size_t *bytes);

typedef struct data_stream_options {
    data_scan_options scan;  /* ranges, reader threads, page size (defaults as data_table_load;
                              * an unset page size shrinks to fit a small budget) */
    size_t memory_budget;    /* bytes for the shuffle buffer, the slots and the readers' pages */
    int shuffle;             /* 0: rows in token order, no buffer */
    uint64_t seed;
    float mean, std;         /* normalisation, as data_feed_init */
    long rows;               /* the table's exact row count when known (data_table_count);
                              * 0: data_stream_open counts */
} data_stream_options;

typedef struct data_stream data_stream;

/* Counts the table's rows (the epoch size) unless o->rows gives them, and
 * allocates the buffer and slots. Errors: the node's, or a budget too small for the readers' slots
 * and pages (the message says how much is needed). */
int data_stream_open(data_stream **out, cql_session *s, const char *keyspace, const char *table,
                     const data_stream_options *o, cassnn_err *err);

/* Rows per epoch (counted at open, or o->rows). */
long data_stream_rows(const data_stream *st);

/* Capacity of the shuffle buffer, in rows (1 without shuffle). */
size_t data_stream_buffer_rows(const data_stream *st);

/* Bytes the stream holds at most: buffer + slots + the readers' pages
 * (<= the budget). */
size_t data_stream_memory(const data_stream *st);

/* The next epoch started begins at image `images` of its order (a resumed
 * run); applies to one epoch only. */
void data_stream_resume_at(data_stream *st, long images);

/* The nn_batch_source view. begin_epoch starts the readers of that epoch
 * (stopping any left over); next returns an error - never waits forever -
 * when a reader fails: a bad row (table and id) or a range the node failed
 * to answer 4 times. */
nn_batch_source data_stream_batches(data_stream *st);

/* The batch source's next, with each image's row id in ids (may be NULL):
 * for callers that report per row (predict). */
int data_stream_next(data_stream *st, float *x, int32_t *labels, int32_t *ids, int max,
                     cassnn_err *err);

/* Stops and joins the readers, frees everything. NULL is a no-op. */
void data_stream_close(data_stream *st);

#endif
