/* pickle_torch.h (private to src/blob) - PyTorch's pickled state_dicts, the
 * blobs of the tutorial's registry: pickle.dumps(network.state_dict()) and
 * pickle.dumps(optimizer.state_dict()), as PyTorch 1.13 and 2.x write them.
 *
 * What is read (pickle protocols 2 to 5, binary opcodes only):
 *   network    an OrderedDict (or dict) of name -> tensor, with PyTorch's
 *              _metadata attribute (ignored) and cassnn's own `cassnn`
 *              attribute, a dict of str -> str holding the same metadata
 *              keys as a safetensors blob (blob.h);
 *   optimizer  a dict {'state': {index: {name: tensor | None | number}},
 *              'param_groups': [one dict of hyperparameters with 'params':
 *              [0..n-1]]} plus cassnn's optional key 'cassnn' (str -> str).
 *   tensor     torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 *              requires_grad, {}[, metadata]); any offset and strides inside
 *              the storage (copied out contiguous);
 *   storage    torch.storage._load_from_bytes(bytes) with PyTorch's legacy
 *              (non-zip) torch.save of one storage inside: five protocol-2
 *              pickles (magic number, version 1001, sys_info, the storage as
 *              persistent id ('storage', torch.<Type>Storage, key, location,
 *              numel, None), key list), then int64 numel and the raw
 *              little-endian bytes.
 * Only these globals are resolved, as torch.load(weights_only=True) would:
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2,
 * torch.storage._load_from_bytes, _codecs.encode (protocol 2 bytes) and,
 * inside a storage, torch.FloatStorage, torch.LongStorage and the other
 * torch.<Type>Storage classes. Any other global (os.system,
 * builtins.eval, ...), opcode or shape of data is refused with an error
 * naming it and the byte offset; nothing is executed. A blob is bounded by
 * the caller (blob.h's BLOB_MAX_BYTES), the parse by fixed limits (stack
 * 65536, memo 2^20, 64 MiB of objects, tensor bytes at most 4x the blob).
 *
 * The optimizer's state_dict becomes the same dict as an optimizer
 * safetensors blob (blob.h): tensors state.<i>.<name> and metadata
 * optimizer (sgd|adam|adamw), lr, momentum, dampening, weight_decay,
 * nesterov, beta1, beta2, eps, step, plus `params` (the number of
 * parameters of param_groups[0]). The kind comes from the cassnn key when
 * present, else from the hyperparameters: `betas` means Adam, AdamW when
 * decoupled_weight_decay is true (PyTorch >= 2.6) or when the group lacks
 * `differentiable` (PyTorch 1.13's AdamW); a PyTorch 2.0-2.5 AdamW without
 * that key reads as Adam. The step is Adam's per-parameter `step` (all
 * equal); for SGD, cassnn's `step` if present, else 1 when momentum
 * buffers exist and 0 when not. amsgrad, maximize and several parameter
 * groups are refused (cassnn has none of them).
 *
 * Writing produces what the tutorial's code loads with pickle.loads +
 * load_state_dict on PyTorch 1.13 and 2.x: the same structures (protocol
 * 3), every param_groups key either version reads, Adam's per-parameter
 * step as a float32 scalar tensor.
 */
#ifndef CASSNN_BLOB_PICKLE_H
#define CASSNN_BLOB_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/blob_dict.h"
#include "cassnn/error.h"

typedef enum blob_pickle_kind { BLOB_PICKLE_NET, BLOB_PICKLE_OPTIM } blob_pickle_kind;

/* Does buf start like a pickle of protocol 2 to 5 (PROTO opcode)? */
int blob_pickle_detect(const uint8_t *buf, size_t len);

/* Parses a network or optimizer state_dict pickle into *d (blob_dict_free
 * it) and says which it was. */
int blob_pickle_parse(blob_dict *d, blob_pickle_kind *kind, const uint8_t *buf, size_t len,
                      cassnn_err *err);

/* A network state_dict: d's tensors in order, _metadata for the root and
 * each prefix (version 2 where a num_batches_tracked lives, as BatchNorm),
 * d's metadata as the `cassnn` attribute. */
int blob_pickle_write_net(const blob_dict *d, uint8_t **out, size_t *len, cassnn_err *err);

/* An optimizer state_dict from a dict of the form above (n_params
 * parameters; d's metadata also goes whole under the 'cassnn' key). */
int blob_pickle_write_optim(const blob_dict *d, int n_params, uint8_t **out, size_t *len,
                            cassnn_err *err);

#endif
