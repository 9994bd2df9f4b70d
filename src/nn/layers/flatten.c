/* flatten.c - flatten(1): C x H x W becomes (C*H*W) x 1 x 1, same floats. */
#include <stdio.h>

#include "nn/layer.h"

static int flatten_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err) {
    (void)a;
    (void)err;
    l->out_c = l->in_c * l->in_h * l->in_w;
    l->out_h = l->out_w = 1;
    return 0;
}

static void flatten_describe(const nn_layer *l, char *buf, size_t cap) {
    (void)l;
    snprintf(buf, cap, "flatten");
}

static const float *flatten_forward(nn_run *r, const float *in, float *out) {
    (void)r;
    (void)out;
    return in;
}

static const float *flatten_backward(nn_run *r, const float *dout, float *din, const float *in,
                                     const float *out) {
    (void)r;
    (void)din;
    (void)in;
    (void)out;
    return dout;
}

const nn_layer_type nn_flatten_type = {
    .words = {"flatten"},
    .flags = NN_LAYER_ALIAS,
    .shape = flatten_shape,
    .describe = flatten_describe,
    .forward = flatten_forward,
    .backward = flatten_backward,
};
