/* relu.c - ReLU: kernels (nn/layer_kernels.h) and its layer table entry. */
#include <stdio.h>

#include "nn/layer.h"

void nn_relu_forward(float *out, const float *in, long count) {
    for (long i = 0; i < count; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void nn_relu_backward(float *din, const float *dout, const float *out, long count) {
    for (long i = 0; i < count; i++) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}


static void relu_describe(const nn_layer *l, char *buf, size_t cap) {
    (void)l;
    snprintf(buf, cap, "relu");
}

static const float *relu_forward(nn_run *r, const float *in, float *out) {
    nn_relu_forward(out, in, (long)r->n * nn_layer_out_size(r->layer));
    return out;
}

static const float *relu_backward(nn_run *r, const float *dout, float *din, const float *in,
                                  const float *out) {
    (void)in;
    nn_relu_backward(din, dout, out, (long)r->n * nn_layer_out_size(r->layer));
    return din;
}

const nn_layer_type nn_relu_type = {
    .words = {"relu"},
    .describe = relu_describe,
    .forward = relu_forward,
    .backward = relu_backward,
};
