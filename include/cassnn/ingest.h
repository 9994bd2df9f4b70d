/* ingest.h - writing validated image sets into raw tables, and checking them.
 *
 * A raw table is (id int PRIMARY KEY, label int, pixels list<int>) or, in the
 * blob layout (table name ending in _blob), pixels blob of 784 bytes. Rows are
 * upserts keyed by id, so writing the same set again changes nothing and a run
 * that stopped half-way is completed by running it again.
 *
 * The caller validates first (the readers check whole inputs) and writes
 * after: this module only writes and reads back.
 */
#ifndef CASSNN_INGEST_H
#define CASSNN_INGEST_H

#include <signal.h>
#include <stdint.h>

#include "cassnn/cql.h"
#include "cassnn/images.h"

/* One image set bound for one table. */
typedef struct data_ingest_set {
    const char *table;          /* e.g. raw_train; _blob suffix = blob layout */
    const char *source;         /* where the rows came from, for messages */
    const data_images *images;  /* labels -1 are written as "unset" (no label) */
} data_ingest_set;

/* Progress callback: rows confirmed so far of total. Called from the writing
 * thread, at most every 100 ms and once at the end. */
typedef void (*data_ingest_progress)(void *user, size_t done, size_t total);

typedef struct data_ingest_options {
    const char *keyspace;
    int concurrency;                  /* INSERTs in flight at most; <= 0: 128 */
    data_ingest_progress progress;    /* may be NULL */
    void *progress_user;
    volatile sig_atomic_t *stop;      /* may be NULL; non-zero: submit no more rows */
} data_ingest_options;

#define DATA_INGEST_MAX_SETS 8

typedef struct data_ingest_result {
    size_t confirmed[DATA_INGEST_MAX_SETS]; /* rows of sets[i] the node acknowledged */
    size_t retried;                         /* requests the session sent again meanwhile
                                               (cql_session_retries: its retry policy) */
} data_ingest_result;

/* Writes every row of the n (<= DATA_INGEST_MAX_SETS) sets with one prepared
 * INSERT per table and bounded asynchronous concurrency. The inserts are
 * idempotent upserts: the session retries them (timeouts, overload, a node
 * away for a while; see cql.h), not this function. result->confirmed is
 * filled also when the call fails, so the caller can say how far it got.
 * Fails on the first row the session gave up on (after the requests in
 * flight finish; the error names its table and id) or when *stop becomes
 * non-zero ("interrupted"). */
int data_ingest_write(cql_session *s, const data_ingest_set *sets, size_t n,
                      const data_ingest_options *o, data_ingest_result *result, cassnn_err *err);

/* Order-independent checksum of rows (id, label, pixels): the sum of a 64-bit
 * FNV-1a hash of each row. Equal sets of rows give equal sums. */
uint64_t data_ingest_row_hash(int32_t id, int32_t label, const uint8_t *pixels, size_t n);

/* Reads every table the sets write back in full and compares its row count
 * and checksum with the sets bound for it. Fails naming the table, with the
 * expected and found counts. */
int data_ingest_verify(cql_session *s, const char *keyspace, const data_ingest_set *sets,
                       size_t n, cassnn_err *err);

#endif
