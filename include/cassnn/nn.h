/* nn.h - a network built from a text description, its parameters, and the
 * executor that runs batches through it on several threads.
 *
 * Model description: layers in order, separated by white space; '#' starts a
 * comment that runs to the end of the line.
 *
 *   model  := layer { layer }
 *   layer  := [ NAME '=' ] KIND [ '(' arg { ',' arg } ')' ]
 *   arg    := NUMBER | KEY '=' NUMBER
 *
 *   conv(OUT, k=K [, s=1] [, p=0])   Conv2d, OUT channels, KxK kernel, stride s, zero padding p
 *   linear(OUT)                      Linear to OUT features (input must be flat: use flatten)
 *   maxpool(K [, s=K])               MaxPool2d
 *   avgpool(K [, s=K])               AvgPool2d
 *   gap                              global average pooling (AvgPool2d over the whole image)
 *   relu | flatten | logsoftmax
 *   dropout[(P)]  dropout2d[(P)]     P defaults to 0.5; dropout2d zeroes whole channels
 *   batchnorm2d | bn                 BatchNorm2d over the input's channels (eps 1e-5,
 *                                    momentum 0.1, affine, running statistics)
 *
 * The input shape comes from the data, so one description serves 1-channel
 * MNIST and 3-channel RGB images alike. Layers with parameters are named
 * (their state_dict prefix): NAME if given, else conv1, conv2, ... for conv,
 * fc1, fc2, ... for linear and bn1, bn2, ... for batchnorm2d, counted per
 * kind in order. The model must end
 * in logsoftmax (the loss is NLL) with as many outputs as classes.
 * The built-in name "tutorial" is the PyTorch MNIST example's net:
 *   conv(10,k=5) maxpool(2) relu conv(20,k=5) dropout2d(0.5) maxpool(2) relu
 *   flatten linear(50) relu dropout(0.5) linear(10) logsoftmax
 */
#ifndef CASSNN_NN_H
#define CASSNN_NN_H

#include <stdint.h>

#include "cassnn/error.h"

typedef enum nn_layer_kind {
    NN_CONV2D,
    NN_LINEAR,
    NN_MAXPOOL2D,
    NN_AVGPOOL2D,
    NN_RELU,
    NN_DROPOUT,
    NN_DROPOUT2D,
    NN_FLATTEN,
    NN_LOGSOFTMAX,
    NN_BATCHNORM2D,
} nn_layer_kind;

/* BatchNorm2d's fixed settings (PyTorch's defaults). */
#define NN_BN_EPS 1e-5f
#define NN_BN_MOMENTUM 0.1f

typedef struct nn_layer {
    nn_layer_kind kind;
    char name[32];            /* state_dict prefix; "" for a layer without parameters */
    int in_c, in_h, in_w;     /* per-image input shape */
    int out_c, out_h, out_w;  /* per-image output shape */
    int k, stride, pad;       /* conv / pool window */
    int global;               /* avgpool: written as gap (window = whole input) */
    float p;                  /* dropout probability */
    long weight_off, bias_off;     /* offsets into nn_net.params, -1 if none */
    long weight_size, bias_size;
    long buffer_off;          /* batchnorm2d: running_mean (out_c floats) then running_var
                               * (out_c) in nn_net.buffers; -1 for other layers */
    int64_t batches_tracked;  /* batchnorm2d: num_batches_tracked */
} nn_layer;

typedef struct nn_net {
    int n_layers;
    nn_layer *layers;
    int in_c, in_h, in_w;     /* input image shape */
    int classes;              /* outputs of the last layer */
    long n_params;            /* floats in params (and grads) */
    float *params;            /* every layer's weight then bias, in layer order */
    float *grads;             /* gradient of the loss, same layout */
    long n_buffers;           /* floats in buffers */
    float *buffers;           /* state that is not trained by gradients: BatchNorm's
                               * running statistics (NULL when there is none) */
    char *description;        /* canonical description with every name explicit */
} nn_net;

/* One named tensor of a PyTorch state_dict: a parameter, or a buffer
 * (BatchNorm's running_mean / running_var: data into net->buffers, grad
 * NULL; num_batches_tracked: a 0-dimensional int64, data and grad NULL,
 * count set). */
typedef struct nn_param {
    char name[48];            /* "conv1.weight" */
    int ndim;
    int64_t shape[4];
    long size;                /* number of elements */
    float *data, *grad;       /* into net->params / net->grads */
    int64_t *count;           /* num_batches_tracked, else NULL */
} nn_param;

/* The description of a built-in model ("tutorial", "fast"), or NULL. */
const char *nn_builtin_model(const char *name);

/* Parses description (or a built-in name) for input images of in_c x in_h x
 * in_w and allocates the parameters (zeroed; see nn_net_init). Errors name the
 * layer (index and text) and the shape that does not fit. The caller frees
 * *net with nn_net_free (also after a failure). A net is plain data: one
 * writer at a time, no locks. */
int nn_net_create(nn_net *net, const char *description, int in_c, int in_h, int in_w,
                  cassnn_err *err);
void nn_net_free(nn_net *net);

/* PyTorch's default initialisation: every conv and linear weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from the nn_rng stream of (seed, layer
 * index); batchnorm2d weight 1, bias 0, running mean 0, running variance 1,
 * no batches tracked. */
void nn_net_init(nn_net *net, uint64_t seed);

/* Number of parameter tensors, and the i-th one, in the order of PyTorch's
 * net.parameters() (the optimizer's state is indexed this way). */
int nn_net_param_count(const nn_net *net);
void nn_net_param(const nn_net *net, int i, nn_param *out);

/* Number of state_dict tensors (parameters and buffers), and the i-th one,
 * in the order of PyTorch's net.state_dict(). */
int nn_net_state_count(const nn_net *net);
void nn_net_state_tensor(const nn_net *net, int i, nn_param *out);

/* Per-image output floats of layer i. */
long nn_layer_out_size(const nn_layer *l);

/* ---- executor --------------------------------------------------------------
 * Runs batches through a net. The batch is split into contiguous chunks, one
 * per thread, each with preallocated workspaces (no allocation after
 * nn_exec_create); parameter gradients are summed over threads in thread
 * order, so results are reproducible bit for bit for a given thread count.
 * Dropout masks come from nn_rng streams keyed by (seed, step, image index,
 * layer), independent of the thread count. BatchNorm2d in training uses the
 * statistics of the WHOLE batch, as PyTorch: the threads meet at a barrier
 * per batchnorm layer (forward and backward) and combine their per-channel
 * partial sums in thread order. Inference (no batch statistics) runs each
 * thread's chunk in pieces of 32 images (or of the training chunk, if
 * larger), so the workspaces are sized for that, not for the whole chunk.
 * oneDNN runs single-threaded inside each of our threads (it sets the
 * OpenMP thread count of that thread only, and restores it).
 *
 * Ownership and threads: nn_exec_create's caller frees the exec with
 * nn_exec_free, before the net, which the exec uses (not copies) and which
 * nobody else may change while the exec runs. An exec is not reentrant:
 * one call at a time (from any one thread); it runs each batch on its own
 * worker threads. Separate execs over separate nets may run at once. */
typedef struct nn_exec nn_exec;

int nn_exec_create(nn_exec **out, nn_net *net, int max_train_batch, int max_eval_batch,
                   int threads, uint64_t seed, cassnn_err *err);
void nn_exec_free(nn_exec *e);
int nn_exec_threads(const nn_exec *e);

/* Training steps run so far; the dropout masks of the next step are keyed by
 * it. Setting it lets a run resumed from a checkpoint draw the same masks as
 * the uninterrupted run (added for the registry's --resume). */
uint64_t nn_exec_step(const nn_exec *e);
void nn_exec_set_step(nn_exec *e, uint64_t step);

/* Forward and backward over n <= max_train_batch images x (n x in_c x in_h x
 * in_w, normalised floats): sets net->grads to the gradient of the mean NLL
 * loss, returns that mean loss in *loss_mean and the number of correct
 * predictions in *correct (either may be NULL). This is PyTorch's training
 * mode: batchnorm2d normalises with the batch's statistics and updates its
 * running statistics. dropout = 0 runs the dropout layers as identity while
 * still computing gradients - what parity tests need. */
void nn_exec_train_batch(nn_exec *e, const float *x, const int32_t *labels, int n, int dropout,
                         double *loss_mean, int *correct);

/* Inference (PyTorch's eval mode: no dropout, batchnorm2d with its running
 * statistics) over n <= max_eval_batch images: adds the summed NLL loss to
 * *loss_sum and correct predictions to *correct when labels is not NULL;
 * writes the n x classes log-probabilities to logp when it is not NULL. */
void nn_exec_eval_batch(nn_exec *e, const float *x, const int32_t *labels, int n,
                        float *logp, double *loss_sum, long *correct);

#endif
