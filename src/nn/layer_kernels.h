/* layer_kernels.h (private to src/nn) - the layer kernels: one
 * forward/backward pair of plain functions per layer over flat float32
 * arrays (llm.c style).
 *
 * Activations are NCHW, n images at a time. Every backward ACCUMULATES
 * parameter gradients (dweight += ...) so that a caller can sum several
 * chunks into one buffer, and OVERWRITES the input gradient din. A NULL din
 * means "nobody needs it" (the first layer) and skips that work.
 * Nothing here locks or spawns threads, and nothing but nn_conv2d_create
 * and nn_conv2d_prepare allocates (a conv call with a new number of images
 * prepares it): nn_exec (nn.h) calls these on its own preallocated
 * workspaces, one chunk of the batch per thread.
 */
#ifndef CASSNN_NN_LAYERS_H
#define CASSNN_NN_LAYERS_H

#include <stdint.h>

#include "cassnn/error.h"
#include "nn/rng.h"

/* Geometry of a 2-D convolution or pooling window over one image. */
typedef struct nn_conv_shape {
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int k, stride, pad;
} nn_conv_shape;

/* Conv2d, weight [out_c][in_c][k][k] (PyTorch layout), bias [out_c]. An
 * nn_conv2d holds what the kernels keep between calls for one shape
 * (oneDNN's primitives per number of images, their buffers, the sparse
 * path's lists): one per thread. A call with a number of images not
 * prepared before allocates its plan first (see dnnl_conv.h in src/nn). */
typedef struct nn_conv2d nn_conv2d;
int nn_conv2d_create(nn_conv2d **out, const nn_conv_shape *s, cassnn_err *err);
int nn_conv2d_prepare(nn_conv2d *c, int n, cassnn_err *err);
void nn_conv2d_free(nn_conv2d *c);
void nn_conv2d_forward(nn_conv2d *c, float *out, const float *in, const float *weight,
                       const float *bias, int n);
/* in is the forward input. When most output gradients are zero (after
 * max-pool, ReLU and dropout), only the non-zero ones are visited. */
void nn_conv2d_backward(nn_conv2d *c, float *din, float *dweight, float *dbias,
                        const float *dout, const float *in, const float *weight, int n);

/* Max pooling (no padding, floor mode like PyTorch); argmax records which
 * input fed each output, for backward. */
void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, int n,
                          const nn_conv_shape *s);
void nn_maxpool2d_backward(float *din, const float *dout, const int32_t *argmax, int n,
                           const nn_conv_shape *s);

/* Average pooling (no padding; global average pooling = window of the whole
 * image). */
void nn_avgpool2d_forward(float *out, const float *in, int n, const nn_conv_shape *s);
void nn_avgpool2d_backward(float *din, const float *dout, int n, const nn_conv_shape *s);

/* ReLU over count floats; backward reads the forward output. in == out is allowed. */
void nn_relu_forward(float *out, const float *in, long count);
void nn_relu_backward(float *din, const float *dout, const float *out, long count);

/* Dropout masks: mask[i] = 0 with probability p, else 1/(1-p) (PyTorch's
 * inverted dropout). Element dropout uses one mask value per element,
 * Dropout2d one per channel. */
void nn_dropout_mask(float *mask, long count, float p, nn_rng *rng);
/* out[i] = in[i] * mask[i / inner]: inner = 1 for Dropout, h*w for Dropout2d. */
void nn_dropout_forward(float *out, const float *in, const float *mask, long count, long inner);
void nn_dropout_backward(float *din, const float *dout, const float *mask, long count,
                         long inner);

/* Linear: weight [out_f][in_f] (PyTorch layout), bias [out_f]. */
void nn_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                       int n, int in_f, int out_f);
void nn_linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, int n, int in_f, int out_f);

/* BatchNorm2d over n images of c channels of `plane` floats each (NCHW).
 * Training normalises with the statistics of the whole batch, which nn_exec
 * splits across threads; so the kernels are steps around the two points
 * where the chunks' per-channel sums must be combined (count = images of
 * the whole batch x plane):
 *   forward:  nn_bn_sums on each chunk, combine, nn_bn_batch_stats,
 *             nn_bn_forward on each chunk;
 *   backward: nn_bn_grad_sums on each chunk, combine, nn_bn_backward on
 *             each chunk.
 * Eval mode: nn_bn_running_stats, then nn_bn_forward.
 * sums hold 2*c doubles: per channel [0, c) and [c, 2c). mean_invstd
 * holds 2*c floats: the mean of each channel, then 1/sqrt(var + eps). */
/* sums[ch] += sum of x, sums[c + ch] += sum of x*x. */
void nn_bn_sums(double *sums, const float *in, int n, int c, long plane);
/* Batch mean and biased variance from the combined sums; when running is not
 * NULL, updates running (mean then var, 2*c floats) with momentum and the
 * unbiased variance, as PyTorch. */
void nn_bn_batch_stats(float *mean_invstd, float *running, const double *sums, long count,
                       int c, float eps, float momentum);
void nn_bn_running_stats(float *mean_invstd, const float *running, int c, float eps);
/* out = (x - mean) * invstd * weight + bias. in == out is allowed. */
void nn_bn_forward(float *out, const float *in, const float *mean_invstd, const float *weight,
                   const float *bias, int n, int c, long plane);
/* sums[ch] += sum of dout, sums[c + ch] += sum of dout * (x - mean). */
void nn_bn_grad_sums(double *sums, const float *dout, const float *in, const float *mean_invstd,
                     int n, int c, long plane);
/* From the combined sums: din (if not NULL) of this chunk (batch statistics:
 * every input moves the mean and variance) and, when dweight is not NULL,
 * the whole batch's dweight += sum(dout*xhat), dbias += sum(dout) - so that
 * exactly one chunk passes them. */
void nn_bn_backward(float *din, float *dweight, float *dbias, const double *sums,
                    const float *dout, const float *in, const float *mean_invstd,
                    const float *weight, long count, int n, int c, long plane);

/* LogSoftmax over rows of `classes` floats. Backward reads the forward output. */
void nn_logsoftmax_forward(float *out, const float *in, int n, int classes);
void nn_logsoftmax_backward(float *din, const float *dout, const float *out, int n,
                            int classes);

/* Negative log-likelihood of log-probabilities: returns the SUM over the n
 * rows of -logp[label]; dlogp (if not NULL) gets -scale at each label and 0
 * elsewhere, so scale = 1/batch gives the gradient of the batch mean. */
double nn_nll_loss(float *dlogp, const float *logp, const int32_t *labels, int n, int classes,
                   float scale);

#endif
