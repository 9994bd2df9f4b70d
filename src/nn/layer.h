/* layer.h - the layer table (private to src/nn): one entry of functions per
 * layer kind, in the manner of kann's op list. net.c parses, shapes, names
 * and initialises layers through it and exec.c runs them through it; neither
 * knows any kind. A new layer kind is one file in src/nn/layers/ that defines
 * its nn_layer_type, one value of nn_layer_kind (nn.h) and one row of
 * nn_layer_types (layer_table.c).
 */
#ifndef CASSNN_NN_LAYER_H
#define CASSNN_NN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/error.h"
#include "cassnn/nn.h"

/* ---- description arguments -------------------------------------------------- */

#define NN_MAX_ARGS 4

/* The arguments of one layer as written: positional (key "") or KEY=NUMBER. */
typedef struct nn_layer_args {
    const char *text;              /* the layer as written, for error messages */
    int index;                     /* its position in the description, 0-based */
    int n;
    char keys[NN_MAX_ARGS][8];
    double values[NN_MAX_ARGS];
    int used[NN_MAX_ARGS];         /* set by the lookups below; unused ones are an error */
} nn_layer_args;

/* Positional argument `pos` or KEY=...; dflt when absent. */
double nn_arg(nn_layer_args *a, int pos, const char *key, double dflt);
/* An integer >= min: dflt when absent (a dflt below min makes it required). */
int nn_arg_int(nn_layer_args *a, int pos, const char *key, int dflt, int min, int *out,
               cassnn_err *err);
/* Sets err to "model layer N 'TEXT': <fmt>" and returns -1. */
int nn_layer_error(const nn_layer_args *a, cassnn_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- one call of a layer on one thread's chunk of the batch ------------------- */

typedef struct nn_exec nn_exec;

typedef struct nn_run {
    nn_exec *exec;
    nn_layer *layer;
    int index;                     /* the layer's index in the net */
    int thread;
    int n;                         /* images in this chunk (0 only for NN_LAYER_SYNC layers) */
    int first;                     /* the chunk's first image's index in the batch */
    int batch;                     /* images in the whole batch */
    int train;                     /* PyTorch's training mode */
    int dropout;                   /* dropout layers drop (training with dropout on) */
    uint64_t seed, step;           /* the executor's seed and training step (dropout masks) */
    void *ws;                      /* this layer's workspace on this thread (type->workspace) */
    float *scratch;                /* this thread's scratch, shared by every layer */
    const float *weight, *bias;    /* parameters; NULL for a layer without */
    float *dweight, *dbias;        /* this thread's parameter gradients (accumulate) */
    float *running;                /* the layer's buffers in nn_net.buffers, or NULL */
} nn_run;

/* Sums `count` doubles at the same offset of every thread's workspace of
 * this layer, in thread order, into sum (so every thread gets the same
 * bits). `mine` must point into r->ws. Waits for every thread first: only
 * NN_LAYER_SYNC layers may call it, and every thread calls it the same
 * number of times (empty chunks included). */
void nn_exec_sum_threads(const nn_run *r, const double *mine, double *sum, long count);

/* ---- the table entry -------------------------------------------------------- */

enum {
    NN_LAYER_ALIAS = 1,  /* its output is its input (no buffers): flatten */
    NN_LAYER_SYNC = 2,   /* calls nn_exec_sum_threads: runs on empty chunks too */
};

/* Workspace a layer needs on each thread, sized for chunks of at most
 * `chunk` images (`train_chunk` when training). */
typedef struct nn_workspace {
    size_t bytes;          /* kept per layer and thread (r->ws), 64-byte aligned */
    long scratch_floats;   /* the thread's scratch, shared by all layers (r->scratch) */
} nn_workspace;

typedef struct nn_layer_type {
    const char *words[3];  /* the kind's words in descriptions, NULL-terminated */
    const char *prefix;    /* default state_dict prefix (conv -> conv1, conv2...); NULL
                            * for a kind without parameters */
    unsigned flags;
    /* Settings from the arguments (l->kind is set; word is the word used). */
    int (*parse)(nn_layer *l, const char *word, nn_layer_args *a, cassnn_err *err);
    /* Output shape and parameter sizes from l's input shape. */
    int (*shape)(nn_layer *l, nn_layer_args *a, cassnn_err *err);
    /* Canonical text (with its name when it has parameters). */
    void (*describe)(const nn_layer *l, char *buf, size_t cap);
    /* Shape of the weight tensor (the bias is [out_c]); returns its ndim. */
    int (*weight_shape)(const nn_layer *l, int64_t shape[4]);
    /* Floats of running state in nn_net.buffers (BatchNorm's statistics). */
    long (*buffers)(const nn_layer *l);
    /* PyTorch's initial state; rng is the stream of (seed, layer index). */
    void (*init)(nn_layer *l, float *weight, float *bias, float *buffers, uint64_t seed,
                 int index);
    void (*workspace)(const nn_layer *l, int chunk, int train_chunk, nn_workspace *ws);
    /* Sets up a fresh (zeroed) workspace that holds objects of its own
     * (Conv2d's oneDNN plans), for the same chunk sizes; release frees
     * them. Both optional. */
    int (*prepare)(const nn_layer *l, void *ws, int chunk, int train_chunk, cassnn_err *err);
    void (*release)(const nn_layer *l, void *ws);
    /* Returns the output: out, or in for a layer that passes its input on. */
    const float *(*forward)(nn_run *r, const float *in, float *out);
    /* Gradient w.r.t. the input into din (NULL: nobody needs it, only the
     * parameter gradients); returns din, or dout when the layer passes it
     * on. in and out are the forward's input and output. */
    const float *(*backward)(nn_run *r, const float *dout, float *din, const float *in,
                             const float *out);
} nn_layer_type;

/* Indexed by nn_layer_kind. */
extern const nn_layer_type *const nn_layer_types[];
extern const int nn_layer_type_count;

static inline const nn_layer_type *nn_type_of(const nn_layer *l) {
    return nn_layer_types[l->kind];
}

/* Shared by the kinds whose window slides over the image (conv, pooling):
 * the output size, and pooling's (K[,s=K]). */
int nn_window_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err);
int nn_pool_parse(nn_layer *l, const char *word, nn_layer_args *a, cassnn_err *err);
/* PyTorch's default init of conv and linear: weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the nn_rng stream (seed, index). */
void nn_init_fan_in(const nn_layer *l, float *weight, float *bias, long fan_in, uint64_t seed,
                    int index);
/* The geometry of l as the conv / pooling kernels take it. */
#include "nn/layer_kernels.h"
static inline nn_conv_shape nn_shape_of(const nn_layer *l) {
    nn_conv_shape s = {l->in_c, l->in_h, l->in_w, l->out_c, l->out_h, l->out_w,
                       l->k,    l->stride, l->pad};
    return s;
}
static inline long nn_layer_in_size(const nn_layer *l) {
    return (long)l->in_c * l->in_h * l->in_w;
}

#endif
