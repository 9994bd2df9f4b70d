/* avgpool2d.c - AvgPool2d and global average pooling: kernels (nn/layer_kernels.h)
 * and the layer table entry (words avgpool and gap). */
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"

void nn_avgpool2d_forward(float *out, const float *in, int n, const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    const float inv = 1.0f / (float)(s->k * s->k);
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * in_plane;
        float *o = out + pl * out_plane;
        for (int oy = 0; oy < s->out_h; oy++) {
            for (int ox = 0; ox < s->out_w; ox++) {
                float sum = 0.0f;
                for (int ky = 0; ky < s->k; ky++)
                    for (int kx = 0; kx < s->k; kx++)
                        sum += x[(oy * s->stride + ky) * s->in_w + ox * s->stride + kx];
                o[oy * s->out_w + ox] = sum * inv;
            }
        }
    }
}

void nn_avgpool2d_backward(float *din, const float *dout, int n, const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    const float inv = 1.0f / (float)(s->k * s->k);
    memset(din, 0, sizeof(float) * (size_t)(planes * in_plane));
    for (long pl = 0; pl < planes; pl++) {
        float *d = din + pl * in_plane;
        const float *g = dout + pl * out_plane;
        for (int oy = 0; oy < s->out_h; oy++)
            for (int ox = 0; ox < s->out_w; ox++) {
                const float v = g[oy * s->out_w + ox] * inv;
                for (int ky = 0; ky < s->k; ky++)
                    for (int kx = 0; kx < s->k; kx++)
                        d[(oy * s->stride + ky) * s->in_w + ox * s->stride + kx] += v;
            }
    }
}

/* ---- the layer ------------------------------------------------------------- */

static int avgpool_parse(nn_layer *l, const char *word, nn_layer_args *a, cassnn_err *err) {
    l->global = !strcmp(word, "gap");
    return l->global ? 0 : nn_pool_parse(l, word, a, err);
}

static int avgpool_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err) {
    if (l->global) {
        if (l->in_h != l->in_w)
            return nn_layer_error(a, err, "gap needs a square input, got %dx%dx%d", l->in_c,
                                  l->in_h, l->in_w);
        l->k = l->stride = l->in_h;
    }
    return nn_window_shape(l, a, err);
}

static void avgpool_describe(const nn_layer *l, char *buf, size_t cap) {
    if (l->global) snprintf(buf, cap, "gap");
    else snprintf(buf, cap, "avgpool(%d,s=%d)", l->k, l->stride);
}

static const float *avgpool_forward(nn_run *r, const float *in, float *out) {
    const nn_conv_shape s = nn_shape_of(r->layer);
    nn_avgpool2d_forward(out, in, r->n, &s);
    return out;
}

static const float *avgpool_backward(nn_run *r, const float *dout, float *din, const float *in,
                                     const float *out) {
    (void)in;
    (void)out;
    const nn_conv_shape s = nn_shape_of(r->layer);
    nn_avgpool2d_backward(din, dout, r->n, &s);
    return din;
}

const nn_layer_type nn_avgpool2d_type = {
    .words = {"avgpool", "gap"},
    .parse = avgpool_parse,
    .shape = avgpool_shape,
    .describe = avgpool_describe,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};
