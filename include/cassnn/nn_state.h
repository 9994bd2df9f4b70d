/* nn_state.h - networks and optimizers as safetensors blobs, the form in
 * which they go into files and into Cassandra (models_train.network /
 * models_train.optimizer).
 *
 * Network: its state_dict with PyTorch's names and dtypes (conv1.weight,
 * conv1.bias, ..., fc2.bias for the tutorial net; a batchnorm2d layer adds
 * F32 running_mean, running_var and an I64 scalar num_batches_tracked), so
 * `Net().load_state_dict(...)` accepts it; "__metadata__" holds
 *   format = "cassnn", model = the canonical model description,
 *   input = "CxHxW" (the image shape the net was built for).
 * Optimizer: metadata format = "cassnn-optimizer", optimizer = sgd|adam|adamw,
 * its hyperparameters and step (as decimal strings), and per parameter i (in
 * state_dict order, like PyTorch's optimizer.state_dict()) the tensors
 * state.<i>.momentum_buffer (SGD with momentum) or state.<i>.exp_avg and
 * state.<i>.exp_avg_sq (Adam/AdamW), present once a step has been taken.
 *
 * Loading checks every name, dtype and shape and reports the first
 * mismatch; nothing is modified unless the whole blob is valid.
 */
#ifndef CASSNN_NN_STATE_H
#define CASSNN_NN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/error.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_safetensors.h"

/* Serialises net's state_dict into a new malloc'ed buffer. */
int nn_state_save_net(const nn_net *net, uint8_t **buf, size_t *len, cassnn_err *err);
/* The same with the caller's metadata pairs (meta[2*i] = key, meta[2*i+1] =
 * value) instead of the ones above (the registry's blobs). */
int nn_state_save_net_meta(const nn_net *net, const char *const *meta, size_t meta_count,
                           uint8_t **buf, size_t *len, cassnn_err *err);

/* Copies st's tensors into net: exactly its state_dict, by name, dtype and
 * shape; net is unchanged on error. */
int nn_state_read_net(nn_net *net, const nn_safetensors *st, cassnn_err *err);

/* Loads a blob into an existing net: exactly its state_dict, by name, with
 * matching shapes (like load_state_dict(strict=True)). */
int nn_state_load_params(nn_net *net, const uint8_t *buf, size_t len, cassnn_err *err);

/* Builds a net from the blob's metadata (model, input) and loads it. A blob
 * without them (e.g. written from PyTorch) is built from fallback_model and
 * the given input shape; with fallback_model NULL that is an error. */
int nn_state_load_net(nn_net *net, const uint8_t *buf, size_t len, const char *fallback_model,
                      int in_c, int in_h, int in_w, cassnn_err *err);

/* Serialises the optimizer of net (o->n must equal net->n_params). */
int nn_state_save_optim(const nn_optim *o, const nn_net *net, uint8_t **buf, size_t *len,
                        cassnn_err *err);

/* Creates *o from a blob (kind, hyperparameters, step and buffers) for net. */
int nn_state_load_optim(nn_optim *o, const nn_net *net, const uint8_t *buf, size_t len,
                        cassnn_err *err);

/* The optimizer's kind, hyperparameters and step as metadata pairs
 * (optimizer, lr, momentum, dampening, weight_decay, nesterov, beta1, beta2,
 * eps, step): meta[2*i] = key, meta[2*i+1] = value, the values kept in v.
 * Other blobs that carry an optimizer (the registry's) add their own pairs. */
#define NN_STATE_OPTIM_META 10
void nn_state_optim_meta(const nn_optim *o, char v[NN_STATE_OPTIM_META][32],
                         const char *meta[2 * NN_STATE_OPTIM_META]);
/* Creates *o for net from st's metadata of that form (buffers zero, step
 * set); errors name the missing or bad key. */
int nn_state_optim_from_meta(nn_optim *o, const nn_net *net, const nn_safetensors *st,
                             cassnn_err *err);

/* File forms of the above (written through a temporary file + rename). */
int nn_state_save_net_file(const nn_net *net, const char *path, cassnn_err *err);
int nn_state_load_net_file(nn_net *net, const char *path, const char *fallback_model, int in_c,
                           int in_h, int in_w, cassnn_err *err);
int nn_state_save_optim_file(const nn_optim *o, const nn_net *net, const char *path,
                             cassnn_err *err);
int nn_state_load_optim_file(nn_optim *o, const nn_net *net, const char *path, cassnn_err *err);

#endif
