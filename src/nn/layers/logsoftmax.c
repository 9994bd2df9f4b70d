/* logsoftmax.c - LogSoftmax and the NLL loss: kernels (nn/layer_kernels.h) and the
 * layer table entry. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"

void nn_logsoftmax_forward(float *out, const float *in, int n, int classes) {
    for (int i = 0; i < n; i++) {
        const float *x = in + (long)i * classes;
        float *o = out + (long)i * classes;
        float max = -FLT_MAX;
        for (int c = 0; c < classes; c++) max = x[c] > max ? x[c] : max;
        double sum = 0.0;
        for (int c = 0; c < classes; c++) sum += exp((double)(x[c] - max));
        const float log_sum = (float)log(sum) + max;
        for (int c = 0; c < classes; c++) o[c] = x[c] - log_sum;
    }
}

void nn_logsoftmax_backward(float *din, const float *dout, const float *out, int n,
                            int classes) {
    for (int i = 0; i < n; i++) {
        const float *g = dout + (long)i * classes;
        const float *o = out + (long)i * classes;
        float *d = din + (long)i * classes;
        float sum = 0.0f;
        for (int c = 0; c < classes; c++) sum += g[c];
        for (int c = 0; c < classes; c++) d[c] = g[c] - expf(o[c]) * sum;
    }
}

double nn_nll_loss(float *dlogp, const float *logp, const int32_t *labels, int n, int classes,
                   float scale) {
    double loss = 0.0;
    if (dlogp) memset(dlogp, 0, sizeof(float) * (size_t)n * (size_t)classes);
    for (int i = 0; i < n; i++) {
        loss -= logp[(long)i * classes + labels[i]];
        if (dlogp) dlogp[(long)i * classes + labels[i]] = -scale;
    }
    return loss;
}

/* ---- the layer ------------------------------------------------------------- */

static int logsoftmax_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err) {
    if (l->in_h != 1 || l->in_w != 1)
        return nn_layer_error(a, err, "logsoftmax needs a flat input, got %dx%dx%d", l->in_c,
                              l->in_h, l->in_w);
    return 0;
}

static void logsoftmax_describe(const nn_layer *l, char *buf, size_t cap) {
    (void)l;
    snprintf(buf, cap, "logsoftmax");
}

static const float *logsoftmax_forward(nn_run *r, const float *in, float *out) {
    nn_logsoftmax_forward(out, in, r->n, r->layer->in_c);
    return out;
}

static const float *logsoftmax_backward(nn_run *r, const float *dout, float *din,
                                        const float *in, const float *out) {
    (void)in;
    nn_logsoftmax_backward(din, dout, out, r->n, r->layer->in_c);
    return din;
}

const nn_layer_type nn_logsoftmax_type = {
    .words = {"logsoftmax"},
    .shape = logsoftmax_shape,
    .describe = logsoftmax_describe,
    .forward = logsoftmax_forward,
    .backward = logsoftmax_backward,
};
