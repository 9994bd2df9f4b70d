/* batchnorm2d.c - BatchNorm2d: kernels (nn/layer_kernels.h) and its layer table
 * entry. In training the statistics are the whole batch's, which nn_exec
 * splits across threads: the chunks' per-channel sums meet through
 * nn_exec_sum_threads (one meeting forward, one backward). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"

/* ---- BatchNorm2d ------------------------------------------------------------
 * Sums in double: the variance comes from E[x^2] - mean^2, which loses
 * nothing in double for float inputs, and one pass (one barrier in nn_exec)
 * is enough. */

/* *sum += sum of a[j], *dot += sum of a[j] * (b[j] - shift), in double, over
 * LANES independent partial sums (one vector of them: the additions do not
 * wait on each other, as one running sum's would). */
#define LANES 8
static void sum_and_dot(const float *a, const float *b, float shift, long n, double *sum,
                        double *dot) {
    double s[LANES] = {0}, d[LANES] = {0};
    long j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int t = 0; t < LANES; t++) {
            s[t] += a[j + t];
            d[t] += (double)a[j + t] * (b[j + t] - shift);
        }
    for (; j < n; j++) {
        s[0] += a[j];
        d[0] += (double)a[j] * (b[j] - shift);
    }
    for (int t = 0; t < LANES; t++) {
        *sum += s[t];
        *dot += d[t];
    }
}

void nn_bn_sums(double *sums, const float *in, int n, int c, long plane) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const float *x = in + ((long)i * c + ch) * plane;
            sum_and_dot(x, x, 0.0f, plane, &sums[ch], &sums[c + ch]);
        }
}

void nn_bn_batch_stats(float *mean_invstd, float *running, const double *sums, long count,
                       int c, float eps, float momentum) {
    for (int ch = 0; ch < c; ch++) {
        const double mean = sums[ch] / (double)count;
        double var = sums[c + ch] / (double)count - mean * mean;
        if (var < 0.0) var = 0.0;
        mean_invstd[ch] = (float)mean;
        mean_invstd[c + ch] = (float)(1.0 / sqrt(var + eps));
        if (running) {
            /* PyTorch raises an error for count 1; here the biased
             * variance stands in for the undefined unbiased one */
            const double unbiased = count > 1 ? var * (double)count / (double)(count - 1) : var;
            running[ch] = (1.0f - momentum) * running[ch] + momentum * (float)mean;
            running[c + ch] = (1.0f - momentum) * running[c + ch] + momentum * (float)unbiased;
        }
    }
}

void nn_bn_running_stats(float *mean_invstd, const float *running, int c, float eps) {
    for (int ch = 0; ch < c; ch++) {
        mean_invstd[ch] = running[ch];
        mean_invstd[c + ch] = (float)(1.0 / sqrt((double)running[c + ch] + eps));
    }
}

void nn_bn_forward(float *out, const float *in, const float *mean_invstd, const float *weight,
                   const float *bias, int n, int c, long plane) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const long off = ((long)i * c + ch) * plane;
            const float scale = mean_invstd[c + ch] * weight[ch];
            const float shift = bias[ch] - mean_invstd[ch] * scale;
            for (long j = 0; j < plane; j++) out[off + j] = in[off + j] * scale + shift;
        }
}

void nn_bn_grad_sums(double *sums, const float *dout, const float *in, const float *mean_invstd,
                     int n, int c, long plane) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const long off = ((long)i * c + ch) * plane;
            sum_and_dot(dout + off, in + off, mean_invstd[ch], plane, &sums[ch], &sums[c + ch]);
        }
}

void nn_bn_backward(float *din, float *dweight, float *dbias, const double *sums,
                    const float *dout, const float *in, const float *mean_invstd,
                    const float *weight, long count, int n, int c, long plane) {
    if (dweight)
        for (int ch = 0; ch < c; ch++) {
            dweight[ch] += (float)(sums[c + ch] * mean_invstd[c + ch]);
            dbias[ch] += (float)sums[ch];
        }
    if (!din) return;
    for (int ch = 0; ch < c; ch++) {
        const float mean = mean_invstd[ch], invstd = mean_invstd[c + ch];
        /* d/dx of w*(x - mean)*invstd + b with mean and invstd functions of
         * the whole batch: dx = w*invstd*(dy - mean(dy) - xhat*mean(dy*xhat)) */
        const float dy_mean = (float)(sums[ch] / (double)count);
        const float k = (float)(sums[c + ch] / (double)count) * invstd * invstd;
        const float scale = invstd * weight[ch];
        for (int i = 0; i < n; i++) {
            const long off = ((long)i * c + ch) * plane;
            for (long j = 0; j < plane; j++)
                din[off + j] = (dout[off + j] - dy_mean - (in[off + j] - mean) * k) * scale;
        }
    }
}


/* ---- the layer ------------------------------------------------------------- */

/* A thread's workspace: the per-channel sums (2 x channels doubles each) of
 * its chunk and of the batch, forward then backward; then the mean and
 * 1/std in use (2 x channels floats). */
enum { BN_FWD_CHUNK, BN_FWD_BATCH, BN_BWD_CHUNK, BN_BWD_BATCH, BN_SLOTS };

static double *bn_sums_slot(const nn_run *r, int slot) {
    return (double *)r->ws + (long)slot * 2 * r->layer->in_c;
}

static float *bn_mean_invstd(const nn_run *r) {
    return (float *)bn_sums_slot(r, BN_SLOTS);
}

static int bn_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err) {
    (void)a;
    (void)err;
    /* on a flat input (C x 1 x 1) this is also PyTorch's BatchNorm1d */
    l->weight_size = l->bias_size = l->in_c;
    return 0;
}

static void bn_describe(const nn_layer *l, char *buf, size_t cap) {
    snprintf(buf, cap, "%s=batchnorm2d", l->name);
}

static int bn_weight_shape(const nn_layer *l, int64_t shape[4]) {
    shape[0] = l->out_c;
    return 1;
}

/* running_mean then running_var */
static long bn_buffers(const nn_layer *l) { return 2L * l->out_c; }

/* BatchNorm2d.reset_parameters(): an identity transform, no history. */
static void bn_init(nn_layer *l, float *weight, float *bias, float *buffers, uint64_t seed,
                    int index) {
    (void)seed;
    (void)index;
    for (int c = 0; c < l->out_c; c++) {
        weight[c] = 1.0f;
        bias[c] = 0.0f;
        buffers[c] = 0.0f;
        buffers[l->out_c + c] = 1.0f;
    }
    l->batches_tracked = 0;
}

static void bn_workspace(const nn_layer *l, int chunk, int train_chunk, nn_workspace *ws) {
    (void)chunk;
    (void)train_chunk;
    ws->bytes = (size_t)l->in_c * 2 * (BN_SLOTS * sizeof(double) + sizeof(float));
}

/* Training: the batch's statistics (thread 0 updates the running ones);
 * eval: the running statistics. */
static const float *bn_forward(nn_run *r, const float *in, float *out) {
    nn_layer *l = r->layer;
    const int c = l->in_c;
    const long plane = (long)l->in_h * l->in_w;
    float *mean_invstd = bn_mean_invstd(r);
    if (!r->train) {
        nn_bn_running_stats(mean_invstd, r->running, c, NN_BN_EPS);
    } else {
        double *chunk = bn_sums_slot(r, BN_FWD_CHUNK), *sums = bn_sums_slot(r, BN_FWD_BATCH);
        memset(chunk, 0, sizeof(double) * 2 * (size_t)c);
        nn_bn_sums(chunk, in, r->n, c, plane);
        nn_exec_sum_threads(r, chunk, sums, 2L * c);
        nn_bn_batch_stats(mean_invstd, r->thread == 0 ? r->running : NULL, sums,
                          (long)r->batch * plane, c, NN_BN_EPS, NN_BN_MOMENTUM);
        if (r->thread == 0) l->batches_tracked++;
    }
    nn_bn_forward(out, in, mean_invstd, r->weight, r->bias, r->n, c, plane);
    return out;
}

static const float *bn_backward(nn_run *r, const float *dout, float *din, const float *in,
                                const float *out) {
    (void)out;
    const nn_layer *l = r->layer;
    const int c = l->in_c;
    const long plane = (long)l->in_h * l->in_w;
    const float *mean_invstd = bn_mean_invstd(r);
    double *chunk = bn_sums_slot(r, BN_BWD_CHUNK), *sums = bn_sums_slot(r, BN_BWD_BATCH);
    memset(chunk, 0, sizeof(double) * 2 * (size_t)c);
    nn_bn_grad_sums(chunk, dout, in, mean_invstd, r->n, c, plane);
    nn_exec_sum_threads(r, chunk, sums, 2L * c);
    /* the parameter gradients are the batch's: thread 0 adds them once */
    const int once = r->thread == 0;
    nn_bn_backward(din, once ? r->dweight : NULL, once ? r->dbias : NULL, sums, dout, in,
                   mean_invstd, r->weight, (long)r->batch * plane, r->n, c, plane);
    return din;
}

const nn_layer_type nn_batchnorm2d_type = {
    .words = {"batchnorm2d", "bn"},
    .prefix = "bn",
    .flags = NN_LAYER_SYNC,
    .shape = bn_shape,
    .describe = bn_describe,
    .weight_shape = bn_weight_shape,
    .buffers = bn_buffers,
    .init = bn_init,
    .workspace = bn_workspace,
    .forward = bn_forward,
    .backward = bn_backward,
};
