/* source.h - where a run's images come from, private to src/run: a set in
 * memory (files, or a table loaded once) or a table streamed through
 * data_stream, behind one batch source. Opening tables first plans them
 * (table_plan.h) and reads the load-once ones; the batches start later,
 * once the run knows its seed (a resumed run takes its checkpoint's). */
#ifndef CASSNN_RUN_SOURCE_H
#define CASSNN_RUN_SOURCE_H

#include "cassnn/run.h"

typedef struct run_source {
    const char *keyspace, *table;  /* a table's; NULL for files */
    data_images images;            /* in memory; a streamed table: only its shape and count */
    size_t stream_budget;          /* > 0: the table streams within this many bytes */
    long counted_rows;             /* a streamed table's exact count when known, else 0 */
    data_feed feed;                /* the batches of images in memory ... */
    data_stream *stream;           /* ... or of the stream */
} run_source;

/* Plans the n tables (1, or 2: train then test) of keyspace within budget,
 * tells events->planned, and reads the load-once ones (events->loaded).
 * Errors: the node's, an empty table. */
int run_sources_open_tables(run_source *out, int n, cql_session *s, const char *keyspace,
                            const char *const *tables, size_t budget, const run_events *events,
                            cassnn_err *err);

/* Starts the batches: a feed over the images, or the table's stream
 * (events->streaming); shuffled from seed when shuffle. */
int run_source_start(run_source *src, cql_session *s, int shuffle, uint64_t seed, float mean,
                     float std, const run_events *events, cassnn_err *err);

/* The first epoch started begins at image `images` of its order (resume). */
void run_source_resume_at(run_source *src, long images);

nn_batch_source run_source_batches(run_source *src);

/* The next images with their labels and row ids (ids from the set, or as
 * the stream hands them out); 0 at the end of the epoch, -1 on error.
 * Needs begin_epoch first, like the batch source. */
int run_source_next(run_source *src, float *x, int32_t *labels, int32_t *ids, int max,
                    long done, cassnn_err *err);

void run_source_free(run_source *src);

#endif
