/* nn_safetensors.h - the safetensors container (github.com/huggingface/safetensors):
 * an 8-byte little-endian header length, a JSON header mapping each tensor
 * name to {dtype, shape, data_offsets} plus an optional "__metadata__" object
 * of strings, then the raw little-endian tensor bytes.
 *
 * The parser trusts nothing: every length, offset and shape is checked
 * against the buffer, so a truncated or malicious blob gets an error naming
 * the tensor and the problem, never a crash. Parsed tensors point into the
 * caller's buffer, which must outlive the nn_safetensors.
 */
#ifndef CASSNN_NN_SAFETENSORS_H
#define CASSNN_NN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/error.h"

#define NN_ST_MAX_DIMS 8

typedef struct nn_st_tensor {
    char *name;
    char dtype[8];               /* "F32", "F64", "I64", ... as written */
    int ndim;
    int64_t shape[NN_ST_MAX_DIMS];
    size_t nbytes;
    const uint8_t *data;         /* into the parsed buffer */
} nn_st_tensor;

typedef struct nn_safetensors {
    size_t count;
    nn_st_tensor *tensors;
    size_t meta_count;
    char **meta_keys, **meta_values;
} nn_safetensors;

/* Parses buf[0..len). */
int nn_st_parse(nn_safetensors *st, const uint8_t *buf, size_t len, cassnn_err *err);
void nn_st_free(nn_safetensors *st);

/* The tensor called name, or NULL. */
const nn_st_tensor *nn_st_find(const nn_safetensors *st, const char *name);
/* The metadata value of key, or NULL. */
const char *nn_st_meta(const nn_safetensors *st, const char *key);

/* Copies tensor `name` into out as float32: it must exist, be F32 and have
 * exactly the given shape; errors name the tensor and both shapes. */
int nn_st_read_f32(const nn_safetensors *st, const char *name, int ndim, const int64_t *shape,
                   float *out, cassnn_err *err);
/* The same for an I64 tensor (int64, e.g. BatchNorm's num_batches_tracked). */
int nn_st_read_i64(const nn_safetensors *st, const char *name, int ndim, const int64_t *shape,
                   int64_t *out, cassnn_err *err);

/* One tensor to write: float32, or int64 when dtype is "I64". */
typedef struct nn_st_entry {
    const char *name;
    int ndim;
    const int64_t *shape;
    const void *data;
    const char *dtype;           /* NULL or "F32": float; "I64": int64_t */
} nn_st_entry;

/* Serialises entries (in order) and metadata pairs meta[2*i] = key,
 * meta[2*i+1] = value into a new malloc'ed buffer *out of *len bytes. */
int nn_st_write(uint8_t **out, size_t *len, const nn_st_entry *entries, size_t count,
                const char *const *meta, size_t meta_count, cassnn_err *err);

/* Whole-file helpers: read a file into a malloc'ed buffer; write a buffer
 * through a temporary file and rename, so a failed write leaves no
 * half-written file behind. */
int nn_file_read(const char *path, uint8_t **out, size_t *len, cassnn_err *err);
int nn_file_write(const char *path, const uint8_t *buf, size_t len, cassnn_err *err);

#endif
