/* blob_dict.h - a state_dict as the blob formats see it: named tensors plus
 * string metadata. Both containers (safetensors, blob/safetensors.h; PyTorch
 * pickles, blob/pickle_torch.h) parse into one and write from one, so the code
 * that maps networks and optimizers onto tensors (blob.h) is written once.
 *
 * A parsed dict's tensor data points into the parsed buffer or into memory
 * the dict owns; either way it lives until blob_dict_free. A dict built for
 * writing points at the caller's arrays (blob_dict_add), which must outlive
 * the write. Names and metadata strings are always copies. A dict has no
 * locks: one thread writes it at a time; blob_dict_free frees it.
 */
#ifndef CASSNN_BLOB_DICT_H
#define CASSNN_BLOB_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/error.h"

#define BLOB_MAX_DIMS 8
/* More tensors than this in one state_dict is refused (a net has two to
 * five per layer, an optimizer up to three per parameter). */
#define BLOB_MAX_TENSORS 4096

typedef struct blob_tensor {
    char *name;
    char dtype[8];               /* safetensors' names: "F32", "I64", "F64", ... */
    int ndim;
    int64_t shape[BLOB_MAX_DIMS];
    size_t nbytes;
    const uint8_t *data;         /* little-endian, contiguous, row-major */
} blob_tensor;

typedef struct blob_dict {
    size_t count;
    blob_tensor *tensors;
    size_t meta_count;
    char **meta_keys, **meta_values;
    size_t owned_count;
    void **owned;                /* tensor data the dict allocated (pickles) */
} blob_dict;

void blob_dict_free(blob_dict *d);

/* Appends a tensor (name copied, data not); dtype "F32" or "I64" etc. */
int blob_dict_add(blob_dict *d, const char *name, const char *dtype, int ndim,
                  const int64_t *shape, const void *data, cassnn_err *err);
/* Sets metadata key to value (both copied; an existing key is replaced). */
int blob_dict_set_meta(blob_dict *d, const char *key, const char *value, cassnn_err *err);
/* Gives data (malloc'ed) to the dict, which frees it. */
int blob_dict_own(blob_dict *d, void *data, cassnn_err *err);

/* The tensor called name, or NULL. */
const blob_tensor *blob_dict_find(const blob_dict *d, const char *name);
/* The metadata value of key, or NULL. */
const char *blob_dict_meta(const blob_dict *d, const char *key);

/* Bytes of one element of a dtype name, 0 for an unknown one. */
size_t blob_dtype_size(const char *dtype);

/* Copies tensor `name` into out: it must exist, have dtype F32 (I64) and
 * exactly the given shape; errors name the tensor and both shapes. */
int blob_dict_read_f32(const blob_dict *d, const char *name, int ndim, const int64_t *shape,
                       float *out, cassnn_err *err);
int blob_dict_read_i64(const blob_dict *d, const char *name, int ndim, const int64_t *shape,
                       int64_t *out, cassnn_err *err);

/* "[20, 10, 5, 5]" */
void blob_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape);

#endif
