/* linear.c - Linear: kernels (nn/layer_kernels.h) and its layer table entry. */
#include <stdio.h>
#include <string.h>

#include "nn/dnnl.h"
#include "nn/layer.h"

/* The products through oneDNN's sgemm, which beat OpenBLAS, BLIS and
 * libxsmm on these shapes (README, engine section). */
void nn_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                       int n, int in_f, int out_f) {
    for (int i = 0; i < n; i++) memcpy(out + (long)i * out_f, bias, sizeof(float) * (size_t)out_f);
    nn_dnnl_sgemm('N', 'T', n, out_f, in_f, 1.0f, in, in_f, weight, in_f, 1.0f, out, out_f);
}

void nn_linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, int n, int in_f, int out_f) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out_f; o++) dbias[o] += dout[(long)i * out_f + o];
    nn_dnnl_sgemm('T', 'N', out_f, in_f, n, 1.0f, dout, out_f, in, in_f, 1.0f, dweight, in_f);
    if (din)
        nn_dnnl_sgemm('N', 'N', n, in_f, out_f, 1.0f, dout, out_f, weight, in_f, 0.0f, din, in_f);
}

static int linear_parse(nn_layer *l, const char *word, nn_layer_args *a, cassnn_err *err) {
    (void)word;
    return nn_arg_int(a, 0, "out", 0, 1, &l->out_c, err);
}

static int linear_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err) {
    if (l->in_h != 1 || l->in_w != 1)
        return nn_layer_error(a, err, "linear needs a flat input, got %dx%dx%d (add flatten "
                              "before it)", l->in_c, l->in_h, l->in_w);
    l->weight_size = (long)l->out_c * l->in_c;
    l->bias_size = l->out_c;
    return 0;
}

static void linear_describe(const nn_layer *l, char *buf, size_t cap) {
    snprintf(buf, cap, "%s=linear(%d)", l->name, l->out_c);
}

static int linear_weight_shape(const nn_layer *l, int64_t shape[4]) {
    shape[0] = l->out_c;
    shape[1] = l->in_c;
    return 2;
}

static void linear_init(nn_layer *l, float *weight, float *bias, float *buffers, uint64_t seed,
                        int index) {
    (void)buffers;
    nn_init_fan_in(l, weight, bias, l->in_c, seed, index);
}

static const float *linear_forward(nn_run *r, const float *in, float *out) {
    nn_linear_forward(out, in, r->weight, r->bias, r->n, r->layer->in_c, r->layer->out_c);
    return out;
}

static const float *linear_backward(nn_run *r, const float *dout, float *din, const float *in,
                                    const float *out) {
    (void)out;
    nn_linear_backward(din, r->dweight, r->dbias, dout, in, r->weight, r->n, r->layer->in_c,
                       r->layer->out_c);
    return din;
}

const nn_layer_type nn_linear_type = {
    .words = {"linear"},
    .prefix = "fc",
    .parse = linear_parse,
    .shape = linear_shape,
    .describe = linear_describe,
    .weight_shape = linear_weight_shape,
    .init = linear_init,
    .forward = linear_forward,
    .backward = linear_backward,
};
