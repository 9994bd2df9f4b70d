/* safetensors.h (private to src/blob) - the safetensors container
 * (github.com/huggingface/safetensors): an 8-byte little-endian header
 * length, a JSON header mapping each tensor name to {dtype, shape,
 * data_offsets} plus an optional "__metadata__" object of strings, then the
 * raw little-endian tensor bytes.
 *
 * The parser trusts nothing: every length, offset and shape is checked
 * against the buffer, so a truncated or malicious blob gets an error naming
 * the tensor and the problem, never a crash. Parsed tensors point into the
 * caller's buffer, which must outlive the dict.
 */
#ifndef CASSNN_BLOB_SAFETENSORS_H
#define CASSNN_BLOB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/blob_dict.h"
#include "cassnn/error.h"

/* Does buf look like safetensors (a header length, then '{')? */
int blob_st_detect(const uint8_t *buf, size_t len);

/* Parses buf[0..len) into *d (initialised here; blob_dict_free it). */
int blob_st_parse(blob_dict *d, const uint8_t *buf, size_t len, cassnn_err *err);

/* Serialises d's tensors (in order) and metadata into a new malloc'ed
 * buffer *out of *len bytes; the data starts 8-byte aligned. */
int blob_st_write(const blob_dict *d, uint8_t **out, size_t *len, cassnn_err *err);

#endif
