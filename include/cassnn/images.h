/* images.h - a set of labelled images in memory, the unit every data source
 * (IDX, CSV, PNG, Cassandra tables) produces and the trainer consumes.
 *
 * Pixels stay uint8 (0..255) in NCHW order so that a set costs one byte per
 * pixel; normalisation to float happens when a batch is formed.
 */
#ifndef CASSNN_IMAGES_H
#define CASSNN_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/error.h"

typedef struct data_images {
    size_t count;                 /* number of images */
    int channels, rows, cols;     /* 1, 28, 28 for MNIST */
    uint8_t *pixels;              /* count * channels * rows * cols bytes */
    int16_t *labels;              /* count labels; -1 where a row has none */
    int32_t *ids;                 /* row id of each image (table id or record index) */
} data_images;

/* The shape of one image (channels x rows x cols). */
typedef struct data_shape {
    int channels, rows, cols;
} data_shape;

/* The shape of an image stored as n pixels with no shape beside them (a
 * raw table's pixels cell): 1xKxK when n is a square (grayscale), 3xKxK when
 * n/3 is one (RGB); no n is both. -1 for any other n. */
int data_shape_from_pixels(size_t n, data_shape *out);

/* What a reader saw, for its caller's summary. A reader told to skip bad
 * records (rows, files) counts them here and keeps the first one's error. */
typedef struct data_load_stats {
    size_t records;         /* records in the input (a CSV's blank lines not counted) */
    size_t skipped;         /* bad records left out */
    char first_bad[512];    /* the error of the first skipped record, "" if none */
} data_load_stats;

/* Bytes of one image. */
static inline size_t data_image_size(const data_images *s) {
    return (size_t)s->channels * (size_t)s->rows * (size_t)s->cols;
}

/* Allocates room for count images of the given shape; labels are set to -1
 * and ids to 0..count-1. Returns 0, or -1 with err set (out of memory). */
int data_images_alloc(data_images *s, size_t count, int channels, int rows, int cols,
                      cassnn_err *err);

/* Splits all into its first round(count * fraction) images and the rest, as
 * copies; each part gets fresh ids 0.. (raw_train and raw_test are each
 * numbered from 0). fraction must be in [0, 1]. The reference tutorial's own
 * split code could not be found (searched for its keyspace and tables), so
 * this is the plain reading of "split 0.8": first 80% / last 20%, in order. */
int data_images_split(const data_images *all, double fraction, data_images *first,
                      data_images *rest, cassnn_err *err);

/* Checks that no id occurs twice within or across the n sets (all bound for
 * the same table, where a repeated id would silently overwrite a row).
 * names[i] says where set i came from, for the error: "a.csv record 3 and
 * b.csv record 9 both have id 7". */
int data_images_check_unique_ids(const data_images *const *sets, const char *const *names,
                                 size_t n, cassnn_err *err);

/* Frees what alloc allocated and zeroes the struct; safe on a zeroed struct. */
void data_images_free(data_images *s);

#endif
