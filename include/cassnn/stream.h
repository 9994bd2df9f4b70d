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
 * Which tables stream is decided by table_plan.h.
 */
#ifndef CASSNN_STREAM_H
#define CASSNN_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/cql.h"
#include "cassnn/feed.h"
#include "cassnn/nn_train.h"
#include "cassnn/table_plan.h"

typedef struct data_stream_options {
    data_scan_options scan;  /* ranges, reader threads, page size (defaults as data_table_load;
                              * an unset page size shrinks to fit a small budget) */
    size_t memory_budget;    /* bytes for the shuffle buffer, the slots and the readers' pages */
    int shuffle;             /* 0: rows in token order, no buffer */
    uint64_t seed;
    float mean, std;         /* normalisation, as data_feed_init */
    long rows;               /* the table's exact row count when known (data_table_count);
                              * 0: data_stream_open counts */
    data_shape shape;        /* the images' shape when known (data_table_shape); zero:
                              * data_stream_open reads it from the first row */
} data_stream_options;

typedef struct data_stream data_stream;

/* Counts the table's rows (the epoch size) unless o->rows gives them, takes
 * the shape of its first row unless o->shape gives it, and allocates the
 * buffer and slots. Errors: the node's, an empty table, or a budget too
 * small for the readers' slots and pages (the message says how much is
 * needed). */
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
