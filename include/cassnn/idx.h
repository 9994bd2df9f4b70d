/* idx.h - MNIST-style IDX files (raw or gzip), as published by LeCun et al.
 *
 * An image file: big-endian int32 magic 2051, count, rows, cols, then uint8
 * pixels row-major. A label file: magic 2049, count, then one uint8 per label.
 */
#ifndef CASSNN_IDX_H
#define CASSNN_IDX_H

#include "cassnn/images.h"

/* Reads an image file and (optionally, labels_path may be NULL) its label
 * file into out (channels = 1, ids = record index). Either path may end in
 * .gz. Errors name the file and what is wrong: bad magic, truncated data,
 * count mismatch between the two files, label out of 0..9, gzip corruption.
 * The caller frees out with data_images_free. Reentrant. */
int data_idx_load(const char *images_path, const char *labels_path, data_images *out,
                  cassnn_err *err);

#endif
