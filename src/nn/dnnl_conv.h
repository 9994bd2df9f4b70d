/* dnnl_conv.h - Conv2d's dense kernels through oneDNN (private to src/nn).
 *
 * oneDNN (the library PyTorch uses for CPU convolutions) generates its
 * kernels at run time for the processor it finds (AVX2, AVX-512; capped by
 * nn/isa.h) and runs fastest on its blocked layouts (8 or 16 channels
 * innermost). cassnn's tensors stay NCHW / OIHW between layers: each call
 * reorders its arguments into the primitive's layout and back, which costs
 * a small fraction of the convolution.
 *
 * Primitives depend on the number of images, so an object keeps a plan per
 * chunk size it has seen (a few: the training chunk, the last batch's, the
 * evaluation chunk), each with its primitives, reorder buffers and
 * scratchpad: after the first call with a size, a call allocates nothing.
 * One object per thread: calls on one object must not overlap.
 */
#ifndef CASSNN_NN_DNNL_CONV_H
#define CASSNN_NN_DNNL_CONV_H

#include "cassnn/error.h"
#include "nn/layer_kernels.h"

typedef struct nn_dnnl_conv nn_dnnl_conv;

int nn_dnnl_conv_create(nn_dnnl_conv **out, const nn_conv_shape *s, cassnn_err *err);
void nn_dnnl_conv_free(nn_dnnl_conv *c);

/* Builds the plan for chunks of n images now (else the first call with n
 * does): the executor prepares its chunk sizes so that errors show early. */
int nn_dnnl_conv_prepare(nn_dnnl_conv *c, int n, cassnn_err *err);

/* out = conv(in) + bias over n images (overwrites out). */
void nn_dnnl_conv_forward(nn_dnnl_conv *c, float *out, const float *in, const float *weight,
                          const float *bias, int n);
/* din = the gradient w.r.t. the input (overwrites din). */
void nn_dnnl_conv_backward_data(nn_dnnl_conv *c, float *din, const float *dout,
                                const float *weight, int n);
/* dweight += ..., dbias += ... (accumulates, as every backward). */
void nn_dnnl_conv_backward_weights(nn_dnnl_conv *c, float *dweight, float *dbias,
                                   const float *dout, const float *in, int n);

#endif
