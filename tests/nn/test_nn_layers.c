/* Finite-difference gradient checks of every layer kernel (nn/layer_kernels.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer_kernels.h"
#include "nn/rng.h"

static nn_rng rng;

static void fill_uniform(float *x, long n, float lo, float hi) {
    for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * nn_rng_uniform(&rng);
}

/* A layer under test: forward() recomputes out from the current inputs and
 * parameters; the scalar checked is sum(out * r) for a fixed random r. */
typedef struct probe {
    void (*forward)(struct probe *);
    float *out, *r;
    long out_n;
    void *ctx;
} probe;

static double objective(probe *p) {
    p->forward(p);
    double s = 0.0;
    for (long i = 0; i < p->out_n; i++) s += (double)p->out[i] * p->r[i];
    return s;
}

/* Compares analytic[i] with the central difference of the objective in
 * x[i], for every i (or every 7th when x is large). */
static void check(const char *what, probe *p, float *x, long n, const float *analytic) {
    const float eps = 1e-3f;
    const long step = n > 400 ? 7 : 1;
    int checked = 0;
    for (long i = 0; i < n; i += step) {
        const float saved = x[i];
        x[i] = saved + eps;
        const double plus = objective(p);
        x[i] = saved - eps;
        const double minus = objective(p);
        x[i] = saved;
        const double numeric = (plus - minus) / (2.0 * eps);
        const double diff = fabs(numeric - analytic[i]);
        if (diff > 3e-3 + 1e-2 * (fabs(numeric) + fabs(analytic[i]))) {
            fail_msg("%s[%ld]: analytic %.6f numeric %.6f", what, i, analytic[i], numeric);
        }
        checked++;
    }
    assert_true(checked > 0);
}

/* ---- conv ------------------------------------------------------------------ */

typedef struct conv_ctx {
    nn_conv_shape s;
    int n;
    float *in, *w, *b;
    nn_conv2d *conv;
} conv_ctx;

static void conv_fwd(probe *p) {
    conv_ctx *c = p->ctx;
    nn_conv2d_forward(c->conv, p->out, c->in, c->w, c->b, c->n);
}

static nn_conv2d *conv_create(const nn_conv_shape *s) {
    nn_conv2d *c;
    cassnn_err err = {0};
    if (nn_conv2d_create(&c, s, &err)) fail_msg("%s", err.msg);
    return c;
}

/* sparsity: fraction of output gradients forced to zero, which steers the
 * kernel onto its sparse path (> 3/4) or its dense (oneDNN) path. */
static void run_conv_check(nn_conv_shape s, int n, float sparsity) {
    s.out_h = (s.in_h + 2 * s.pad - s.k) / s.stride + 1;
    s.out_w = (s.in_w + 2 * s.pad - s.k) / s.stride + 1;
    conv_ctx c = {.s = s, .n = n};
    const long in_n = (long)n * s.in_c * s.in_h * s.in_w;
    const long w_n = (long)s.out_c * s.in_c * s.k * s.k;
    const long out_n = (long)n * s.out_c * s.out_h * s.out_w;
    c.in = malloc(sizeof(float) * in_n);
    c.w = malloc(sizeof(float) * w_n);
    c.b = malloc(sizeof(float) * s.out_c);
    c.conv = conv_create(&s);
    float *din = malloc(sizeof(float) * in_n), *dw = calloc(w_n, sizeof(float));
    float *db = calloc(s.out_c, sizeof(float));
    probe p = {conv_fwd, malloc(sizeof(float) * out_n), malloc(sizeof(float) * out_n), out_n, &c};
    fill_uniform(c.in, in_n, -1, 1);
    fill_uniform(c.w, w_n, -0.5f, 0.5f);
    fill_uniform(c.b, s.out_c, -0.5f, 0.5f);
    fill_uniform(p.r, out_n, -1, 1);
    for (long i = 0; i < out_n; i++)
        if (nn_rng_uniform(&rng) < sparsity) p.r[i] = 0.0f;
    conv_fwd(&p);
    nn_conv2d_backward(c.conv, din, dw, db, p.r, c.in, c.w, n);
    check("conv din", &p, c.in, in_n, din);
    check("conv dweight", &p, c.w, w_n, dw);
    check("conv dbias", &p, c.b, s.out_c, db);
    /* The first layer passes din = NULL; parameter gradients must not change. */
    float *dw2 = calloc(w_n, sizeof(float)), *db2 = calloc(s.out_c, sizeof(float));
    conv_fwd(&p);
    nn_conv2d_backward(c.conv, NULL, dw2, db2, p.r, c.in, c.w, n);
    for (long i = 0; i < w_n; i++) assert_true(fabsf(dw2[i] - dw[i]) <= 1e-5f * (1 + fabsf(dw[i])));
    free(dw2), free(db2);
    nn_conv2d_free(c.conv);
    free(c.in), free(c.w), free(c.b), free(din), free(dw), free(db);
    free(p.out), free(p.r);
}

static void test_conv_dense(void **state) {
    (void)state;
    run_conv_check((nn_conv_shape){.in_c = 3, .in_h = 7, .in_w = 6, .out_c = 4, .k = 3, .stride = 1},
                   2, 0.0f);
}

static void test_conv_sparse(void **state) {
    (void)state;
    run_conv_check((nn_conv_shape){.in_c = 2, .in_h = 8, .in_w = 8, .out_c = 5, .k = 5, .stride = 1},
                   2, 0.9f);
}

static void test_conv_stride_padding(void **state) {
    (void)state;
    nn_conv_shape s = {.in_c = 2, .in_h = 7, .in_w = 9, .out_c = 3, .k = 3, .stride = 2, .pad = 1};
    run_conv_check(s, 2, 0.0f);
    run_conv_check(s, 2, 0.95f);
}

/* Forward against a direct double-precision convolution: one channel,
 * many channels, strided and padded windows, and more images than the
 * vector width. */
static void check_conv_forward(nn_conv_shape s, int n) {
    s.out_h = (s.in_h + 2 * s.pad - s.k) / s.stride + 1;
    s.out_w = (s.in_w + 2 * s.pad - s.k) / s.stride + 1;
    const long in_size = (long)s.in_c * s.in_h * s.in_w, out_size = (long)s.out_c * s.out_h * s.out_w;
    const long w_n = (long)s.out_c * s.in_c * s.k * s.k;
    float *in = malloc(sizeof(float) * n * in_size), *w = malloc(sizeof(float) * w_n);
    float *b = malloc(sizeof(float) * s.out_c), *out = malloc(sizeof(float) * n * out_size);
    nn_conv2d *conv = conv_create(&s);
    fill_uniform(in, n * in_size, -1, 1);
    fill_uniform(w, w_n, -1, 1);
    fill_uniform(b, s.out_c, -1, 1);
    nn_conv2d_forward(conv, out, in, w, b, n);
    for (int i = 0; i < n; i++)
        for (int oc = 0; oc < s.out_c; oc++)
            for (int oy = 0; oy < s.out_h; oy++)
                for (int ox = 0; ox < s.out_w; ox++) {
                    double sum = b[oc];
                    for (int c = 0; c < s.in_c; c++)
                        for (int ky = 0; ky < s.k; ky++)
                            for (int kx = 0; kx < s.k; kx++) {
                                const int y = oy * s.stride - s.pad + ky, x = ox * s.stride - s.pad + kx;
                                if (y < 0 || y >= s.in_h || x < 0 || x >= s.in_w) continue;
                                sum += (double)w[((oc * s.in_c + c) * s.k + ky) * s.k + kx] *
                                       in[i * in_size + (c * s.in_h + y) * s.in_w + x];
                            }
                    const float got = out[i * out_size + (oc * s.out_h + oy) * s.out_w + ox];
                    if (fabs(sum - got) > 1e-4 * (1 + fabs(sum)))
                        fail_msg("conv image %d oc %d (%d,%d): %g vs %g", i, oc, oy, ox, got, sum);
                }
    nn_conv2d_free(conv);
    free(in), free(w), free(b), free(out);
}

static void test_conv_forward_paths(void **state) {
    (void)state;
    const int n = 33;
    check_conv_forward((nn_conv_shape){.in_c = 1, .in_h = 28, .in_w = 28, .out_c = 3, .k = 5, .stride = 1}, n);
    check_conv_forward((nn_conv_shape){.in_c = 16, .in_h = 14, .in_w = 14, .out_c = 32, .k = 5, .stride = 1, .pad = 2}, 5);
    check_conv_forward((nn_conv_shape){.in_c = 8, .in_h = 6, .in_w = 7, .out_c = 5, .k = 3, .stride = 1}, n);
    check_conv_forward((nn_conv_shape){.in_c = 2, .in_h = 9, .in_w = 8, .out_c = 3, .k = 3, .stride = 2, .pad = 1}, 3);
    /* wide rows through the gradient checks too (the sparse path's 16-lane chunks) */
    run_conv_check((nn_conv_shape){.in_c = 1, .in_h = 6, .in_w = 21, .out_c = 2, .k = 3, .stride = 1}, 2, 0.9f);
    run_conv_check((nn_conv_shape){.in_c = 1, .in_h = 6, .in_w = 21, .out_c = 2, .k = 3, .stride = 1, .pad = 2}, 2, 0.0f);
}

/* ---- pooling ----------------------------------------------------------------- */

typedef struct pool_ctx {
    nn_conv_shape s;
    int n, max;
    float *in;
    int32_t *argmax;
} pool_ctx;

static void pool_fwd(probe *p) {
    pool_ctx *c = p->ctx;
    if (c->max) nn_maxpool2d_forward(p->out, c->argmax, c->in, c->n, &c->s);
    else nn_avgpool2d_forward(p->out, c->in, c->n, &c->s);
}

static void run_pool_check(int max, int k, int stride) {
    nn_conv_shape s = {.in_c = 3, .in_h = 9, .in_w = 8, .k = k, .stride = stride};
    s.out_c = s.in_c;
    s.out_h = (s.in_h - k) / stride + 1;
    s.out_w = (s.in_w - k) / stride + 1;
    pool_ctx c = {.s = s, .n = 2, .max = max};
    const long in_n = 2L * s.in_c * s.in_h * s.in_w, out_n = 2L * s.out_c * s.out_h * s.out_w;
    c.in = malloc(sizeof(float) * in_n);
    c.argmax = malloc(sizeof(int32_t) * out_n);
    /* Distinct values 0.01 apart: no ties within the finite-difference step. */
    for (long i = 0; i < in_n; i++) c.in[i] = 0.01f * (float)i;
    for (long i = in_n - 1; i > 0; i--) {
        long j = nn_rng_below(&rng, (uint32_t)(i + 1));
        float t = c.in[i];
        c.in[i] = c.in[j];
        c.in[j] = t;
    }
    float *din = malloc(sizeof(float) * in_n);
    probe p = {pool_fwd, malloc(sizeof(float) * out_n), malloc(sizeof(float) * out_n), out_n, &c};
    fill_uniform(p.r, out_n, -1, 1);
    pool_fwd(&p);
    if (max) nn_maxpool2d_backward(din, p.r, c.argmax, c.n, &s);
    else nn_avgpool2d_backward(din, p.r, c.n, &s);
    check(max ? "maxpool din" : "avgpool din", &p, c.in, in_n, din);
    free(c.in), free(c.argmax), free(din), free(p.out), free(p.r);
}

static void test_maxpool(void **state) {
    (void)state;
    run_pool_check(1, 2, 2);
    run_pool_check(1, 3, 2);
}

static void test_avgpool(void **state) {
    (void)state;
    run_pool_check(0, 2, 2);
    run_pool_check(0, 3, 1);
}

static void test_maxpool_first_max_wins(void **state) {
    (void)state;
    nn_conv_shape s = {.in_c = 1, .in_h = 2, .in_w = 2, .out_c = 1, .out_h = 1, .out_w = 1, .k = 2,
                       .stride = 2};
    float in[4] = {1, 3, 3, 2}, out[1];
    int32_t arg[1];
    nn_maxpool2d_forward(out, arg, in, 1, &s);
    assert_true(out[0] == 3.0f);
    assert_int_equal(arg[0], 1);
}

/* Wide planes (more than one 16-output chunk) full of ties, against a
 * plain reference: same maxima, same first-maximum argmax. */
static void test_maxpool_ties_wide(void **state) {
    (void)state;
    for (int k = 2; k <= 3; k++) {
        nn_conv_shape s = {.in_c = 3, .in_h = 7, .in_w = 37, .out_c = 3, .k = k, .stride = 2};
        s.out_h = (s.in_h - k) / 2 + 1;
        s.out_w = (s.in_w - k) / 2 + 1;
        const long in_n = 2L * 3 * 7 * 37, out_plane = (long)s.out_h * s.out_w;
        float *in = malloc(sizeof(float) * in_n), *out = malloc(sizeof(float) * 6 * out_plane);
        int32_t *arg = malloc(sizeof(int32_t) * 6 * out_plane);
        for (long i = 0; i < in_n; i++) in[i] = (float)nn_rng_below(&rng, 3);
        nn_maxpool2d_forward(out, arg, in, 2, &s);
        for (int pl = 0; pl < 6; pl++)
            for (int oy = 0; oy < s.out_h; oy++)
                for (int ox = 0; ox < s.out_w; ox++) {
                    const float *x = in + pl * 7 * 37;
                    int best = 2 * oy * 37 + 2 * ox;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            const int idx = (2 * oy + ky) * 37 + 2 * ox + kx;
                            if (x[idx] > x[best]) best = idx;
                        }
                    const long o = pl * out_plane + oy * s.out_w + ox;
                    assert_int_equal(arg[o], best);
                    assert_true(out[o] == x[best]);
                }
        free(in), free(out), free(arg);
    }
}

/* ---- element-wise ---------------------------------------------------------------- */

typedef struct elem_ctx {
    int kind; /* 0 relu, 1 dropout, 2 dropout2d */
    long n, inner;
    float *in, *mask;
} elem_ctx;

static void elem_fwd(probe *p) {
    elem_ctx *c = p->ctx;
    if (c->kind == 0) nn_relu_forward(p->out, c->in, c->n);
    else nn_dropout_forward(p->out, c->in, c->mask, c->n, c->inner);
}

static void run_elem_check(int kind) {
    const long n = 2 * 3 * 16;
    elem_ctx c = {.kind = kind, .n = n, .inner = kind == 2 ? 16 : 1};
    c.in = malloc(sizeof(float) * n);
    c.mask = malloc(sizeof(float) * n);
    /* away from ReLU's kink at 0 */
    for (long i = 0; i < n; i++) {
        float v = 0.05f + nn_rng_uniform(&rng);
        c.in[i] = nn_rng_uniform(&rng) < 0.5f ? -v : v;
    }
    nn_dropout_mask(c.mask, n / c.inner, 0.5f, &rng);
    float *din = malloc(sizeof(float) * n);
    probe p = {elem_fwd, malloc(sizeof(float) * n), malloc(sizeof(float) * n), n, &c};
    fill_uniform(p.r, n, -1, 1);
    elem_fwd(&p);
    if (kind == 0) nn_relu_backward(din, p.r, p.out, n);
    else nn_dropout_backward(din, p.r, c.mask, n, c.inner);
    check(kind == 0 ? "relu" : kind == 1 ? "dropout" : "dropout2d", &p, c.in, n, din);
    free(c.in), free(c.mask), free(din), free(p.out), free(p.r);
}

static void test_relu(void **state) {
    (void)state;
    run_elem_check(0);
}

static void test_dropout(void **state) {
    (void)state;
    run_elem_check(1);
    run_elem_check(2);
}

static void test_dropout_mask_statistics(void **state) {
    (void)state;
    enum { N = 100000 };
    float *mask = malloc(sizeof(float) * N);
    nn_dropout_mask(mask, N, 0.5f, &rng);
    long zeros = 0;
    for (long i = 0; i < N; i++) {
        assert_true(mask[i] == 0.0f || mask[i] == 2.0f);
        zeros += mask[i] == 0.0f;
    }
    /* binomial(1e5, 0.5): sd 158; 5 sd */
    assert_true(labs(zeros - N / 2) < 800);
    free(mask);
}

/* ---- linear ------------------------------------------------------------------------ */

typedef struct linear_ctx {
    int n, in_f, out_f;
    float *in, *w, *b;
} linear_ctx;

static void linear_fwd(probe *p) {
    linear_ctx *c = p->ctx;
    nn_linear_forward(p->out, c->in, c->w, c->b, c->n, c->in_f, c->out_f);
}

static void test_linear(void **state) {
    (void)state;
    linear_ctx c = {.n = 3, .in_f = 7, .out_f = 5};
    c.in = malloc(sizeof(float) * 21);
    c.w = malloc(sizeof(float) * 35);
    c.b = malloc(sizeof(float) * 5);
    fill_uniform(c.in, 21, -1, 1);
    fill_uniform(c.w, 35, -1, 1);
    fill_uniform(c.b, 5, -1, 1);
    float din[21], dw[35] = {0}, db[5] = {0};
    probe p = {linear_fwd, malloc(sizeof(float) * 15), malloc(sizeof(float) * 15), 15, &c};
    fill_uniform(p.r, 15, -1, 1);
    linear_fwd(&p);
    nn_linear_backward(din, dw, db, p.r, c.in, c.w, c.n, c.in_f, c.out_f);
    check("linear din", &p, c.in, 21, din);
    check("linear dweight", &p, c.w, 35, dw);
    check("linear dbias", &p, c.b, 5, db);
    free(c.in), free(c.w), free(c.b), free(p.out), free(p.r);
}

/* ---- batchnorm2d ----------------------------------------------------------------- */

typedef struct bn_ctx {
    int n, c;
    long plane;
    float *in, *w, *b, *stats;
} bn_ctx;

/* Training mode over the whole batch as one chunk: the objective sees the
 * mean and variance move with every input. */
static void bn_fwd(probe *p) {
    bn_ctx *c = p->ctx;
    double sums[2 * 8] = {0};
    nn_bn_sums(sums, c->in, c->n, c->c, c->plane);
    nn_bn_batch_stats(c->stats, NULL, sums, c->n * c->plane, c->c, 1e-5f, 0.1f);
    nn_bn_forward(p->out, c->in, c->stats, c->w, c->b, c->n, c->c, c->plane);
}

static void run_bn_check(int n, int ch, long plane) {
    bn_ctx c = {.n = n, .c = ch, .plane = plane};
    const long count = n * ch * plane;
    c.in = malloc(sizeof(float) * count);
    c.w = malloc(sizeof(float) * ch);
    c.b = malloc(sizeof(float) * ch);
    c.stats = malloc(sizeof(float) * 2 * ch);
    fill_uniform(c.in, count, -2, 2);
    fill_uniform(c.w, ch, 0.5f, 1.5f);
    fill_uniform(c.b, ch, -0.5f, 0.5f);
    float *din = malloc(sizeof(float) * count), *dw = calloc(ch, sizeof(float));
    float *db = calloc(ch, sizeof(float));
    probe p = {bn_fwd, malloc(sizeof(float) * count), malloc(sizeof(float) * count), count, &c};
    fill_uniform(p.r, count, -1, 1);
    bn_fwd(&p);
    /* normalised: every channel of the output has mean bias and std ~weight */
    for (int k = 0; k < ch; k++) {
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < n; i++)
            for (long j = 0; j < plane; j++) {
                const double v = (p.out[(i * ch + k) * plane + j] - c.b[k]) / c.w[k];
                sum += v;
                sq += v * v;
            }
        const double m = n * plane;
        assert_true(fabs(sum / m) < 1e-5);
        assert_true(fabs(sq / m - 1.0) < 1e-3);
    }
    double sums[2 * 8] = {0};
    nn_bn_grad_sums(sums, p.r, c.in, c.stats, n, ch, plane);
    nn_bn_backward(din, dw, db, sums, p.r, c.in, c.stats, c.w, n * plane, n, ch, plane);
    check("batchnorm din", &p, c.in, count, din);
    check("batchnorm dweight", &p, c.w, ch, dw);
    check("batchnorm dbias", &p, c.b, ch, db);
    free(c.in), free(c.w), free(c.b), free(c.stats), free(din), free(dw), free(db);
    free(p.out), free(p.r);
}

static void test_batchnorm(void **state) {
    (void)state;
    run_bn_check(3, 4, 5 * 6);
    run_bn_check(5, 3, 1); /* flat input: BatchNorm1d */
}

/* Running statistics: momentum 0.1 towards the batch mean and the
 * UNBIASED batch variance; eval mode normalises with them. */
static void test_batchnorm_running_stats(void **state) {
    (void)state;
    const float in[2 * 1 * 2] = {1.0f, 3.0f, 5.0f, 7.0f}; /* 2 images, 1 channel, 2 values */
    double sums[2] = {0};
    nn_bn_sums(sums, in, 2, 1, 2);
    float stats[2], running[2] = {0.0f, 1.0f};
    nn_bn_batch_stats(stats, running, sums, 4, 1, 1e-5f, 0.1f);
    assert_true(fabsf(stats[0] - 4.0f) < 1e-6f);
    assert_true(fabsf(stats[1] - 1.0f / sqrtf(5.0f + 1e-5f)) < 1e-6f); /* biased variance 5 */
    assert_true(fabsf(running[0] - 0.4f) < 1e-6f);
    assert_true(fabsf(running[1] - (0.9f + 0.1f * 20.0f / 3.0f)) < 1e-6f); /* unbiased 20/3 */
    const float w = 2.0f, b = 1.0f;
    float out[4];
    nn_bn_running_stats(stats, running, 1, 1e-5f);
    nn_bn_forward(out, in, stats, &w, &b, 2, 1, 2);
    for (int i = 0; i < 4; i++)
        assert_true(fabsf(out[i] - ((in[i] - running[0]) / sqrtf(running[1] + 1e-5f) * w + b)) < 1e-5f);
}

/* ---- logsoftmax + nll ---------------------------------------------------------------- */

typedef struct lsm_ctx {
    float *in, *logp;
    int32_t labels[3];
} lsm_ctx;

/* The objective here is the NLL loss itself (out = 1 value). */
static void lsm_fwd(probe *p) {
    lsm_ctx *c = p->ctx;
    nn_logsoftmax_forward(c->logp, c->in, 3, 6);
    p->out[0] = (float)nn_nll_loss(NULL, c->logp, c->labels, 3, 6, 1.0f) / 3.0f;
}

static void test_logsoftmax_nll(void **state) {
    (void)state;
    float in[18], logp[18], dlogp[18], din[18], out[1], r[1] = {1.0f};
    lsm_ctx c = {in, logp, {2, 0, 5}};
    fill_uniform(in, 18, -3, 3);
    probe p = {lsm_fwd, out, r, 1, &c};
    lsm_fwd(&p);
    double loss = nn_nll_loss(dlogp, logp, c.labels, 3, 6, 1.0f / 3.0f);
    assert_true(fabs(loss / 3.0 - out[0]) < 1e-6);
    for (int i = 0; i < 3; i++) {
        double total = 0.0;
        for (int k = 0; k < 6; k++) total += exp(logp[i * 6 + k]);
        assert_true(fabs(total - 1.0) < 1e-5);
    }
    nn_logsoftmax_backward(din, dlogp, logp, 3, 6);
    check("logsoftmax+nll din", &p, in, 18, din);
}

static void test_rng_reproducible(void **state) {
    (void)state;
    nn_rng a, b, c;
    nn_rng_seed(&a, 1, 7);
    nn_rng_seed(&b, 1, 7);
    nn_rng_seed(&c, 1, 8);
    int same_as_other_stream = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = nn_rng_u64(&a);
        assert_true(x == nn_rng_u64(&b));
        same_as_other_stream += x == nn_rng_u64(&c);
    }
    assert_int_equal(same_as_other_stream, 0);
    for (int i = 0; i < 1000; i++) {
        float u = nn_rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        assert_true(nn_rng_below(&a, 10) < 10);
    }
}

int main(void) {
    nn_rng_seed(&rng, 12345, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_conv_dense),
        cmocka_unit_test(test_conv_sparse),
        cmocka_unit_test(test_conv_stride_padding),
        cmocka_unit_test(test_conv_forward_paths),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_maxpool_first_max_wins),
        cmocka_unit_test(test_maxpool_ties_wide),
        cmocka_unit_test(test_avgpool),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_dropout_mask_statistics),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_logsoftmax_nll),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_batchnorm_running_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
