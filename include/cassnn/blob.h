/* blob.h - THE entry point for network and optimizer blobs: what files hold
 * (cassnn train --save, models import/export) and what the registry stores
 * in models_train/models_test.network and .optimizer. Every caller encodes
 * and decodes through these functions; the format of a blob is detected
 * from its first bytes, so rows and files of either format decode.
 *
 * Formats (blob_format):
 *   safetensors  the default (blob/safetensors.h); PyTorch reads it with
 *                safetensors.torch.load_file, cassnn reads PyTorch's.
 *   pickle       PyTorch's pickle.dumps(state_dict), the tutorial's own
 *                rows (blob/pickle_torch.h: the subset read, the allow-list).
 *
 * Network blob: the state_dict with PyTorch's names and dtypes
 * (conv1.weight, ..., fc2.bias for the tutorial net; a batchnorm2d layer
 * adds F32 running_mean, running_var and an I64 scalar
 * num_batches_tracked), so Net().load_state_dict(...) accepts it, and the
 * metadata
 *   cassnn.model   the canonical model description (nn.h)
 *   cassnn.input   "CxHxW", the image shape the net was built for
 * (safetensors: "__metadata__"; pickle: the OrderedDict's `cassnn`
 * attribute). A blob without them (the tutorial's, or a plain PyTorch
 * state_dict) is built from a description the caller gives.
 *
 * Optimizer blob: per parameter i, in net.parameters() order like
 * PyTorch's optimizer.state_dict(), the tensors state.<i>.momentum_buffer
 * (SGD with momentum) or state.<i>.exp_avg and state.<i>.exp_avg_sq
 * (Adam/AdamW), present once a step has been taken; the metadata
 *   optimizer                sgd | adam | adamw
 *   lr momentum dampening weight_decay nesterov beta1 beta2 eps step
 *                            decimal text (nesterov 0/1)
 * and, in a training checkpoint, where the run stood:
 *   cassnn.epoch cassnn.next_batch cassnn.seed cassnn.batch_size
 * (pickle: param_groups[0] holds the hyperparameters, the dict's 'cassnn'
 * key the rest).
 *
 * Older blobs still load: files written before the formats were one
 * (metadata format=cassnn with model/input; format=cassnn-optimizer) and
 * registry rows with optimizer tensors named <state>.<parameter name>
 * (momentum_buffer.conv1.weight).
 *
 * Decoding checks every name, dtype and shape and names the first
 * mismatch; a blob over BLOB_MAX_BYTES is refused; nothing is modified
 * unless the whole blob is valid. All functions are reentrant. Buffers they
 * return (encode, blob_file_read) are malloc'ed: the caller free()s them.
 */
#ifndef CASSNN_BLOB_H
#define CASSNN_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/blob_dict.h"
#include "cassnn/error.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"

#define BLOB_MAX_BYTES ((size_t)1 << 30)

typedef enum blob_format { BLOB_SAFETENSORS, BLOB_PICKLE } blob_format;

/* "safetensors" / "pickle", and back (errors list the names). */
const char *blob_format_name(blob_format f);
int blob_format_parse(const char *name, blob_format *out, cassnn_err *err);

/* The format of a blob from its first bytes; an error says what it is not. */
int blob_detect(const uint8_t *buf, size_t len, blob_format *out, cassnn_err *err);

/* Any blob as a dict (its tensors and metadata; an optimizer pickle in the
 * optimizer blob's form), e.g. to show it. blob_dict_free *d. */
int blob_parse(const uint8_t *buf, size_t len, blob_dict *d, blob_format *format,
               cassnn_err *err);

/* The network to build for a blob that names none. */
typedef struct blob_model {
    const char *description;     /* nn.h text or a built-in name */
    int in_c, in_h, in_w;
} blob_model;

/* The tutorial's net on 1x28x28 images, the default for its rows. */
extern const blob_model blob_tutorial_model;

/* Where a training run stood when a checkpoint was taken. */
typedef struct blob_run_state {
    int epoch;          /* epoch the next batch belongs to (1-based) */
    long next_batch;    /* index of the next batch within that epoch */
    uint64_t seed;      /* init, shuffle and dropout seed of the run */
    int batch_size;
} blob_run_state;

/* Serialises net's state_dict and metadata into a new malloc'ed buffer. */
int blob_net_encode(const nn_net *net, blob_format f, uint8_t **out, size_t *len,
                    cassnn_err *err);

/* Builds the net a blob describes (its cassnn.model / cassnn.input, else
 * *fallback; with fallback NULL a blob without them is an error) and loads
 * its state_dict. *net is initialised here; nn_net_free it. */
int blob_net_decode(const uint8_t *buf, size_t len, const blob_model *fallback, nn_net *net,
                    cassnn_err *err);

/* Loads a blob into an existing net: exactly its state_dict, by name, with
 * matching dtypes and shapes (like load_state_dict(strict=True)). */
int blob_net_load(nn_net *net, const uint8_t *buf, size_t len, cassnn_err *err);

/* Serialises an optimizer of net (o->n == net->n_params) and, when run is
 * not NULL, the run position. */
int blob_optim_encode(const nn_optim *o, const nn_net *net, const blob_run_state *run,
                      blob_format f, uint8_t **out, size_t *len, cassnn_err *err);

/* Creates *o for net from a blob (kind, hyperparameters, step, buffers).
 * When the blob holds a run position, *run gets it and *has_run is 1;
 * else *has_run is 0 (a tutorial row: its table row says where it stood).
 * run and has_run may be NULL. */
int blob_optim_decode(const uint8_t *buf, size_t len, const nn_net *net, nn_optim *o,
                      blob_run_state *run, int *has_run, cassnn_err *err);

/* Whole files: read into a malloc'ed buffer (at most BLOB_MAX_BYTES);
 * write through a temporary file and rename, so a failed write leaves no
 * half-written file behind. */
int blob_file_read(const char *path, uint8_t **out, size_t *len, cassnn_err *err);
int blob_file_write(const char *path, const uint8_t *buf, size_t len, cassnn_err *err);

/* The network encode/decode above, to and from a file (errors name it). */
int blob_net_save_file(const nn_net *net, blob_format f, const char *path, cassnn_err *err);
int blob_net_load_file(const char *path, const blob_model *fallback, nn_net *net,
                       cassnn_err *err);

#endif
