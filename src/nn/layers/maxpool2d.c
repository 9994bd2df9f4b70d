/* maxpool2d.c - MaxPool2d: kernels (nn/layer_kernels.h) and its layer table entry. */
#include <stdio.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/layer.h"

/* 2x2 windows of stride 2 through the instruction set's kernel; every
 * other window through a portable loop. */
void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, int n,
                          const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    void (*plane_2x2)(float *, int32_t *, const float *, const nn_conv_shape *) =
        s->k == 2 && s->stride == 2 ? nn_kernels_active()->maxpool2x2_plane : NULL;
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * in_plane;
        float *o = out + pl * out_plane;
        int32_t *a = argmax + pl * out_plane;
        if (plane_2x2) {
            plane_2x2(o, a, x, s);
            continue;
        }
        for (int oy = 0; oy < s->out_h; oy++) {
            for (int ox = 0; ox < s->out_w; ox++) {
                const int y0 = oy * s->stride, x0 = ox * s->stride;
                int best_i = y0 * s->in_w + x0;
                float best = x[best_i];
                for (int ky = 0; ky < s->k; ky++) {
                    for (int kx = 0; kx < s->k; kx++) {
                        const int idx = (y0 + ky) * s->in_w + x0 + kx;
                        /* strict > keeps the first maximum, as PyTorch does;
                         * selects, not branches: which element wins is random */
                        const int take = x[idx] > best;
                        best = take ? x[idx] : best;
                        best_i = take ? idx : best_i;
                    }
                }
                o[oy * s->out_w + ox] = best;
                a[oy * s->out_w + ox] = best_i;
            }
        }
    }
}

void nn_maxpool2d_backward(float *din, const float *dout, const int32_t *argmax, int n,
                           const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    memset(din, 0, sizeof(float) * (size_t)(planes * in_plane));
    for (long pl = 0; pl < planes; pl++) {
        float *d = din + pl * in_plane;
        const float *g = dout + pl * out_plane;
        const int32_t *a = argmax + pl * out_plane;
        for (long q = 0; q < out_plane; q++) d[a[q]] += g[q];
    }
}


/* ---- the layer ------------------------------------------------------------- */

static void maxpool_describe(const nn_layer *l, char *buf, size_t cap) {
    snprintf(buf, cap, "maxpool(%d,s=%d)", l->k, l->stride);
}

/* Which input fed each output of a chunk. */
static void maxpool_workspace(const nn_layer *l, int chunk, int train_chunk, nn_workspace *ws) {
    (void)train_chunk;
    ws->bytes = sizeof(int32_t) * (size_t)chunk * (size_t)nn_layer_out_size(l);
}

static const float *maxpool_forward(nn_run *r, const float *in, float *out) {
    const nn_conv_shape s = nn_shape_of(r->layer);
    nn_maxpool2d_forward(out, r->ws, in, r->n, &s);
    return out;
}

static const float *maxpool_backward(nn_run *r, const float *dout, float *din, const float *in,
                                     const float *out) {
    (void)in;
    (void)out;
    const nn_conv_shape s = nn_shape_of(r->layer);
    nn_maxpool2d_backward(din, dout, r->ws, r->n, &s);
    return din;
}

const nn_layer_type nn_maxpool2d_type = {
    .words = {"maxpool"},
    .parse = nn_pool_parse,
    .shape = nn_window_shape,
    .describe = maxpool_describe,
    .workspace = maxpool_workspace,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
};
