/* stream.c - a raw table streamed through a bounded shuffle buffer (see
 * stream.h). */
#include "cassnn/stream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/rng.h"
#include "cassnn/table_plan.h"
#include "table_scan.h"

/* ---- the stream ------------------------------------------------------------------- */

/* The rows of one range of the epoch's order, as a ring a reader fills and
 * the consumer drains: rows [taken, filled) are held. */
typedef struct stream_slot {
    int position;            /* position in the epoch's range order; -1 when unused */
    int done;                /* the reader has handed over every row of the range */
    size_t filled, taken;    /* counts since the range started */
    int32_t *ids;
    int16_t *labels;
    uint8_t *pixels;
} stream_slot;

/* The shuffle buffer: rows [0, count). */
typedef struct row_buffer {
    size_t count, cap;
    int32_t *ids;
    int16_t *labels;
    uint8_t *pixels;
} row_buffer;

struct data_stream {
    table_scan scan;
    long rows;
    size_t image_bytes, row_bytes; /* of one image, of one row in memory */
    int shuffle;
    uint64_t seed;
    float lut[256];
    size_t slot_rows, page_bytes;
    int n_slots;
    stream_slot *slots;
    row_buffer buffer;
    int *order;                /* the epoch's range order */
    nn_rng pick;               /* the epoch's draws from the buffer */
    long resume_at;
    /* readers */
    pthread_t *readers;
    int running;
    pthread_mutex_t lock;      /* guards everything below and the slots' counters */
    pthread_cond_t changed;
    int next_claim;            /* next position a reader takes */
    int head;                  /* position the consumer drains */
    int stop, failed;
    cassnn_err err;
};

typedef struct slot_sink {
    data_stream *st;
    stream_slot *slot;
} slot_sink;

/* table_scan_row_fn: waits for room in the slot, then decodes the row into
 * it (outside the lock: the consumer never reads past `filled`). */
static int sink_row(void *user, const table_scan *t, const cql_result *page, int32_t r,
                    cassnn_err *err) {
    slot_sink *k = user;
    data_stream *st = k->st;
    stream_slot *slot = k->slot;
    pthread_mutex_lock(&st->lock);
    while (!st->stop && !st->failed && slot->filled - slot->taken == st->slot_rows)
        pthread_cond_wait(&st->changed, &st->lock);
    const int cancelled = st->stop || st->failed;
    const size_t at = slot->filled % st->slot_rows;
    pthread_mutex_unlock(&st->lock);
    if (cancelled) return cassnn_err_set(err, "%s: stream stopped", t->what);
    if (table_scan_image(t, page, r, &slot->ids[at], &slot->labels[at],
                         slot->pixels + at * st->image_bytes, err))
        return -1;
    pthread_mutex_lock(&st->lock);
    slot->filled++;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    return 0;
}

static void *reader_thread(void *arg) {
    data_stream *st = arg;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        /* A position's slot is free once the consumer is past the position
         * n_slots before it. */
        while (!st->stop && !st->failed && st->next_claim < st->scan.ranges &&
               st->next_claim >= st->head + st->n_slots)
            pthread_cond_wait(&st->changed, &st->lock);
        if (st->stop || st->failed || st->next_claim >= st->scan.ranges) break;
        const int position = st->next_claim++;
        stream_slot *slot = &st->slots[position % st->n_slots];
        slot->position = position;
        slot->done = 0;
        slot->filled = slot->taken = 0;
        pthread_mutex_unlock(&st->lock);
        slot_sink sink = {st, slot};
        cassnn_err err = {0};
        const int rc = table_scan_range(&st->scan, st->order[position], sink_row, &sink, &err);
        pthread_mutex_lock(&st->lock);
        if (rc) {
            if (!st->stop && !st->failed) {
                st->failed = 1;
                st->err = err;
                cassnn_err_wrap(&st->err, "reading %s", st->scan.what);
            }
        } else {
            slot->done = 1;
        }
        pthread_cond_broadcast(&st->changed);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static void stop_readers(data_stream *st) {
    pthread_mutex_lock(&st->lock);
    st->stop = 1;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    for (int i = 0; i < st->running; i++) pthread_join(st->readers[i], NULL);
    st->running = 0;
}

/* Moves the next row of the epoch's input (range by range, in order) into
 * buffer slot `to`: 1, 0 at the end of the epoch, -1 on a reader's error. */
static int take_input(data_stream *st, size_t to, cassnn_err *err) {
    pthread_mutex_lock(&st->lock);
    for (;;) {
        if (st->failed) {
            *err = st->err;
            pthread_mutex_unlock(&st->lock);
            return -1;
        }
        if (st->head >= st->scan.ranges) {
            pthread_mutex_unlock(&st->lock);
            return 0;
        }
        stream_slot *slot = &st->slots[st->head % st->n_slots];
        if (slot->position == st->head && slot->taken < slot->filled) break;
        if (slot->position == st->head && slot->done) {
            st->head++;
            pthread_cond_broadcast(&st->changed);
            continue;
        }
        pthread_cond_wait(&st->changed, &st->lock);
    }
    stream_slot *slot = &st->slots[st->head % st->n_slots];
    const size_t at = slot->taken % st->slot_rows;
    pthread_mutex_unlock(&st->lock);
    /* The reader never writes a row the consumer has not taken. */
    row_buffer *b = &st->buffer;
    b->ids[to] = slot->ids[at];
    b->labels[to] = slot->labels[at];
    memcpy(b->pixels + to * st->image_bytes, slot->pixels + at * st->image_bytes, st->image_bytes);
    pthread_mutex_lock(&st->lock);
    slot->taken++;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    return 1;
}

/* The next image of the epoch: the buffer is topped up from the input, then
 * one of its rows is drawn and replaced by the last. x may be NULL (skip). 1,
 * 0 at the end, -1 on error. */
static int next_image(data_stream *st, float *x, int32_t *label, int32_t *id, cassnn_err *err) {
    row_buffer *b = &st->buffer;
    while (b->count < b->cap) {
        const int got = take_input(st, b->count, err);
        if (got < 0) return -1;
        if (got == 0) break;
        b->count++;
    }
    if (b->count == 0) return 0;
    const size_t j = st->shuffle ? nn_rng_below(&st->pick, (uint32_t)b->count) : 0;
    if (x) {
        const uint8_t *px = b->pixels + j * st->image_bytes;
        for (size_t k = 0; k < st->image_bytes; k++) x[k] = st->lut[px[k]];
    }
    *label = b->labels[j];
    if (id) *id = b->ids[j];
    const size_t last = --b->count;
    if (j != last) {
        b->ids[j] = b->ids[last];
        b->labels[j] = b->labels[last];
        memcpy(b->pixels + j * st->image_bytes, b->pixels + last * st->image_bytes,
               st->image_bytes);
    }
    return 1;
}

static long stream_size(void *ctx) { return ((data_stream *)ctx)->rows; }

static int stream_begin(void *ctx, int epoch, cassnn_err *err) {
    data_stream *st = ctx;
    stop_readers(st);
    const int n = st->scan.ranges;
    for (int i = 0; i < n; i++) st->order[i] = i;
    if (st->shuffle) {
        /* the epoch's range order and buffer draws, from (seed, epoch) */
        nn_rng rng;
        nn_rng_seed(&rng, st->seed, 0x52414e474553ULL + (uint64_t)epoch);
        for (int i = n - 1; i > 0; i--) {
            const int j = (int)nn_rng_below(&rng, (uint32_t)i + 1), t = st->order[i];
            st->order[i] = st->order[j];
            st->order[j] = t;
        }
        nn_rng_seed(&st->pick, st->seed, 0x5049434b53ULL + (uint64_t)epoch);
    }
    for (int i = 0; i < st->n_slots; i++) st->slots[i].position = -1;
    st->buffer.count = 0;
    st->next_claim = st->head = 0;
    st->stop = st->failed = 0;
    for (; st->running < st->scan.threads; st->running++)
        if (pthread_create(&st->readers[st->running], NULL, reader_thread, st)) {
            stop_readers(st);
            return cassnn_err_set(err, "%s: cannot start a reader thread", st->scan.what);
        }
    /* A resumed epoch: draw the images the interrupted run had seen. */
    const long skip = st->resume_at;
    st->resume_at = 0;
    for (long i = 0; i < skip; i++) {
        int32_t label;
        const int got = next_image(st, NULL, &label, NULL, err);
        if (got < 0) return -1;
        if (got == 0) break;
    }
    return 0;
}

int data_stream_next(data_stream *st, float *x, int32_t *labels, int32_t *ids, int max,
                     cassnn_err *err) {
    int n = 0;
    for (; n < max; n++) {
        const int got = next_image(st, x + (size_t)n * st->image_bytes, &labels[n],
                                   ids ? &ids[n] : NULL, err);
        if (got < 0) return -1;
        if (got == 0) break;
    }
    return n;
}

static int stream_next(void *ctx, float *x, int32_t *labels, int max, cassnn_err *err) {
    return data_stream_next(ctx, x, labels, NULL, max, err);
}

nn_batch_source data_stream_batches(data_stream *st) {
    nn_batch_source s = {st, stream_size, stream_begin, stream_next};
    return s;
}

static int rows_alloc(size_t n, size_t image_bytes, int32_t **ids, int16_t **labels,
                      uint8_t **pixels) {
    *ids = malloc(n * sizeof **ids);
    *labels = malloc(n * sizeof **labels);
    *pixels = malloc(n * image_bytes);
    return *ids && *labels && *pixels ? 0 : -1;
}

/* Sizes the slots, pages and shuffle buffer within the budget; fails when
 * the budget cannot hold the readers' slots and pages and one row. */
static int size_stream(data_stream *st, const data_stream_options *o, cassnn_err *err) {
    /* Readers work ahead of the consumer on up to two ranges each. A slot
     * holds a whole range when the budget allows (rows spread evenly over
     * the ring, plus a margin), so a reader finishes its range ahead instead
     * of waiting for the consumer to reach it; a reader's pager holds the
     * page being read and the next one (read-ahead). A list<int> cell is 8
     * bytes per pixel on the wire, a blob 1. Slots and pages each take at
     * most a quarter of the budget when their sizes are left to the stream;
     * the rest is the shuffle buffer. */
    st->n_slots = 2 * st->scan.threads;
    const size_t wire_row = (st->scan.blob ? 1 : 8) * st->image_bytes + 64;
    if (o->scan.page_size <= 0) {
        const size_t fit = o->memory_budget / 4 / ((size_t)st->scan.threads * 2 * wire_row);
        if (fit < (size_t)st->scan.page_size) st->scan.page_size = fit > 8 ? (int32_t)fit : 8;
    }
    const size_t page = (size_t)st->scan.page_size;
    const size_t per_range = (size_t)st->rows / (size_t)st->scan.ranges + 1;
    const size_t slot_fit = o->memory_budget / 4 / ((size_t)st->n_slots * st->row_bytes);
    st->slot_rows = per_range + per_range / 4 + page;
    if (st->slot_rows > slot_fit) st->slot_rows = slot_fit > page ? slot_fit : page;
    st->page_bytes = page * wire_row;
    const size_t fixed = (size_t)st->n_slots * st->slot_rows * st->row_bytes +
                         2 * (size_t)st->scan.threads * st->page_bytes;
    size_t cap = o->shuffle && o->memory_budget > fixed
                     ? (o->memory_budget - fixed) / st->row_bytes : 0;
    if (cap > (size_t)st->rows) cap = st->rows > 0 ? (size_t)st->rows : 1;
    if (!o->shuffle) cap = 1;
    if (cap < 1 || fixed + cap * st->row_bytes > o->memory_budget) {
        cassnn_err_set(err, "%s: memory budget %zu bytes is too small to stream it: %d readers "
                            "with pages of %d rows need %zu bytes, plus %zu per buffered row",
                       st->scan.what, o->memory_budget, st->scan.threads, st->scan.page_size,
                       fixed, st->row_bytes);
        return -1;
    }
    st->buffer.cap = cap;
    return 0;
}

int data_stream_open(data_stream **out, cql_session *s, const char *keyspace, const char *table,
                     const data_stream_options *o, cassnn_err *err) {
    *out = NULL;
    data_stream *st = calloc(1, sizeof *st);
    if (!st) return cassnn_err_set(err, "%s.%s: out of memory", keyspace, table);
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->changed, NULL);
    st->shuffle = o->shuffle;
    st->seed = o->seed;
    for (int v = 0; v < 256; v++) st->lut[v] = ((float)v / 255.0f - o->mean) / o->std;
    /* The epoch size must be exact (progress lines, checkpoint positions):
     * an estimate will not do. */
    st->rows = o->rows;
    data_shape shape = o->shape;
    int found = 1;
    if (table_scan_open(&st->scan, s, keyspace, table, "id, label, pixels", &o->scan, err) ||
        (!shape.channels && data_table_shape(s, keyspace, table, &shape, &found, err)) ||
        (st->rows <= 0 && data_table_count(s, keyspace, table, &o->scan, &st->rows, err)))
        goto fail;
    if (!found || st->rows <= 0) {
        cassnn_err_set(err, "%s has no rows to stream", st->scan.what);
        goto fail;
    }
    table_scan_set_shape(&st->scan, shape);
    st->image_bytes = st->scan.image_bytes;
    st->row_bytes = data_row_bytes(st->image_bytes);
    if (size_stream(st, o, err)) goto fail;
    st->slots = calloc((size_t)st->n_slots, sizeof *st->slots);
    st->order = malloc((size_t)st->scan.ranges * sizeof *st->order);
    st->readers = calloc((size_t)st->scan.threads, sizeof *st->readers);
    int ok = st->slots && st->order && st->readers &&
             rows_alloc(st->buffer.cap, st->image_bytes, &st->buffer.ids, &st->buffer.labels,
                        &st->buffer.pixels) == 0;
    for (int i = 0; ok && i < st->n_slots; i++)
        ok = rows_alloc(st->slot_rows, st->image_bytes, &st->slots[i].ids, &st->slots[i].labels,
                        &st->slots[i].pixels) == 0;
    if (!ok) {
        cassnn_err_set(err, "%s: out of memory for a stream of %zu buffered rows", st->scan.what,
                       st->buffer.cap);
        goto fail;
    }
    *out = st;
    return 0;
fail:
    data_stream_close(st);
    return -1;
}

long data_stream_rows(const data_stream *st) { return st->rows; }

size_t data_stream_buffer_rows(const data_stream *st) { return st->buffer.cap; }

size_t data_stream_memory(const data_stream *st) {
    return (st->buffer.cap + (size_t)st->n_slots * st->slot_rows) * st->row_bytes +
           2 * (size_t)st->scan.threads * st->page_bytes;
}

void data_stream_resume_at(data_stream *st, long images) { st->resume_at = images; }

void data_stream_close(data_stream *st) {
    if (!st) return;
    if (st->readers) stop_readers(st);
    for (int i = 0; st->slots && i < st->n_slots; i++) {
        free(st->slots[i].ids);
        free(st->slots[i].labels);
        free(st->slots[i].pixels);
    }
    free(st->slots);
    free(st->buffer.ids);
    free(st->buffer.labels);
    free(st->buffer.pixels);
    free(st->order);
    free(st->readers);
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->changed);
    free(st);
}
