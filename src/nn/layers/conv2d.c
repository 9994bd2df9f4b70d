/* conv2d.c - Conv2d: kernels (nn/layer_kernels.h) and its layer table entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/dnnl_conv.h"
#include "nn/kernels.h"
#include "nn/layer.h"

/* ---- Conv2d ---------------------------------------------------------------------
 * Forward and dense backward through oneDNN (dnnl_conv.h), except the
 * weight gradient of an input with few channels (the first layer: oneDNN
 * is slow there), which nn_kernels' conv2d_weight_grad_small computes.
 * Backward: when
 * most output gradients of the chunk are zero (after max-pool, ReLU and
 * dropout), only the non-zero ones are visited, reading windows straight
 * from the input (nn_kernels' conv2d_backward_sparse); that needs stride 1,
 * no padding and k <= 16. Nothing is kept from the forward pass but its
 * input. */

struct nn_conv2d {
    nn_conv_shape s;
    nn_dnnl_conv *dense;
    const nn_kernels *kernels;
    float *sparse_scratch;     /* NULL when the sparse path cannot run */
    float *small_scratch;      /* NULL unless the few-channel weight gradient runs */
};

static int use_sparse_path(const nn_conv_shape *s) {
    return s->stride == 1 && s->pad == 0 && s->k <= 16;
}

/* The sparse path's lists: per output channel and all of them. */
static long sparse_scratch_floats(const nn_conv_shape *s) {
    const long positions = (long)s->out_h * s->out_w;
    return 2 * positions + 4L * s->out_c * positions + 2L * s->out_h + 1;
}

int nn_conv2d_create(nn_conv2d **out, const nn_conv_shape *s, cassnn_err *err) {
    *out = NULL;
    nn_isa isa;
    if (nn_isa_select(&isa, err)) return -1;
    nn_conv2d *c = calloc(1, sizeof *c);
    if (!c) return cassnn_err_set(err, "conv: out of memory");
    c->s = *s;
    c->kernels = nn_kernels_active();
    if (use_sparse_path(s) &&
        !(c->sparse_scratch = aligned_alloc(64, ((size_t)sparse_scratch_floats(s) * 4 + 63) / 64 * 64))) {
        free(c);
        return cassnn_err_set(err, "conv: out of memory");
    }
    if (nn_conv2d_small_fits(s) &&
        !(c->small_scratch = aligned_alloc(64, ((size_t)nn_conv2d_small_scratch_floats(s) * 4 + 63) / 64 * 64))) {
        nn_conv2d_free(c);
        return cassnn_err_set(err, "conv: out of memory");
    }
    if (nn_dnnl_conv_create(&c->dense, s, err)) {
        nn_conv2d_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int nn_conv2d_prepare(nn_conv2d *c, int n, cassnn_err *err) {
    return nn_dnnl_conv_prepare(c->dense, n, err);
}

void nn_conv2d_free(nn_conv2d *c) {
    if (!c) return;
    nn_dnnl_conv_free(c->dense);
    free(c->sparse_scratch);
    free(c->small_scratch);
    free(c);
}

void nn_conv2d_forward(nn_conv2d *c, float *out, const float *in, const float *weight,
                       const float *bias, int n) {
    nn_dnnl_conv_forward(c->dense, out, in, weight, bias, n);
}

void nn_conv2d_backward(nn_conv2d *c, float *din, float *dweight, float *dbias,
                        const float *dout, const float *in, const float *weight, int n) {
    const nn_conv_shape *s = &c->s;
    const long in_size = (long)s->in_c * s->in_h * s->in_w;
    const long out_size = (long)s->out_c * s->out_h * s->out_w;
    /* sparse: ~k*k vector FMAs per non-zero; dense: oneDNN over all */
    if (c->sparse_scratch && c->kernels->count_nonzero(dout, n * out_size) * 4 < n * out_size) {
        for (int i = 0; i < n; i++)
            c->kernels->conv2d_backward_sparse(din ? din + i * in_size : NULL, dweight, dbias,
                                               c->sparse_scratch, dout + i * out_size,
                                               in + i * in_size, weight, s);
        return;
    }
    if (c->small_scratch)
        c->kernels->conv2d_weight_grad_small(dweight, dbias, c->small_scratch, dout, in, n, s);
    else
        nn_dnnl_conv_backward_weights(c->dense, dweight, dbias, dout, in, n);
    if (din) nn_dnnl_conv_backward_data(c->dense, din, dout, weight, n);
}

/* ---- the layer ------------------------------------------------------------- */

static int conv_parse(nn_layer *l, const char *word, nn_layer_args *a, cassnn_err *err) {
    (void)word;
    if (a->n == 0 || a->keys[0][0] != '\0')
        return nn_layer_error(a, err, "conv needs (out_channels, k=K)");
    return nn_arg_int(a, 0, "out", 0, 1, &l->out_c, err) ||
           nn_arg_int(a, 1, "k", 0, 1, &l->k, err) ||
           nn_arg_int(a, 2, "s", 1, 1, &l->stride, err) ||
           nn_arg_int(a, 3, "p", 0, 0, &l->pad, err);
}

static int conv_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err) {
    if (nn_window_shape(l, a, err)) return -1;
    if ((double)l->out_c * l->in_c * l->k * l->k > (1 << 28))
        return nn_layer_error(a, err, "too many weights");
    l->weight_size = (long)l->out_c * l->in_c * l->k * l->k;
    l->bias_size = l->out_c;
    return 0;
}

static void conv_describe(const nn_layer *l, char *buf, size_t cap) {
    snprintf(buf, cap, "%s=conv(%d,k=%d,s=%d,p=%d)", l->name, l->out_c, l->k, l->stride, l->pad);
}

static int conv_weight_shape(const nn_layer *l, int64_t shape[4]) {
    shape[0] = l->out_c;
    shape[1] = l->in_c;
    shape[2] = shape[3] = l->k;
    return 4;
}

static void conv_init(nn_layer *l, float *weight, float *bias, float *buffers, uint64_t seed,
                      int index) {
    (void)buffers;
    nn_init_fan_in(l, weight, bias, (long)l->in_c * l->k * l->k, seed, index);
}

/* The workspace holds the thread's nn_conv2d (its oneDNN plans). */
static void conv_workspace(const nn_layer *l, int chunk, int train_chunk, nn_workspace *ws) {
    (void)l;
    (void)chunk;
    (void)train_chunk;
    ws->bytes = sizeof(nn_conv2d *);
}

static int conv_prepare(const nn_layer *l, void *ws, int chunk, int train_chunk,
                        cassnn_err *err) {
    const nn_conv_shape s = nn_shape_of(l);
    nn_conv2d **c = ws;
    return nn_conv2d_create(c, &s, err) || nn_conv2d_prepare(*c, chunk, err) ||
           nn_conv2d_prepare(*c, train_chunk, err);
}

static void conv_release(const nn_layer *l, void *ws) {
    (void)l;
    nn_conv2d_free(*(nn_conv2d **)ws);
}

static const float *conv_forward(nn_run *r, const float *in, float *out) {
    nn_conv2d_forward(*(nn_conv2d **)r->ws, out, in, r->weight, r->bias, r->n);
    return out;
}

static const float *conv_backward(nn_run *r, const float *dout, float *din, const float *in,
                                  const float *out) {
    (void)out;
    nn_conv2d_backward(*(nn_conv2d **)r->ws, din, r->dweight, r->dbias, dout, in, r->weight,
                       r->n);
    return din;
}

const nn_layer_type nn_conv2d_type = {
    .words = {"conv"},
    .prefix = "conv",
    .parse = conv_parse,
    .shape = conv_shape,
    .describe = conv_describe,
    .weight_shape = conv_weight_shape,
    .init = conv_init,
    .workspace = conv_workspace,
    .prepare = conv_prepare,
    .release = conv_release,
    .forward = conv_forward,
    .backward = conv_backward,
};
