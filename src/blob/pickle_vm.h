/* pickle_vm.h - a restricted pickle machine (internal to src/blob).
 *
 * It runs the binary opcodes of pickle protocols 2-5 over a byte buffer and
 * builds a tree of plain values: None, bool, int, float, str, bytes, tuple,
 * list and dict (insertion-ordered, so an OrderedDict is a dict that was
 * made by collections.OrderedDict()). Nothing is ever executed: a GLOBAL is
 * looked up in a fixed allow-list and REDUCE calls one of the C functions
 * below on checked arguments, so a pickle naming os.system or
 * builtins.eval stops with an error at the GLOBAL. Every length, index and
 * count is checked against the buffer and against fixed bounds (stack,
 * memo, object memory), so a hostile blob ends in an error, never a crash.
 *
 * The allow-list, the same set torch.load(weights_only=True) needs for a
 * state_dict:
 *   collections.OrderedDict          called with () -> an empty ordered dict
 *   torch._utils._rebuild_tensor_v2  (storage, offset, size, stride,
 *                                    requires_grad, backward_hooks={}[, metadata])
 *   torch.storage._load_from_bytes   (bytes,) -> a storage, from PyTorch's
 *                                    legacy torch.save format (see pickle_torch.c)
 *   _codecs.encode                   (str, 'latin1') -> bytes (protocol 2's bytes)
 *   torch.<Type>Storage              only inside a storage's persistent id
 */
#ifndef CASSNN_BLOB_PICKLE_VM_H
#define CASSNN_BLOB_PICKLE_VM_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/blob_dict.h"
#include "cassnn/error.h"

typedef enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_BIGINT, PK_FLOAT, PK_STR, PK_BYTES,
    PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL, PK_STORAGE, PK_TENSOR,
} pk_kind;

typedef enum pk_global {
    PKG_ORDERED_DICT, PKG_REBUILD_TENSOR, PKG_LOAD_FROM_BYTES, PKG_CODECS_ENCODE, PKG_STORAGE_TYPE,
} pk_global;

typedef struct pk_obj pk_obj;

typedef struct pk_storage {
    char dtype[8];               /* blob_dict dtype name */
    size_t elem;                 /* bytes per element */
    uint64_t numel;
    const uint8_t *data;         /* numel * elem bytes */
} pk_storage;

typedef struct pk_tensor {
    const pk_storage *storage;
    int64_t offset;
    int ndim;
    int64_t shape[BLOB_MAX_DIMS], stride[BLOB_MAX_DIMS];
} pk_tensor;

struct pk_obj {
    pk_kind kind;
    union {
        int64_t i;                       /* INT, BOOL */
        double f;                        /* FLOAT */
        struct { const uint8_t *p; size_t len; } s;      /* STR (UTF-8), BYTES, BIGINT (LE bytes) */
        struct { pk_obj **items; size_t n, cap; } seq;   /* TUPLE, LIST */
        struct {
            pk_obj **keys, **values;
            size_t n, cap;
            int ordered;                 /* made by collections.OrderedDict */
            pk_obj *attrs;               /* BUILD's state (a dict), or NULL */
        } dict;
        struct { pk_global which; char dtype[8]; size_t elem; } global;
        pk_storage storage;
        pk_tensor tensor;
    } u;
};

typedef struct pk_arena pk_arena;

/* All objects of one parse live in an arena, freed at once (hostile
 * pickles can build cycles, so nothing is freed object by object). */
pk_arena *pk_arena_new(void);
void pk_arena_free(pk_arena *a);

/* Unpickles the whole buffer (one pickle, ending in STOP at its last byte)
 * into *out, allocated in a. */
int pk_load(pk_arena *a, const uint8_t *buf, size_t len, pk_obj **out, cassnn_err *err);

/* Helpers for the code that reads the tree. */
const pk_obj *pk_dict_get(const pk_obj *dict, const char *key);  /* a str key */
int pk_str_is(const pk_obj *o, const char *s);
const char *pk_kind_name(pk_kind k);
/* "FloatStorage" for "F32", "LongStorage" for "I64", ...; NULL if none. */
const char *pk_storage_type(const char *dtype);
/* A Python number (int, bool or float) as a double. */
int pk_number(const pk_obj *o, double *out);

#endif
