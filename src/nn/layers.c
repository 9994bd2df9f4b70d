/* layers.c - forward/backward kernels of every layer (see nn_layers.h). */
#include "cassnn/nn_layers.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* ---- Conv2d: im2row + sgemm --------------------------------------------- */

long nn_conv2d_patch_floats(const nn_conv_shape *s) {
    return (long)s->out_h * s->out_w * s->in_c * s->k * s->k;
}

/* patches[p][(c*k + ky)*k + kx] = in[c][oy*stride - pad + ky][ox*stride - pad + kx]
 * (0 outside the image), p = oy*out_w + ox. Row-per-output-position keeps
 * each patch contiguous, which the sparse backward walks. */
static void im2row(float *patches, const float *in, const nn_conv_shape *s) {
    const int k = s->k, kk = k * k, row = s->in_c * kk;
    for (int oy = 0; oy < s->out_h; oy++) {
        for (int ox = 0; ox < s->out_w; ox++) {
            float *dst = patches + (long)(oy * s->out_w + ox) * row;
            const int y0 = oy * s->stride - s->pad, x0 = ox * s->stride - s->pad;
            for (int c = 0; c < s->in_c; c++) {
                const float *plane = in + (long)c * s->in_h * s->in_w;
                for (int ky = 0; ky < k; ky++) {
                    const int y = y0 + ky;
                    float *d = dst + c * kk + ky * k;
                    if (y < 0 || y >= s->in_h) {
                        memset(d, 0, sizeof(float) * (size_t)k);
                        continue;
                    }
                    const float *src = plane + (long)y * s->in_w;
                    if (x0 >= 0 && x0 + k <= s->in_w) {
                        /* k is small (3..7): a loop beats a memcpy call */
                        for (int kx = 0; kx < k; kx++) d[kx] = src[x0 + kx];
                    } else {
                        for (int kx = 0; kx < k; kx++) {
                            const int x = x0 + kx;
                            d[kx] = (x >= 0 && x < s->in_w) ? src[x] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

/* Adds the weight window w[c][ky][kx] * g into din around output position
 * (oy, ox): the input gradient of one output value. */
static void scatter_window(float *din, const float *w, float g, int oy, int ox,
                           const nn_conv_shape *s) {
    const int k = s->k;
    const int y0 = oy * s->stride - s->pad, x0 = ox * s->stride - s->pad;
    if (y0 >= 0 && x0 >= 0 && y0 + k <= s->in_h && x0 + k <= s->in_w) {
        for (int c = 0; c < s->in_c; c++) {
            float *d = din + ((long)c * s->in_h + y0) * s->in_w + x0;
            const float *wc = w + c * k * k;
            for (int ky = 0; ky < k; ky++, d += s->in_w)
                for (int kx = 0; kx < k; kx++) d[kx] += g * wc[ky * k + kx];
        }
        return;
    }
    for (int c = 0; c < s->in_c; c++) {
        float *plane = din + (long)c * s->in_h * s->in_w;
        const float *wc = w + c * k * k;
        for (int ky = 0; ky < k; ky++) {
            const int y = y0 + ky;
            if (y < 0 || y >= s->in_h) continue;
            float *d = plane + (long)y * s->in_w;
            for (int kx = 0; kx < k; kx++) {
                const int x = x0 + kx;
                if (x >= 0 && x < s->in_w) d[x] += g * wc[ky * k + kx];
            }
        }
    }
}

/* The inverse of im2row: sums each patch entry back into its input pixel. */
static void row2im(float *din, const float *dpatches, const nn_conv_shape *s) {
    const int k = s->k, kk = k * k, row = s->in_c * kk;
    memset(din, 0, sizeof(float) * (size_t)s->in_c * s->in_h * s->in_w);
    for (int oy = 0; oy < s->out_h; oy++) {
        for (int ox = 0; ox < s->out_w; ox++) {
            const float *src = dpatches + (long)(oy * s->out_w + ox) * row;
            const int y0 = oy * s->stride - s->pad, x0 = ox * s->stride - s->pad;
            for (int c = 0; c < s->in_c; c++) {
                float *plane = din + (long)c * s->in_h * s->in_w;
                for (int ky = 0; ky < k; ky++) {
                    const int y = y0 + ky;
                    if (y < 0 || y >= s->in_h) continue;
                    float *d = plane + (long)y * s->in_w;
                    const float *sp = src + c * kk + ky * k;
                    for (int kx = 0; kx < k; kx++) {
                        const int x = x0 + kx;
                        if (x >= 0 && x < s->in_w) d[x] += sp[kx];
                    }
                }
            }
        }
    }
}

long nn_conv2d_scratch_floats(const nn_conv_shape *s) {
    const long block_out = (long)NN_CONV_BLOCK * s->out_c * s->out_h * s->out_w;
    const long patch = nn_conv2d_patch_floats(s);
    return block_out > patch ? block_out : patch;
}

void nn_conv2d_forward(float *out, float *patches, int keep_patches, float *scratch,
                       const float *in, const float *weight, const float *bias, int n,
                       const nn_conv_shape *s) {
    const int positions = s->out_h * s->out_w, row = s->in_c * s->k * s->k;
    const long in_size = (long)s->in_c * s->in_h * s->in_w;
    const long out_size = (long)s->out_c * positions;
    const long patch_floats = nn_conv2d_patch_floats(s);
    for (int b0 = 0; b0 < n; b0 += NN_CONV_BLOCK) {
        const int nb = n - b0 < NN_CONV_BLOCK ? n - b0 : NN_CONV_BLOCK;
        float *p = patches + (keep_patches ? b0 * patch_floats : 0);
        for (int i = 0; i < nb; i++) im2row(p + i * patch_floats, in + (b0 + i) * in_size, s);
        /* scratch[oc][i*positions + q] = sum_r weight[oc][r] * patches[i*positions + q][r]:
         * the whole block in one sgemm */
        const int cols = nb * positions;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->out_c, cols, row, 1.0f, weight,
                    row, p, row, 0.0f, scratch, cols);
        for (int i = 0; i < nb; i++) {
            float *o = out + (b0 + i) * out_size;
            for (int oc = 0; oc < s->out_c; oc++) {
                const float *src = scratch + (long)oc * cols + (long)i * positions;
                float *dst = o + (long)oc * positions;
                const float b = bias[oc];
                for (int q = 0; q < positions; q++) dst[q] = src[q] + b;
            }
        }
    }
}

void nn_conv2d_backward(float *din, float *dweight, float *dbias, float *scratch,
                        const float *dout, const float *patches, const float *weight, int n,
                        const nn_conv_shape *s) {
    const int positions = s->out_h * s->out_w, row = s->in_c * s->k * s->k;
    const long in_size = (long)s->in_c * s->in_h * s->in_w;
    const long out_size = (long)s->out_c * positions;
    const long patch_floats = nn_conv2d_patch_floats(s);
    for (int i = 0; i < n; i++) {
        const float *g = dout + i * out_size;
        const float *p = patches + i * patch_floats;
        float *dx = din ? din + i * in_size : NULL;
        long nonzero = 0;
        for (long j = 0; j < out_size; j++) nonzero += g[j] != 0.0f;
        /* A sparse update costs ~2*row flops per non-zero at axpy speed;
         * dense BLAS costs ~2*row per output at several times that speed. */
        if (nonzero * 4 < out_size) {
            if (dx) memset(dx, 0, sizeof(float) * (size_t)in_size);
            for (int oc = 0; oc < s->out_c; oc++) {
                float *dw = dweight + (long)oc * row;
                const float *w = weight + (long)oc * row;
                const float *go = g + (long)oc * positions;
                float db = 0.0f;
                /* A bit mask per 64 positions, built without branches, then
                 * walked bit by bit: no mispredicted branch per zero. */
                for (int base = 0; base < positions; base += 64) {
                    const int lim = positions - base < 64 ? positions - base : 64;
                    uint64_t mask = 0;
                    for (int j = 0; j < lim; j++) mask |= (uint64_t)(go[base + j] != 0.0f) << j;
                    while (mask) {
                        const int q = base + __builtin_ctzll(mask);
                        mask &= mask - 1;
                        const float v = go[q];
                        db += v;
                        const float *pq = p + (long)q * row;
                        for (int r = 0; r < row; r++) dw[r] += v * pq[r];
                        if (dx) scatter_window(dx, w, v, q / s->out_w, q % s->out_w, s);
                    }
                }
                dbias[oc] += db;
            }
        } else {
            for (int oc = 0; oc < s->out_c; oc++) {
                float db = 0.0f;
                for (int q = 0; q < positions; q++) db += g[(long)oc * positions + q];
                dbias[oc] += db;
            }
            /* dweight[oc][r] += sum_p dout[oc][p] * patches[p][r] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->out_c, row, positions, 1.0f,
                        g, positions, p, row, 1.0f, dweight, row);
            if (dx) {
                /* dpatches[p][r] = sum_oc dout[oc][p] * weight[oc][r] */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, positions, row, s->out_c,
                            1.0f, g, positions, weight, row, 0.0f, scratch, row);
                row2im(dx, scratch, s);
            }
        }
    }
}

/* ---- pooling ------------------------------------------------------------- */

void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, int n,
                          const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * in_plane;
        float *o = out + pl * out_plane;
        int32_t *a = argmax + pl * out_plane;
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

/* ---- element-wise --------------------------------------------------------- */

void nn_relu_forward(float *out, const float *in, long count) {
    for (long i = 0; i < count; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void nn_relu_backward(float *din, const float *dout, const float *out, long count) {
    for (long i = 0; i < count; i++) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

void nn_dropout_mask(float *mask, long count, float p, nn_rng *rng) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (long i = 0; i < count; i++) mask[i] = nn_rng_uniform(rng) < p ? 0.0f : scale;
}

void nn_dropout_forward(float *out, const float *in, const float *mask, long count, long inner) {
    for (long m = 0; m < count / inner; m++)
        for (long j = 0; j < inner; j++) out[m * inner + j] = in[m * inner + j] * mask[m];
}

void nn_dropout_backward(float *din, const float *dout, const float *mask, long count,
                         long inner) {
    for (long m = 0; m < count / inner; m++)
        for (long j = 0; j < inner; j++) din[m * inner + j] = dout[m * inner + j] * mask[m];
}

/* ---- Linear ---------------------------------------------------------------- */

void nn_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                       int n, int in_f, int out_f) {
    for (int i = 0; i < n; i++) memcpy(out + (long)i * out_f, bias, sizeof(float) * (size_t)out_f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out_f, in_f, 1.0f, in, in_f, weight,
                in_f, 1.0f, out, out_f);
}

void nn_linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, int n, int in_f, int out_f) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out_f; o++) dbias[o] += dout[(long)i * out_f + o];
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_f, in_f, n, 1.0f, dout, out_f, in,
                in_f, 1.0f, dweight, in_f);
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_f, out_f, 1.0f, dout, out_f,
                    weight, in_f, 0.0f, din, in_f);
}

/* ---- LogSoftmax + NLL ------------------------------------------------------ */

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
