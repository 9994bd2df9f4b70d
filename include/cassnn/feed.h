/* feed.h - batches for training and testing, read from a raw table in
 * Cassandra.
 *
 * A raw table (id int PRIMARY KEY, label int, pixels list<int>) or its blob
 * layout (name ending in _blob: pixels as one blob, 784 bytes for MNIST) is
 * read with parallel token-range scans: the ring is cut into equal ranges
 * and several threads each page through their ranges with a prepared
 * `SELECT ... WHERE token(id) > ? AND token(id) <= ?`; the session's pager
 * requests the next page as soon as one arrives (read-ahead), so the node
 * works while rows are decoded. A range the node fails to answer is read
 * again from its start (up to 4 tries).
 *
 * Load-once mode: the whole table lands in memory, sorted by id, so the same
 * rows always give the same order whatever order the ranges answered in; a
 * seeded shuffle per epoch then comes from nn_memory_source (seed, epoch), and
 * training from Cassandra equals training from the same images in memory.
 * Normalisation is the tutorial's transform: x/255, then (x - mean) / std
 * with per-dataset constants. A table larger than memory is streamed
 * instead (stream.h); both read through the same range scans.
 */
#ifndef CASSNN_FEED_H
#define CASSNN_FEED_H

#include <stdint.h>

#include "cassnn/cql.h"
#include "cassnn/images.h"
#include "cassnn/nn_train.h"

/* Fashion-MNIST's statistics (MNIST's are NN_MNIST_MEAN / NN_MNIST_STD). */
#define DATA_FASHION_MEAN 0.2860f
#define DATA_FASHION_STD 0.3530f

/* Normalisation constants by dataset name: "mnist" or "fashion". 0, or -1
 * for another name. */
int data_feed_normalisation(const char *dataset, float *mean, float *std);

typedef struct data_scan_options {
    int ranges;       /* token ranges the ring is cut into (<= 0: 256) */
    int threads;      /* ranges scanned at once (<= 0: 4) */
    int32_t page_size;/* rows per page (<= 0: 200 blob layout, 40 list layout) */
} data_scan_options;

/* Reads every row of keyspace.table into out, sorted by id (labels -1
 * where the row has none), in the shape of its first row (table_plan.h:
 * 1x28x28 for MNIST); an empty table gives an empty set. Errors name the
 * table and row id: a pixels cell with another number of pixels than the
 * first row or values outside 0..255, a label that is no class number, or a
 * failed page. o may be NULL (defaults). The caller frees out with
 * data_images_free. */
int data_table_load(cql_session *s, const char *keyspace, const char *table,
                    const data_scan_options *o, data_images *out, cassnn_err *err);

/* A batch source over images in memory (loaded once from a table, or read
 * from files): nn_memory_source plus the position a resumed run starts at. */
typedef struct data_feed {
    nn_memory_source memory;
    long resume_at;           /* images to skip at the next begin_epoch (resume) */
} data_feed;

/* Batches over images (borrowed: they must outlive f) normalised with
 * mean/std, shuffled per epoch from seed when shuffle. */
int data_feed_init(data_feed *f, const data_images *images, float mean, float std, int shuffle,
                   uint64_t seed, cassnn_err *err);

/* The next epoch started begins at image `images` of its (shuffled) order:
 * a run resumed mid-epoch sees exactly the batches the interrupted run had
 * not yet seen. Applies to one epoch only. */
void data_feed_resume_at(data_feed *f, long images);

/* The nn_batch_source view (valid while f lives). */
nn_batch_source data_feed_batches(data_feed *f);

void data_feed_free(data_feed *f);

#endif
